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

import numpy as np
import numpy.typing as npt

from suture.recommend._ids import lookup
from suture.recommend._lsh import (
    LSHParams,
    Neighbours,
    _pairs_in_runs,
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
        Neighbour lists recomputed (the changed items and their bucket mates).
    """

    new_pairs: int
    changed_items: int
    rebuilt_lists: int


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


def _touched(keys: U64, targets: U64) -> Bool:
    """Items sharing a bucket, in some band, with any of ``targets`` (bands, m)."""
    mask = np.zeros(keys.shape[1], dtype=bool)
    for band, wanted in zip(keys, targets, strict=True):
        mask |= np.isin(band, wanted)
    return mask


def _rows_of(
    keys: U64, rows: I64, signatures: U32, sizes: npt.NDArray[np.float64], model: MergeParams
) -> tuple[I64, I64, npt.NDArray[np.float64], npt.NDArray[np.float32]]:
    """Every candidate entry ``(row, col)`` of the given rows, scored and kept as a fit."""
    n = keys.shape[1]
    is_row = np.zeros(n, dtype=bool)
    is_row[rows] = True
    codes = []
    for band in keys:
        members = np.flatnonzero(np.isin(band, band[rows]))
        order = np.argsort(band[members], kind="stable")
        a, b = _pairs_in_runs(band[members][order], members[order].astype(np.int64))
        codes.append(a[is_row[a]] * n + b[is_row[a]])
        codes.append(b[is_row[b]] * n + a[is_row[b]])
    unique = np.unique(np.concatenate([np.zeros(0, dtype=np.int64), *codes]))
    r, c = unique // max(n, 1), unique % max(n, 1)
    sim = estimate_jaccard(signatures, np.minimum(r, c), np.maximum(r, c))
    keep = (sim >= model.min_similarity) & (sim > 0)
    r, c, sim = r[keep], c[keep], sim[keep]
    weights = pair_weights(sim, sizes[r], sizes[c], model.alpha, model.power).astype(np.float32)
    order = _strongest_first(r, c, weights, n)
    r, c, sim, weights = r[order], c[order], sim[order], weights[order]
    counts = np.bincount(r, minlength=n)
    rank = np.arange(len(r)) - np.repeat(np.cumsum(counts) - counts, counts)
    top = rank < model.neighbours
    return r[top], c[top], sim[top], weights[top]


@dataclass(frozen=True)
class MergeParams:
    """The fit parameters the neighbour lists depend on."""

    neighbours: int
    min_similarity: float
    alpha: float
    power: float


def _splice(
    old: Neighbours,
    item_pos: I64,
    rebuilt: Bool,
    fresh: tuple[I64, I64, npt.NDArray[np.float64], npt.NDArray[np.float32]],
    n: int,
) -> Neighbours:
    """Old lists (rows and columns renumbered) for untouched rows, fresh ones elsewhere."""
    old_len = np.diff(old.indptr)
    new_row = item_pos
    kept_rows = ~rebuilt[new_row]
    lengths = np.zeros(n, dtype=np.int64)
    lengths[new_row[kept_rows]] = old_len[kept_rows]
    rows, cols, sims, weights = fresh
    lengths += np.bincount(rows, minlength=n)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    total = int(indptr[-1])
    items = np.empty(total, dtype=np.int32)
    similarity = np.empty(total, dtype=np.float32)
    weight = np.empty(total, dtype=np.float32)
    entry_row = np.repeat(np.arange(len(old_len)), old_len)
    keep = kept_rows[entry_row]
    src = np.flatnonzero(keep)
    dst = indptr[new_row[entry_row[src]]] + (src - old.indptr[entry_row[src]])
    items[dst] = item_pos[old.items[src]]
    similarity[dst] = old.similarity[src]
    weight[dst] = old.weight[src]
    counts = np.bincount(rows, minlength=n)
    rank = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    dst = indptr[rows] + rank
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
    old_targets = keys[:, changed]
    keys[:, changed] = band_buckets(signatures[changed], lsh)
    touched = _touched(keys, np.concatenate([old_targets, keys[:, changed]], axis=1))
    touched[changed] = True
    rebuilt = np.flatnonzero(touched) if len(changed) else np.zeros(0, dtype=np.int64)
    sizes = np.bincount(pair_items, minlength=n).astype(np.float64)
    lists = _rows_of(keys, rebuilt, signatures, sizes, params)
    mask = np.zeros(n, dtype=bool)
    mask[rebuilt] = True
    merged_neighbours = _splice(neighbours, item_pos, mask, lists, n)
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
    plan = MergePlan(len(fresh), len(changed), len(rebuilt))
    return Merged(merged_state, new_indptr, pair_items, keys, merged_neighbours, plan)
