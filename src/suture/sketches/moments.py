"""Exact, mergeable moments: count, mean and central sums M2..M4 (Chan, Pébay).

Batches are summarized with NumPy in two passes (mean, then centered powers) and merged
with Pébay's pairwise formulas, which are stable where the textbook sum-of-squares is not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Moments", "moments_of", "weighted_moments_of"]


@dataclass
class Moments:
    """Count, mean and central moment sums of a set of finite numbers.

    Notes
    -----
    ``merge`` is associative and commutative up to floating-point rounding (results agree
    to about 1e-12 relative); the zero is ``Moments()``.  Variance is the sample variance
    (``ddof=1``); skewness and excess kurtosis are the population (biased) estimates, as
    in ``scipy.stats.skew``/``kurtosis`` with ``bias=True``.  Empty input has ``nan`` mean.
    """

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0
    m3: float = 0.0
    m4: float = 0.0

    def merge(self, other: Moments) -> Moments:
        """Return the moments of both sets together."""
        if other.n == 0:
            return Moments(self.n, self.mean, self.m2, self.m3, self.m4)
        if self.n == 0:
            return Moments(other.n, other.mean, other.m2, other.m3, other.m4)
        na, nb = float(self.n), float(other.n)
        n = na + nb
        delta = other.mean - self.mean
        d_n = delta / n
        mean = self.mean + d_n * nb
        m2 = self.m2 + other.m2 + delta * d_n * na * nb
        m3 = (
            self.m3
            + other.m3
            + delta * d_n * d_n * na * nb * (na - nb)
            + 3.0 * d_n * (na * other.m2 - nb * self.m2)
        )
        m4 = (
            self.m4
            + other.m4
            + delta * d_n * d_n * d_n * na * nb * (na * na - na * nb + nb * nb)
            + 6.0 * d_n * d_n * (na * na * other.m2 + nb * nb * self.m2)
            + 4.0 * d_n * (na * other.m3 - nb * self.m3)
        )
        return Moments(self.n + other.n, mean, m2, m3, m4)

    @property
    def variance(self) -> float:
        """Sample variance (``ddof=1``); ``nan`` below two values."""
        return self.m2 / (self.n - 1) if self.n > 1 else math.nan

    @property
    def std(self) -> float:
        """Sample standard deviation (``ddof=1``)."""
        return math.sqrt(self.variance) if self.n > 1 else math.nan

    @property
    def skewness(self) -> float:
        """Population skewness; ``nan`` when the values are constant or fewer than 2."""
        if self.n < 2 or self.m2 <= 0:
            return math.nan
        return float(np.sqrt(self.n) * self.m3 / np.float64(self.m2) ** 1.5)

    @property
    def kurtosis(self) -> float:
        """Population excess kurtosis; ``nan`` when the values are constant."""
        if self.n < 2 or self.m2 <= 0:
            return math.nan
        return self.n * self.m4 / (self.m2 * self.m2) - 3.0

    @property
    def mean_or_nan(self) -> float:
        """The mean, or ``nan`` for no values."""
        return self.mean if self.n else math.nan

    def to_list(self) -> list[float]:
        """The five fields, for serialization."""
        return [float(self.n), self.mean, self.m2, self.m3, self.m4]

    @classmethod
    def from_list(cls, values: list[float]) -> Moments:
        """Inverse of :meth:`to_list`."""
        n, mean, m2, m3, m4 = values
        return cls(int(n), mean, m2, m3, m4)


def moments_of(values: npt.NDArray[np.float64]) -> Moments:
    """Moments of an array of finite numbers, vectorized."""
    n = int(values.size)
    if n == 0:
        return Moments()
    with np.errstate(over="ignore", invalid="ignore"):
        mean = float(values.mean())
        centered = values - mean
        sq = centered * centered
        # Plain reductions, not np.dot: BLAS threads add latency and contention here.
        m3, m4 = float((sq * centered).sum()), float((sq * sq).sum())
        return Moments(n, mean, float(sq.sum()), m3, m4)


def weighted_moments_of(
    values: npt.NDArray[np.float64], weights: npt.NDArray[np.float64]
) -> Moments:
    """Moments of ``values`` each repeated ``weights`` times (integer weights)."""
    n = float(weights.sum())
    if n == 0:
        return Moments()
    mean = float(np.dot(weights, values) / n)
    centered = values - mean
    wsq = weights * centered * centered  # lengths: no overflow possible
    return Moments(
        int(n),
        mean,
        float(wsq.sum()),
        float((wsq * centered).sum()),
        float((wsq * centered * centered).sum()),
    )
