"""Contract files: commented TOML that round-trips, and mistakes reported by line."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suture.errors import SchemaError, SourceError
from suture.schema import Column, Derived, Schema

GOOD = """\
[contract]
format = 1

[columns.distance]
# observed 0% nulls
type = "number"
unit = "mile"
nullable = false
min = 0
max = 5000

[columns.air_time]
type = "number"
unit = "minute"
min = 0
max = 800

[columns.carrier]
type = "categorical"
levels = ["AA", "UA"]

[derived.speed]
expr = "distance / air_time"
unit = "mile / hour"
"""


def load(text: str, tmp_path: Path) -> Schema:
    path = tmp_path / "schema.toml"
    path.write_text(text)
    return Schema.load(path)


def test_a_good_contract_loads(tmp_path: Path) -> None:
    s = load(GOOD, tmp_path)
    assert [c.name for c in s.columns] == ["distance", "air_time", "carrier"]
    assert s["distance"] == Column("distance", "number", False, unit="mile", min=0.0, max=5000.0)
    assert s["distance"].note == "observed 0% nulls"
    assert s.derived == (Derived("speed", "distance / air_time", unit="mile / hour"),)
    assert s.compiled["speed"].unit == "mile / hour"


def test_load_save_load_is_stable(tmp_path: Path) -> None:
    first = load(GOOD, tmp_path)
    text = first.dumps()
    second = Schema.loads(text)
    assert second == first
    assert second.dumps() == text
    assert second.fingerprint == first.fingerprint
    assert [c.note for c in second.columns] == [c.note for c in first.columns]


def test_the_file_records_version_and_fingerprint(tmp_path: Path) -> None:
    s = load(GOOD, tmp_path)
    text = s.dumps()
    assert 'suture_version = "0.1.0"' in text
    assert f'fingerprint = "{s.fingerprint}"' in text
    # comments and provenance do not change the fingerprint; rules do
    from dataclasses import replace

    noted = Schema([replace(c, note="other") for c in s.columns], s.derived)
    assert noted.fingerprint == s.fingerprint
    wider = Schema([replace(s["distance"], max=6000.0), *s.columns[1:]], s.derived)
    assert wider.fingerprint != s.fingerprint


def mistake(text: str, tmp_path: Path) -> str:
    with pytest.raises(SchemaError) as info:
        load(text, tmp_path)
    return str(info.value).replace(str(tmp_path) + "/", "")


def test_unknown_type_names_file_line_and_field(tmp_path: Path) -> None:
    text = GOOD.replace('type = "categorical"', 'type = "category"')
    assert mistake(text, tmp_path) == (
        "schema.toml line 19, column 'carrier', field 'type': unknown type 'category'; use "
        "one of number, integer, categorical, boolean, timestamp, time, identifier, text or set"
    )


def test_bad_unit(tmp_path: Path) -> None:
    text = GOOD.replace('unit = "mile"', 'unit = "miel"')
    assert mistake(text, tmp_path) == (
        "schema.toml line 7, column 'distance', field 'unit': unknown unit 'miel': use a "
        "pint unit such as 'minute', 'mile', 'kg', 'mile / hour' or a currency code "
        "(EUR, USD, GBP, JPY, ...)"
    )


def test_min_greater_than_max(tmp_path: Path) -> None:
    text = GOOD.replace("min = 0\nmax = 800", "min = 900\nmax = 800")
    assert mistake(text, tmp_path) == (
        "schema.toml line 15, column 'air_time', field 'min': min 900 is greater than "
        "max 800; swap them or fix one"
    )


def test_derived_column_naming_an_unknown_column(tmp_path: Path) -> None:
    text = GOOD.replace("distance / air_time", "distance / airtime")
    assert mistake(text, tmp_path) == (
        "schema.toml line 23, derived column 'speed', field 'expr': in 'distance / airtime': "
        "unknown column 'airtime'; columns are: air_time, carrier, distance"
    )


def test_units_that_do_not_add_are_refused_at_load(tmp_path: Path) -> None:
    text = GOOD.replace("distance / air_time", "distance + air_time")
    assert mistake(text, tmp_path) == (
        "schema.toml line 23, derived column 'speed', field 'expr': in 'distance + "
        "air_time': cannot add 'air_time' in minute and 'distance' in mile: their units "
        "do not convert"
    )


def test_wrong_value_types_and_unknown_fields(tmp_path: Path) -> None:
    text = GOOD.replace("nullable = false", 'nullable = "no"')
    assert mistake(text, tmp_path) == (
        "schema.toml line 8, column 'distance', field 'nullable': expected true or false, got 'no'"
    )
    text = GOOD.replace("max = 5000", "maximum = 5000")
    assert mistake(text, tmp_path).startswith(
        "schema.toml line 10, column 'distance', field 'maximum': unknown field 'maximum'"
    )


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    message = mistake(GOOD.replace("max = 5000", "max = = 5000"), tmp_path)
    assert message.startswith("schema.toml: not valid TOML (")
    assert "line 10" in message
    with pytest.raises(SourceError, match="no such contract file"):
        Schema.load(tmp_path / "absent.toml")


def test_a_closed_categorical_needs_levels() -> None:
    with pytest.raises(SchemaError, match="needs levels; list them or set open = true"):
        Schema([Column("c", "categorical")])


names = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=12
)


@settings(max_examples=60, deadline=None)
@given(
    name=names,
    low=st.floats(-1e9, 1e9, allow_nan=False),
    span=st.floats(0, 1e9, allow_nan=False),
    levels=st.lists(names, min_size=1, max_size=5, unique=True),
    note=st.text(max_size=40).map(lambda t: t.replace("\r", "")),
)
def test_round_trip_of_random_contracts(
    name: str, low: float, span: float, levels: list[str], note: str
) -> None:
    cols = [
        Column(name, "number", unit="minute", min=low, max=low + span, note=note.strip()),
        Column(name + "_c", "categorical", levels=tuple(levels)),
    ]
    s = Schema(cols)
    again = Schema.loads(s.dumps())
    assert again == s
    assert again.dumps() == s.dumps()


def test_fingerprints_of_earlier_contracts_do_not_change() -> None:
    """Regression guard: exact integer bounds must not change the digest of old contracts.

    ``f30280de91bb3473`` is what suture 0.1.0 (commit 22c68aa) computed for this contract.
    """
    schema = Schema(
        [
            Column("seats", "integer", min=1, max=900),
            Column("d", "number", unit="mile", min=0, max=5000.5),
            Column("w", "timestamp", min="2013-01-01", max="2014-01-01"),
        ],
        [Derived("x", "d * 2", min=0, max=10)],
    )
    assert schema.fingerprint == "f30280de91bb3473"
    golden = Schema.load(Path(__file__).parents[1] / "golden" / "contract_v1.toml")
    assert golden.fingerprint == golden.meta["stored_fingerprint"]


def test_specs_that_are_not_specs_are_a_config_error() -> None:
    from suture.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        Schema([{"name": "x", "type": "number"}])  # type: ignore[list-item]
    assert str(info.value) == (
        "columns must hold Column specs, got dict {'name': 'x', 'type': 'number'}; build "
        "them with suture.schema.Column(...)"
    )
    with pytest.raises(ConfigError, match="derived must be a list of Derived specs, got str"):
        Schema([Column("x", "number")], "x * 2")  # type: ignore[arg-type]


def test_negative_zero_bound_keeps_the_fingerprint_through_toml() -> None:
    # Hypothesis found it: min = -0.0 is written as 0.0, so the reloaded contract's
    # fingerprint differed although the contracts were equal.
    s = Schema([Column("x", "number", min=-0.0, max=0.0)])
    again = Schema.loads(s.dumps())
    assert again.fingerprint == s.fingerprint
    assert again.dumps() == s.dumps()
