"""Check and convert one record against a contract (the serving path).

:func:`compile_record` turns a contract into a :class:`RecordCoercer`: one small
function per column, specialized when the contract is compiled (bounds parsed, units
converted to an affine map, messages written), so checking a record is a loop of plain
Python calls.  It applies the same rules as the batch validator (the text rules of
:mod:`suture.parsing`, the words of :mod:`suture.schema.messages`) and returns the
typed, unit-converted record with derived columns; the first broken rule raises
:class:`RecordError` (a :class:`~suture.errors.SchemaError`) naming the field, what was
expected, what came and the fix.  A property test checks that it agrees with the batch
path on random records of every rule kind.

A number may come bare (in the column's ``input_unit``, else its ``unit``), as a string
with its unit (``"90 s"``), as ``{"value": 1.5, "unit": "hour"}`` or as a
``datetime.timedelta`` (for a column with a time unit).  Keys the contract does not
name are ignored.
"""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from suture.errors import RecordError, UnitError
from suture.parsing import (
    read_boolean,
    read_quantity,
    read_time_of_day,
    read_timestamp,
)
from suture.schema import messages as say
from suture.schema.types import NUMERIC_TYPES, Column, Derived, parse_clock, parse_time
from suture.schema.units import conversion

if TYPE_CHECKING:
    from suture.schema.contract import Schema
    from suture.schema.expressions import Expr

__all__ = ["RecordCoercer", "RecordError", "coerce_record", "compile_record"]

_UNSEEN = object()
Check = Callable[[Any], Any]
"""One column's compiled check: the typed value, or :class:`_Fail`."""


class _Fail(Exception):
    def __init__(self, kind: str, expected: str) -> None:
        self.kind = kind
        self.expected = expected


# ------------------------------------------------------------------------- per type


def _number(col: Column) -> Check:
    expected = say.expected_number(col)
    integer = col.type == "integer"
    unit = col.unit
    bare = conversion(col.input_unit, unit) if col.input_unit else None
    low, high = col.min, col.max
    try:
        per_second = conversion("second", unit) if unit else None
    except UnitError:
        per_second = None

    known: dict[str, Any] = {}  # unit text -> Conversion, or None when it does not convert

    def quantity(value: float, given: str) -> float:
        conv = known.get(given, _UNSEEN)
        if conv is _UNSEEN:
            try:
                conv = conversion(given, unit)
            except UnitError:
                conv = None
            if len(known) < 256:
                known[given] = conv
        if conv is None:
            raise _Fail("unit", say.expected_unit(col))
        return float(conv.scale * value + conv.offset)

    def read(v: Any) -> float | int:
        if isinstance(v, bool):
            raise _Fail("type", expected)
        if isinstance(v, int | float):
            return v if bare is None else bare(float(v))
        if isinstance(v, str):
            read = read_quantity(v)
            if read is None or (read[1] and not unit):
                raise _Fail("parse", expected)
            x, given = read
            if given:
                return quantity(x, given)
            return x if bare is None else bare(x)
        if isinstance(v, dt.timedelta):
            if per_second is None:
                raise _Fail("unit", say.expected_unit(col))
            return per_second(v / dt.timedelta(seconds=1))
        if isinstance(v, Mapping) and unit and set(v) == {"value", "unit"}:
            inner = v["value"]
            if isinstance(inner, bool) or not isinstance(inner, int | float):
                raise _Fail("parse", expected)
            return quantity(float(inner), str(v["unit"]))
        raise _Fail("parse", expected)

    def check(v: Any) -> float | int:
        kind = type(v)
        x = v if (kind is float or kind is int) and bare is None else read(v)
        if type(x) is float:
            if x != x:
                raise _Fail("null", say.NOT_NULLABLE)
            if integer:
                if not abs(x) <= 2**53 or x != math.floor(x):
                    raise _Fail("type", expected)
                x = int(x)
        if (low is not None and x < low) or (high is not None and x > high):  # type: ignore[operator]
            raise _Fail("range", expected)
        return x

    return check


def _boolean(col: Column) -> Check:
    def check(v: Any) -> bool:
        if isinstance(v, bool):
            return v
        if isinstance(v, str):
            b = read_boolean(v)
            if b is None:
                raise _Fail("parse", say.BOOLEAN_TEXT)
            return b
        if isinstance(v, int | float) and v in (0, 1):
            return bool(v)
        raise _Fail("type", say.BOOLEAN_NUMBER)

    return check


def _timestamp(col: Column) -> Check:
    zone = zoneinfo.ZoneInfo(col.timezone or "UTC")
    expected = say.expected_timestamp(col)
    ranged = say.expected_timestamp(col, ranged=True)
    low = parse_time(str(col.min)) if col.min is not None else None
    high = parse_time(str(col.max)) if col.max is not None else None

    def check(v: Any) -> dt.datetime:
        if isinstance(v, dt.datetime):
            t = v
        elif isinstance(v, dt.date):
            t = dt.datetime(v.year, v.month, v.day)
        elif isinstance(v, str):
            read = read_timestamp(v)
            if read is None:
                raise _Fail("parse", expected)
            t = read
        else:
            raise _Fail("parse", expected)
        t = t.replace(tzinfo=zone) if t.tzinfo is None else t.astimezone(zone)
        if (low is not None and t < low) or (high is not None and t > high):
            raise _Fail("range", ranged)
        return t

    return check


def _time(col: Column) -> Check:
    expected = say.expected_time(col)
    ranged = say.expected_time(col, ranged=True)
    low = parse_clock(str(col.min)) if col.min is not None else None
    high = parse_clock(str(col.max)) if col.max is not None else None

    def check(v: Any) -> dt.time:
        if isinstance(v, dt.time):
            t = v.replace(tzinfo=None)
        elif isinstance(v, str):
            read = read_time_of_day(v)
            if read is None:
                raise _Fail("parse", expected)
            t = read
        else:
            raise _Fail("parse", expected)
        if (low is not None and t < low) or (high is not None and t > high):
            raise _Fail("range", ranged)
        return t

    return check


def _text_of(v: Any) -> str:
    if isinstance(v, str):
        return v
    return str(v).lower() if isinstance(v, bool) else str(v)


def _categorical(col: Column) -> Check:
    levels = frozenset(col.levels)
    expected = f"expected one of {say.levels_text(col.levels)}"

    def check(v: Any) -> str:
        text = _text_of(v)
        if not col.open and text not in levels:
            raise _Fail("level", expected)
        return text

    return check


def _set(col: Column) -> Check:
    levels = frozenset(col.levels)
    expected = f"expected items among {say.levels_text(col.levels)}"

    def check(v: Any) -> list[Any]:
        if not isinstance(v, list | tuple | set | frozenset):
            raise _Fail("type", say.SET_TYPE)
        items = list(v)
        if levels and any(str(i) not in levels for i in items):
            raise _Fail("level", expected)
        return items

    return check


def _identifier(col: Column) -> Check:
    def check(v: Any) -> Any:
        if isinstance(v, int | str) and not isinstance(v, bool):
            return v
        return str(v)

    return check


def _text(col: Column) -> Check:
    return str


_BUILDERS: dict[str, Callable[[Column], Check]] = {
    "number": _number,
    "integer": _number,
    "boolean": _boolean,
    "timestamp": _timestamp,
    "time": _time,
    "categorical": _categorical,
    "set": _set,
    "identifier": _identifier,
    "text": _text,
}
_BLANK_IS_A_VALUE = ("categorical", "text", "identifier")


# ------------------------------------------------------------------------- records


class RecordCoercer:
    """A contract compiled for single records; call it with a ``dict``.

    Parameters
    ----------
    schema : Schema

    Notes
    -----
    Missing values are ``None``, NaN and blank text (blank text is a value for
    categorical, text and identifier columns, as in a batch).  Columns are checked in
    contract order and the first broken rule raises :class:`RecordError`.
    """

    def __init__(self, schema: Schema) -> None:
        self.contract = schema.origin
        self.columns: list[tuple[Column, Check, bool]] = [
            (c, _BUILDERS[c.type](c), c.type in _BLANK_IS_A_VALUE) for c in schema.columns
        ]
        self.numeric = [c.name for c in schema.columns if c.type in NUMERIC_TYPES]
        self.derived: list[tuple[Derived, Expr]] = [
            (d, schema.compiled[d.name]) for d in schema.derived
        ]

    def __call__(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Check one record; return it typed, converted and derived.

        Raises
        ------
        RecordError
            On the first broken rule, in contract order.
        """
        out: dict[str, Any] = {}
        get = record.get
        for col, check, blank_is_value in self.columns:
            v = get(col.name)
            try:
                kind = type(v)
                if (
                    v is None
                    or (kind is float and v != v)
                    or (kind is str and not blank_is_value and not v.strip())
                ):
                    if not col.nullable:
                        raise _Fail("null", say.NOT_NULLABLE)
                    out[col.name] = None
                    continue
                out[col.name] = check(v)
            except _Fail as fail:
                raise self._error(col, fail, v) from None
        if self.derived:
            self._derive(out)
        return out

    def _error(self, col: Column, fail: _Fail, v: Any) -> RecordError:
        return RecordError(
            f"column {col.name!r} in the record: {fail.expected}, got {v!r}. "
            f"{say.fix(fail.kind, col.type, self.contract)}",
            col.name,
            fail.kind,
        )

    def _derive(self, out: dict[str, Any]) -> None:
        env: dict[str, float | None] = {
            name: (None if out[name] is None else float(out[name])) for name in self.numeric
        }
        for d, expr in self.derived:
            result = expr.scalar(env)
            kind, expected = "", ""
            if result is None:
                if not d.nullable:
                    kind, expected = "null", f"expected {d.expr} to have a value (not nullable)"
            elif not expr.boolean:
                result = float(result)
                if not math.isfinite(result):
                    kind, expected = "derived", f"expected {d.expr} to give a finite number"
                elif (d.min is not None and result < d.min) or (
                    d.max is not None and result > d.max
                ):
                    kind, expected = "range", say.derived_range_text(d, expr)
            if kind:
                inputs = ", ".join(f"{c}={env.get(c)!r}" for c in sorted(expr.columns()))
                raise RecordError(
                    f"derived column {d.name!r} of the record: {expected}, got {result!r} "
                    f"from {inputs}. {say.fix(kind, 'number', self.contract)}",
                    d.name,
                    kind,
                )
            out[d.name] = bool(result) if expr.boolean and result is not None else result
            if not expr.boolean:
                env[d.name] = result


def compile_record(schema: Schema) -> RecordCoercer:
    """The contract compiled for single records (see :class:`RecordCoercer`)."""
    return RecordCoercer(schema)


def coerce_record(schema: Schema, record: Mapping[str, Any]) -> dict[str, Any]:
    """Check one record against ``schema``; return it typed, converted and derived.

    Raises
    ------
    RecordError
        On the first broken rule, in contract order.
    """
    return compile_record(schema)(record)
