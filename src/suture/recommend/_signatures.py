"""MinHash signatures of items as an aggregator over interaction batches.

Each item is the set of users who interacted with it.  Its signature holds, for each of
``num_perm`` hash functions, the minimum hash of those users; two items' signatures agree
in a position with probability equal to the Jaccard similarity of their user sets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from suture._codec import Field
from suture.aggregate import Framed
from suture.errors import CorruptStateError, SourceError
from suture.recommend._ids import (
    U64,
    canonical_ids,
    empty_ids,
    id_keys,
    ids_from_bytes,
    ids_to_bytes,
    is_null_mask,
    lookup,
    union_keys,
)
from suture.sketches.hashing import murmur3_64bit_keys

__all__ = ["ItemSignatures", "SignatureState", "permutation_hashes"]

U32 = npt.NDArray[np.uint32]
I64 = npt.NDArray[np.int64]
EMPTY = np.uint32(0xFFFFFFFF)
_MIN_PASS_ITEMS = 64


def permutation_hashes(user_keys: U64, num_perm: int, seed: int) -> U32:
    """Hash each user key under ``num_perm`` hash functions at once.

    Function ``p`` is MurmurHash3 (seeded with ``seed``) of the key XOR a salt, the salt
    itself being MurmurHash3 of ``p``; the top 32 bits are kept.

    Returns
    -------
    ndarray of uint32, shape (len(user_keys), num_perm)
    """
    salts = murmur3_64bit_keys(np.arange(num_perm, dtype=np.uint64), seed)[0]
    mixed = user_keys.astype(np.uint64)[:, None] ^ salts[None, :]
    high = murmur3_64bit_keys(mixed, seed)[0] >> np.uint64(32)
    return high.astype(np.uint32)


@dataclass
class SignatureState:
    """The state of :class:`ItemSignatures`: signatures, popularity and history.

    Attributes
    ----------
    item_keys : ndarray of uint64, sorted
    item_ids : pyarrow.Array
        The identifier of each item, aligned with ``item_keys``.
    signatures : ndarray of uint32, shape (items, num_perm)
        Running minima; ``0xFFFFFFFF`` where an item has seen no user (never stored).
    counts : ndarray of int64
        Interactions (rows kept) per item.
    user_keys : ndarray of uint64, sorted
    user_ids : pyarrow.Array
    pair_users, pair_items : ndarray of uint64
        The distinct (user key, item key) pairs, sorted; kept when ``history`` is on.
    dropped : int
        Rows skipped: a null identifier, or a weight below the minimum.
    """

    item_keys: U64
    item_ids: pa.Array
    signatures: U32
    counts: I64
    user_keys: U64
    user_ids: pa.Array
    pair_users: U64
    pair_items: U64
    dropped: int = 0
    _pending: list[tuple[U64, U64]] = field(default_factory=list, repr=False)

    @property
    def num_items(self) -> int:
        """Number of distinct items seen."""
        return len(self.item_keys)

    def compact(self) -> SignatureState:
        """Fold pending history pairs into the sorted, distinct pair arrays."""
        if self._pending:
            users = np.concatenate([self.pair_users, *(u for u, _ in self._pending)])
            items = np.concatenate([self.pair_items, *(i for _, i in self._pending)])
            self.pair_users, self.pair_items = _distinct_pairs(users, items)
            self._pending = []
        return self

    def pending_size(self) -> int:
        """Pairs not yet compacted."""
        return sum(len(u) for u, _ in self._pending)


@dataclass(frozen=True)
class _Groups:
    """Rows grouped by a 64-bit key: the distinct keys and where each row went."""

    keys: U64
    first: I64
    inverse: I64
    order: I64
    sizes: I64


def _group(keys: U64) -> _Groups:
    """Distinct ``keys`` (sorted), a row of each, each row's group and the grouping order.

    Like ``np.unique(keys, return_index=True, return_inverse=True)`` but with the
    (much faster) unstable sort: which row of a group is reported in ``first`` is
    unspecified, and rows with one key carry one identifier.
    """
    order = np.argsort(keys)
    ordered = keys[order]
    starts = np.ones(len(keys), dtype=bool)
    starts[1:] = ordered[1:] != ordered[:-1]
    run = np.cumsum(starts) - 1
    inverse = np.empty(len(keys), dtype=np.int64)
    inverse[order] = run
    begin = np.flatnonzero(starts)
    sizes = np.diff(np.r_[begin, len(keys)]).astype(np.int64)
    return _Groups(ordered[starts], order[starts], inverse, order.astype(np.int64), sizes)


def _segment_minima(hashes: U32, users: I64, sizes: I64) -> U32:
    """Signature of each item: the column-wise minimum of its users' hashes.

    Parameters
    ----------
    hashes : ndarray of uint32, shape (users, num_perm)
        :func:`permutation_hashes` of the distinct users.
    users : ndarray of int64
        The user (a row of ``hashes``) of each interaction, grouped by item: item 0's
        ``sizes[0]`` users first, and so on, in any order within an item.
    sizes : ndarray of int64
        Interactions per item; every item has at least one.

    Notes
    -----
    The items are ranked by size, largest first, so that the items with more than
    ``j`` interactions are always a prefix of the ranking.  Pass ``j`` folds the
    ``j``-th user of each of those items into the prefix with one gather and one
    in-place ``np.minimum`` over whole signature rows: every operation is contiguous,
    and the gathered hashes never exist for all interactions at once.  A pass is taken
    only while it covers at least ``_MIN_PASS_ITEMS`` items (so each pass does real
    work); the few longer items are then finished one by one.
    """
    items = len(sizes)
    if items == 0:
        return np.zeros((0, hashes.shape[1]), dtype=np.uint32)
    by_size = np.argsort(-sizes)
    rank = np.empty(items, dtype=np.int64)
    rank[by_size] = np.arange(items)
    first_row = np.cumsum(sizes) - sizes
    item_of_row = np.repeat(np.arange(items), sizes)
    within = np.arange(len(users)) - first_row[item_of_row]
    ranked_sizes = sizes[by_size]
    # longer[j]: how many items have more than j interactions (non-increasing in j).
    longer = np.cumsum(np.bincount(ranked_sizes)[::-1])[::-1][1:]
    passes = int(np.count_nonzero(longer >= min(_MIN_PASS_ITEMS, items)))
    # Pass-major layout: pass j holds the j-th user of the items ranked 0 .. longer[j]-1.
    pass_start = np.cumsum(longer) - longer
    in_passes = within < passes
    by_pass = np.empty(int(pass_start[passes - 1] + longer[passes - 1]), dtype=np.int64)
    by_pass[pass_start[within[in_passes]] + rank[item_of_row[in_passes]]] = users[in_passes]
    ranked = hashes[by_pass[:items]]
    for j in range(1, passes):
        lo, n = int(pass_start[j]), int(longer[j])
        np.minimum(ranked[:n], hashes[by_pass[lo : lo + n]], out=ranked[:n])
    for item in by_size[: int(longer[passes]) if passes < len(longer) else 0]:
        rest = users[first_row[item] + passes : first_row[item] + sizes[item]]
        r = rank[item]
        np.minimum(ranked[r], hashes[rest].min(axis=0), out=ranked[r])
    out = np.empty_like(ranked)
    out[by_size] = ranked
    return out


def _distinct_pairs(users: U64, items: U64) -> tuple[U64, U64]:
    order = np.lexsort((items, users))
    users, items = users[order], items[order]
    keep = np.ones(len(users), dtype=bool)
    keep[1:] = (users[1:] != users[:-1]) | (items[1:] != items[:-1])
    return users[keep], items[keep]


class ItemSignatures(Framed[SignatureState]):
    """Aggregate interactions into MinHash signatures of items.

    Parameters
    ----------
    user, item : str
        The identifier columns (integers or strings).
    weight : str, optional
        A numeric column; rows with a weight below ``min_weight`` are skipped.
    min_weight : float, optional
        The smallest weight kept; default: any positive weight.
    num_perm : int, default 128
        Hash functions per signature.  The standard error of a Jaccard estimate is
        ``sqrt(J * (1 - J) / num_perm)``.
    seed : int, default 1
        Seed of the hash family; states merge only with the same seed.
    history : bool, default True
        Also keep the distinct (user, item) pairs, which a recommender needs to know what
        each user chose.

    Notes
    -----
    The state (:class:`SignatureState`) is exact: a signature is a running minimum, so
    ``merge`` is associative, commutative and idempotent, and splitting the input anywhere
    then merging equals one pass, bit for bit.  ``merge(zero(), s) == s``.  Rows with a
    null user or item, or a null or NaN weight, are skipped and counted in ``dropped``.
    ``finalize`` returns the (compacted) state; for an empty input it has no items.
    """

    kind = "minhash_items"

    def __init__(
        self,
        *,
        user: str,
        item: str,
        weight: str | None = None,
        min_weight: float | None = None,
        num_perm: int = 128,
        seed: int = 1,
        history: bool = True,
    ) -> None:
        self.user = user
        self.item = item
        self.weight = weight
        self.min_weight = min_weight
        self.num_perm = num_perm
        self.seed = seed
        self.history = history

    def config(self) -> str:
        """The configuration that states must share to merge."""
        return (
            f"minhash_items(user={self.user!r},item={self.item!r},weight={self.weight!r},"
            f"min_weight={self.min_weight!r},num_perm={self.num_perm},seed={self.seed},"
            f"history={self.history})"
        )

    def zero(self) -> SignatureState:
        """An empty state: no items, no users."""
        empty_u64 = np.zeros(0, dtype=np.uint64)
        return SignatureState(
            item_keys=empty_u64,
            item_ids=empty_ids(None),
            signatures=np.zeros((0, self.num_perm), dtype=np.uint32),
            counts=np.zeros(0, dtype=np.int64),
            user_keys=empty_u64,
            user_ids=empty_ids(None),
            pair_users=empty_u64,
            pair_items=empty_u64,
        )

    def update(self, state: SignatureState, batch: pa.RecordBatch) -> SignatureState:
        """Fold one batch of interactions in (vectorized over the whole batch)."""
        return self._merge(state, self._batch_state(batch), own_b=True)

    def merge(self, a: SignatureState, b: SignatureState) -> SignatureState:
        """Union of two states; reuses and returns ``a``, never modifies ``b``."""
        return self._merge(a, b, own_b=False)

    def _merge(self, a: SignatureState, b: SignatureState, *, own_b: bool) -> SignatureState:
        """:meth:`merge`; with ``own_b`` the arrays of ``b`` may be adopted by ``a``."""
        _merge_items(a, b, own_b=own_b)
        if len(b.user_keys):
            a.user_keys, a.user_ids, _, _ = _union_if_new(
                a.user_keys, a.user_ids, b.user_keys, b.user_ids
            )
        if self.history:
            b_pairs = [(b.pair_users, b.pair_items), *b._pending]
            a._pending.extend(p for p in b_pairs if len(p[0]))
            if a.pending_size() >= max(len(a.pair_users), 1 << 16):
                a.compact()
        a.dropped += b.dropped
        return a

    def finalize(self, state: SignatureState) -> SignatureState:
        """The compacted state (see the class Notes)."""
        return state.compact()

    def _fields(self, state: SignatureState) -> dict[str, Field]:
        """The fields of the byte image: arrays raw, identifiers as Arrow IPC."""
        state.compact()
        fields: dict[str, Field] = {
            "item_keys": state.item_keys,
            "item_ids": ids_to_bytes(state.item_ids),
            "signatures": state.signatures,
            "counts": state.counts,
            "user_keys": state.user_keys,
            "user_ids": ids_to_bytes(state.user_ids),
            "pair_users": state.pair_users,
            "pair_items": state.pair_items,
            "dropped": state.dropped,
        }
        return fields

    def _from_fields(self, fields: dict[str, Any]) -> SignatureState:
        """Inverse of :meth:`_fields`; checks shapes and fails on damage."""
        try:
            state = SignatureState(
                item_keys=fields["item_keys"],
                item_ids=ids_from_bytes(fields["item_ids"]),
                signatures=fields["signatures"],
                counts=fields["counts"],
                user_keys=fields["user_keys"],
                user_ids=ids_from_bytes(fields["user_ids"]),
                pair_users=fields["pair_users"],
                pair_items=fields["pair_items"],
                dropped=int(fields["dropped"]),
            )
        except (KeyError, pa.ArrowInvalid) as exc:
            raise CorruptStateError(
                f"possible corruption: {self.kind} state lacks or garbles {exc}"
            ) from None
        check_state(state, self.num_perm)
        return state

    def _columns(self, batch: pa.RecordBatch) -> list[str]:
        wanted = [self.user, self.item] + ([self.weight] if self.weight else [])
        missing = [c for c in wanted if c not in batch.schema.names]
        if missing:
            raise SourceError(
                f"column {missing[0]!r} not found; available columns: "
                f"{', '.join(batch.schema.names)}. Pass the right --user/--item/--weight"
            )
        return wanted

    def _keep_mask(self, batch: pa.RecordBatch) -> npt.NDArray[np.bool_]:
        keep = ~is_null_mask(batch.column(self.user)) & ~is_null_mask(batch.column(self.item))
        if self.weight:
            column = batch.column(self.weight)
            if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
                raise SourceError(
                    f"weight column {self.weight!r} has type {column.type}; it must be "
                    "numeric. Pass a numeric --weight or none"
                )
            weights = pc.cast(pc.fill_null(column, np.nan), pa.float64()).to_numpy()
            with np.errstate(invalid="ignore"):
                kept = weights >= self.min_weight if self.min_weight is not None else weights > 0
            keep &= kept
        return keep

    def _batch_state(self, batch: pa.RecordBatch) -> SignatureState:
        self._columns(batch)
        keep = self._keep_mask(batch)
        dropped = int(len(keep) - keep.sum())
        mask = pa.array(keep)
        users = canonical_ids(batch.column(self.user).filter(mask), self.user)
        items = canonical_ids(batch.column(self.item).filter(mask), self.item)
        user_keys, item_keys = id_keys(users), id_keys(items)
        by_user, by_item = _group(user_keys), _group(item_keys)
        hashes = permutation_hashes(by_user.keys, self.num_perm, self.seed)
        sigs = _segment_minima(hashes, by_user.inverse[by_item.order], by_item.sizes)
        state = SignatureState(
            item_keys=by_item.keys,
            item_ids=items.take(pa.array(by_item.first, pa.int64())),
            signatures=sigs,
            counts=by_item.sizes,
            user_keys=by_user.keys,
            user_ids=users.take(pa.array(by_user.first, pa.int64())),
            pair_users=np.zeros(0, dtype=np.uint64),
            pair_items=np.zeros(0, dtype=np.uint64),
            dropped=dropped,
        )
        if self.history:
            state.pair_users, state.pair_items = _distinct_pairs(user_keys, item_keys)
        return state


def _union_if_new(
    keys_a: U64, ids_a: pa.Array, keys_b: U64, ids_b: pa.Array
) -> tuple[U64, pa.Array, I64, I64]:
    """Like :func:`union_keys` but skips the rebuild when ``b`` adds no key."""
    pos_b = lookup(keys_a, keys_b)
    if len(keys_a) and (pos_b >= 0).all():
        return keys_a, ids_a, np.arange(len(keys_a), dtype=np.int64), pos_b
    if len(keys_a) == 0:
        ids_a = ids_a.cast(ids_b.type) if len(ids_a) == 0 else ids_a
    _check_same_type(ids_a, ids_b)
    return union_keys(keys_a, ids_a, keys_b, ids_b)


def _check_same_type(ids_a: pa.Array, ids_b: pa.Array) -> None:
    if ids_a.type != ids_b.type:
        raise SourceError(
            f"identifiers change type between batches ({ids_a.type} then {ids_b.type}); "
            "use one type (all integers or all strings) for a column"
        )


def _merge_items(a: SignatureState, b: SignatureState, *, own_b: bool) -> None:
    if len(b.item_keys) == 0:
        return
    if len(a.item_keys) == 0:
        # The union is b itself; signatures and counts are later updated in place, so
        # they are copied unless b is a throw-away batch state.
        a.item_keys, a.item_ids = b.item_keys, b.item_ids
        a.signatures = b.signatures if own_b else b.signatures.copy()
        a.counts = b.counts if own_b else b.counts.copy()
        return
    keys, ids, pos_a, pos_b = _union_if_new(a.item_keys, a.item_ids, b.item_keys, b.item_ids)
    if keys is not a.item_keys:
        sigs = np.full((len(keys), a.signatures.shape[1]), EMPTY, dtype=np.uint32)
        sigs[pos_a] = a.signatures
        counts = np.zeros(len(keys), dtype=np.int64)
        counts[pos_a] = a.counts
        a.item_keys, a.item_ids, a.signatures, a.counts = keys, ids, sigs, counts
    a.signatures[pos_b] = np.minimum(a.signatures[pos_b], b.signatures)
    a.counts[pos_b] += b.counts


def check_state(state: SignatureState, num_perm: int) -> None:
    """Raise :class:`CorruptStateError` when a state's arrays disagree in shape."""
    n = len(state.item_keys)
    problems = []
    if state.signatures.shape != (n, num_perm):
        problems.append(f"signatures have shape {state.signatures.shape}, expected {(n, num_perm)}")
    if len(state.item_ids) != n or len(state.counts) != n:
        problems.append("item identifiers or counts do not match the item keys")
    if len(state.user_ids) != len(state.user_keys):
        problems.append("user identifiers do not match the user keys")
    if len(state.pair_users) != len(state.pair_items):
        problems.append("history pairs are ragged")
    if problems:
        raise CorruptStateError("possible corruption: " + "; ".join(problems))
