"""The JSON Schema of a record is valid and never stricter than the contract.

The service's OpenAPI document carries it and schemathesis fuzzes against it, so every
record the contract accepts must validate (checked with ``jsonschema_rs``, the validator
schemathesis uses, whose patterns are ECMA-262-like: ASCII ``\\d``, no ``\\x1c`` in ``\\s``),
on random JSON records over every column type and on the golden bundle's training rows.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import jsonschema_rs
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suture.schema import Column, Schema
from suture.schema.coerce import compile_record
from suture.schema.jsonschema import DIALECT, contract_json_schema
from tests.make_golden import golden_default

GOLDEN = Path(__file__).parents[1] / "golden" / "model_v1" / "contract.toml"

EVERY = Schema(
    [
        Column("id", "identifier", nullable=False, feature=False),
        Column("distance", "number", nullable=False, unit="mile", min=0, max=5000),
        Column("air_time", "number", unit="minute", min=0, max=800, input_unit="hour"),
        Column("seats", "integer", min=1, max=900),
        Column("big", "integer", min=2**63 - 2, max=2**63 + 2),
        Column("ratio", "number", min=-1, max=1, sensitive=True),
        Column("carrier", "categorical", nullable=False, levels=("AA", "UA", "1", "true", "")),
        Column("grade", "categorical", levels=("1.5", "2", "nan", "inf")),
        Column("city", "categorical", open=True, levels=("Oslo",)),
        Column("direct", "boolean"),
        Column("wifi", "boolean", nullable=False),
        Column("when", "timestamp", timezone="UTC", min="2013-01-01", max="2014-01-01"),
        Column("stamp", "timestamp", timezone="Asia/Tokyo"),
        Column("dep", "time", min="05:00", max="23:00"),
        Column("arr", "time", nullable=False),
        Column("tags", "set", levels=("wifi", "meal", "3", "True", "None")),
        Column("any", "set"),
        Column("note", "text"),
    ],
    _origin="schema.toml",
)

SPACE_LIST = ["", " ", "\t", "\n", "\x1c", "\x85", "\xa0", "\u3000", "\u2028"]
WORD_LIST = [
    "", " ", "AA", "UA", "ZZ", "1", "true", "True", "yes", "N", "0", "x", "1.5", "2",
    "nan", "inf", "Oslo", "wifi", "meal", "3", "None",
    "90 s", "2 hour", "3 kg", "1e3", "-0", "5000", "٣", "1,5", "12 parsecs",
    "2013-06-01", "2013-06-01T05:00:00Z", "2013-06-01 05:00:00.123456+02:00",
    "2013-02-30", "2013-06-01t05:00", "2013-06-01T05:00:00.1234567", "٢٠١٣-01-01",
    "06:30", "23:00:00", "25:00", "05:00:00.5", "7:00",
]  # fmt: skip
SPACES = st.sampled_from(SPACE_LIST)
WORDS = st.sampled_from(WORD_LIST)
PADDED = st.tuples(SPACES, WORDS, SPACES).map("".join)
TEXT = st.one_of(WORDS, PADDED, st.text(max_size=8))
NUMBERS = st.one_of(
    st.integers(-(10**6), 10**6),
    st.integers(2**63 - 4, 2**63 + 4),
    st.floats(-1e7, 1e7, allow_nan=False),
    st.sampled_from([0, 1, 1.0, 1.5, 2, 2.0, 3, 1e20, -0.0]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
VALUES = st.one_of(
    PADDED,
    SCALARS,
    st.lists(SCALARS, max_size=3),
    st.fixed_dictionaries({"value": st.one_of(NUMBERS, st.booleans()), "unit": TEXT}),
    st.dictionaries(st.sampled_from(["value", "unit", "x"]), SCALARS, max_size=3),
)


@st.composite
def json_records(draw: st.DrawFn, schema: Schema) -> dict[str, Any]:
    names = [c.name for c in schema.columns] + ["extra"]
    keys = draw(st.lists(st.sampled_from(names), unique=True, min_size=len(names) - 3))
    return {k: draw(VALUES) for k in keys}


def validator(schema: Schema) -> Any:
    document = contract_json_schema(schema)
    assert jsonschema_rs.meta.is_valid(document)
    return jsonschema_rs.Draft202012Validator(orjson.loads(orjson.dumps(document)))


VALIDATOR = validator(EVERY)
CHECK = compile_record(EVERY).check


@settings(max_examples=400, deadline=None)
@given(record=json_records(EVERY))
def test_every_record_the_contract_accepts_validates(record: dict[str, Any]) -> None:
    record = orjson.loads(orjson.dumps(record))  # as the service parses a body
    out, _ = CHECK(record)
    if out is not None:
        assert VALIDATOR.is_valid(record), (record, [str(e) for e in VALIDATOR.iter_errors(record)])


GOOD = {"id": "a", "distance": 10, "carrier": "AA", "wifi": True, "arr": "07:00"}


@settings(max_examples=1000, deadline=None)
@given(name=st.sampled_from([c.name for c in EVERY.columns]), value=VALUES)
def test_every_value_the_contract_accepts_in_a_column_validates(name: str, value: Any) -> None:
    """One column at a time in a valid record: most draws reach the comparison."""
    record = orjson.loads(orjson.dumps({**GOOD, name: value}))
    out, _ = CHECK(record)
    if out is not None:
        assert VALIDATOR.is_valid(record), (record, [str(e) for e in VALIDATOR.iter_errors(record)])


def test_every_listed_text_the_contract_accepts_validates_with_any_padding() -> None:
    """Exhaustive over the listed texts and spaces (the random draws may miss a pair)."""
    pads = {(a, b) for a in SPACE_LIST for b in SPACE_LIST if "" in (a, b) or a == b}
    accepted = 0
    for col in EVERY.columns:
        for word in WORD_LIST:
            for left, right in pads:
                record = {**GOOD, col.name: left + word + right}
                if CHECK(record)[0] is not None:
                    accepted += 1
                    assert VALIDATOR.is_valid(record), record
    assert accepted > 2000


@settings(max_examples=200, deadline=None)
@given(
    record=st.fixed_dictionaries(
        {
            "id": st.one_of(st.integers(), st.text(max_size=5)),
            "distance": st.one_of(st.floats(0, 5000), st.sampled_from(["90 km", "3 mile"])),
            "air_time": st.one_of(st.none(), st.floats(0, 13), st.just({"value": 9, "unit": "s"})),
            "carrier": st.sampled_from(["AA", "UA", "1", "true", "", 1, True]),
            "wifi": st.sampled_from([True, False, "yes", "F", 0, 1.0, " n "]),
            "when": st.dates(dt.date(2013, 1, 1), dt.date(2013, 12, 31)).map(str),
            "arr": st.times().map(lambda t: t.isoformat()),
            "tags": st.lists(st.sampled_from(["wifi", "meal", "3", 3, True, None])),
        }
    )
)
def test_records_built_to_be_valid_are_accepted_by_both(record: dict[str, Any]) -> None:
    """Not only rejections: valid records of every form reach the comparison above."""
    out, violations = CHECK(record)
    assert violations == [] and out is not None
    assert VALIDATOR.is_valid(record)


def test_the_golden_bundles_training_rows_validate() -> None:
    contract = Schema.load(GOLDEN)
    check = validator(contract)
    rows = golden_default().to_pylist()
    assert len(rows) == 2000
    for row in rows:
        record = orjson.loads(orjson.dumps(row))
        assert contract.coerce(record) is not None
        assert check.is_valid(record), row


def test_what_the_schema_refuses_the_contract_refuses_too() -> None:
    good = GOOD
    assert CHECK(good)[1] == [] and VALIDATOR.is_valid(good)
    for change in (
        {"carrier": "ZZ"},
        {"carrier": None},
        {"distance": True},
        {"distance": -1},
        {"distance": 5000.5},
        {"seats": 2.5},
        {"big": 2**63 + 3},
        {"wifi": 2},
        {"wifi": [True]},
        {"when": "2013-06-01t05:00"},
        {"when": 20130601},
        {"arr": "7:00"},
        {"tags": ["wine"]},
        {"tags": "wifi"},
        {"distance": {"value": 1, "unit": "mile", "x": 1}},
    ):
        record = {**good, **change}
        assert not VALIDATOR.is_valid(record), change
        assert CHECK(record)[0] is None, change
    for name in ("id", "distance", "carrier", "wifi", "arr"):
        partial = {k: v for k, v in good.items() if k != name}
        assert not VALIDATOR.is_valid(partial) and CHECK(partial)[0] is None, name


def test_the_schema_of_a_small_contract_reads_as_documented() -> None:
    schema = Schema(
        [
            Column("customer_id", "identifier", nullable=False, feature=False),
            Column("income", "number", unit="USD", min=0, sensitive=True),
            Column("seats", "integer", nullable=False, min=1, max=9),
            Column("student", "categorical", levels=("No", "Yes")),
            Column("seen", "timestamp", nullable=False),
        ],
        _origin="schema.toml",
    )
    document = contract_json_schema(schema)
    assert document["$schema"] == DIALECT == "https://json-schema.org/draft/2020-12/schema"
    assert document["required"] == ["customer_id", "seats", "seen"]
    assert document["additionalProperties"] is True
    p = document["properties"]
    assert p["customer_id"] == {
        "type": ["string", "number", "boolean"],
        "description": "an identifier; other values are read as text",
    }
    assert p["income"] == {
        "anyOf": [
            {"type": "number", "minimum": 0.0},
            {"type": "string"},
            {
                "type": "object",
                "properties": {"value": {"type": "number"}, "unit": {"type": "string"}},
                "required": ["value", "unit"],
                "additionalProperties": False,
            },
            {"type": "null"},
        ],
        "description": 'a number in USD of at least 0; or text with its unit ("90 s") or '
        '{"value": 1.5, "unit": "hour"}; sensitive: never shown back',
        "writeOnly": True,
    }
    assert p["seats"] == {
        "anyOf": [{"type": "integer", "minimum": 1, "maximum": 9}, {"type": "string"}],
        "description": "a whole number between 1 and 9; or the number as text",
    }
    assert p["student"] == {"enum": ["No", "Yes", None], "description": "one of 2 levels"}
    assert p["seen"]["anyOf"][0]["pattern"] == (
        r"^[\s\x1c-\x1f\x85]*\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?"
        r"(?:Z|[+-]\d{2}:?\d{2})?)?[\s\x1c-\x1f\x85]*$"
    )
    assert "format" not in p["seen"]["anyOf"][0]
    assert p["seen"]["description"] == (
        "an ISO 8601 timestamp (UTC): YYYY-MM-DD[THH:MM[:SS[.ffffff]][Z|+HH:MM]], local time "
        "in UTC without an offset"
    )


@pytest.mark.parametrize("path", [GOLDEN, GOLDEN.parents[1] / "contract_v1.toml"])
def test_golden_contracts_give_valid_json_schemas(path: Path) -> None:
    document = contract_json_schema(Schema.load(path))
    assert jsonschema_rs.meta.is_valid(document)
    assert orjson.loads(orjson.dumps(document)) == document
