"""``RecordCoercer.check_many``: a request's records checked column by column give what
``check`` gives each record, whatever the values (the fast path only takes batches whose
every value ``check`` returns unchanged; any other value sends the batch record by
record)."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from suture.schema import Column, Derived, Schema
from suture.schema.coerce import MANY_ROWS, compile_record

BATCHED = Schema(
    [
        Column("id", "identifier", nullable=False, feature=False),
        Column("income", "number", nullable=False, unit="USD", min=0, max=1e6),
        Column("distance", "number", unit="mile", min=0, max=5000),
        Column("seats", "integer", min=1, max=900),
        Column("ratio", "number"),
        Column("carrier", "categorical", nullable=False, levels=("AA", "UA", " ")),
        Column("city", "categorical", open=True),
        Column("student", "boolean"),
        Column("wifi", "boolean", nullable=False),
        Column("note", "text"),
    ],
    [Derived("per_seat", "income / seats", min=0, max=1e5)],
)
COERCER = compile_record(BATCHED)
CLEAN: dict[str, Any] = {
    "id": st.one_of(st.text(max_size=4), st.integers(0, 99)),
    "income": st.one_of(st.integers(0, 10**6), st.floats(0, 1e6)),
    "distance": st.one_of(st.none(), st.integers(0, 5000), st.floats(0, 5000)),
    "seats": st.one_of(st.none(), st.integers(1, 900)),
    "ratio": st.one_of(st.none(), st.floats(-1e9, 1e9), st.integers(-(10**20), 10**20)),
    "carrier": st.sampled_from(["AA", "UA", " "]),
    "city": st.one_of(st.none(), st.text(max_size=3)),
    "student": st.one_of(st.none(), st.booleans()),
    "wifi": st.booleans(),
    "note": st.one_of(st.none(), st.text(max_size=3)),
}
#: Values check converts, refuses or reads as null: any of them in a batch.
ODD = st.one_of(
    st.none(),
    st.just(math.nan),
    st.just(math.inf),
    st.just(-math.inf),
    st.just(10**400),
    st.booleans(),
    st.integers(-(10**7), 10**7),
    st.floats(allow_nan=False),
    st.sampled_from(["", " ", "AA", "ZZ", "12", "3 kg", "90 USD", "yes", "1e999"]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.sampled_from(["value", "unit"]), st.integers(0, 5), max_size=2),
)


@st.composite
def batches(draw: Any) -> list[Any]:
    n = draw(st.integers(0, 2 * MANY_ROWS))
    odd = draw(st.sets(st.sampled_from(list(CLEAN)), max_size=2)) if draw(st.booleans()) else ()
    records: list[Any] = []
    for _ in range(n):
        record = {
            name: draw(ODD if name in odd and draw(st.booleans()) else values)
            for name, values in CLEAN.items()
        }
        for name in draw(st.sets(st.sampled_from(list(CLEAN)), max_size=1)):
            del record[name]
        records.append(record)
    if draw(st.booleans()) and records:
        records[draw(st.integers(0, len(records) - 1))] = draw(st.sampled_from([None, 1, []]))
    return records


PLAIN = compile_record(Schema(list(BATCHED.columns)))


@settings(max_examples=120, deadline=None)
@given(records=batches())
def test_check_many_gives_what_check_gives_each_record(records: list[Any]) -> None:
    for coercer in (COERCER, PLAIN):
        assert coercer.check_many(records) == [coercer.check(r) for r in records]


def test_a_clean_batch_keeps_key_order_values_and_derived_columns() -> None:
    record = {
        "note": None, "id": 7, "income": 50_000, "distance": 12.5, "seats": 100,
        "ratio": -3, "carrier": "UA", "city": "Oslo", "student": None, "wifi": True,
        "other": "ignored",
    }  # fmt: skip
    many = COERCER.check_many([record] * MANY_ROWS)
    one = COERCER.check(record)
    assert many == [one] * MANY_ROWS
    coerced = one[0]
    assert coerced is not None and list(coerced) == [*(c.name for c in BATCHED.columns), "per_seat"]
    assert coerced["per_seat"] == 500.0 and "other" not in coerced


def test_a_derived_column_out_of_range_is_a_violation_of_that_record_only() -> None:
    good = {"id": "a", "income": 100, "seats": 1, "carrier": "AA", "wifi": False}
    bad = {**good, "income": 10**6}  # per_seat 1e6, over its max
    results = COERCER.check_many([good] * (MANY_ROWS - 1) + [bad])
    assert results == [COERCER.check(r) for r in [good] * (MANY_ROWS - 1) + [bad]]
    assert results[-1][0] is None and [v.field for v in results[-1][1]] == ["per_seat"]


def test_a_contract_with_timestamps_checks_record_by_record() -> None:
    contract = Schema([Column("when", "timestamp", timezone="UTC"), Column("n", "integer")])
    coercer = compile_record(contract)
    records = [{"when": "2026-12-03T10:00:00", "n": i} for i in range(MANY_ROWS)]
    assert coercer.check_many(records) == [coercer.check(r) for r in records]


def test_an_int_past_a_floats_range_is_a_violation_not_an_overflow_error() -> None:
    """Regression: 10**400 in an unbounded number column passed the number check, then
    computing a derived column raised OverflowError out of ``check`` (found by the
    property test above)."""
    record = {"id": "a", "income": 10, "ratio": 10**400, "carrier": "AA", "wifi": True}
    for coercer in (COERCER, PLAIN):
        coerced, violations = coercer.check(record)
        assert coerced is None
        assert [(v.field, v.rule) for v in violations] == [("ratio", "type")]
        assert violations[0].message == (
            "column 'ratio' in the record: expected a number a 64-bit float can hold (at "
            "most 1.8e308 in size), got 100000000000000000...0000000000000000000. Send a "
            "number value."
        )
        assert coercer.check_many([record] * MANY_ROWS) == [(None, violations)] * MANY_ROWS
