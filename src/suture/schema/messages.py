"""The words of each contract rule, shared by the batch validator and ``coerce``.

A quarantined row and a refused record say the same thing about the same value: the
``expected ...`` part of both messages comes from here.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from suture.schema.types import Column, Derived

if TYPE_CHECKING:
    from suture.schema.expressions import Expr

__all__ = [
    "BOOLEAN_NUMBER",
    "BOOLEAN_TEXT",
    "NOT_NULLABLE",
    "SCALAR_TYPE",
    "SET_ITEMS",
    "SET_TYPE",
    "derived_range_text",
    "expected_number",
    "expected_time",
    "expected_timestamp",
    "expected_unit",
    "fix",
    "fmt",
    "levels_text",
    "span",
]

NOT_NULLABLE = "expected a value (not nullable)"
BOOLEAN_TEXT = "expected true or false"
BOOLEAN_NUMBER = "expected true or false (1 or 0)"
SET_TYPE = "expected a list of items"
SET_ITEMS = "expected a list of single values (text, numbers or true/false)"
SCALAR_TYPE = "expected a single value (text, a number or true/false), not a list or an object"


def fmt(x: float | int) -> str:
    """A number for a message or comment: thousands separators, at most 4 significant
    digits for fractions; integers exactly (``9,223,372,036,854,775,807``)."""
    if isinstance(x, int) and not isinstance(x, bool):
        return f"{x:,}"
    if not math.isfinite(x):
        return str(x)
    if float(x) == int(x) and abs(x) < 1e15:
        return f"{int(x):,}"
    return f"{x:,.4g}"


def span(low: object, high: object) -> str:
    """`` between A and B``, `` of at least A``, `` of at most B`` or ""."""
    if low is not None and high is not None:
        return f" between {low} and {high}"
    if low is not None:
        return f" of at least {low}"
    if high is not None:
        return f" of at most {high}"
    return ""


def _number_bound(bound: object) -> object:
    if bound is None:
        return None
    return fmt(bound) if isinstance(bound, int | float) else bound


def expected_number(col: Column) -> str:
    """``expected a number in mile between 0 and 5,000`` (or a whole number, ...)."""
    what = "a whole number" if col.type == "integer" else "a number"
    if col.unit:
        what += f" in {col.unit}"
    return "expected " + what + span(_number_bound(col.min), _number_bound(col.max))


def expected_unit(col: Column) -> str:
    """The message of a value whose unit does not convert to the column's."""
    return f"expected a quantity convertible to {col.unit or 'a plain number'}"


def expected_timestamp(col: Column, *, ranged: bool = False) -> str:
    """``expected an ISO 8601 timestamp (UTC)``, with its range when ``ranged``."""
    text = f"expected an ISO 8601 timestamp ({col.timezone or 'UTC'})"
    return text + (span(col.min, col.max) if ranged else "")


def expected_time(col: Column, *, ranged: bool = False) -> str:
    """``expected a time of day (HH:MM[:SS])``, with its range when ``ranged``."""
    text = "expected a time of day (HH:MM[:SS])"
    return text + (span(col.min, col.max) if ranged else "")


def derived_range_text(d: Derived, expr: Expr) -> str:
    """``expected distance / air_time in mile / hour between 0 and 700``."""
    lo = fmt(float(d.min)) if d.min is not None else "-inf"
    hi = fmt(float(d.max)) if d.max is not None else "inf"
    unit = f" in {expr.unit}" if expr.unit else ""
    return f"expected {d.expr}{unit} between {lo} and {hi}"


def levels_text(levels: tuple[str, ...], shown: int = 8) -> str:
    """The first ``shown`` levels, quoted, and how many more there are."""
    head = ", ".join(repr(v) for v in levels[:shown])
    return head + (f" and {len(levels) - shown:,} more" if len(levels) > shown else "")


_FIXES = {
    "null": "Send a value or set nullable = true in {contract}.",
    "range": "Fix the value or widen the range in {contract}.",
    "level": "Fix the value or add it to levels in {contract}.",
    "unit": "Send the value in a compatible unit.",
    "parse": "Send {col_type} value.",
    "type": "Send {col_type} value.",
    "derived": "Check the columns it is computed from.",
}


def fix(kind: str, col_type: str, contract: str) -> str:
    """What to do about a violation of ``kind`` (the last sentence of a record's error)."""
    article = "an" if col_type[:1] in "aeiou" else "a"  # an integer, an identifier
    return _FIXES[kind].format(contract=contract, col_type=f"{article} {col_type}")
