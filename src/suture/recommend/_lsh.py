"""Locality-sensitive hashing over MinHash signatures, and neighbour lists from it.

A signature of ``bands * rows`` positions is cut into ``bands`` bands of ``rows``
positions; two items become candidates when all positions of at least one band agree.
Items with Jaccard similarity ``s`` become candidates with probability
``1 - (1 - s**rows)**bands`` (the S-curve), so ``bands`` and ``rows`` are chosen to put
the curve's steep part at a target threshold.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from suture.sketches.hashing import murmur3_64bit_keys

__all__ = [
    "BandIndex",
    "LSHParams",
    "Neighbours",
    "build_index",
    "build_neighbours",
    "candidate_probability",
    "choose_bands",
    "pair_weights",
]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
U32 = npt.NDArray[np.uint32]
F32 = npt.NDArray[np.float32]
_PAIR_BYTES = 1 << 18
_DENSE_PAIRS = 1 << 26
_GRID_BLOCK = 1 << 20
_MIX = np.uint64(0x9E3779B97F4A7C15)
U64 = npt.NDArray[np.uint64]


@dataclass(frozen=True)
class LSHParams:
    """Bands and rows of an LSH index.

    Attributes
    ----------
    bands, rows : int
        ``bands * rows`` is at most the signature length.
    threshold : float
        The similarity the parameters were chosen for.
    """

    bands: int
    rows: int
    threshold: float

    def recall(self, similarity: float) -> float:
        """Probability that a pair with this Jaccard similarity becomes a candidate."""
        return float(candidate_probability(np.asarray(similarity), self.bands, self.rows))


def candidate_probability(similarity: F64, bands: int, rows: int) -> F64:
    """The S-curve ``1 - (1 - s**rows)**bands``."""
    s = np.asarray(similarity, dtype=np.float64)
    return np.asarray(1.0 - (1.0 - s**rows) ** bands, dtype=np.float64)


@functools.lru_cache(maxsize=64)
def choose_bands(
    threshold: float,
    num_perm: int,
    *,
    false_positive_weight: float = 0.5,
    false_negative_weight: float = 0.5,
) -> LSHParams:
    """Choose bands and rows minimizing weighted false positive and negative areas.

    The false-positive area is the integral of the S-curve below ``threshold``; the
    false-negative area that of its complement above it (the same criterion as
    ``datasketch.MinHashLSH``).

    Parameters
    ----------
    threshold : float in (0, 1)
    num_perm : int
        Signature length.
    false_positive_weight, false_negative_weight : float
        Relative cost of a wasted candidate and of a missed pair.
    """
    grid: F64 = np.linspace(0.0, 1.0, 2001)
    below: F64 = grid[grid <= threshold]
    above: F64 = grid[grid >= threshold]
    # Every (bands, rows) with bands * rows <= num_perm, rows-major.
    most = num_perm // np.arange(1, num_perm + 1)
    rows_of = np.repeat(np.arange(1, num_perm + 1), most)
    bands = np.arange(len(rows_of)) - np.repeat(np.cumsum(most) - most, most) + 1
    powers = np.arange(1, num_perm + 1)[:, None]
    with np.errstate(divide="ignore"):
        log_below = np.log1p(-(below[None, :] ** powers))
        log_above = np.log1p(-(above[None, :] ** powers))
    w_below, w_above = _trapezoid_weights(below), _trapezoid_weights(above)
    error = np.empty(len(rows_of), dtype=np.float64)
    step = max(1, _GRID_BLOCK // len(grid))
    for lo in range(0, len(rows_of), step):
        b, r = bands[lo : lo + step, None], rows_of[lo : lo + step] - 1
        # (1 - s**rows)**bands = exp(bands * log(1 - s**rows))
        fp = w_below.sum() - np.exp(b * log_below[r]) @ w_below
        fn = np.exp(b * log_above[r]) @ w_above
        error[lo : lo + step] = false_positive_weight * fp + false_negative_weight * fn
    best = int(np.lexsort((rows_of, bands, error))[0])  # ties: fewest bands, then rows
    return LSHParams(bands=int(bands[best]), rows=int(rows_of[best]), threshold=threshold)


def _trapezoid_weights(x: F64) -> F64:
    """Weights ``w`` with ``w @ y == np.trapezoid(y, x)``."""
    weights = np.zeros(len(x), dtype=np.float64)
    steps = np.diff(x) / 2.0
    weights[:-1] += steps
    weights[1:] += steps
    return weights


def band_buckets(signatures: U32, params: LSHParams) -> U64:
    """Bucket key of every item in every band, shape (bands, items).

    A band's key is a 64-bit hash of its ``rows`` positions (the position itself when
    ``rows == 1``), computed for all items and bands at once.  Two different bands
    sharing a key (probability about 2**-64 per pair) only add a candidate, which is
    then scored by its signatures like any other.
    """
    n = signatures.shape[0]
    used = signatures[:, : params.bands * params.rows].reshape(n, params.bands, params.rows)
    keys = used[:, :, 0].astype(np.uint64)
    with np.errstate(over="ignore"):
        for row in range(1, params.rows):
            keys = keys * _MIX + used[:, :, row].astype(np.uint64)
    if params.rows > 1:
        keys = murmur3_64bit_keys(keys)[0]
    return np.ascontiguousarray(keys.T)


@dataclass(frozen=True)
class BandIndex:
    """The LSH index: in every band, the items sorted by bucket key.

    Items sharing a bucket are a run of equal keys, so a bucket is found by binary
    search and all candidate pairs are read off the runs without hashing.

    Attributes
    ----------
    params : LSHParams
    keys : ndarray of uint64, shape (bands, items)
        Each band's bucket keys, sorted.
    order : ndarray of int64, shape (bands, items)
        The item at each sorted position (within a bucket, in no particular order).
    """

    params: LSHParams
    keys: U64
    order: I64

    def candidate_pairs(self) -> tuple[I64, I64]:
        """Distinct pairs ``(i, j)``, ``i < j``, that share a bucket in some band."""
        n = self.keys.shape[1]
        bands = zip(self.keys, self.order, strict=True)
        if n * n <= _DENSE_PAIRS:
            # A small catalogue: mark pair codes in a dense table, read them back sorted.
            seen = np.zeros(n * n, dtype=bool)
            for keys, order in bands:
                a, b = _pairs_in_runs(keys, order)
                seen[a * n + b] = True
            unique = np.flatnonzero(seen).astype(np.int64)
        else:
            codes = [a * n + b for a, b in (_pairs_in_runs(k, o) for k, o in bands)]
            unique = np.concatenate([np.zeros(0, dtype=np.int64), *codes])
            unique.sort()
            unique = unique[np.r_[True, unique[1:] != unique[:-1]]] if len(unique) else unique
        return unique // max(n, 1), unique % max(n, 1)


def build_index(signatures: U32, params: LSHParams) -> BandIndex:
    """Bucket every item in every band and sort each band by bucket key.

    Parameters
    ----------
    signatures : ndarray of uint32, shape (items, num_perm)
    params : LSHParams
    """
    keys = band_buckets(signatures, params)
    order = np.argsort(keys, axis=1)
    return BandIndex(params, np.take_along_axis(keys, order, axis=1), order.astype(np.int64))


def _pairs_in_runs(sorted_labels: npt.NDArray[np.integer], order: I64) -> tuple[I64, I64]:
    """All pairs of items within each run of equal sorted labels, as ``(min, max)``."""
    n = len(sorted_labels)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    starts = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
    sizes = np.diff(np.r_[starts, n])
    group_of = np.repeat(np.arange(len(starts)), sizes)
    rank = np.arange(n) - starts[group_of]
    partners = sizes[group_of] - 1 - rank
    total = int(partners.sum())
    if total == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    left = np.repeat(np.arange(n), partners)
    offsets = np.arange(total) - np.repeat(np.cumsum(partners) - partners, partners)
    right = left + 1 + offsets
    a, b = order[left], order[right]
    return np.minimum(a, b), np.maximum(a, b)


def _pairs_in_groups(labels: npt.NDArray[np.integer]) -> tuple[I64, I64]:
    """All pairs (i < j by position) of items sharing a label, vectorized."""
    order = np.argsort(labels)
    return _pairs_in_runs(labels[order], order.astype(np.int64))


def candidate_pairs(signatures: U32, params: LSHParams) -> tuple[I64, I64]:
    """Distinct candidate pairs ``(i, j)`` with ``i < j`` sharing a bucket in some band."""
    return build_index(signatures, params).candidate_pairs()


def estimate_jaccard(signatures: U32, a: I64, b: I64) -> F64:
    """Fraction of agreeing positions for each pair ``(a[i], b[i])``.

    The pairs are taken in small chunks so that both gathered blocks of signatures stay
    in cache, and the agreeing positions are counted with a population count of the
    comparison's bytes (eight positions per 64-bit word) when the signature length
    allows it.
    """
    num_perm = signatures.shape[1]
    out = np.empty(len(a), dtype=np.float64)
    chunk = max(1, _PAIR_BYTES // max(4 * num_perm, 1))
    packed = num_perm % 8 == 0
    for start in range(0, len(a), chunk):
        stop = start + chunk
        agree = signatures[a[start:stop]] == signatures[b[start:stop]]
        if packed:
            out[start:stop] = np.bitwise_count(agree.view(np.uint64)).sum(axis=1)
        else:
            out[start:stop] = np.count_nonzero(agree, axis=1)
    out /= max(num_perm, 1)
    return out


@dataclass
class Neighbours:
    """Per-item neighbour lists in CSR form, strongest first.

    Attributes
    ----------
    indptr : ndarray of int64, shape (items + 1,)
    items : ndarray of int32
        Neighbour item indices.
    similarity : ndarray of float32
        Estimated Jaccard similarity of each neighbour (what reasons report).
    weight : ndarray of float32
        What a neighbour adds to a recommendation's score (see :func:`pair_weights`);
        lists are ordered by it.
    """

    indptr: I64
    items: npt.NDArray[np.int32]
    similarity: npt.NDArray[np.float32]
    weight: npt.NDArray[np.float32]

    def of(self, item: int) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]:
        """The neighbours of one item and their Jaccard similarities."""
        lo, hi = self.indptr[item], self.indptr[item + 1]
        return self.items[lo:hi], self.similarity[lo:hi]

    def weights_of(self, item: int) -> npt.NDArray[np.float32]:
        """The score weights of one item's neighbours."""
        return self.weight[self.indptr[item] : self.indptr[item + 1]]


def pair_weights(jaccard: F64, size_from: F64, size_to: F64, alpha: float, power: float) -> F64:
    """Score weight of recommending ``to`` because the user chose ``from``.

    The MinHash Jaccard estimate and the two items' user counts give the overlap,
    ``|A & B| = J (|A| + |B|) / (1 + J)``; the weight is the asymmetric cosine
    ``(|A & B| / (|A|**alpha * |B|**(1 - alpha)))**power``.  ``alpha = 0.5`` is the
    cosine; larger ``alpha`` favours popular targets less; ``power > 1`` lets the
    strongest neighbours dominate.
    """
    overlap = jaccard * (size_from + size_to) / (1.0 + jaccard)
    denominator = np.maximum(size_from**alpha * size_to ** (1.0 - alpha), 1e-12)
    return np.asarray((overlap / denominator) ** power, dtype=np.float64)


def build_neighbours(
    signatures: U32,
    params: LSHParams,
    *,
    max_neighbours: int,
    min_similarity: float,
    sizes: F64 | None = None,
    alpha: float = 0.5,
    power: float = 1.0,
) -> Neighbours:
    """Neighbour lists from LSH candidates, scored from estimated Jaccard similarity.

    Parameters
    ----------
    signatures : ndarray of uint32, shape (items, num_perm)
    params : LSHParams
    max_neighbours : int
        Longest list kept per item.
    min_similarity : float
        Candidates estimated below this Jaccard similarity are dropped.
    sizes : ndarray of float, optional
        Users per item; with it the weights are :func:`pair_weights`, without it the
        Jaccard estimates themselves.
    alpha, power : float
        See :func:`pair_weights`.

    Notes
    -----
    Each list is ordered by its stored (float32) weight, strongest first, ties by
    neighbour index, and cut at ``max_neighbours``; the lists are a deterministic
    function of the signatures, so equal signatures give equal lists bit for bit.
    """
    n = signatures.shape[0]
    a, b = candidate_pairs(signatures, params)
    sim = estimate_jaccard(signatures, a, b)
    keep = (sim >= min_similarity) & (sim > 0)
    a, b, sim = a[keep], b[keep], sim[keep]
    rows = np.concatenate([b, a])
    cols = np.concatenate([a, b])
    sims = np.concatenate([sim, sim])
    scores = sims if sizes is None else pair_weights(sims, sizes[rows], sizes[cols], alpha, power)
    weights: F32 = scores.astype(np.float32)
    order = _strongest_first(rows, cols, weights, n)
    rows, cols, sims, weights = rows[order], cols[order], sims[order], weights[order]
    counts = np.bincount(rows, minlength=n)
    starts = np.cumsum(counts) - counts
    rank = np.arange(len(rows)) - np.repeat(starts, counts)
    top = rank < max_neighbours
    rows, cols, sims, weights = rows[top], cols[top], sims[top], weights[top]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return Neighbours(indptr, cols.astype(np.int32), sims.astype(np.float32), weights)


def _strongest_first(rows: I64, cols: I64, weights: F32, n: int) -> I64:
    """Order of distinct ``(row, col)`` entries by row, weight (descending), then column.

    A non-negative float32 orders like its bit pattern, so when the row and column
    indices fit beside it the three keys are packed into one ``uint64`` and sorted with
    one (unstable, but exact since the keys are distinct) sort.
    """
    descending = np.uint64(0xFFFFFFFF) - weights.view(np.uint32).astype(np.uint64)
    bits = max(n - 1, 1).bit_length()
    if 2 * bits + 32 > 64:
        return np.asarray(np.lexsort((cols, descending, rows)), dtype=np.int64)
    key = (rows.astype(np.uint64) << np.uint64(32 + bits)) | (descending << np.uint64(bits))
    key |= cols.astype(np.uint64)
    return np.asarray(np.argsort(key), dtype=np.int64)
