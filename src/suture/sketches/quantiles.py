"""Quantiles with Apache DataSketches' KLL sketch, fed whole NumPy arrays."""

from __future__ import annotations

import functools
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


@functools.lru_cache(maxsize=256)
def _capacity(k: int, num_levels: int) -> int:
    """Total capacity of a KLL sketch with ``num_levels`` levels."""
    return sum(_level_capacity(k, num_levels, h) for h in range(num_levels))


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
    levels, capacity = _halve_sorted([], values, k)
    return _kll_from_levels(levels, (values.size, values[0], values[-1]), k, capacity)


def _halve_sorted(
    levels: list[npt.NDArray[np.float64]], current: npt.NDArray[np.float64], k: int
) -> tuple[list[npt.NDArray[np.float64]], int]:
    """Halve the sorted top level ``current`` until everything fits; the levels and the
    total capacity."""
    held = sum(level.size for level in levels)
    while True:
        capacity = _capacity(k, len(levels) + 1)
        if held + current.size <= capacity:
            break
        odd = current.size % 2
        levels.append(current[-1:] if odd else current[:0])
        held += odd
        current = current[int(_RNG.integers(2)) : current.size - odd : 2]
    levels.append(current)
    return levels, capacity


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
    """Fold sorted finite ``distinct`` values seen ``counts`` times into ``sketch``.

    The repeats are written out: halving a sorted array by strided slicing is cheaper than
    halving the runs by count, which was tried (it takes more NumPy calls per level).
    """
    return kll_update_sorted(sketch, np.repeat(distinct, counts))


def kll_update_sorted(
    sketch: dsk.kll_doubles_sketch, values: npt.NDArray[np.float64]
) -> dsk.kll_doubles_sketch:
    """Fold a sorted array of finite values into ``sketch`` and return it."""
    if values.size <= 2 * sketch.k:
        sketch.update(values if values.flags.writeable else values.copy())
    else:
        sketch.merge(kll_of_sorted(values, sketch.k))
    return sketch
