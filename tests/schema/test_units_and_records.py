"""Units convert and refuse; derived expressions; single records; diffs."""

from __future__ import annotations

import datetime as dt

import pytest

from suture.errors import SchemaError
from suture.schema import Column, Derived, RecordError, Schema
from suture.schema.expressions import ExpressionError, compile_expression
from suture.schema.units import UnitProblem, canonical, conversion

UNITS = {"distance": "mile", "air_time": "minute", "price": "EUR", "fee": "USD", "n": ""}


def test_conversions_are_exact_affine_maps() -> None:
    assert conversion("hour", "minute").scale == 60.0
    assert conversion("minute", "minute").identity
    assert conversion("degF", "degC")(212.0) == pytest.approx(100.0)
    assert canonical("mi/min") == "mile / minute"


def test_incompatible_units_are_refused_with_their_dimensions() -> None:
    with pytest.raises(UnitProblem) as info:
        conversion("EUR", "mile")
    assert str(info.value) == "cannot convert 'EUR' ([currency_EUR]) to 'mile' ([length])"
    with pytest.raises(UnitProblem, match=r"\[currency_EUR\]\) to 'USD'"):
        conversion("EUR", "USD")


def test_derived_units_follow_the_algebra() -> None:
    assert compile_expression("distance / air_time", UNITS).unit == "mile / minute"
    assert compile_expression("distance * 2", UNITS).unit == "mile"
    assert compile_expression("air_time / air_time", UNITS).unit == ""
    assert compile_expression("price - price", UNITS).unit == "EUR"
    assert compile_expression("air_time > 30", UNITS).boolean
    assert compile_expression("log(n + 1)", UNITS).unit == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "air_time + distance",
            "in 'air_time + distance': cannot add 'distance' in mile and 'air_time' in "
            "minute: their units do not convert",
        ),
        (
            "price < distance",
            "in 'price < distance': cannot compare 'distance' in mile with 'price' in EUR: "
            "their units do not convert",
        ),
        (
            "price + fee",
            "in 'price + fee': cannot add 'fee' in USD and 'price' in EUR: their "
            "units do not convert",
        ),
        (
            "log(air_time)",
            "in 'log(air_time)': log() needs a plain number, got 'air_time' in "
            "minute; divide by a unit first",
        ),
        (
            "distance ** 2",
            "in 'distance ** 2': 'distance ** 2' is not allowed; use numbers, "
            "column names, + - * /, comparisons, abs, sqrt, log and exp",
        ),
        (
            "__import__('os')",
            "in \"__import__('os')\": \"__import__('os')\" is not allowed; use "
            "numbers, column names, + - * /, comparisons, abs, sqrt, log and exp",
        ),
    ],
)
def test_nonsense_is_refused_when_the_contract_is_loaded(text: str, message: str) -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression(text, UNITS)
    assert str(info.value) == message


def test_mixed_but_compatible_units_are_converted() -> None:
    schema = Schema(
        [
            Column("a", "number", unit="hour"),
            Column("b", "number", unit="minute"),
        ],
        [Derived("total", "a + b"), Derived("total_min", "a + b", unit="minute")],
    )
    out = schema.coerce({"a": 1, "b": 30})
    assert out["total"] == pytest.approx(1.5)  # in hours, the left operand's unit
    assert out["total_min"] == pytest.approx(90.0)


def test_backticks_name_columns_that_are_not_identifiers() -> None:
    schema = Schema(
        [Column("Sepal.Length", "number", unit="cm"), Column("Sepal.Width", "number", unit="cm")],
        [Derived("ratio", "`Sepal.Length` / `Sepal.Width`")],
    )
    assert schema.coerce({"Sepal.Length": 6.0, "Sepal.Width": 3.0})["ratio"] == 2.0


FLIGHT = Schema(
    [
        Column("distance", "number", nullable=False, unit="mile", min=0, max=5000),
        Column("air_time", "number", unit="minute", min=0, max=800),
        Column("carrier", "categorical", levels=("AA", "UA")),
        Column("when", "timestamp", timezone="America/New_York"),
        Column("seats", "integer"),
    ],
    [Derived("speed", "distance / air_time", unit="mile / hour")],
    _origin="schema.toml",
)


def test_a_record_is_typed_converted_and_derived() -> None:
    out = FLIGHT.coerce(
        {
            "distance": "1,000".replace(",", ""),
            "air_time": {"value": 2, "unit": "hour"},
            "carrier": "AA",
            "when": "2013-01-01 05:00",
            "seats": 120.0,
            "ignored": "x",
        }
    )
    assert out == {
        "distance": 1000.0,
        "air_time": 120.0,
        "carrier": "AA",
        "when": dt.datetime(2013, 1, 1, 5, tzinfo=out["when"].tzinfo),
        "seats": 120,
        "speed": pytest.approx(500.0),
    }
    assert out["when"].utcoffset() == dt.timedelta(hours=-5)
    assert FLIGHT.coerce({"distance": "90 km", "air_time": "90 s"})["air_time"] == 1.5


def test_a_bad_record_names_the_field_expected_got_and_fix() -> None:
    with pytest.raises(RecordError) as info:
        FLIGHT.coerce({"distance": -50})
    assert str(info.value) == (
        "column 'distance' in the record: expected a number in mile between 0 and 5,000, "
        "got -50. Fix the value or widen the range in schema.toml."
    )
    assert (info.value.field, info.value.kind) == ("distance", "range")
    assert isinstance(info.value, SchemaError) and isinstance(info.value, ValueError)
    with pytest.raises(RecordError, match="expected a quantity convertible to mile, got '3 kg'"):
        FLIGHT.coerce({"distance": "3 kg"})
    with pytest.raises(RecordError, match=r"Fix the value or add it to levels in schema\.toml"):
        FLIGHT.coerce({"distance": 1, "carrier": "ZZ"})
    with pytest.raises(RecordError, match="Send a value or set nullable = true"):
        FLIGHT.coerce({})
    with pytest.raises(RecordError) as info:
        FLIGHT.coerce({"distance": 10, "air_time": 0})
    assert str(info.value) == (
        "derived column 'speed' of the record: expected distance / air_time to give a finite "
        "number, got inf from air_time=0.0, distance=10.0. Check the columns it is computed "
        "from."
    )


def test_a_compiled_record_check_is_reused_and_equals_a_fresh_one() -> None:
    """The contract is compiled for records once (measured in benchmarks/coerce_bench.py)."""
    record = {"distance": 1000, "air_time": 120.0, "carrier": "AA", "when": "2013-01-01"}
    first = FLIGHT.coerce(record)
    coercer = FLIGHT._coercer
    assert FLIGHT.coerce(record) == first and FLIGHT._coercer is coercer
    from suture.schema.coerce import coerce_record

    assert coerce_record(FLIGHT, record) == first


def test_diff_reads_like_a_change_log() -> None:
    old = Schema(
        [
            Column("distance", "number", unit="mile", min=0, max=5000),
            Column("carrier", "categorical", levels=("AA", "UA")),
            Column("gone", "text"),
        ]
    )
    new = Schema(
        [
            Column("distance", "number", unit="mile", min=0, max=6000),
            Column("carrier", "categorical", levels=("AA", "DL")),
            Column("tail", "identifier", feature=False),
        ],
        [Derived("double", "distance * 2")],
    )
    assert old.diff(new) == [
        f"fingerprint {old.fingerprint} -> {new.fingerprint}",
        "~ column 'distance': max 5,000 -> 6,000",
        "~ column 'carrier': levels added 'DL'; removed 'UA'",
        "- column 'gone' (text)",
        "+ column 'tail' (identifier)",
        "+ derived 'double' (= distance * 2)",
    ]
    assert old.diff(old) == [f"no change (fingerprint {old.fingerprint})"]
