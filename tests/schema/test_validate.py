"""Vectorized validation: every violation kind, the quarantine, and no row lost."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suture.errors import SchemaError
from suture.schema import Column, Derived, Schema, ValidationAggregator, ValidationSummary
from suture.testing import check_aggregator

CONTRACT = Schema(
    [
        Column("id", "identifier", nullable=False, feature=False),
        Column("distance", "number", nullable=False, unit="mile", min=0, max=5000),
        Column("air_time", "number", unit="minute", min=0, max=800),
        Column("seats", "integer", min=1, max=900),
        Column("carrier", "categorical", nullable=False, levels=("AA", "UA")),
        Column("direct", "boolean"),
        Column("when", "timestamp", timezone="UTC", min="2013-01-01", max="2014-01-01"),
        Column("tags", "set", levels=("wifi", "meal")),
    ],
    [Derived("speed", "distance / air_time", unit="mile / hour", min=0, max=700)],
)

UTC = dt.UTC


def table(**overrides: list[Any]) -> pa.Table:
    base: dict[str, list[Any]] = {
        "id": ["a", "b", "c"],
        "distance": ["100", "200", "300"],
        "air_time": ["60", "30", "45"],
        "seats": ["100", "150", "200"],
        "carrier": ["AA", "UA", "AA"],
        "direct": ["true", "no", None],
        "when": ["2013-05-01T10:00:00Z", "2013-06-01 12:00", None],
        "tags": [["wifi"], [], None],
    }
    base.update(overrides)
    types = {"tags": pa.list_(pa.string())}
    return pa.table({k: pa.array(v, types.get(k, pa.string())) for k, v in base.items()})


def test_clean_rows_come_out_typed_and_converted() -> None:
    result = CONTRACT.validate(table())
    assert result.summary.quarantined == 0
    valid = result.valid
    assert valid.column("distance").to_pylist() == [100.0, 200.0, 300.0]
    assert valid.column("seats").type == pa.int64()
    assert valid.column("direct").to_pylist() == [True, False, None]
    assert valid.column("when").to_pylist() == [
        dt.datetime(2013, 5, 1, 10, tzinfo=UTC),
        dt.datetime(2013, 6, 1, 12, tzinfo=UTC),
        None,
    ]
    # 100 miles in 60 minutes is 100 mph: derived units are converted as declared
    assert valid.column("speed").to_pylist() == pytest.approx([100.0, 400.0, 400.0])


@pytest.mark.parametrize(
    ("column", "values", "kind", "reason"),
    [
        ("distance", ["100", None, "300"], "null", "expected a value (not nullable), got 'null'"),
        (
            "distance",
            ["100", "-50", "300"],
            "range",
            "expected a number in mile between 0 and 5,000, got '-50'",
        ),
        (
            "distance",
            ["100", "far", "300"],
            "parse",
            "expected a number in mile between 0 and 5,000, got 'far'",
        ),
        (
            "distance",
            ["100", "3 EUR", "300"],
            "unit",
            "expected a quantity convertible to mile, got '3 EUR'",
        ),
        (
            "seats",
            ["100", "150.5", "200"],
            "type",
            "expected a whole number between 1 and 900, got '150.5'",
        ),
        ("carrier", ["AA", "XX", "AA"], "level", "expected one of 'AA', 'UA', got 'XX'"),
        ("direct", ["true", "maybe", None], "parse", "expected true or false, got 'maybe'"),
        (
            "when",
            ["2013-05-01", "2019-01-01", None],
            "range",
            "expected an ISO 8601 timestamp (UTC) between 2013-01-01 and 2014-01-01, "
            "got '2019-01-01'",
        ),
        (
            "when",
            ["2013-05-01", "yesterday", None],
            "parse",
            "expected an ISO 8601 timestamp (UTC), got 'yesterday'",
        ),
        (
            "tags",
            [["wifi"], ["pool"], None],
            "level",
            "expected items among 'wifi', 'meal', got '[pool]'",
        ),
        (
            "speed",
            None,
            "derived",
            "expected distance / air_time to give a finite number, got 'air_time=0, distance=200'",
        ),
        (
            "speed",
            None,
            "range",
            "expected distance / air_time in mile / hour between 0 and 700, "
            "got 'air_time=1, distance=200'",
        ),
    ],
)
def test_every_violation_kind_is_caught_explained_and_kept(
    column: str, values: list[Any] | None, kind: str, reason: str
) -> None:
    if column == "speed":
        values_air = ["60", "0", "45"] if kind == "derived" else ["60", "1", "45"]
        data = table(air_time=values_air)
    else:
        data = table(**{column: values})  # type: ignore[arg-type]
    result = CONTRACT.validate(data)
    s = result.summary
    assert (s.rows, s.valid, s.quarantined) == (3, 2, 1)
    assert s.counts == {(column, kind): 1}
    q = result.quarantine
    assert q.column("__row").to_pylist() == [1]
    assert q.column("id").to_pylist() == ["b"]  # the row as it came
    reason_column = f"__reason_{kind}_{column}"
    assert q.column(reason_column).to_pylist() == [reason]
    assert q.column("__reasons").to_pylist() == [f"{kind}({column})"]
    assert result.valid.column("id").to_pylist() == ["a", "c"]


def test_a_row_with_several_violations_has_a_reason_for_each() -> None:
    data = table(distance=["-1", "1", "2"], carrier=["ZZ", "AA", "UA"])
    q = CONTRACT.validate(data).quarantine
    assert q.num_rows == 1
    assert q.column("__reasons").to_pylist() == ["range(distance); level(carrier)"]
    assert q.column("__reason_null_distance").to_pylist() == [None]


def test_units_in_values_are_converted_and_input_units_declared() -> None:
    schema = Schema(
        [
            Column("air_time", "number", unit="minute", min=0, max=800),
            Column("delay", "number", unit="minute", input_unit="hour"),
            Column("temp", "number", unit="degC"),
        ]
    )
    data = pa.table(
        {
            "air_time": ["90 s", "1.5 hour", "20"],
            "delay": [1.0, 0.5, None],
            "temp": ["32 degF", "0", "273.15 K"],
        }
    )
    result = schema.validate(data)
    assert result.summary.quarantined == 0
    assert result.valid.column("air_time").to_pylist() == pytest.approx([1.5, 90.0, 20.0])
    assert result.valid.column("delay").to_pylist()[:2] == pytest.approx([60.0, 30.0])
    assert result.valid.column("temp").to_pylist() == pytest.approx([0.0, 0.0, 0.0], abs=1e-9)


def test_a_column_of_an_incompatible_type_or_a_missing_column_is_refused() -> None:
    with pytest.raises(SchemaError) as info:
        CONTRACT.validate(table().drop_columns(["seats"]))
    assert str(info.value).startswith("the data has no column 'seats', which the contract")
    bad = table().set_column(7, "tags", pa.array(["x", "y", "z"]))
    with pytest.raises(
        SchemaError,
        match="column 'tags' in the data holds string values, but the contract says set",
    ):
        CONTRACT.validate(bad)


def test_csv_quarantine_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    rows = ["distance,carrier"] + [f"{i * 10},AA" for i in range(1, 7)] + ["-50,AA", "70,UA"]
    path.write_text("\n".join(rows) + "\n")
    schema = Schema(
        [
            Column("distance", "number", nullable=False, unit="mile", min=0, max=5000),
            Column("carrier", "categorical", levels=("AA", "UA")),
        ]
    )
    result = schema.validate(path)
    q = result.quarantine
    assert q.column("__row").to_pylist() == [6]
    assert q.column("__line").to_pylist() == [8]
    example = result.summary.examples[("distance", "range")]
    assert example == (f"{path} line 8: expected a number in mile between 0 and 5,000, got '-50'")
    # with a quoted field a line break may hide inside a value: no __line then
    quoted = tmp_path / "quoted.csv"
    quoted.write_text('distance,carrier\n"-5",AA\n')
    assert "__line" not in schema.validate(quoted).quarantine.column_names


def test_validate_to_files_streams_to_parquet(tmp_path: Path) -> None:
    from suture.schema.run import validate_to_files

    data = table(distance=["1", "-1", "x"])
    summary = validate_to_files(
        CONTRACT,
        data,
        quarantine=tmp_path / "bad.parquet",
        valid=tmp_path / "good.parquet",
        batch_size=1,
    )
    assert (summary.rows, summary.valid, summary.quarantined) == (3, 1, 2)
    bad = pq.read_table(tmp_path / "bad.parquet")
    assert bad.column("__row").to_pylist() == [1, 2]
    assert pq.read_table(tmp_path / "good.parquet").num_rows == 1
    # nothing to quarantine still writes an empty, readable file
    validate_to_files(CONTRACT, table(), quarantine=tmp_path / "none.parquet")
    assert pq.read_table(tmp_path / "none.parquet").num_rows == 0


# ------------------------------------------------------------ the no-row-lost property

BAD_NUMBERS = st.one_of(
    st.none(),
    st.sampled_from(["", "nan", "inf", "-1e999", "12 parsecs", "7 EUR", "1,5", "x", " 3 "]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**6), 10**6).map(str),
    st.sampled_from(["90 s", "2 hour", "1e3"]),
)
LEVELS = st.one_of(st.none(), st.sampled_from(["AA", "UA", "", "aa", "ZZ"]))
BOOLS = st.one_of(st.none(), st.sampled_from(["true", "False", "yes", "0", "maybe", ""]))
TIMES = st.one_of(
    st.none(),
    st.sampled_from(["2013-05-01", "2013-13-01", "2013-02-30T10:00", "2020-01-01Z", "soon", ""]),
    st.datetimes(dt.datetime(2010, 1, 1), dt.datetime(2016, 1, 1)).map(lambda d: d.isoformat()),
)


@st.composite
def dirty_tables(draw: Any) -> pa.Table:
    n = draw(st.integers(0, 40))
    return pa.table(
        {
            "id": pa.array([str(i) for i in range(n)], pa.string()),
            "distance": pa.array(draw(st.lists(BAD_NUMBERS, min_size=n, max_size=n)), pa.string()),
            "air_time": pa.array(draw(st.lists(BAD_NUMBERS, min_size=n, max_size=n)), pa.string()),
            "seats": pa.array(draw(st.lists(BAD_NUMBERS, min_size=n, max_size=n)), pa.string()),
            "carrier": pa.array(draw(st.lists(LEVELS, min_size=n, max_size=n)), pa.string()),
            "direct": pa.array(draw(st.lists(BOOLS, min_size=n, max_size=n)), pa.string()),
            "when": pa.array(draw(st.lists(TIMES, min_size=n, max_size=n)), pa.string()),
            "tags": pa.array(
                draw(
                    st.lists(
                        st.one_of(
                            st.none(),
                            st.lists(st.sampled_from(["wifi", "meal", "pool"]), max_size=3),
                        ),
                        min_size=n,
                        max_size=n,
                    )
                ),
                pa.list_(pa.string()),
            ),
        }
    )


@settings(max_examples=40, deadline=None)
@given(data=dirty_tables(), batch=st.integers(3, 40))
def test_valid_plus_quarantined_equals_input(data: pa.Table, batch: int) -> None:
    result = CONTRACT.validate(data, batch_size=batch)
    s = result.summary
    assert s.rows == data.num_rows
    assert s.valid + s.quarantined == s.rows
    assert result.valid.num_rows == s.valid and result.quarantine.num_rows == s.quarantined
    # every input row is in exactly one of the outputs
    kept = set(result.valid.column("id").to_pylist())
    bad = set(result.quarantine.column("id").to_pylist())
    assert kept.isdisjoint(bad) and kept | bad == set(data.column("id").to_pylist())
    assert sorted(int(i) for i in bad) == result.quarantine.column("__row").to_pylist()
    # every quarantined row says why, and only rules that failed say anything
    assert pc.all(pc.is_valid(result.quarantine.column("__reasons"))).as_py() in (True, None)
    reasons = [c for c in result.quarantine.column_names if c.startswith("__reason_")]
    q = result.quarantine
    assert sum(s.counts.values()) == sum(q.num_rows - q.column(c).null_count for c in reasons)
    # valid rows keep every rule: validating them again quarantines nothing
    for c in CONTRACT.columns:
        col = result.valid.column(c.name)
        if not c.nullable:
            assert col.null_count == 0


@settings(max_examples=25, deadline=None)
@given(data=dirty_tables())
def test_single_records_agree_with_the_batch_path(data: pa.Table) -> None:
    from suture.schema import RecordError

    result = CONTRACT.validate(data)
    bad_rows = set(result.quarantine.column("__row").to_pylist())
    valid = {r["id"]: r for r in result.valid.to_pylist()}
    for i, record in enumerate(data.to_pylist()):
        try:
            out = CONTRACT.coerce(record)
        except RecordError as exc:
            assert i in bad_rows, (record, str(exc))
            q = result.quarantine.filter(pc.equal(result.quarantine.column("__row"), i))
            assert q.column(f"__reason_{exc.kind}_{exc.field}")[0].as_py() is not None
            continue
        assert i not in bad_rows, record
        expected = valid[record["id"]]
        for key, value in out.items():
            if isinstance(value, float):
                assert value == pytest.approx(expected[key], rel=1e-12), key
            else:
                assert value == expected[key], key


def summary_equal(a: ValidationSummary, b: ValidationSummary) -> None:
    assert (a.rows, a.valid, a.quarantined, a.counts) == (b.rows, b.valid, b.quarantined, b.counts)


def test_the_summary_aggregator_obeys_the_laws() -> None:
    data = table(distance=["1", "-1", "x"], carrier=["AA", "ZZ", None])
    data = pa.concat_tables([data] * 7)
    aggregator = ValidationAggregator(CONTRACT, data.schema)
    check_aggregator(aggregator, data, assert_equal=summary_equal)
    summary = aggregator.finalize(aggregator.zero())
    assert (summary.rows, summary.valid, summary.quarantined) == (0, 0, 0)
