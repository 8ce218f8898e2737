"""Per-column drift metrics computed from two column summaries, with their error bounds.

Every metric here is a function of two summaries (never of raw rows) and returns its
value together with the interval that the sketches' own error bounds allow:

- **PSI** (population stability index) on bins: numeric columns on ten bins cut at the
  baseline's deciles, categorical columns on the most frequent levels of both sides
  together plus an ``other`` level.  Bin masses below :data:`EPSILON`
  are raised to it.
- **KS distance**: the largest gap between the two cumulative distributions, evaluated
  from the two KLL sketches at every item either retains.
- **Jensen–Shannon distance** (base 2) on the same bins as PSI.
- p-values of the classical tests (two-sample Kolmogorov–Smirnov, chi-square of
  homogeneity, two proportions), used by :mod:`suture.monitor.compare` only to guard
  small samples.

PSI and the Jensen–Shannon divergence are sums of per-bin terms that are jointly convex in
the two masses, so the extremes of a term over the box of masses the sketches allow lie at
its corners (the maximum) or at the corner nearest the diagonal (the minimum, zero when
the two intervals overlap); summing them bounds the metric.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from suture.sketches.categorical import BooleanSummary, StringSummary
from suture.sketches.estimate import Estimate
from suture.sketches.frequent import FrequentItems
from suture.sketches.numeric import NumericSummary
from suture.sketches.quantiles import Kll

__all__ = [
    "EPSILON",
    "MAX_LEVELS",
    "PSI_BINS",
    "Distances",
    "NullRates",
    "categorical_distances",
    "chi2_pvalue",
    "chi2_test",
    "jensen_shannon",
    "kll_cdf",
    "ks_distance",
    "ks_pvalue",
    "null_rates",
    "numeric_distances",
    "population_stability",
    "quantile_splits",
    "rank_error",
    "two_proportion_pvalue",
]

_F = npt.NDArray[np.float64]
_Term = Callable[[_F, _F], _F]

#: Bins of the numeric PSI and Jensen–Shannon distance (cut at the baseline's quantiles).
PSI_BINS = 10
#: The smallest bin mass PSI uses: an empty bin counts as this mass (log of 0 otherwise).
EPSILON = 1e-4
#: How many of the baseline's most frequent levels get their own bin (the rest: "other").
MAX_LEVELS = 20
#: A level gets a bin of its own only when seen this often on both sides together.
MIN_LEVEL_COUNT = 10
#: How many new or vanished levels are listed by name (all of them are counted).
MAX_LISTED = 20
_KLL_CONFIDENCE = 0.99
_ALL = 1 << 30  # more levels than any frequent-items map holds


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Distances:
    """The distribution metrics of one column: baseline versus current.

    Attributes
    ----------
    psi, js : Estimate
        Population stability index and Jensen–Shannon distance (base 2) on the bins, with
        the interval the sketches' bounds allow.
    ks : Estimate or None
        Kolmogorov–Smirnov distance (numeric columns; ``None`` for categories).
    pvalue : float
        The classical test of equal distributions (two-sample KS for numbers, chi-square
        of homogeneity for categories); ``nan`` where it cannot be computed.
    values : tuple of int
        How many values each side contributed (finite numbers, or non-null levels).
    bins : int
        How many bins PSI and JS used.
    new_levels, vanished_levels : tuple of str
        Levels certainly present on one side only (at most :data:`MAX_LISTED`, the most
        frequent first).
    new_count, vanished_count : int
        How many such levels there are.
    levels_exact : bool or None
        Whether both frequent-item sketches still hold every value (so level lists are
        complete); ``None`` for numeric columns.
    ks_error : float
        The KS bound: the sum of both sketches' normalized rank errors (``nan`` for
        categories).
    chi2 : float
        The chi-square statistic of homogeneity on the bins' estimated counts
        (categories; ``nan`` for numbers).
    chi2_df : int
        Its degrees of freedom (bins with a count, minus one; 0 where not computed).
    """

    psi: Estimate[float]
    js: Estimate[float]
    ks: Estimate[float] | None
    pvalue: float
    values: tuple[int, int]
    bins: int
    new_levels: tuple[str, ...] = ()
    vanished_levels: tuple[str, ...] = ()
    new_count: int = 0
    vanished_count: int = 0
    levels_exact: bool | None = None
    ks_error: float = math.nan
    chi2: float = math.nan
    chi2_df: int = 0


@dataclass(frozen=True)
class NullRates:
    """Null rates of a column on both sides, their change and the two-proportion p-value."""

    baseline: float
    current: float
    change: float
    pvalue: float


def _nan_estimate() -> Estimate[float]:
    nan = math.nan
    return Estimate(nan, nan, nan, _KLL_CONFIDENCE)


# ----------------------------------------------------------------------------- KLL


def rank_error(sketch: Kll, *, pmf: bool = False) -> float:
    """The normalized rank error of ``sketch`` at 99% confidence; 0 while it is exact.

    A KLL sketch that never compacted (a single level) holds every value it saw with
    weight one, so its ranks are exact.  ``pmf`` asks for the double-sided error of a bin
    mass instead of a rank.
    """
    if sketch.n == 0 or len(sketch.levels) == 1:
        return 0.0
    return sketch.normalized_rank_error(pmf)


def kll_cdf(sketch: Kll, points: _F) -> _F:
    """The sketch's normalized rank of each point, inclusive (the fraction ``<= x``)."""
    if points.size == 0:
        return np.zeros(0)
    cdf = sketch.sketch.get_cdf(points.tolist(), True)
    return np.asarray(cdf[:-1], dtype=np.float64)


def _retained(sketch: Kll) -> _F:
    return np.concatenate([np.asarray(level, dtype=np.float64) for level in sketch.levels])


def ks_distance(a: Kll, b: Kll) -> Estimate[float]:
    """Kolmogorov–Smirnov distance between two KLL sketches, with its error bound.

    Both sketch CDFs are step functions that change only at retained items, so their
    largest gap is found exactly by evaluating both at the union of the retained items.
    The bound is the sum of the two sketches' single-sided normalized rank errors (zero
    for a sketch that holds every value): the true two-sample statistic lies in
    ``[lower, upper]`` with the sketches' confidence.

    Returns
    -------
    Estimate
        ``nan`` when either sketch is empty.
    """
    if a.n == 0 or b.n == 0:
        return _nan_estimate()
    points = np.unique(np.concatenate([_retained(a), _retained(b)]))
    gap = float(np.max(np.abs(kll_cdf(a, points) - kll_cdf(b, points))))
    error = rank_error(a) + rank_error(b)
    return Estimate(gap, max(0.0, gap - error), min(1.0, gap + error), _KLL_CONFIDENCE)


def quantile_splits(sketch: Kll, bins: int = PSI_BINS) -> _F:
    """Split points at the sketch's ``1/bins, 2/bins, ...`` quantiles (repeats dropped).

    Bin ``i`` holds the values in ``(splits[i-1], splits[i]]``; the first bin everything
    up to ``splits[0]``, the last everything above ``splits[-1]``.  A column with few
    distinct values gets fewer bins.
    """
    if sketch.n == 0 or bins < 2:
        return np.zeros(0)
    ranks = (np.arange(1, bins) / bins).tolist()
    splits = np.unique(np.asarray(sketch.get_quantiles(ranks), dtype=np.float64))
    # A split at the maximum would leave its bin above empty on the baseline side.
    return splits[splits < sketch.max] if splits.size > 1 else splits


def _kll_masses(sketch: Kll, splits: _F) -> tuple[_F, float]:
    """Bin masses of ``sketch`` at ``splits`` and the error of each (double-sided)."""
    cdf = np.append(kll_cdf(sketch, splits), 1.0)
    return np.diff(cdf, prepend=0.0), rank_error(sketch, pmf=True)


# ----------------------------------------------------------------------------- divergences


def _psi_term(p: _F, q: _F) -> _F:
    p, q = np.maximum(p, EPSILON), np.maximum(q, EPSILON)
    return (q - p) * np.log(q / p)


def _xlog2(x: _F, y: _F) -> _F:
    """``x * log2(2x / (x + y))``, 0 where ``x`` is 0."""
    safe = np.where(x > 0, x, 1.0)
    return np.where(x > 0, x * np.log2(2.0 * safe / (safe + y)), 0.0)


def _js_term(p: _F, q: _F) -> _F:
    p, q = np.maximum(p, 0.0), np.maximum(q, 0.0)
    return 0.5 * (_xlog2(p, q) + _xlog2(q, p))


def _bounded_sum(term: _Term, p: _F, dp: _F, q: _F, dq: _F) -> tuple[float, float, float]:
    """The sum of a jointly convex per-bin ``term`` and its range over the mass boxes."""
    p_lo, p_hi = np.clip(p - dp, 0.0, 1.0), np.clip(p + dp, 0.0, 1.0)
    q_lo, q_hi = np.clip(q - dq, 0.0, 1.0), np.clip(q + dq, 0.0, 1.0)
    corners = [term(p_lo, q_lo), term(p_lo, q_hi), term(p_hi, q_lo), term(p_hi, q_hi)]
    upper = np.maximum.reduce(corners)
    lower = np.where(p_lo > q_hi, term(p_lo, q_hi), np.where(q_lo > p_hi, term(p_hi, q_lo), 0.0))
    return float(term(p, q).sum()), float(lower.sum()), float(upper.sum())


def population_stability(
    p: _F, dp: _F, q: _F, dq: _F, *, confidence: float = _KLL_CONFIDENCE
) -> Estimate[float]:
    """PSI ``sum((q - p) * ln(q / p))`` of baseline masses ``p`` and current ``q``.

    Parameters
    ----------
    p, q : ndarray
        Bin masses of the baseline and the current side (masses below :data:`EPSILON`
        count as ``EPSILON``).
    dp, dq : ndarray
        The most each mass can be off.
    confidence : float
        The confidence of those mass errors, carried to the result.
    """
    value, lower, upper = _bounded_sum(_psi_term, p, dp, q, dq)
    return Estimate(value, lower, upper, confidence)


def jensen_shannon(
    p: _F, dp: _F, q: _F, dq: _F, *, confidence: float = _KLL_CONFIDENCE
) -> Estimate[float]:
    """Jensen–Shannon distance, base 2 (0 = same, 1 = disjoint), with its bounds.

    Parameters are those of :func:`population_stability`.
    """
    value, lower, upper = _bounded_sum(_js_term, p, dp, q, dq)
    root = math.sqrt
    return Estimate(root(max(value, 0.0)), root(max(lower, 0.0)), root(max(upper, 0.0)), confidence)


# ----------------------------------------------------------------------------- tests


def ks_pvalue(distance: float, n: int, m: int) -> float:
    """Asymptotic p-value of the two-sample Kolmogorov–Smirnov statistic.

    The Kolmogorov distribution with the Stephens correction (as in *Numerical Recipes*
    ``probks``); conservative for data with ties.
    """
    if not math.isfinite(distance) or n == 0 or m == 0:
        return math.nan
    en = math.sqrt(n * m / (n + m))
    lam = (en + 0.12 + 0.11 / en) * distance
    if lam < 1e-3:
        return 1.0
    j = np.arange(1, 101, dtype=np.float64)
    terms = 2.0 * (-1.0) ** (j - 1) * np.exp(-2.0 * j**2 * lam**2)
    return float(min(1.0, max(0.0, terms.sum())))


def _upper_gamma(a: float, x: float) -> float:
    """The regularized upper incomplete gamma function ``Q(a, x)``."""
    if x <= 0:
        return 1.0
    log_front = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1.0:  # the series of P(a, x)
        total = term = 1.0 / a
        k = a
        while abs(term) > abs(total) * 1e-15:
            k += 1.0
            term *= x / k
            total += term
        return max(0.0, 1.0 - total * math.exp(log_front))
    # Lentz's continued fraction of Q(a, x)
    tiny = 1e-300
    b = x + 1.0 - a
    c, d = 1.0 / tiny, 1.0 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return min(1.0, math.exp(log_front) * h)


def chi2_test(baseline: _F, current: _F) -> tuple[float, int, float]:
    """Chi-square test of homogeneity of two rows of counts: statistic, df and p-value.

    Levels counted on neither side are left out; ``(nan, 0, nan)`` when a side has no
    count or fewer than two levels remain.
    """
    used = (baseline + current) > 0
    a, b = baseline[used], current[used]
    n, m = float(a.sum()), float(b.sum())
    if a.size < 2 or n <= 0 or m <= 0:
        return math.nan, 0, math.nan
    totals = a + b
    expected_a, expected_b = totals * n / (n + m), totals * m / (n + m)
    stat = float(
        (((a - expected_a) ** 2) / expected_a + ((b - expected_b) ** 2) / expected_b).sum()
    )
    df = int(a.size - 1)
    return stat, df, _upper_gamma(df / 2.0, stat / 2.0)


def chi2_pvalue(baseline: _F, current: _F) -> float:
    """p-value of the chi-square test that two rows of counts share one distribution.

    Levels counted on neither side are left out; ``nan`` when a side has no count or
    fewer than two levels remain (see :func:`chi2_test`).
    """
    return chi2_test(baseline, current)[2]


def two_proportion_pvalue(x: int, n: int, y: int, m: int) -> float:
    """Two-sided p-value of the z-test that ``x / n`` and ``y / m`` are one proportion."""
    if n == 0 or m == 0:
        return math.nan
    pooled = (x + y) / (n + m)
    spread = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n + 1.0 / m))
    if spread == 0.0:
        return 1.0 if x / n == y / m else 0.0
    z = abs(x / n - y / m) / spread
    return math.erfc(z / math.sqrt(2.0))


# ----------------------------------------------------------------------------- columns


def null_rates(count_a: int, nulls_a: int, count_b: int, nulls_b: int) -> NullRates:
    """Null rates (exact counts) of both sides, their change and its p-value."""
    rate_a = nulls_a / count_a if count_a else math.nan
    rate_b = nulls_b / count_b if count_b else math.nan
    pvalue = two_proportion_pvalue(nulls_a, count_a, nulls_b, count_b)
    return NullRates(rate_a, rate_b, rate_b - rate_a, pvalue)


def numeric_distances(a: NumericSummary, b: NumericSummary, bins: int = PSI_BINS) -> Distances:
    """PSI, KS and Jensen–Shannon distance of two numeric (or temporal) summaries.

    The bins are cut at the baseline's quantiles (see :func:`quantile_splits`) and both
    sides' masses read from their own sketches' CDFs; only finite values are compared
    (nulls, NaN and infinities are counted apart).
    """
    ka, kb = a.state.quantiles, b.state.quantiles
    values = (int(ka.n), int(kb.n))
    if ka.n == 0 or kb.n == 0:
        nan = _nan_estimate()
        return Distances(nan, nan, nan, math.nan, values, 0)
    splits = quantile_splits(ka, bins)
    p, ep = _kll_masses(ka, splits)
    q, eq = _kll_masses(kb, splits)
    dp, dq = np.full(p.size, ep), np.full(q.size, eq)
    ks = ks_distance(ka, kb)
    return Distances(
        population_stability(p, dp, q, dq),
        jensen_shannon(p, dp, q, dq),
        ks,
        ks_pvalue(ks.value, ka.n, kb.n),
        values,
        int(p.size),
        ks_error=rank_error(ka) + rank_error(kb),
    )


@dataclass(frozen=True)
class _Levels:
    """Counts of named levels on one side: estimate, lower and upper bound, and the total."""

    estimate: _F
    lower: _F
    upper: _F
    total: int


def _frequent_counts(frequent: FrequentItems, levels: list[str], total: int) -> _Levels:
    sketch = frequent.sketch
    est = np.array([sketch.get_estimate(v) for v in levels], dtype=np.float64)
    low = np.array([sketch.get_lower_bound(v) for v in levels], dtype=np.float64)
    high = np.array([sketch.get_upper_bound(v) for v in levels], dtype=np.float64)
    return _Levels(est, low, high + frequent.offset, total)


def _boolean_counts(s: BooleanSummary, levels: list[str]) -> _Levels:
    counts = {"true": float(s.true), "false": float(s.false)}
    est = np.array([counts.get(v, 0.0) for v in levels], dtype=np.float64)
    return _Levels(est, est, est, s.count - s.nulls)


def _masses(levels: _Levels) -> tuple[_F, _F]:
    """Masses of the named levels plus ``other``, and how far each can be off."""
    total = float(levels.total)
    share = levels.estimate / total
    low, high = levels.lower / total, levels.upper / total
    other = max(0.0, 1.0 - float(share.sum()))
    other_low = max(0.0, 1.0 - float(high.sum()))
    other_high = min(1.0, 1.0 - float(low.sum()))
    mass = np.append(share, other)
    error = np.append(np.maximum(share - low, high - share),
                      max(other - other_low, other_high - other))  # fmt: skip
    return mass, error


def _one_side_levels(
    here: FrequentItems | None, there: FrequentItems | None
) -> tuple[tuple[str, ...], int]:
    """Levels certainly seen ``here`` (lower bound above 0) and certainly not ``there``
    (upper bound 0), most frequent first."""
    if here is None:
        return (), 0
    items = here.top(_ALL)
    found = []
    for item in items:
        if item.count.lower <= 0:
            continue
        if there is not None and there.sketch.get_upper_bound(item.value) + there.offset > 0:
            continue
        found.append(item.value)
    return tuple(found[:MAX_LISTED]), len(found)


def _frequent_of(s: StringSummary | BooleanSummary) -> FrequentItems | None:
    return s.state.frequent if isinstance(s, StringSummary) else None


def _counts(s: StringSummary | BooleanSummary, levels: list[str]) -> _Levels:
    if isinstance(s, BooleanSummary):
        return _boolean_counts(s, levels)
    return _frequent_counts(s.state.frequent, levels, s.count - s.nulls)


def _binned_levels(
    a: StringSummary | BooleanSummary, b: StringSummary | BooleanSummary, max_levels: int
) -> list[str]:
    """The levels that get a bin of their own: the most frequent of both sides together.

    A level picked because it is frequent in one sample looks more frequent there than
    it is (the winner's curse): picking each side's own top levels made two samples of
    one distribution look apart.  Levels are picked by their pooled count instead: given
    the pooled count, how it splits between the sides does not depend on the pick, so
    the pick biases neither side.  Levels seen fewer than :data:`MIN_LEVEL_COUNT` times
    in all share ``other``.
    """
    seen = [item.value for item in a.top(max_levels)] + [item.value for item in b.top(max_levels)]
    candidates = list(dict.fromkeys(seen))
    pooled = _counts(a, candidates).estimate + _counts(b, candidates).estimate
    order = np.argsort(-pooled, kind="stable")[:max_levels]
    chosen = np.sort(order[pooled[order] >= MIN_LEVEL_COUNT])
    return [candidates[i] for i in chosen.tolist()]


def categorical_distances(
    a: StringSummary | BooleanSummary,
    b: StringSummary | BooleanSummary,
    max_levels: int = MAX_LEVELS,
) -> Distances:
    """PSI and Jensen–Shannon distance over the frequent levels, plus new/vanished levels.

    The bins are the ``max_levels`` most frequent levels of both sides together (see
    :func:`_binned_levels`) and one ``other`` level, so a new level that takes many rows
    has a bin of its own, where PSI sees it (its baseline mass counts as
    :data:`EPSILON`).  Counts come from the frequent-items
    sketches with their deterministic bounds (exact for booleans, and for strings while
    the sketch holds every value).  A level is
    *new* when the current side certainly has it and the baseline certainly has not
    (and *vanished* the other way round); while a sketch no longer holds every value, a
    rare level may be neither listed nor excluded, and ``levels_exact`` is ``False``.
    """
    values = (a.count - a.nulls, b.count - b.nulls)
    fa, fb = _frequent_of(a), _frequent_of(b)
    new_levels, new_count = _one_side_levels(fb, fa)
    vanished, vanished_count = _one_side_levels(fa, fb)
    exact = (fa is None or fa.distinct is not None) and (fb is None or fb.distinct is not None)
    if values[0] == 0 or values[1] == 0:
        nan = _nan_estimate()
        return Distances(nan, nan, None, math.nan, values, 0, new_levels, vanished,
                         new_count, vanished_count, exact)  # fmt: skip
    levels = _binned_levels(a, b, max_levels)
    ca, cb = _counts(a, levels), _counts(b, levels)
    p, dp = _masses(ca)
    q, dq = _masses(cb)
    chi2, chi2_df, pvalue = chi2_test(p * values[0], q * values[1])
    # Frequent-item and boolean counts have deterministic bounds.
    return Distances(
        population_stability(p, dp, q, dq, confidence=1.0),
        jensen_shannon(p, dp, q, dq, confidence=1.0),
        None,
        pvalue,
        values,
        int(p.size),
        new_levels,
        vanished,
        new_count,
        vanished_count,
        exact,
        chi2=chi2,
        chi2_df=chi2_df,
    )
