"""Merge a small batch of interactions into a fitted recommender without a refit.

A refit rebuilds the LSH index and every neighbour list from all signatures.  A batch
only changes the items it touches (their signature minima and user counts), so only the
neighbour lists of those items and of the items that share an LSH bucket with them
(before or after the change) can differ; every other list is copied, with its indices
shifted when new items or users arrived.  The result equals
:meth:`Recommender.update` (a refit on the union) bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from suture.recommend._ids import lookup
from suture.recommend._lsh import (
    LSHParams,
    Neighbours,
    _strongest_first,
    band_buckets,
    estimate_jaccard,
    pair_weights,
)
from suture.recommend._signatures import EMPTY, SignatureState, _union_if_new

__all__ = ["MergeParams", "MergePlan", "Merged", "merge_state"]

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
U32 = npt.NDArray[np.uint32]
Bool = npt.NDArray[np.bool_]
F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class MergePlan:
    """What a merge changed: for tests and the service's log.

    Attributes
    ----------
    new_pairs : int
        Distinct (user, item) pairs the batch added.
    changed_items : int
        Items whose signature or user count changed.
    rebuilt_lists : int
        Neighbour lists recomputed from all their candidates (the changed items, and
        the full lists a change could have let a cut-off neighbour back into).
    patched_lists : int
        Lists of the changed items' bucket mates, patched: only the entries of the
        changed items replaced.
    """

    new_pairs: int
    changed_items: int
    rebuilt_lists: int
    patched_lists: int


@dataclass(frozen=True)
class Merged:
    """The merged parts a :class:`~suture.recommend.Recommender` is attached from."""

    state: SignatureState
    indptr: I64
    items: npt.NDArray[np.int32]
    band_keys: U64
    neighbours: Neighbours
    plan: MergePlan


def _merge_history(
    indptr: I64,
    items: npt.NDArray[np.int32],
    batch: SignatureState,
    maps: tuple[U64, U64, I64, I64],
) -> tuple[I64, I64, I64]:
    """Distinct pair codes ``user_row * n + item`` after the merge, and the new ones."""
    user_keys, item_keys, user_pos, item_pos = maps
    n = len(item_keys)
    old_rows = np.repeat(user_pos, np.diff(indptr))
    codes = old_rows * n + item_pos[items]
    new_codes = lookup(user_keys, batch.pair_users) * n + lookup(item_keys, batch.pair_items)
    new_codes = np.unique(new_codes)
    at = np.searchsorted(codes, new_codes)
    present = np.zeros(len(new_codes), dtype=bool)
    inside = at < len(codes)
    present[inside] = codes[at[inside]] == new_codes[inside]
    fresh, at = new_codes[~present], at[~present]
    return np.insert(codes, at, fresh), fresh, old_rows


#: Booleans compared at once when rows are matched against every item's buckets.
_COMPARE_CELLS = 1 << 24

Entries = tuple[I64, I64, npt.NDArray[np.float64]]


def _candidates(keys: U64, rows: I64, signatures: U32, params: MergeParams) -> Entries:
    """Every kept candidate ``(row, col, jaccard)`` of the given rows, sorted by row.

    A candidate shares a bucket with the row in some band; it is kept as a fit keeps it
    (estimated Jaccard at least ``min_similarity`` and above zero).
    """
    bands, n = keys.shape
    chunk = max(1, _COMPARE_CELLS // max(bands * n, 1))
    found_rows, found_cols = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    for lo in range(0, len(rows), chunk):
        part = rows[lo : lo + chunk]
        shared = (keys[None, :, :] == keys[:, part].T[:, :, None]).any(axis=1)
        shared[np.arange(len(part)), part] = False
        at, col = np.nonzero(shared)
        found_rows.append(part[at])
        found_cols.append(col.astype(np.int64))
    r, c = np.concatenate(found_rows), np.concatenate(found_cols)
    sim = estimate_jaccard(signatures, np.minimum(r, c), np.maximum(r, c))
    keep = (sim >= params.min_similarity) & (sim > 0)
    return r[keep], c[keep], sim[keep]


def _top(
    entries: tuple[I64, I64, npt.NDArray[np.float64], F32], n: int, most: int
) -> tuple[I64, I64, npt.NDArray[np.float64], F32]:
    """Entries ordered as a fit orders them (row, weight descending, column), cut at ``most``."""
    r, c, sim, weights = entries
    order = _strongest_first(r, c, weights, n)
    r, c, sim, weights = r[order], c[order], sim[order], weights[order]
    counts = np.bincount(r, minlength=n)
    rank = np.arange(len(r)) - np.repeat(np.cumsum(counts) - counts, counts)
    top = rank < most
    return r[top], c[top], sim[top], weights[top]


def _weighted(
    entries: Entries, sizes: npt.NDArray[np.float64], params: MergeParams
) -> tuple[I64, I64, npt.NDArray[np.float64], F32]:
    r, c, sim = entries
    weights = pair_weights(sim, sizes[r], sizes[c], params.alpha, params.power)
    return r, c, sim, weights.astype(np.float32)


@dataclass(frozen=True)
class MergeParams:
    """The fit parameters the neighbour lists depend on."""

    neighbours: int
    min_similarity: float
    alpha: float
    power: float


Scored4 = tuple[I64, I64, npt.NDArray[np.float64], F32]


def _old_entries(old: Neighbours, item_pos: I64, rows: Bool) -> Scored4:
    """The old entries of the given (new-numbered) rows, renumbered."""
    lengths = np.diff(old.indptr)
    chosen = rows[item_pos]
    pick = np.repeat(chosen, lengths)
    return (
        np.repeat(item_pos[chosen], lengths[chosen]),
        _renumber(item_pos, old.items[pick], len(rows)).astype(np.int64),
        old.similarity[pick].astype(np.float64),
        old.weight[pick],
    )


def _cut_keys(old: Neighbours, item_pos: I64, n: int, most: int) -> tuple[Bool, F32, I64]:
    """For each new row: was its old list full, and its last (weight, column)."""
    lengths = np.diff(old.indptr)
    full = np.zeros(n, dtype=bool)
    last_weight = np.zeros(n, dtype=np.float32)
    last_col = np.zeros(n, dtype=np.int64)
    rows = np.flatnonzero(lengths >= most)
    full[item_pos[rows]] = True
    last = old.indptr[rows + 1] - 1
    last_weight[item_pos[rows]] = old.weight[last]
    last_col[item_pos[rows]] = item_pos[old.items[last]]
    return full, last_weight, last_col


def _concat(parts: list[Scored4]) -> Scored4:
    return (
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
        np.concatenate([p[3] for p in parts]),
    )


def _select(entries: Scored4, keep: Bool) -> Scored4:
    return entries[0][keep], entries[1][keep], entries[2][keep], entries[3][keep]


def _rows_pointing_at(old: Neighbours, item_pos: I64, targets: I64, n: int) -> Bool:
    """New-numbered rows whose old list has an entry for one of ``targets`` (new-numbered)."""
    at = np.minimum(np.searchsorted(item_pos, targets), max(len(item_pos) - 1, 0))
    existed = at[item_pos[at] == targets] if len(item_pos) else at[:0]
    hits = np.flatnonzero(np.isin(old.items, existed))
    rows = np.searchsorted(old.indptr, hits, "right") - 1
    out = np.zeros(n, dtype=bool)
    out[item_pos[rows]] = True
    return out


def _relist(
    old: Neighbours,
    item_pos: I64,
    changed: I64,
    arrays: tuple[U64, U32, npt.NDArray[np.float64]],
    params: MergeParams,
) -> tuple[Scored4, Bool, int]:
    """The new lists of the rows a merge changes, those rows, and how many were redone.

    A changed item's list is recomputed from all its candidates.  Another row changes
    only if its old list held a changed item, or a changed item now enters it (the list
    was not full, or the new entry ranks at or above its last one); it keeps its old
    entries but those of changed items, which are replaced (by symmetry, from the changed
    items' candidates).  That is exact unless the old list was cut at ``neighbours`` and
    fewer than that many entries now rank at or above its old last one: then a neighbour
    cut off before may be back, and the row is recomputed from all its candidates.
    """
    keys, signatures, sizes = arrays
    n, most = keys.shape[1], params.neighbours
    is_changed = np.zeros(n, dtype=bool)
    is_changed[changed] = True
    fresh = _weighted(_candidates(keys, changed, signatures, params), sizes, params)
    r, c, sim, _ = fresh
    mirrored = ~is_changed[c]
    mirror = _weighted((c[mirrored], r[mirrored], sim[mirrored]), sizes, params)
    full, last_weight, last_col = _cut_keys(old, item_pos, n, most)

    def at_or_above(entries: Scored4) -> Bool:
        er, ec, _, ew = entries
        above: Bool = (ew > last_weight[er]) | ((ew == last_weight[er]) & (ec <= last_col[er]))
        return above

    enters = mirror[0][~full[mirror[0]] | at_or_above(mirror)]
    affected = _rows_pointing_at(old, item_pos, changed, n)
    affected[enters] = True
    affected &= ~is_changed
    patched = _old_entries(old, item_pos, affected)
    patched = _concat([_select(patched, ~is_changed[patched[1]]), mirror])
    patched = _select(patched, affected[patched[0]])
    known = np.bincount(patched[0][at_or_above(patched)], minlength=n)
    redo = np.flatnonzero(affected & full & (known < most))
    is_redo = np.zeros(n, dtype=bool)
    is_redo[redo] = True
    again = _weighted(_candidates(keys, redo, signatures, params), sizes, params)
    lists = _concat([fresh, _select(patched, ~is_redo[patched[0]]), again])
    return _top(lists, n, most), affected | is_changed, len(changed) + len(redo)


def _renumber(item_pos: I64, items: npt.NDArray[np.int32], n: int) -> npt.NDArray[np.int32]:
    """Old item indices in the merged numbering (the same when no item is new)."""
    if len(item_pos) == n:
        return items
    return item_pos[items].astype(np.int32)


def _splice_in_place(old: Neighbours, rebuilt: Bool, fresh: Scored4) -> Neighbours:
    """:func:`_splice` when no item is new: the old arrays with the rebuilt rows' runs
    replaced, by one concatenation of slices (a loop over rebuilt rows, not entries)."""
    rows = np.flatnonzero(rebuilt)
    counts = np.bincount(fresh[0], minlength=len(rebuilt))
    lengths = np.diff(old.indptr)
    lengths[rows] = counts[rows]
    indptr = np.zeros(len(rebuilt) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    begin = np.cumsum(counts) - counts
    cuts = np.r_[0, old.indptr[rows + 1]].tolist()
    starts = [*old.indptr[rows].tolist(), int(old.indptr[-1])]
    spans = list(zip(begin[rows].tolist(), (begin[rows] + counts[rows]).tolist(), strict=True))

    def joined(old_part: npt.NDArray[Any], new_part: npt.NDArray[Any], dtype: Any) -> Any:
        pieces: list[npt.NDArray[Any]] = []
        for i, (lo, hi) in enumerate(spans):
            pieces += [old_part[cuts[i] : starts[i]], new_part[lo:hi].astype(dtype)]
        pieces.append(old_part[cuts[-1] : starts[-1]])
        return np.concatenate(pieces)

    return Neighbours(
        indptr,
        joined(old.items, fresh[1], np.int32),
        joined(old.similarity, fresh[2], np.float32),
        joined(old.weight, fresh[3], np.float32),
    )


def _splice(
    old: Neighbours,
    item_pos: I64,
    rebuilt: Bool,
    fresh: Scored4,
    n: int,
) -> Neighbours:
    """Old lists (renumbered) for rows not rebuilt, ``fresh`` ones (sorted by row) else.

    The renumbering is monotone, so the old entries kept fill, in order, every slot the
    fresh ones leave: two boolean-mask copies, no per-entry index arithmetic.
    """
    if len(item_pos) == n:
        return _splice_in_place(old, rebuilt, fresh)
    old_len = np.diff(old.indptr)
    kept_rows = ~rebuilt[item_pos]
    lengths = np.zeros(n, dtype=np.int64)
    lengths[item_pos[kept_rows]] = old_len[kept_rows]
    rows, cols, sims, weights = fresh
    counts = np.bincount(rows, minlength=n)
    lengths += counts
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    total = int(indptr[-1])
    slot = np.zeros(total, dtype=bool)
    dst = indptr[rows] + np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    slot[dst] = True
    other = ~slot
    keep = np.repeat(kept_rows, old_len)
    items = np.empty(total, dtype=np.int32)
    similarity = np.empty(total, dtype=np.float32)
    weight = np.empty(total, dtype=np.float32)
    items[other] = _renumber(item_pos, old.items[keep], n)
    similarity[other] = old.similarity[keep]
    weight[other] = old.weight[keep]
    items[dst] = cols
    similarity[dst] = sims
    weight[dst] = weights
    return Neighbours(indptr, items, similarity, weight)


def merge_state(
    state: SignatureState,
    indptr: I64,
    items: npt.NDArray[np.int32],
    neighbours: Neighbours,
    band_keys: U64,
    batch: SignatureState,
    *,
    lsh: LSHParams,
    params: MergeParams,
) -> Merged:
    """Merge ``batch`` (an aggregated, compacted batch) into a fitted recommender's parts.

    Nothing given is modified: the service keeps answering from the old parts while a
    merge runs, then swaps.
    """
    item_keys, item_ids, item_pos, batch_item_pos = _union_if_new(
        state.item_keys, state.item_ids, batch.item_keys, batch.item_ids
    )
    user_keys, user_ids, user_pos, _ = _union_if_new(
        state.user_keys, state.user_ids, batch.user_keys, batch.user_ids
    )
    n = len(item_keys)
    signatures = np.full((n, state.signatures.shape[1]), EMPTY, dtype=np.uint32)
    signatures[item_pos] = state.signatures
    counts = np.zeros(n, dtype=np.int64)
    counts[item_pos] = state.counts
    if len(batch.item_keys):
        signatures[batch_item_pos] = np.minimum(signatures[batch_item_pos], batch.signatures)
        counts[batch_item_pos] += batch.counts
    codes, fresh, _ = _merge_history(
        indptr, items, batch, (user_keys, item_keys, user_pos, item_pos)
    )
    rows, pair_items = codes // max(n, 1), (codes % max(n, 1)).astype(np.int32)
    new_indptr = np.zeros(len(user_keys) + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=len(user_keys)), out=new_indptr[1:])
    changed = np.unique(fresh % max(n, 1))
    keys = np.zeros((band_keys.shape[0], n), dtype=np.uint64)
    keys[:, item_pos] = band_keys
    keys[:, changed] = band_buckets(signatures[changed], lsh)
    sizes = np.bincount(pair_items, minlength=n).astype(np.float64)
    arrays = (keys, signatures, sizes)
    lists, rebuilt, refit = _relist(neighbours, item_pos, changed, arrays, params)
    merged_neighbours = _splice(neighbours, item_pos, rebuilt, lists, n)
    merged_state = SignatureState(
        item_keys=item_keys,
        item_ids=item_ids,
        signatures=signatures,
        counts=counts,
        user_keys=user_keys,
        user_ids=user_ids,
        pair_users=user_keys[rows],
        pair_items=item_keys[pair_items],
        dropped=state.dropped + batch.dropped,
    )
    plan = MergePlan(len(fresh), len(changed), refit, int(rebuilt.sum()) - refit)
    return Merged(merged_state, new_indptr, pair_items, keys, merged_neighbours, plan)
