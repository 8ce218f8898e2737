"""A record is refused exactly when the batch path quarantines its row, for every rule kind.

The contract below has a rule of every kind (type, null, range, level, unit, parse,
derived) on every column type (numbers with units, integers, uint64 with exact bounds,
booleans from text, numbers and booleans, timestamps, durations, times of day from text
and from Arrow times, categoricals, sets), and the generated tables give each column
Arrow input of the kinds it accepts, dirty values included.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suture.schema import Column, Derived, RecordError, Schema

BIG = 2**63
WIDE = Schema(
    [
        Column("id", "identifier", nullable=False, feature=False),
        Column("distance", "number", nullable=False, unit="mile", min=0, max=5000),
        Column("air_time", "number", unit="minute", min=0, max=800, input_unit="hour"),
        Column("seats", "integer", min=1, max=900),
        Column("big", "integer", min=BIG - 2, max=BIG + 2),
        Column("ratio", "number", min=-1, max=1),
        Column("carrier", "categorical", nullable=False, levels=("AA", "UA")),
        Column("direct", "boolean"),
        Column("wifi", "boolean", nullable=False),
        Column("meal", "boolean"),
        Column("when", "timestamp", timezone="UTC", min="2013-01-01", max="2014-01-01"),
        Column("stamp", "timestamp", timezone="Asia/Tokyo"),
        Column("wait", "number", unit="minute", min=0, max=120),
        Column("dep", "time", min="05:00", max="23:00"),
        Column("arr", "time", nullable=False),
        Column("tags", "set", levels=("wifi", "meal")),
    ],
    [
        Derived("speed", "distance / air_time", unit="mile / hour", min=0, max=700),
        Derived("late", "wait > 30", nullable=False),
    ],
)

NUMBERS = st.one_of(
    st.none(),
    st.sampled_from(["", "nan", "inf", "-1e999", "12 parsecs", "7 EUR", "1,5", "1,000 km"]),
    st.sampled_from(["x", " 3 ", "90 s", "2 hour", "1e3", "5000", "5000.0001", "-0"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**6), 10**6).map(str),
)
FLOATS = st.one_of(st.none(), st.floats(-2, 2), st.sampled_from([math.inf, math.nan]))
BIG_INTS = st.one_of(st.none(), st.integers(BIG - 4, BIG + 4), st.sampled_from([0, 2**64 - 1]))
LEVELS = st.one_of(st.none(), st.sampled_from(["AA", "UA", "", "aa", "ZZ"]))
BOOL_TEXT = st.one_of(
    st.none(), st.sampled_from(["true", "False", "yes", " N ", "0", "1", "maybe", "", "2"])
)
BOOL_NUMBERS = st.one_of(st.none(), st.sampled_from([0.0, 1.0, 2.0, -1.0, 0.5, math.nan]))
TIMES = st.one_of(
    st.none(),
    st.sampled_from(["2013-05-01", "2013-13-01", "2013-02-30T10:00", "2020-01-01Z", "soon", ""]),
    st.sampled_from(["2013-05-01T10:00:00+0100", "2013-12-31T23:30-02:00", " 2013-06-01 "]),
    st.datetimes(dt.datetime(2012, 6, 1), dt.datetime(2014, 6, 1)).map(lambda d: d.isoformat()),
)
STAMPS = st.one_of(st.none(), st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2030, 1, 1)))
WAITS = st.one_of(st.none(), st.integers(-600, 9000).map(lambda s: dt.timedelta(seconds=s)))
CLOCKS = st.one_of(
    st.none(),
    st.sampled_from(["07:30", "04:59:59", "23:00", "23:00:00.000001", "24:00", "7:30", "", "x"]),
    st.times().map(lambda t: t.isoformat()),
)
ARROW_CLOCKS = st.one_of(st.none(), st.times())
TAGS = st.one_of(st.none(), st.lists(st.sampled_from(["wifi", "meal", "pool"]), max_size=3))


CLEAN: dict[str, Any] = {
    "distance": st.one_of(st.integers(0, 5000).map(str), st.sampled_from(["12.5", "100 km"])),
    "air_time": st.one_of(
        st.floats(0.5, 13).map(repr), st.sampled_from(["90 min", "2 hour", "45 minute"])
    ),
    "seats": st.integers(1, 900).map(str),
    "big": st.integers(BIG - 2, BIG + 2),
    "ratio": st.one_of(st.none(), st.floats(-1, 1)),
    "carrier": st.sampled_from(["AA", "UA"]),
    "direct": st.sampled_from([None, "true", "no", "Y", "0"]),
    "wifi": st.sampled_from([0.0, 1.0]),
    "meal": st.one_of(st.none(), st.booleans()),
    "when": st.datetimes(dt.datetime(2013, 1, 1), dt.datetime(2013, 12, 31)).map(
        lambda d: d.isoformat()
    ),
    "stamp": STAMPS,
    "wait": st.integers(0, 7200).map(lambda s: dt.timedelta(seconds=s)),
    "dep": st.times(dt.time(5), dt.time(23)).map(lambda t: t.isoformat()),
    "arr": st.times(),
    "tags": st.lists(st.sampled_from(["wifi", "meal"]), max_size=2),
}
DIRTY: dict[str, Any] = {
    "distance": NUMBERS,
    "air_time": NUMBERS,
    "seats": NUMBERS,
    "big": BIG_INTS,
    "ratio": FLOATS,
    "carrier": LEVELS,
    "direct": BOOL_TEXT,
    "wifi": BOOL_NUMBERS,
    "meal": st.none(),
    "when": TIMES,
    "stamp": STAMPS,
    "wait": WAITS,
    "dep": CLOCKS,
    "arr": ARROW_CLOCKS,
    "tags": TAGS,
}
TYPES = {
    "big": pa.uint64(),
    "ratio": pa.float64(),
    "wifi": pa.float64(),
    "meal": pa.bool_(),
    "stamp": pa.timestamp("us"),
    "wait": pa.duration("s"),
    "arr": pa.time64("us"),
    "tags": pa.list_(pa.string()),
}


@st.composite
def dirty_tables(draw: Any) -> pa.Table:
    """Rows clean but for at most two columns each, so every column's rules are reached."""
    n = draw(st.integers(0, 30))
    columns: dict[str, list[Any]] = {name: [] for name in CLEAN}
    for _ in range(n):
        broken = draw(st.sets(st.sampled_from(list(CLEAN)), max_size=2))
        for name, values in columns.items():
            values.append(draw(DIRTY[name] if name in broken else CLEAN[name]))
    arrays = {"id": pa.array([str(i) for i in range(n)], pa.string())}
    for name, values in columns.items():
        arrays[name] = pa.array(values, TYPES.get(name, pa.string()))
    return pa.table(arrays)


def same(value: Any, expected: Any, key: str) -> None:
    if isinstance(value, float) and isinstance(expected, float):
        assert value == pytest.approx(expected, rel=1e-12), key
    else:
        assert value == expected, key


@settings(max_examples=60, deadline=None)
@given(data=dirty_tables(), batch=st.integers(3, 40))
def test_records_and_batches_give_the_same_verdict_for_every_rule(
    data: pa.Table, batch: int
) -> None:
    result = WIDE.validate(data, batch_size=batch)
    q = result.quarantine
    assert result.summary.valid + result.summary.quarantined == data.num_rows
    bad_rows = set(q.column("__row").to_pylist())
    valid = {r["id"]: r for r in result.valid.to_pylist()}
    for i, record in enumerate(data.to_pylist()):
        try:
            out = WIDE.coerce(record)
        except RecordError as exc:
            assert i in bad_rows, (record, str(exc))
            row = q.filter(pc.equal(q.column("__row"), i))
            assert row.column(f"__reason_{exc.kind}_{exc.field}")[0].as_py() is not None, (
                str(exc),
                row.column("__reasons")[0].as_py(),
            )
            continue
        assert i not in bad_rows, (record, q.filter(pc.equal(q.column("__row"), i)).to_pylist())
        expected = valid[record["id"]]
        for key, value in out.items():
            same(value, expected[key], key)


def test_every_rule_kind_is_reachable_on_both_paths() -> None:
    """A fixed table that breaks each kind once: the property test's space covers them."""
    rows: dict[str, list[Any]] = {
        "id": ["a", "b", "c", "d", "e", "f", "g", "h"],
        "distance": ["1", None, "-5", "9 kg", "x", "10", "1", "1"],
        "air_time": ["1", "1", "1", "1", "1", "0", "1", "1"],
        "seats": ["1", "1", "1", "1", "1", "1", "2.5", "1"],
        "big": [BIG, BIG, BIG, BIG, BIG, BIG, BIG, BIG],
        "ratio": [0.0] * 8,
        "carrier": ["AA", "AA", "AA", "AA", "AA", "AA", "AA", "ZZ"],
    }
    n = len(rows["id"])
    rest = {
        "direct": pa.array([None] * n, pa.string()),
        "wifi": pa.array([1.0] * n),
        "meal": pa.array([None] * n, pa.bool_()),
        "when": pa.array([None] * n, pa.string()),
        "stamp": pa.array([None] * n, pa.timestamp("us")),
        "wait": pa.array([dt.timedelta(minutes=40)] * n, pa.duration("s")),
        "dep": pa.array([None] * n, pa.string()),
        "arr": pa.array([dt.time(1)] * n, pa.time64("us")),
        "tags": pa.array([None] * n, pa.list_(pa.string())),
    }
    table = pa.table(
        {
            **{k: pa.array(v, pa.uint64() if k == "big" else None) for k, v in rows.items()},
            **rest,
        }
    )
    kinds = set()
    for record in table.to_pylist():
        try:
            WIDE.coerce(record)
        except RecordError as exc:
            kinds.add(exc.kind)
    batch = {kind for _, kind in WIDE.validate(table).summary.counts}
    assert kinds == batch == {"null", "range", "unit", "parse", "derived", "type", "level"}
