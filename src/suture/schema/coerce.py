"""Check and convert one record against a contract (the serving path).

:func:`coerce_record` applies the same rules as the batch validator to a single ``dict``
and returns the typed, unit-converted record with derived columns; the first broken rule
raises :class:`RecordError` (a :class:`~suture.errors.SchemaError`) naming the field,
what was expected, what came and the fix.  A test checks that it agrees with the batch
path on random records.

A number may come bare (in the column's ``input_unit``, else its ``unit``), as a string
with its unit (``"90 s"``), or as ``{"value": 1.5, "unit": "hour"}``.  Keys the contract
does not name are ignored.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import zoneinfo
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from suture.errors import RecordError
from suture.schema.infer import fmt
from suture.schema.types import NUMERIC_TYPES, Column, parse_time
from suture.schema.units import UnitProblem, conversion
from suture.schema.validate import FALSE, NUMBER, TRUE

if TYPE_CHECKING:
    from suture.schema.contract import Schema

__all__ = ["RecordError", "coerce_record"]

_PLAIN = re.compile(rf"^\s*{NUMBER}\s*$")
_WITH_UNIT = re.compile(rf"^\s*({NUMBER})\s*(\S.*?)\s*$")
_TS = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")


class _Fail(Exception):
    def __init__(self, kind: str, expected: str) -> None:
        self.kind = kind
        self.expected = expected


def _fix(kind: str, col_type: str, contract: str) -> str:
    return {
        "null": f"Send a value or set nullable = true in {contract}.",
        "range": f"Fix the value or widen the range in {contract}.",
        "level": f"Fix the value or add it to levels in {contract}.",
        "unit": "Send the value in a compatible unit.",
        "parse": f"Send a {col_type} value.",
        "type": f"Send a {col_type} value.",
        "derived": "Check the columns it is computed from.",
    }[kind]


def _missing(v: Any) -> bool:
    return (
        v is None
        or (isinstance(v, float) and math.isnan(v))
        or (isinstance(v, str) and v.strip() == "")
    )


def _expected_number(col: Column) -> str:
    what = "a whole number" if col.type == "integer" else "a number"
    if col.unit:
        what += f" in {col.unit}"
    if col.min is not None and col.max is not None:
        what += f" between {fmt(float(col.min))} and {fmt(float(col.max))}"
    elif col.min is not None:
        what += f" of at least {fmt(float(col.min))}"
    elif col.max is not None:
        what += f" of at most {fmt(float(col.max))}"
    return "expected " + what


def _quantity(col: Column, value: float, unit: str) -> float:
    try:
        return conversion(unit, col.unit)(value)
    except UnitProblem:
        raise _Fail("unit", f"expected a quantity convertible to {col.unit}") from None


def _number(col: Column, v: Any) -> float | int:
    expected = _expected_number(col)
    if isinstance(v, bool):
        raise _Fail("type", expected)
    if isinstance(v, Mapping) and col.unit and set(v) == {"value", "unit"}:
        inner = v["value"]
        if isinstance(inner, bool) or not isinstance(inner, int | float):
            raise _Fail("parse", expected)
        x = _quantity(col, float(inner), str(v["unit"]))
    elif isinstance(v, int | float):
        x = float(v) if isinstance(v, float) or col.input_unit else v
        if col.input_unit:
            x = conversion(col.input_unit, col.unit)(float(v))
    elif isinstance(v, str):
        if _PLAIN.match(v):
            x = float(v)
            if col.input_unit:
                x = conversion(col.input_unit, col.unit)(x)
        else:
            m = _WITH_UNIT.match(v) if col.unit else None
            if m is None or m.group(2)[0] in "0123456789.+-":
                raise _Fail("parse", expected)
            x = _quantity(col, float(m.group(1)), m.group(2))
    else:
        raise _Fail("parse", expected)
    if isinstance(x, float) and math.isnan(x):
        raise _Fail("null", "expected a value (not nullable)")
    if col.type == "integer" and isinstance(x, float):
        if not abs(x) <= 2**53 or x != math.floor(x):
            raise _Fail("type", expected)
        x = int(x)
    low, high = col.min, col.max
    if (low is not None and x < float(low)) or (high is not None and x > float(high)):
        raise _Fail("range", expected)
    return x


def _boolean(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str):
        low = v.strip().lower()
        if low in TRUE:
            return True
        if low in FALSE:
            return False
        raise _Fail("parse", "expected true or false")
    if isinstance(v, int | float) and v in (0, 1):
        return bool(v)
    raise _Fail("type", "expected true or false (1 or 0)")


def _timestamp(col: Column, v: Any) -> dt.datetime:
    zone = zoneinfo.ZoneInfo(col.timezone or "UTC")
    expected = f"expected an ISO 8601 timestamp ({col.timezone or 'UTC'})"
    if isinstance(v, dt.datetime):
        t = v
    elif isinstance(v, dt.date):
        t = dt.datetime(v.year, v.month, v.day)
    elif isinstance(v, str) and _TS.match(v.strip()):
        try:
            t = dt.datetime.fromisoformat(v.strip().replace("Z", "+00:00"))
        except ValueError:
            raise _Fail("parse", expected) from None
    else:
        raise _Fail("parse", expected)
    t = t.replace(tzinfo=zone) if t.tzinfo is None else t
    t = t.astimezone(zone)
    low = parse_time(str(col.min)) if col.min is not None else None
    high = parse_time(str(col.max)) if col.max is not None else None
    if (low is not None and t < low) or (high is not None and t > high):
        raise _Fail("range", f"{expected} between {col.min} and {col.max}")
    return t


def _levels_text(levels: tuple[str, ...]) -> str:
    head = ", ".join(repr(v) for v in levels[:8])
    return head + (f" and {len(levels) - 8:,} more" if len(levels) > 8 else "")


def _value(col: Column, v: Any) -> Any:
    kind = col.type
    if kind in NUMERIC_TYPES:
        return _number(col, v)
    if kind == "boolean":
        return _boolean(v)
    if kind == "timestamp":
        return _timestamp(col, v)
    if kind == "categorical":
        text = v if isinstance(v, str) else (str(v).lower() if isinstance(v, bool) else str(v))
        if not col.open and text not in col.levels:
            raise _Fail("level", f"expected one of {_levels_text(col.levels)}")
        return text
    if kind == "set":
        if not isinstance(v, list | tuple | set | frozenset):
            raise _Fail("type", "expected a list of items")
        items = list(v)
        if col.levels and any(str(i) not in col.levels for i in items):
            raise _Fail("level", f"expected items among {_levels_text(col.levels)}")
        return items
    if kind == "identifier" and isinstance(v, int | str) and not isinstance(v, bool):
        return v
    return str(v)


def coerce_record(schema: Schema, record: Mapping[str, Any]) -> dict[str, Any]:
    """Check one record against ``schema``; return it typed, converted and derived.

    Raises
    ------
    RecordError
        On the first broken rule, in contract order.
    """
    out: dict[str, Any] = {}
    contract = schema.origin if schema.origin != "the contract" else "the contract"
    for col in schema.columns:
        v = record.get(col.name)
        try:
            if _missing(v) and not (
                col.type in ("categorical", "text", "identifier") and isinstance(v, str)
            ):
                if not col.nullable:
                    raise _Fail("null", "expected a value (not nullable)")
                out[col.name] = None
                continue
            out[col.name] = _value(col, v)
        except _Fail as fail:
            raise RecordError(
                f"column {col.name!r} in the record: {fail.expected}, got {v!r}. "
                f"{_fix(fail.kind, col.type, contract)}",
                col.name,
                fail.kind,
            ) from None
    env: dict[str, float | None] = {
        c.name: (None if out[c.name] is None else float(out[c.name]))
        for c in schema.columns
        if c.type in NUMERIC_TYPES
    }
    for d in schema.derived:
        expr = schema.compiled[d.name]
        result = expr.scalar(env)
        kind, expected = "", ""
        if result is None:
            if not d.nullable:
                kind, expected = "null", f"expected {d.expr} to have a value (not nullable)"
        elif not expr.boolean:
            result = float(result)
            if not math.isfinite(result):
                kind, expected = "derived", f"expected {d.expr} to give a finite number"
            elif (d.min is not None and result < d.min) or (d.max is not None and result > d.max):
                unit = f" in {expr.unit}" if expr.unit else ""
                lo = fmt(float(d.min)) if d.min is not None else "-inf"
                hi = fmt(float(d.max)) if d.max is not None else "inf"
                kind, expected = "range", f"expected {d.expr}{unit} between {lo} and {hi}"
        if kind:
            inputs = ", ".join(f"{c}={env.get(c)!r}" for c in sorted(expr.columns()))
            raise RecordError(
                f"derived column {d.name!r} of the record: {expected}, got {result!r} "
                f"from {inputs}. {_fix(kind, 'number', contract)}",
                d.name,
                kind,
            )
        out[d.name] = bool(result) if expr.boolean and result is not None else result
        if not expr.boolean:
            env[d.name] = result
    return out
