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

:meth:`RecordCoercer.check` is the service's path: it goes on past the first broken
rule and returns every :class:`Violation` of the record, in contract order; a message
about a ``sensitive`` column says ``<sensitive value>`` instead of the value.
"""

from __future__ import annotations

import datetime as dt
import math
import reprlib
import sys
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from suture.errors import RecordError, UnitError
from suture.parsing import (
    read_boolean,
    read_quantity,
    read_time_of_day,
    read_timestamp,
)
from suture.schema import messages as say
from suture.schema.types import (
    NUMERIC_TYPES,
    VIOLATION_KINDS,
    Column,
    Derived,
    parse_clock,
    parse_time,
)
from suture.schema.units import conversion

if TYPE_CHECKING:
    from suture.schema.contract import Schema
    from suture.schema.expressions import Expr

__all__ = [
    "MANY_ROWS",
    "RECORD_RULES",
    "SENSITIVE",
    "RecordCoercer",
    "RecordError",
    "Violation",
    "coerce_record",
    "compile_record",
]

_UNSEEN = object()
_FLOAT_MAX = sys.float_info.max
_TOO_BIG = "expected a number a 64-bit float can hold (at most 1.8e308 in size)"
_LONGEST_UNIT = 100
"""Unit text longer than this is refused unread (no unit is spelled that long)."""
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
        if len(given) > _LONGEST_UNIT:
            raise _Fail("unit", say.expected_unit(col))
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

    def as_float(v: float) -> float:
        try:
            return float(v)
        except OverflowError:  # an int past 1.8e308 cannot be converted
            raise _Fail("type", _TOO_BIG) from None

    def read(v: Any) -> float | int:
        if isinstance(v, bool):
            raise _Fail("type", expected)
        if isinstance(v, int | float):
            return v if bare is None else bare(as_float(v))
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
            inner, given = v["value"], v["unit"]
            if isinstance(inner, bool) or not isinstance(inner, int | float):
                raise _Fail("parse", expected)
            if not isinstance(given, str):
                raise _Fail("unit", say.expected_unit(col))
            return quantity(as_float(inner), given)
        raise _Fail("parse", expected)

    def check(v: Any) -> float | int:
        kind = type(v)
        x = v if (kind is float or kind is int) and bare is None else read(v)
        if type(x) is int and not -_FLOAT_MAX <= x <= _FLOAT_MAX:
            raise _Fail("type", _TOO_BIG)  # every feature and derived column reads a float
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


_CONTAINERS = (list, tuple, set, frozenset, Mapping)


def _text_of(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, _CONTAINERS):  # a list or an object is not one value
        raise _Fail("type", say.SCALAR_TYPE)
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
        if any(isinstance(i, _CONTAINERS) for i in items):
            raise _Fail("type", say.SET_ITEMS)
        if levels and any(str(i) not in levels for i in items):
            raise _Fail("level", expected)
        return items

    return check


def _identifier(col: Column) -> Check:
    def check(v: Any) -> Any:
        if isinstance(v, int | str) and not isinstance(v, bool):
            return v
        return _text_of(v) if isinstance(v, _CONTAINERS) else str(v)

    return check


def _text(col: Column) -> Check:
    def check(v: Any) -> str:
        return v if type(v) is str else _text_of(v) if isinstance(v, _CONTAINERS) else str(v)

    return check


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


# ------------------------------------------------------------------------- batches

#: From this many records on, :meth:`RecordCoercer.check_many` tests them column by
#: column (below, the per-column set and range tests cost more than they save).
MANY_ROWS = 8

_NONE = type(None)


def _unchanged(col: Column) -> Callable[[Sequence[Any]], bool] | None:
    """A test of one column's values of a batch: True only when the column's check
    returns every value as it is (a null stays None in a nullable column), so the
    batch's coerced values are the values received; None for a type without such a
    test (timestamps, times and sets are always converted)."""
    null = {_NONE} if col.nullable else set()
    if col.type in NUMERIC_TYPES:
        if col.input_unit:  # bare numbers are converted
            return None
        kinds = frozenset({int, *null} if col.type == "integer" else {int, float, *null})
        low = -_FLOAT_MAX if col.min is None else col.min  # an int past a float's range
        high = _FLOAT_MAX if col.max is None else col.max  # is refused by check

        def number(values: Sequence[Any]) -> bool:
            if not set(map(type, values)) <= kinds:
                return False
            present = [v for v in values if v is not None] if null else values
            if not present:
                return True
            try:
                total = sum(present)
            except OverflowError:  # an int past a float's range beside a float
                return False
            if total != total or total in (math.inf, -math.inf):
                return False  # a NaN (a null) or an infinity somewhere: the record path
            return not (min(present) < low or max(present) > high)

        return number
    if col.type == "boolean":
        booleans = frozenset({bool, *null})
        return lambda values: set(map(type, values)) <= booleans
    if col.type == "categorical":
        texts = frozenset({str, *null})
        if col.open:
            return lambda values: set(map(type, values)) <= texts
        allowed = frozenset({*col.levels, *([None] if col.nullable else [])})

        def level(values: Sequence[Any]) -> bool:
            try:
                return set(map(type, values)) <= texts and allowed.issuperset(values)
            except TypeError:  # an unhashable value
                return False

        return level
    if col.type == "text":
        texts = frozenset({str, *null})
        return lambda values: set(map(type, values)) <= texts
    if col.type == "identifier":
        keys = frozenset({int, str, *null})
        return lambda values: set(map(type, values)) <= keys
    return None


# ------------------------------------------------------------------------- records

SENSITIVE = "<sensitive value>"
"""What a message says instead of the value of a sensitive column."""

RECORD_RULES = (*VIOLATION_KINDS, "missing")
"""The rules a record can break: the batch kinds and ``missing`` (a required key absent)."""


@dataclass(frozen=True)
class Violation:
    """One broken rule of one record (:meth:`RecordCoercer.check` lists them all).

    Attributes
    ----------
    field : str
        The column or derived column at fault; ``""`` for the record as a whole (not
        an object), as a JSON Pointer names the whole document.
    rule : str
        One of :data:`RECORD_RULES`: type, null, range, level, unit, parse, derived or
        missing.
    expected : str
        What the rule wants, in the words of the batch validator
        (``"expected a number in mile between 0 and 5,000"``).
    received : Any
        The raw value received (``None`` for a missing key; for a derived column, its
        computed value).  Present even for a sensitive column: whoever shows it
        decides (the service leaves it out when ``sensitive``).
    message : str
        The whole sentence, with the fix; the value is written ``<sensitive value>``
        when the column is sensitive.  The same text :class:`RecordError` carries.
    sensitive : bool
        Whether the value comes from a sensitive column (for a derived column: whether
        any column it is computed from is sensitive).
    """

    field: str
    rule: str
    expected: str
    received: Any
    message: str
    sensitive: bool = False

    def as_dict(self) -> dict[str, Any]:
        """``field``, ``rule``, ``expected``, ``message`` and, unless sensitive,
        ``received``: what an error body may show (``received`` bounded: text over 200
        characters is cut, a large or deeply nested list or object given as a short
        repr)."""
        out = {"field": self.field, "rule": self.rule, "expected": self.expected}
        if not self.sensitive:
            out["received"] = _bounded(self.received)
        out["message"] = self.message
        return out

    def error(self) -> RecordError:
        """This violation as the :class:`RecordError` that ``coercer(record)`` raises."""
        return RecordError(self.message, self.field, self.rule)


def _short_repr() -> reprlib.Repr:
    short = reprlib.Repr()
    short.maxlevel, short.maxstring, short.maxother = 3, 60, 60
    short.maxlist = short.maxtuple = short.maxset = short.maxdict = 6
    return short


_SHORT = _short_repr()
_LONGEST_RECEIVED = 200
_LONGEST_SHOWN = 120


def _shown(value: Any, sensitive: bool) -> str:
    """The value for a message: ``<sensitive value>``, or its repr cut short (a 500 KB
    string or a list nested 1,000 deep must not make a 1 MB message or a crash)."""
    if sensitive:
        return SENSITIVE
    text = _SHORT.repr(value)  # bounded per level; cut the whole too (wide dicts of dicts)
    return text if len(text) <= _LONGEST_SHOWN else text[: _LONGEST_SHOWN - 3] + "..."


def _bounded(value: Any) -> Any:
    """``received`` for an error body: as sent when small; long text cut to 200
    characters and ``...``; a large or deep list or object as its shortened repr."""
    if isinstance(value, str):
        return value if len(value) <= _LONGEST_RECEIVED else value[:_LONGEST_RECEIVED] + "..."
    if isinstance(value, _CONTAINERS):
        short = _shown(value, False)
        return short if "..." in short else value
    return value


class RecordCoercer:
    """A contract compiled for single records; call it with a ``dict``.

    Parameters
    ----------
    schema : Schema

    Notes
    -----
    Missing values are ``None``, NaN and blank text (blank text is a value for
    categorical, text and identifier columns, as in a batch); a key the contract does
    not name is ignored (not checked, not returned).  ``coercer(record)`` checks the
    columns in contract order and raises :class:`RecordError` on the first broken rule;
    :meth:`check` goes on and returns every :class:`Violation`.  Both share one loop,
    so they agree: ``check`` gives the same dict when the record is valid and its first
    violation is the error ``coercer(record)`` raises.
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
        secret = {c.name for c in schema.columns if c.sensitive}
        # inputs of each derived column, and whether any of them (through other derived
        # columns too) is sensitive
        self._inputs: dict[str, frozenset[str]] = {}
        for d, expr in self.derived:
            inputs = frozenset(expr.columns())
            self._inputs[d.name] = inputs
            if inputs & secret:
                secret.add(d.name)
        self.sensitive = frozenset(secret)
        self._names = [c.name for c in schema.columns]
        tests = [_unchanged(c) for c in schema.columns]
        self._fast: list[Callable[[Sequence[Any]], bool]] | None = (
            None if any(t is None for t in tests) else [t for t in tests if t is not None]
        )

    def __call__(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Check one record; return it typed, converted and derived.

        Raises
        ------
        RecordError
            On the first broken rule, in contract order.
        """
        return self._run(record, None)

    def check(self, record: Any) -> tuple[dict[str, Any] | None, list[Violation]]:
        """Check one record against every rule; never raises for bad data.

        Every column is checked (in contract order), then each derived column whose
        inputs all passed.

        Returns
        -------
        (dict, []) or (None, list of Violation)
            The typed, converted and derived record when it keeps the contract, else
            every rule it breaks, in contract order.  A record that is not a mapping
            gives one violation of field ``""`` and rule ``type``.
        """
        if not isinstance(record, Mapping):
            return None, [self._not_a_record(record)]
        failures: list[Violation] = []
        out = self._run(record, failures)
        return (None, failures) if failures else (out, [])

    def check_many(
        self, records: Sequence[Any]
    ) -> list[tuple[dict[str, Any] | None, list[Violation]]]:
        """:meth:`check` of each record, the same results, column by column when it can.

        For :data:`MANY_ROWS` dict records or more, each column's values are tested at
        once (their types as a set, levels as a set, the range as the least and largest
        value); when every value of every column is one :meth:`check` returns unchanged
        (or a null of a nullable column), the coerced dicts are built from the columns
        directly and only derived columns are computed per record.  Any other value of
        any column (text to parse, a unit, a NaN, a float in an integer column, a bad
        value, a timestamp, a set) sends the whole batch through :meth:`check`.
        """
        if len(records) < MANY_ROWS or self._fast is None:
            return [self.check(r) for r in records]
        if not all(type(r) is dict for r in records):
            return [self.check(r) for r in records]
        names = self._names
        rows = [tuple(map(r.get, names)) for r in records]
        for test, values in zip(self._fast, zip(*rows, strict=True), strict=True):
            if not test(values):
                return [self.check(r) for r in records]
        if not self.derived:
            return [(dict(zip(names, row, strict=True)), []) for row in rows]
        out: list[tuple[dict[str, Any] | None, list[Violation]]] = []
        for row in rows:
            coerced = dict(zip(names, row, strict=True))
            failures: list[Violation] = []
            self._derive(coerced, failures)
            out.append((None, failures) if failures else (coerced, []))
        return out

    def _run(self, record: Mapping[str, Any], failures: list[Violation] | None) -> dict[str, Any]:
        """The one loop of both paths: raise on the first failure, or collect them."""
        if type(record) is not dict and not isinstance(record, Mapping):
            raise self._not_a_record(record).error()
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
                violation = self._violation(col, fail, v, record)
                if failures is None:
                    raise violation.error() from None
                failures.append(violation)
        if self.derived:
            self._derive(out, failures)
        return out

    def _not_a_record(self, record: Any) -> Violation:
        got = type(record).__name__
        expected = "expected an object of column names to values"
        return Violation(
            "",
            "type",
            expected,
            got,
            f"the record: {expected}, got {_article(got)}. Send one object per record.",
        )

    def _violation(self, col: Column, fail: _Fail, v: Any, record: Mapping[str, Any]) -> Violation:
        fix = say.fix(fail.kind, col.type, self.contract)
        if fail.kind == "null" and col.name not in record:
            return Violation(
                col.name,
                "missing",
                fail.expected,
                None,
                f"column {col.name!r} is missing from the record: {fail.expected}. {fix}",
                col.sensitive,
            )
        return Violation(
            col.name,
            fail.kind,
            fail.expected,
            v,
            f"column {col.name!r} in the record: {fail.expected}, "
            f"got {_shown(v, col.sensitive)}. {fix}",
            col.sensitive,
        )

    def _derive(self, out: dict[str, Any], failures: list[Violation] | None) -> None:
        env: dict[str, float | None] = {
            name: (None if out[name] is None else float(out[name]))
            for name in self.numeric
            if name in out
        }
        for d, expr in self.derived:
            if failures and not self._inputs[d.name] <= out.keys():
                continue  # an input broke a rule: its derived columns are not computed
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
                violation = self._derived_violation(d, kind, expected, result, env)
                if failures is None:
                    raise violation.error()
                failures.append(violation)
                continue
            out[d.name] = bool(result) if expr.boolean and result is not None else result
            if not expr.boolean:
                env[d.name] = result

    def _derived_violation(
        self, d: Derived, kind: str, expected: str, result: Any, env: Mapping[str, Any]
    ) -> Violation:
        secret = d.name in self.sensitive
        inputs = ", ".join(
            f"{c}={_shown(env.get(c), c in self.sensitive)}" for c in sorted(self._inputs[d.name])
        )
        return Violation(
            d.name,
            kind,
            expected,
            result,
            f"derived column {d.name!r} of the record: {expected}, got "
            f"{_shown(result, secret)} from {inputs}. {say.fix(kind, 'number', self.contract)}",
            secret,
        )


def _article(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


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
