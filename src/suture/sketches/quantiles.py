"""Quantiles with Apache DataSketches' KLL sketch, fed whole NumPy arrays."""

from __future__ import annotations

from dataclasses import dataclass

import datasketches as dsk
import numpy as np
import numpy.typing as npt

from suture.errors import IncompatibleMergeError
from suture.sketches.estimate import Estimate

__all__ = ["DEFAULT_K", "Histogram", "kll_merge", "kll_quantile", "kll_rank_error"]

DEFAULT_K = 200
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
