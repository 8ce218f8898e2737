"""Quantiles with Apache DataSketches' KLL sketch, fed whole NumPy arrays."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import datasketches as dsk
import numpy as np
import numpy.typing as npt

from suture.errors import IncompatibleMergeError
from suture.sketches.estimate import Estimate

__all__ = ["DEFAULT_K", "Histogram", "kll_merge", "kll_quantile", "kll_rank_error"]

DEFAULT_K = 1024
KLL_CONFIDENCE = 0.99


def kll_zero(k: int = DEFAULT_K) -> dsk.kll_doubles_sketch:
    """An empty KLL sketch of doubles."""
    return dsk.kll_doubles_sketch(k)


def kll_merge(a: dsk.kll_doubles_sketch, b: dsk.kll_doubles_sketch) -> dsk.kll_doubles_sketch:
    """Merge ``b`` into ``a`` (refusing sketches of different ``k``) and return ``a``."""
    if a.k != b.k:
        raise IncompatibleMergeError(
            f"cannot merge quantiles(k={a.k}) with quantiles(k={b.k}): k must match; "
            "re-profile with the same k"
        )
    a.merge(b)
    return a


def kll_rank_error(sketch: dsk.kll_doubles_sketch) -> float:
    """The sketch's normalized rank error at 99% confidence (single-sided)."""
    return float(sketch.normalized_rank_error(False))


def kll_quantile(sketch: dsk.kll_doubles_sketch, q: float) -> Estimate[float]:
    """The ``q``-quantile with the values at ranks ``q ± rank error`` as its bounds."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile rank must be between 0 and 1, got {q}")
    if sketch.is_empty():
        nan = float("nan")
        return Estimate(nan, nan, nan, KLL_CONFIDENCE)
    eps = kll_rank_error(sketch)
    value, lower, upper = sketch.get_quantiles([q, max(0.0, q - eps), min(1.0, q + eps)])
    return Estimate(float(value), float(lower), float(upper), KLL_CONFIDENCE)


@dataclass(frozen=True)
class Histogram:
    """Counts of values between bin edges, derived from a quantile sketch.

    Parameters
    ----------
    edges : ndarray
        ``bins + 1`` increasing edges from the minimum to the maximum.
    counts : ndarray
        Estimated count of values in each bin; each is within ``rank_error * total`` of
        the truth at 99% confidence.
    rank_error : float
    """

    edges: npt.NDArray[np.float64]
    counts: npt.NDArray[np.float64]
    rank_error: float


def kll_histogram(
    sketch: dsk.kll_doubles_sketch, lo: float, hi: float, bins: int = 20
) -> Histogram:
    """An equal-width histogram between ``lo`` and ``hi``."""
    if sketch.is_empty() or not np.isfinite(lo) or not np.isfinite(hi):
        return Histogram(np.array([], float), np.array([], float), 0.0)
    if hi <= lo:
        return Histogram(np.array([lo, hi], float), np.array([float(sketch.n)]), 0.0)
    edges = np.linspace(lo, hi, bins + 1)
    pmf = np.asarray(sketch.get_pmf(edges[1:-1].tolist()), dtype=np.float64)
    return Histogram(edges, pmf * sketch.n, kll_rank_error(sketch))


_KLL_PREAMBLE = struct.Struct("<BBBBHBBQHBB")
_KLL_M = 8
_KLL_FAMILY = 15
_LEVEL_ZERO_SORTED = 2
_RNG = np.random.default_rng()


def _level_capacity(k: int, num_levels: int, height: int) -> int:
    """KLL's capacity of a level, computed exactly as DataSketches does."""
    depth = num_levels - height - 1
    scaled: int = (((2 * k) << depth) // pow(3, depth) + 1) >> 1
    return max(_KLL_M, scaled)


def kll_of_sorted(values: npt.NDArray[np.float64], k: int = DEFAULT_K) -> dsk.kll_doubles_sketch:
    """A KLL sketch of a sorted batch, built by halving the batch with NumPy.

    DataSketches' update pushes values one at a time through level 0 and compacts it
    again and again.  A batch that is already sorted can be compacted in bulk with the
    same rule (keep every other value of a sorted level, from a random offset; an odd
    value out stays one level down), and the resulting levels are handed to DataSketches
    as a serialized sketch, which merges it like any other.  Every value keeps its weight
    exactly; the rank error added by a halving is at most the weight of the halved level,
    as in KLL's own compactions.
    """
    levels: list[npt.NDArray[np.float64]] = []
    current = values
    while True:
        num_levels = len(levels) + 1
        capacity = sum(_level_capacity(k, num_levels, h) for h in range(num_levels))
        if sum(level.size for level in levels) + current.size <= capacity:
            break
        odd = current.size % 2
        levels.append(current[-1:] if odd else current[:0])
        current = current[int(_RNG.integers(2)) : current.size - odd : 2]
    levels.append(current)
    return _kll_from_levels(levels, (values.size, values[0], values[-1]), k, capacity)


def kll_of_runs(
    distinct: npt.NDArray[np.float64], counts: npt.NDArray[np.int64], k: int = DEFAULT_K
) -> dsk.kll_doubles_sketch:
    """:func:`kll_of_sorted` of ``distinct`` (sorted) each repeated ``counts`` times,
    without writing the repeats out.

    A halving keeps the values at every other position of the sorted level; on runs of
    equal values that is a count per run, so only the small top level is ever expanded.
    The random offsets are drawn as :func:`kll_of_sorted` draws them, and the result is
    the same sketch.
    """
    total = int(counts.sum())
    levels: list[npt.NDArray[np.float64]] = []
    values, sizes, size = distinct, counts.astype(np.int64), total
    while True:
        num_levels = len(levels) + 1
        capacity = sum(_level_capacity(k, num_levels, h) for h in range(num_levels))
        if sum(level.size for level in levels) + size <= capacity:
            break
        odd = size % 2
        levels.append(values[-1:] if odd else values[:0])
        if odd:
            sizes = sizes.copy()
            sizes[-1] -= 1
        offset = int(_RNG.integers(2))
        ends = np.cumsum(sizes)
        kept_before = (ends + 1 - offset) // 2  # positions = offset (mod 2) below each end
        sizes = np.diff(kept_before, prepend=0)
        keep = sizes > 0
        values, sizes = values[keep], sizes[keep]
        size = int(kept_before[-1])
    levels.append(np.repeat(values, sizes))
    return _kll_from_levels(levels, (total, distinct[0], distinct[-1]), k, capacity)


def _kll_from_levels(
    levels: list[npt.NDArray[np.float64]],
    n_min_max: tuple[int, float, float],
    k: int,
    capacity: int,
) -> dsk.kll_doubles_sketch:
    items = np.concatenate(levels)
    offsets = capacity - items.size + np.cumsum([0] + [level.size for level in levels[:-1]])
    n, lowest, highest = n_min_max
    header = _KLL_PREAMBLE.pack(
        5, 1, _KLL_FAMILY, _LEVEL_ZERO_SORTED, k, _KLL_M, 0, n, k, len(levels), 0
    )
    image = b"".join(
        [
            header,
            offsets.astype("<u4").tobytes(),
            np.array([lowest, highest], dtype="<f8").tobytes(),
            items.astype("<f8").tobytes(),
        ]
    )
    return dsk.kll_doubles_sketch.deserialize(image)


def kll_update_runs(
    sketch: dsk.kll_doubles_sketch,
    distinct: npt.NDArray[np.float64],
    counts: npt.NDArray[np.int64],
) -> dsk.kll_doubles_sketch:
    """Fold sorted finite ``distinct`` values seen ``counts`` times into ``sketch``."""
    total = int(counts.sum())
    if total <= 2 * sketch.k:
        return kll_update_sorted(sketch, np.repeat(distinct, counts))
    sketch.merge(kll_of_runs(distinct, counts, sketch.k))
    return sketch


def kll_update_sorted(
    sketch: dsk.kll_doubles_sketch, values: npt.NDArray[np.float64]
) -> dsk.kll_doubles_sketch:
    """Fold a sorted array of finite values into ``sketch`` and return it."""
    if values.size <= 2 * sketch.k:
        sketch.update(values if values.flags.writeable else values.copy())
    else:
        sketch.merge(kll_of_sorted(values, sketch.k))
    return sketch
