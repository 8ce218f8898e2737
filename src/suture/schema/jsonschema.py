"""The JSON Schema of one record of a contract, for the service's OpenAPI document.

:func:`contract_json_schema` describes what :class:`~suture.schema.coerce.RecordCoercer`
accepts from a JSON body, in JSON Schema draft 2020-12 (the dialect of OpenAPI 3.1).
The rule is that it may be looser than the contract and never stricter: a record the
service would score always validates, so a client generated from the document, or a
fuzzer such as schemathesis, is never told that a good record is bad.  What it cannot
say stays for the contract to check (and answer with a 422): a number sent as text
(``"90 s"``) and its range, a bare number's range when it is converted from an
``input_unit``, the range of a timestamp or time of day, derived columns.

Per column type (``null`` is allowed too when the column is nullable, and so is blank
text, which the contract reads as a missing value, except where blank text is a value):

- number, integer: a JSON number (``"type": "integer"`` for an integer column whose bare
  numbers need no conversion) with the contract's ``minimum`` / ``maximum`` when bare
  numbers are in the column's own unit; or a string (a number, perhaps with its unit);
  or, for a column with a unit, ``{"value": 1.5, "unit": "hour"}``.
- boolean: ``true`` / ``false``, the strings the contract reads (true, t, yes, y, 1 and
  false, f, no, n, 0 in any case) or the numbers 0 and 1.
- timestamp, time: a string matching the contract's ISO 8601 pattern.  No
  ``format: date-time``: that is RFC 3339, which would refuse a date alone
  (``2013-01-01``, midnight) that the contract accepts.
- categorical (closed): an ``enum`` of its levels, with the numbers and booleans whose
  text is a level (the contract reads ``1`` as ``"1"``).  An open categorical, an
  identifier and free text take a string, a number or a boolean (read as text); a list
  or an object is not one value.
- set: an array of single values, from the levels when the column has levels.

``required`` lists the columns that are not nullable; keys the contract does not name
are allowed (the service ignores them).  A sensitive column is marked ``writeOnly``:
it is sent, never shown back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from suture.parsing import CLOCK, DATE, FALSE, OFFSET, TRUE
from suture.schema import messages as say
from suture.schema.types import NUMERIC_TYPES, Column

if TYPE_CHECKING:
    from suture.schema.contract import Schema

__all__ = ["DIALECT", "contract_json_schema"]

DIALECT = "https://json-schema.org/draft/2020-12/schema"

# What str.strip() removes: ECMA-262 \s lacks the information separators and NEL.
_SPACE = r"[\s\x1c-\x1f\x85]"
_BLANK = rf"^{_SPACE}*$"
_SCALAR = ["string", "number", "boolean"]


def contract_json_schema(schema: Schema) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12, OpenAPI 3.1) of one record of ``schema``.

    Parameters
    ----------
    schema : Schema

    Returns
    -------
    dict
        An object schema with one property per input column (derived columns are
        computed, not sent) and ``required`` the non-nullable ones; never stricter than
        the contract (see the module's notes for each type).
    """
    return {
        "$schema": DIALECT,
        "title": f"A record of {schema.origin}",
        "description": (
            "One record to score. Each column is checked and converted by the contract; "
            "values this schema allows may still break a rule of the contract (a range, "
            "a unit, a derived column) and are then answered with 422. Other keys are "
            "ignored."
        ),
        "type": "object",
        "properties": {col.name: column_json_schema(col) for col in schema.columns},
        "required": [col.name for col in schema.columns if not col.nullable],
        "additionalProperties": True,
    }


def column_json_schema(col: Column) -> dict[str, Any]:
    """The JSON Schema of one column's value (see :func:`contract_json_schema`)."""
    if col.type in NUMERIC_TYPES:
        out = _number(col)
    elif col.type == "boolean":
        out = _boolean(col)
    elif col.type == "timestamp":
        out = _clock(col, rf"{DATE}(?:[ T]{CLOCK}{OFFSET}?)?", _timestamp_text(col))
    elif col.type == "time":
        out = _clock(col, CLOCK, _words(say.expected_time(col, ranged=True)))
    elif col.type == "categorical" and not col.open:
        out = _closed(col)
    elif col.type == "set":
        out = _set(col)
    else:
        kind = {"categorical": "a level (open)", "identifier": "an identifier"}
        out = {
            "type": [*_SCALAR, "null"] if col.nullable else _SCALAR,
            "description": f"{kind.get(col.type, 'text')}; other values are read as text",
        }
    if col.sensitive:
        out["writeOnly"] = True
        out["description"] += "; sensitive: never shown back"
    return out


def _nullable(col: Column, branches: list[dict[str, Any]], blank: bool) -> list[dict[str, Any]]:
    """Add null (and blank text, read as null) to ``branches`` for a nullable column."""
    if not col.nullable:
        return branches
    extra: list[dict[str, Any]] = [{"type": "null"}]
    if blank:
        extra.append({"type": "string", "pattern": _BLANK})
    return branches + extra


def _number(col: Column) -> dict[str, Any]:
    bare: dict[str, Any] = {
        "type": "integer" if col.type == "integer" and not col.input_unit else "number"
    }
    if not col.input_unit:
        for key, bound in (("minimum", col.min), ("maximum", col.max)):
            if isinstance(bound, int | float) and abs(bound) != float("inf"):
                bare[key] = bound
    branches = [bare, {"type": "string"}]
    if col.unit:
        branches.append(
            {
                "type": "object",
                "properties": {"value": {"type": "number"}, "unit": {"type": "string"}},
                "required": ["value", "unit"],
                "additionalProperties": False,
            }
        )
    text = _words(say.expected_number(col))
    if col.input_unit:
        text += f"; bare numbers are in {col.input_unit} and converted"
    if col.unit:
        text += '; or text with its unit ("90 s") or {"value": 1.5, "unit": "hour"}'
    else:
        text += "; or the number as text"
    return {"anyOf": _nullable(col, branches, blank=False), "description": text}


def _boolean(col: Column) -> dict[str, Any]:
    words = ", ".join(TRUE) + " or " + ", ".join(FALSE)
    branches: list[dict[str, Any]] = [{"type": "boolean"}, {"type": "string"}, {"enum": [0, 1]}]
    return {
        "anyOf": _nullable(col, branches, blank=False),
        "description": f"true or false; or the text {words} (any case); or 1 or 0",
    }


def _clock(col: Column, pattern: str, text: str) -> dict[str, Any]:
    branches = [{"type": "string", "pattern": rf"^{_SPACE}*{pattern}{_SPACE}*$"}]
    return {"anyOf": _nullable(col, branches, blank=True), "description": text}


def _timestamp_text(col: Column) -> str:
    return _words(say.expected_timestamp(col, ranged=True)) + (
        ": YYYY-MM-DD[THH:MM[:SS[.ffffff]][Z|+HH:MM]], local time in "
        f"{col.timezone or 'UTC'} without an offset"
    )


def _words(expected: str) -> str:
    """A contract message's ``expected ...`` words as a description."""
    return expected.removeprefix("expected ")


def _as_values(levels: tuple[str, ...], *, item: bool = False) -> list[Any]:
    """The levels, and the JSON numbers and booleans whose text is a level.

    A categorical value reads ``true`` as ``"true"``; a set's item reads it as
    ``"True"`` and ``null`` as ``"None"`` (``item``).
    """
    values: list[Any] = list(levels)
    spelled: dict[str, Any] = (
        {"True": True, "False": False, "None": None} if item else {"true": True, "false": False}
    )
    seen: set[tuple[type, Any]] = set()
    for level in levels:
        found: list[Any] = [spelled[level]] if level in spelled else []
        for kind in (int, float):
            try:
                number = kind(level)
            except ValueError:
                continue
            if str(number) == level and abs(number) != float("inf") and number == number:
                found.append(number)
        for value in found:
            if (type(value), value) not in seen:
                seen.add((type(value), value))
                values.append(value)
    return values


def _closed(col: Column) -> dict[str, Any]:
    values = _as_values(col.levels) + ([None] if col.nullable else [])
    return {"enum": values, "description": f"one of {len(col.levels)} levels"}


def _set(col: Column) -> dict[str, Any]:
    array: dict[str, Any] = {"type": "array", "items": {"type": [*_SCALAR, "null"]}}
    if col.levels:
        array["items"] = {"enum": _as_values(col.levels, item=True)}
    text = "a list of items" + (f" among {len(col.levels)} levels" if col.levels else "")
    return {"anyOf": _nullable(col, [array], blank=True), "description": text}
