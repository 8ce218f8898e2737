"""One definition of each text rule: the profile's hints, batches and records agree."""

from __future__ import annotations

import datetime as dt
import re

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suture import parsing
from suture.schema import Column, Schema
from suture.sketches.categorical import LOOKS

TEXTS = st.one_of(
    st.sampled_from(
        [
            "12",
            " 12.5 ",
            ".5",
            "1e3",
            "1,500",
            "nan",
            "inf",
            "true",
            " Yes ",
            "N",
            "0",
            "1",
            "maybe",
            "2013-01-01",
            "2013-01-01 05:00",
            "2013-01-01T05:00:00.123456Z",
            "2013-01-01T05:00:00.1234567",
            "2013-01-01T05:00+0100",
            "2013-02-30",
            "2020-01-01Z",
            "07:30",
            "23:59:59.5",
            "24:00",
            "7:30",
            "",
        ]
    ),
    st.text(alphabet="0123456789-:. TZ+e", max_size=24),
)


def test_the_profile_hints_are_the_contract_rules() -> None:
    assert LOOKS is parsing.LOOKS
    assert LOOKS["numeric"] == parsing.IS_NUMBER


@settings(max_examples=300, deadline=None)
@given(text=TEXTS)
def test_arrow_and_python_read_the_same_patterns(text: str) -> None:
    """RE2 (batches, profile hints) and Python's re (records) see the same rule."""
    for pattern in [*parsing.LOOKS.values(), parsing.TIMESTAMP_NAIVE, parsing.TIME_OF_DAY]:
        arrow = pc.match_substring_regex(pa.array([text]), pattern)[0].as_py()
        assert arrow == bool(re.search(pattern, text)), (pattern, text)


@settings(max_examples=300, deadline=None)
@given(text=TEXTS)
def test_what_looks_like_a_type_validates_as_it(text: str) -> None:
    """A value the profile counts as numeric/boolean/timestamp passes that contract type."""
    table = pa.table({"x": pa.array([text], pa.string())})
    for look, kind in (("numeric", "number"), ("boolean", "boolean"), ("timestamp", "timestamp")):
        looks = bool(re.search(parsing.LOOKS[look], text))
        quarantined = Schema([Column("x", kind)]).validate(table).summary.quarantined
        if looks and kind != "timestamp":
            assert quarantined == 0, (kind, text)
        if looks and kind == "timestamp":
            # the pattern admits 2013-02-30; the calendar does not
            assert quarantined == (parsing.read_timestamp(text) is None), text


def test_scalar_readers() -> None:
    assert parsing.read_number(" 12.5 ") == 12.5
    assert parsing.read_number("1,500") is None  # no thousands separators: 1.5 in Europe
    assert parsing.read_number("nan") is None
    assert parsing.read_number_and_unit("90 s") == (90.0, "s")
    assert parsing.read_number_and_unit("1,000 km") is None
    assert [parsing.read_boolean(t) for t in ("Yes", "0", "maybe")] == [True, False, None]
    assert parsing.read_timestamp("2013-01-01T05:00+0100") == dt.datetime(
        2013, 1, 1, 5, tzinfo=dt.timezone(dt.timedelta(hours=1))
    )
    assert parsing.read_timestamp("2013-02-30") is None
    assert parsing.read_timestamp("2013-01-01T05:00:00.1234567") is None  # > 6 digits
    assert parsing.read_time_of_day("23:59:59.5") == dt.time(23, 59, 59, 500_000)
    assert parsing.read_time_of_day("24:00") is None


@pytest.mark.parametrize("text", ["1,000 km", "1,000"])
def test_thousands_separators_are_refused_in_batches_and_records_alike(text: str) -> None:
    schema = Schema([Column("distance", "number", unit="mile")])
    summary = schema.validate(pa.table({"distance": [text]})).summary
    assert summary.counts == {("distance", "parse"): 1}
    from suture.errors import RecordError

    with pytest.raises(RecordError) as info:
        schema.coerce({"distance": text})
    assert info.value.kind == "parse"
    assert str(info.value) == (
        f"column 'distance' in the record: expected a number in mile, got {text!r}. "
        "Send a number value."
    )


def test_the_docs_coerce_example_works() -> None:
    """docs/contracts.md: ``schema.coerce({"distance": "1000 km"})`` (no separators)."""
    schema = Schema([Column("distance", "number", unit="mile", min=0, max=5000)])
    assert schema.coerce({"distance": "1000 km"}) == {
        "distance": pytest.approx(621.371192, rel=1e-9)
    }


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(TEXTS, st.sampled_from(["90 s", " 1.5 hour ", "3EUR", "1e3 m", "5 "])))
def test_one_match_for_a_quantity_is_the_union_of_the_two_rules(text: str) -> None:
    bare, with_unit = parsing.read_number(text), parsing.read_number_and_unit(text)
    expected = (bare, "") if bare is not None else with_unit
    assert parsing.read_quantity(text) == expected
