"""Every violation of one record, in contract order, with sensitive values never echoed.

``RecordCoercer.check`` is the service's path (a 422 names every offending field);
``coercer(record)`` raises on the first.  They share one loop, and a property test over
the dirty tables of ``test_agreement`` shows they agree on every rule kind.
"""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suture.schema import Column, Derived, RecordError, Schema, Violation
from suture.schema.coerce import RECORD_RULES, compile_record
from tests.schema.test_agreement import WIDE, dirty_tables

CONTRACT = Schema(
    [
        Column("customer_id", "identifier", nullable=False, feature=False),
        Column("income", "number", nullable=False, unit="USD", min=0, max=1e6, sensitive=True),
        Column("distance", "number", nullable=False, unit="mile", min=0, max=5000),
        Column("air_time", "number", unit="minute", min=1, max=800),
        Column("carrier", "categorical", nullable=False, levels=("AA", "UA")),
        Column("student", "boolean", nullable=False),
    ],
    [
        Derived("speed", "distance / air_time", unit="mile / hour", min=0, max=700),
        Derived("per_mile", "income / distance", min=0, max=1000),
    ],
    _origin="schema.toml",
)
COERCER = compile_record(CONTRACT)
GOOD = {
    "customer_id": "c-1",
    "income": 50_000,
    "distance": 1000,
    "air_time": 120,
    "carrier": "AA",
    "student": "yes",
}


def test_a_valid_record_gives_the_coerced_dict_and_no_violation() -> None:
    out, violations = COERCER.check(GOOD)
    assert violations == []
    assert out == COERCER(GOOD)
    assert out is not None and out["speed"] == pytest.approx(500.0) and out["student"] is True


def test_every_violation_is_listed_in_contract_order_with_exact_messages() -> None:
    record = {"income": -5, "distance": "3 kg", "air_time": 0, "carrier": "ZZ", "student": 2}
    out, violations = COERCER.check(record)
    assert out is None
    assert [(v.field, v.rule) for v in violations] == [
        ("customer_id", "missing"),
        ("income", "range"),
        ("distance", "unit"),
        ("air_time", "range"),
        ("carrier", "level"),
        ("student", "type"),
    ]
    assert [v.message for v in violations] == [
        "column 'customer_id' is missing from the record: expected a value (not nullable). "
        "Send a value or set nullable = true in schema.toml.",
        "column 'income' in the record: expected a number in USD between 0 and 1,000,000, "
        "got <sensitive value>. Fix the value or widen the range in schema.toml.",
        "column 'distance' in the record: expected a quantity convertible to mile, got "
        "'3 kg'. Send the value in a compatible unit.",
        "column 'air_time' in the record: expected a number in minute between 1 and 800, got "
        "0. Fix the value or widen the range in schema.toml.",
        "column 'carrier' in the record: expected one of 'AA', 'UA', got 'ZZ'. Fix the value "
        "or add it to levels in schema.toml.",
        "column 'student' in the record: expected true or false (1 or 0), got 2. Send a "
        "boolean value.",
    ]
    assert [v.received for v in violations] == [None, -5, "3 kg", 0, "ZZ", 2]
    assert [v.expected for v in violations][2:4] == [
        "expected a quantity convertible to mile",
        "expected a number in minute between 1 and 800",
    ]
    assert [v.sensitive for v in violations] == [False, True, False, False, False, False]


def test_a_null_sent_is_null_and_a_key_left_out_is_missing() -> None:
    _, sent = COERCER.check({**GOOD, "carrier": None})
    _, left_out = COERCER.check({k: v for k, v in GOOD.items() if k != "carrier"})
    assert [(v.field, v.rule, v.received) for v in sent] == [("carrier", "null", None)]
    assert sent[0].message == (
        "column 'carrier' in the record: expected a value (not nullable), got None. "
        "Send a value or set nullable = true in schema.toml."
    )
    assert [(v.field, v.rule) for v in left_out] == [("carrier", "missing")]
    with pytest.raises(RecordError) as info:
        COERCER({k: v for k, v in GOOD.items() if k != "carrier"})
    assert (info.value.field, info.value.kind, str(info.value)) == (
        "carrier",
        "missing",
        left_out[0].message,
    )


def test_derived_columns_are_checked_only_when_their_inputs_passed() -> None:
    _, violations = COERCER.check({**GOOD, "air_time": 0.5})
    assert [(v.field, v.rule) for v in violations] == [("air_time", "range")]
    _, violations = COERCER.check({**GOOD, "air_time": 60, "distance": 800, "income": 0})
    assert [(v.field, v.rule) for v in violations] == [("speed", "range")]
    assert violations[0].message == (
        "derived column 'speed' of the record: expected distance / air_time in mile / hour "
        "between 0 and 700, got 800.0 from air_time=60.0, distance=800.0. Fix the value or "
        "widen the range in schema.toml."
    )
    assert not violations[0].sensitive and violations[0].received == 800.0


def test_a_derived_column_of_a_sensitive_input_does_not_echo_it_or_its_result() -> None:
    _, violations = COERCER.check({**GOOD, "income": 900_000, "distance": 20, "air_time": 1})
    assert [(v.field, v.rule, v.sensitive) for v in violations] == [
        ("speed", "range", False),
        ("per_mile", "range", True),
    ]
    message = violations[1].message
    assert message == (
        "derived column 'per_mile' of the record: expected income / distance in USD / mile "
        "between 0 and 1,000, got <sensitive value> from distance=20.0, income=<sensitive "
        "value>. Fix the value or widen the range in schema.toml."
    )
    assert "900" not in message and "9e" not in message
    assert "received" not in violations[1].as_dict()


def test_as_dict_leaves_out_the_value_of_a_sensitive_column_only() -> None:
    _, violations = COERCER.check({**GOOD, "income": "lots", "distance": -1})
    assert [v.as_dict() for v in violations] == [
        {
            "field": "income",
            "rule": "parse",
            "expected": "expected a number in USD between 0 and 1,000,000",
            "message": "column 'income' in the record: expected a number in USD between 0 "
            "and 1,000,000, got <sensitive value>. Send a number value.",
        },
        {
            "field": "distance",
            "rule": "range",
            "expected": "expected a number in mile between 0 and 5,000",
            "received": -1,
            "message": "column 'distance' in the record: expected a number in mile between "
            "0 and 5,000, got -1. Fix the value or widen the range in schema.toml.",
        },
    ]


def test_the_first_error_of_a_sensitive_column_does_not_echo_it_either() -> None:
    with pytest.raises(RecordError) as info:
        CONTRACT.coerce({**GOOD, "income": "secret-123"})
    assert "secret-123" not in str(info.value)
    assert str(info.value) == (
        "column 'income' in the record: expected a number in USD between 0 and 1,000,000, "
        "got <sensitive value>. Send a number value."
    )


@pytest.mark.parametrize(
    ("record", "got"),
    [([1, 2], "a list"), ("text", "a str"), (None, "a NoneType"), (7, "an int")],
)
def test_a_record_that_is_not_an_object_is_one_violation(record: object, got: str) -> None:
    out, violations = COERCER.check(record)
    assert out is None
    assert violations == [
        Violation(
            "",
            "type",
            "expected an object of column names to values",
            got.split()[-1],
            f"the record: expected an object of column names to values, got {got}. "
            "Send one object per record.",
        )
    ]
    with pytest.raises(RecordError, match="Send one object per record"):
        COERCER(record)  # type: ignore[arg-type]


def test_unknown_keys_are_ignored_and_not_returned() -> None:
    out, violations = COERCER.check({**GOOD, "colour": "red", "income": 1})
    assert violations == [] and out is not None and "colour" not in out


def test_every_rule_a_record_can_break_is_a_documented_rule() -> None:
    assert RECORD_RULES == ("type", "null", "range", "level", "unit", "parse", "derived", "missing")


def _agree(schema: Schema, record: dict[str, object]) -> set[str]:
    coercer = compile_record(schema)
    out, violations = coercer.check(record)
    try:
        expected = coercer(record)
    except RecordError as exc:
        assert out is None and violations, str(exc)
        first = violations[0]
        assert (first.field, first.rule, first.message) == (exc.field, exc.kind, str(exc))
        assert len({(v.field) for v in violations}) == len(violations)
        order = [c.name for c in schema.columns] + [d.name for d in schema.derived]
        positions = [order.index(v.field) for v in violations]
        assert positions == sorted(positions)
        assert all(v.rule in RECORD_RULES for v in violations)
        return {v.rule for v in violations}
    assert violations == [] and out == expected
    return set()


@settings(max_examples=60, deadline=None)
@given(data=dirty_tables(), drop=st.sets(st.sampled_from([c.name for c in WIDE.columns])))
def test_check_agrees_with_the_first_error_path_on_every_rule_kind(
    data: pa.Table, drop: set[str]
) -> None:
    for record in data.to_pylist():
        _agree(WIDE, {k: v for k, v in record.items() if k not in drop})


def test_the_agreement_covers_every_rule_kind() -> None:
    rules: set[str] = set()
    for record in (
        {"income": "x", "distance": -1, "carrier": "ZZ", "student": 2},
        {**GOOD, "distance": "3 kg", "air_time": None, "carrier": None},
        {**GOOD, "air_time": "0 s"},
        {**GOOD, "distance": 10**7},
        {**GOOD, "income": 1e6, "distance": 1},
    ):
        rules |= _agree(CONTRACT, record)
    rules |= _agree(Schema([Column("n", "integer")], [Derived("r", "1 / n")]), {"n": 0})
    assert rules == set(RECORD_RULES)


@pytest.mark.parametrize("text", ["5 (", "5 *", "5 )", "5 e("])
def test_a_unit_pint_cannot_tokenize_is_a_unit_violation_not_a_crash(text: str) -> None:
    """Found by test_jsonschema's fuzz: pint raised TokenError / AssertionError on these."""
    _, violations = COERCER.check({**GOOD, "distance": text})
    assert [(v.field, v.rule) for v in violations] == [("distance", "unit")]
    with pytest.raises(RecordError, match="expected a quantity convertible to mile"):
        COERCER({**GOOD, "distance": text})


def _deep(depth: int) -> list[object]:
    value: list[object] = [1]
    for _ in range(depth):
        value = [value]
    return value


def test_a_deeply_nested_or_huge_value_gives_a_short_answer_not_a_crash() -> None:
    """tests/serve/test_bad_requests.py found a RecursionError (a 500) and a 1.5 MB 422."""
    contract = Schema(
        [
            *CONTRACT.columns,
            Column("note", "text"),
            Column("tags", "set"),
            Column("id", "identifier"),
        ],
        _origin="schema.toml",
    )
    coercer = compile_record(contract)
    deep, huge = _deep(1000), "9" * 500_000 + "x"
    for name in ("distance", "carrier", "student", "note", "tags", "id", "customer_id"):
        for value in (deep, huge, {"value": deep, "unit": deep}, [deep]):
            out, violations = coercer.check({**GOOD, name: value})
            if name in ("note", "id", "customer_id") and value is huge:
                assert out is not None  # text is text, however long
                continue
            assert out is None and [v.field for v in violations] == [name], (name, violations)
            assert len(violations[0].message) < 300
            assert len(repr(violations[0].as_dict())) < 700
    letters = "x" * 500_000
    _, (violation,) = coercer.check({**GOOD, "distance": letters})
    assert violation.message == (
        "column 'distance' in the record: expected a number in mile between 0 and 5,000, got "
        f"'{'x' * 27}...{'x' * 28}'. Send a number value."
    )
    assert violation.received is letters
    assert violation.as_dict()["received"] == "x" * 200 + "..."


def test_a_list_or_an_object_where_one_value_belongs_is_a_type_violation() -> None:
    _, violations = COERCER.check({**GOOD, "carrier": ["AA"], "customer_id": {"id": 1}})
    assert [(v.field, v.rule, v.received) for v in violations] == [
        ("customer_id", "type", {"id": 1}),
        ("carrier", "type", ["AA"]),
    ]
    assert violations[1].message == (
        "column 'carrier' in the record: expected a single value (text, a number or "
        "true/false), not a list or an object, got ['AA']. Send a categorical value."
    )
    assert violations[1].as_dict()["received"] == ["AA"]  # small: as sent


def test_a_unit_that_is_not_text_or_is_too_long_is_a_unit_violation() -> None:
    for unit in (5, None, ["mile"], "m" * 101):
        _, violations = COERCER.check({**GOOD, "distance": {"value": 1, "unit": unit}})
        assert [(v.field, v.rule) for v in violations] == [("distance", "unit")], unit
    out, _ = COERCER.check({**GOOD, "income": 1, "distance": {"value": 1, "unit": "km"}})
    assert out is not None and out["distance"] == pytest.approx(0.621371, rel=1e-5)


def test_an_integer_too_large_for_a_float_is_refused_not_a_crash() -> None:
    contract = Schema([Column("wait", "number", unit="minute", input_unit="hour", max=600)])
    _, violations = compile_record(contract).check({"wait": 10**400})
    assert [(v.field, v.rule) for v in violations] == [("wait", "type")]
    assert "a 64-bit float can hold" in violations[0].message
    _, violations = COERCER.check({**GOOD, "distance": {"value": 10**400, "unit": "km"}})
    assert [(v.field, v.rule) for v in violations] == [("distance", "type")]


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["5 (", "5 *", "1e999", " 90 s ", "2013-01-01", "Yes", "AA"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    record=st.one_of(
        JSON,
        st.dictionaries(st.sampled_from([*GOOD, "speed", "other"]), JSON),
        st.builds(lambda k, v: {**GOOD, k: v}, st.sampled_from(list(GOOD)), JSON),
    )
)
def test_check_never_raises_on_any_json(record: object) -> None:
    out, violations = COERCER.check(record)
    assert (out is None) == bool(violations)
    for v in violations:
        assert v.rule in RECORD_RULES and len(v.message) < 400
        assert v.field == "" or v.field in CONTRACT.by_name or v.field in ("speed", "per_mile")


def test_the_fix_says_an_integer_and_an_identifier() -> None:
    contract = Schema([Column("n", "integer", nullable=False), Column("id", "identifier")])
    _, violations = compile_record(contract).check({"n": "x", "id": [1]})
    assert [v.message.rsplit(". ", 1)[1] for v in violations] == [
        "Send an integer value.",
        "Send an identifier value.",
    ]
