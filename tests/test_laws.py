"""The aggregator laws, checked with Hypothesis over tables of every column kind."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suture.aggregate import RowCount
from suture.profile import Profile, ProfileAggregator
from suture.sketches import CoMoments
from suture.testing import (
    ShufflingEngine,
    arrow_tables,
    assert_profiles_agree,
    check_aggregator,
    random_split,
)

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _profile_equal(agg: ProfileAggregator) -> Any:
    def check(a: dict[str, Any], b: dict[str, Any]) -> None:
        # Small tables keep every value in KLL, so quantiles agree exactly as well.
        assert_profiles_agree(Profile(agg, a), Profile(agg, b), quantiles_exact=True)

    return check


@SETTINGS
@given(arrow_tables(), st.integers(0, 2**32))
def test_profile_aggregator_obeys_the_laws(table: pa.Table, seed: int) -> None:
    agg = ProfileAggregator(table.schema)
    check_aggregator(agg, table, assert_equal=_profile_equal(agg), seed=seed)


@SETTINGS
@given(arrow_tables(), st.integers(1, 12), st.integers(0, 2**32))
def test_split_anywhere_and_merge_equals_one_pass(table: pa.Table, parts: int, seed: int) -> None:
    agg = ProfileAggregator(table.schema)
    whole = (
        agg.update(agg.zero(), table.combine_chunks().to_batches()[0])
        if table.num_rows
        else agg.zero()
    )
    state = agg.zero()
    for part in random_split(table, parts, random.Random(seed)):
        partial = agg.zero()
        for batch in part.to_batches(max_chunksize=7):
            partial = agg.update(partial, batch)
        state = agg.merge(state, agg.from_bytes(agg.to_bytes(partial)))
    assert_profiles_agree(Profile(agg, state), Profile(agg, whole), quantiles_exact=True)


@SETTINGS
@given(arrow_tables(), st.integers(0, 2**32))
def test_shuffling_engine_agrees_with_one_pass(table: pa.Table, seed: int) -> None:
    agg = ProfileAggregator(table.schema)
    one = agg.zero()
    for batch in table.to_batches():
        one = agg.update(one, batch)
    shuffled = ShufflingEngine(seed=seed).aggregate_state(table, agg)
    assert_profiles_agree(Profile(agg, shuffled), Profile(agg, one), quantiles_exact=True)


@SETTINGS
@given(arrow_tables(), st.integers(0, 2**32))
def test_row_count_and_comoments_laws(table: pa.Table, seed: int) -> None:
    check_aggregator(RowCount(), table, assert_equal=_equal_ints, seed=seed)
    comoments = CoMoments(["i", "f"])

    def close(a: Any, b: Any) -> None:
        assert (a.n == b.n).all()
        for field in ("mean", "m2", "c"):
            x, y = getattr(a, field), getattr(b, field)
            finite = np.concatenate([x[np.isfinite(x)], y[np.isfinite(y)], [1.0]])
            atol = 1e-7 * float(np.abs(finite).max())
            agree = np.isclose(x, y, rtol=1e-7, atol=atol, equal_nan=True) | (x == y)
            assert agree.all(), f"{field}: {x} != {y}"

    check_aggregator(comoments, table, assert_equal=close, seed=seed)


def _equal_ints(a: int, b: int) -> None:
    assert a == b


def test_zero_state_finalizes_to_an_empty_profile() -> None:
    schema = pa.schema({"x": pa.float64(), "s": pa.string(), "t": pa.timestamp("s")})
    agg = ProfileAggregator(schema)
    profile = agg.finalize(agg.zero())
    assert profile.row_count == 0
    assert profile["x"].count == 0
    assert str(profile["x"].mean) == "nan"
    assert float(profile["s"].distinct()) == 0.0
    assert profile["t"].min is None
    assert profile["x"].hints == ("empty",)


def test_overflowing_values_give_infinite_moments_not_errors() -> None:
    # Regression: values near the float limit overflowed with a RuntimeWarning.
    table = pa.table({"f": [None, 0.0, 1.6375474301492827e77, 1.34e154], "g": [1.0, 2.0, 3.0, 4.0]})
    agg = ProfileAggregator(table.schema)
    profile = agg.finalize(agg.update(agg.zero(), table.to_batches()[0]))
    assert profile["f"].max == 1.34e154
    assert profile["f"].count == 4 and profile["f"].nulls == 1
