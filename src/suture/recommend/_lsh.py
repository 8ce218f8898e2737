"""Locality-sensitive hashing over MinHash signatures, and neighbour lists from it.

A signature of ``bands * rows`` positions is cut into ``bands`` bands of ``rows``
positions; two items become candidates when all positions of at least one band agree.
Items with Jaccard similarity ``s`` become candidates with probability
``1 - (1 - s**rows)**bands`` (the S-curve), so ``bands`` and ``rows`` are chosen to put
the curve's steep part at a target threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from suture.sketches.hashing import murmur3_64bit_keys

__all__ = [
    "LSHParams",
    "Neighbours",
    "build_neighbours",
    "candidate_probability",
    "choose_bands",
    "pair_weights",
]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
U32 = npt.NDArray[np.uint32]
_PAIR_CHUNK = 1 << 16
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
    best: tuple[float, int, int] = (np.inf, 1, 1)
    for bands in range(1, num_perm + 1):
        rows = np.arange(1, num_perm // bands + 1)
        fp = np.asarray(
            np.trapezoid(1.0 - (1.0 - below[None, :] ** rows[:, None]) ** bands, below, axis=1)
        )
        fn = np.asarray(
            np.trapezoid((1.0 - above[None, :] ** rows[:, None]) ** bands, above, axis=1)
        )
        error = false_positive_weight * fp + false_negative_weight * fn
        i = int(np.argmin(error))
        if error[i] < best[0]:
            best = (float(error[i]), bands, int(rows[i]))
    return LSHParams(bands=best[1], rows=best[2], threshold=threshold)


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


def _pairs_in_groups(labels: npt.NDArray[np.integer]) -> tuple[I64, I64]:
    """All pairs (i < j by position) of items sharing a label, vectorized."""
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    starts = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
    sizes = np.diff(np.r_[starts, len(labels)])
    group_of = np.repeat(np.arange(len(starts)), sizes)
    rank = np.arange(len(labels)) - starts[group_of]
    partners = sizes[group_of] - 1 - rank
    total = int(partners.sum())
    if total == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    left = np.repeat(np.arange(len(labels)), partners)
    offsets = np.arange(total) - np.repeat(np.cumsum(partners) - partners, partners)
    right = left + 1 + offsets
    a, b = order[left], order[right]
    return np.minimum(a, b), np.maximum(a, b)


def candidate_pairs(signatures: U32, params: LSHParams) -> tuple[I64, I64]:
    """Distinct candidate pairs ``(i, j)`` with ``i < j`` sharing a bucket in some band."""
    n = signatures.shape[0]
    codes = []
    for labels in band_buckets(signatures, params):
        a, b = _pairs_in_groups(labels)
        codes.append(a * n + b)
    if not codes:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    unique = np.concatenate(codes)
    unique.sort()
    unique = unique[np.r_[True, unique[1:] != unique[:-1]]] if len(unique) else unique
    return unique // max(n, 1), unique % max(n, 1)


def estimate_jaccard(signatures: U32, a: I64, b: I64) -> F64:
    """Fraction of agreeing positions for each pair (chunked to bound memory)."""
    out = np.empty(len(a), dtype=np.float64)
    for start in range(0, len(a), _PAIR_CHUNK):
        stop = start + _PAIR_CHUNK
        agree = signatures[a[start:stop]] == signatures[b[start:stop]]
        out[start:stop] = np.count_nonzero(agree, axis=1)
    out /= max(signatures.shape[1], 1)
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
    """
    n = signatures.shape[0]
    a, b = candidate_pairs(signatures, params)
    sim = estimate_jaccard(signatures, a, b)
    keep = (sim >= min_similarity) & (sim > 0)
    a, b, sim = a[keep], b[keep], sim[keep]
    rows = np.concatenate([a, b])
    cols = np.concatenate([b, a])
    sims = np.concatenate([sim, sim])
    weights = sims if sizes is None else pair_weights(sims, sizes[rows], sizes[cols], alpha, power)
    order = np.lexsort((cols, -weights, rows))
    rows, cols, sims, weights = rows[order], cols[order], sims[order], weights[order]
    counts = np.bincount(rows, minlength=n)
    starts = np.cumsum(counts) - counts
    rank = np.arange(len(rows)) - np.repeat(starts, counts)
    top = rank < max_neighbours
    rows, cols, sims, weights = rows[top], cols[top], sims[top], weights[top]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return Neighbours(
        indptr, cols.astype(np.int32), sims.astype(np.float32), weights.astype(np.float32)
    )
