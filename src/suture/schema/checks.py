"""The checks of one contract column on Arrow arrays: convert, and mask what breaks.

:class:`ColumnCheck` compiles one :class:`~suture.schema.types.Column` for one input
Arrow type.  :meth:`ColumnCheck.convert` turns an input array into the contract's type
(parsing text with the rules of :mod:`suture.parsing`, converting units) and returns a
:class:`Converted`: the typed values and one boolean mask per violation kind.  Nothing
loops over rows in Python; the only loops are per distinct unit string.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from suture.errors import SchemaError, UnitError
from suture.parsing import (
    FALSE,
    HAS_UNIT,
    IS_NUMBER,
    NUMBER_AND_UNIT,
    TIME_OF_DAY,
    TIMESTAMP_AWARE,
    TIMESTAMP_NAIVE,
    TRUE,
)
from suture.schema import messages as say
from suture.schema._masks import (
    any_of,
    blank_to_null,
    cast_each,
    decode,
    false_mask,
    is_text,
    mask,
    null_out,
    try_cast,
)
from suture.schema.types import NUMERIC_TYPES, Column, parse_clock, parse_time
from suture.schema.units import Conversion, conversion

__all__ = ["DURATION_UNITS", "ColumnCheck", "Converted"]

DURATION_UNITS = {"s": "second", "ms": "millisecond", "us": "microsecond", "ns": "nanosecond"}
"""The unit of an Arrow ``duration`` type, as a contract unit."""


class Converted:
    """A column converted to its contract type, with the masks of what went wrong.

    ``values`` may be given as a function: the typed column is then built only when the
    valid rows are asked for (the masks never need it); ``raw`` is what the null check
    reads in the meantime.
    """

    def __init__(
        self, values: pa.Array | Callable[[], pa.Array], n: int, raw: pa.Array | None = None
    ) -> None:
        self._values = values
        self.raw = raw
        self.n = n
        self.problems: dict[str, tuple[pa.BooleanArray, str]] = {}

    @property
    def values(self) -> pa.Array:
        """The typed values (null where a rule broke)."""
        if callable(self._values):
            self._values = self._values()
        return self._values

    @values.setter
    def values(self, values: pa.Array) -> None:
        self._values = values

    def add(self, kind: str, m: pa.BooleanArray, expected: str) -> None:
        """Record the rows ``m`` marks as breaking ``kind`` (nothing when none does)."""
        if pc.any(m).as_py():
            old = self.problems.get(kind)
            self.problems[kind] = (pc.or_(old[0], m) if old else m, expected)

    def bad(self) -> pa.BooleanArray:
        """The rows that broke any rule so far."""
        return any_of((m for m, _ in self.problems.values()), self.n)


class ColumnCheck:
    """The compiled checks of one contract column for one input Arrow type.

    Raises
    ------
    SchemaError
        When the input type cannot hold the contract's values (a list for a number).
    """

    def __init__(self, col: Column, input_type: pa.DataType, origin: str) -> None:
        self.col = col
        self.origin = origin
        t = input_type.value_type if pa.types.is_dictionary(input_type) else input_type
        self.input_type = t
        self.bare = conversion("", "")
        if col.type in NUMERIC_TYPES and col.input_unit:
            self.bare = conversion(col.input_unit, col.unit)
        self.ticks: Conversion | None = None
        if col.type in NUMERIC_TYPES and pa.types.is_duration(t):
            try:
                self.ticks = conversion(DURATION_UNITS[t.unit], col.unit)
            except UnitError:
                self.ticks = None
        self.levels = pa.array(col.levels, pa.string())
        self.low: Any = col.min
        self.high: Any = col.max
        if col.type == "timestamp":
            self.low = parse_time(str(col.min)) if col.min is not None else None
            self.high = parse_time(str(col.max)) if col.max is not None else None
        elif col.type == "time":
            self.low = parse_clock(str(col.min)) if col.min is not None else None
            self.high = parse_clock(str(col.max)) if col.max is not None else None
        self.kinds = self._kinds(t)

    def _refuse(self, t: pa.DataType) -> SchemaError:
        return SchemaError(
            f"column {self.col.name!r} in {self.origin} holds {t} values, but the contract "
            f"says {self.col.type}; fix the column's type in the data or in the contract"
        )

    def _kinds(self, t: pa.DataType) -> tuple[str, ...]:
        """The violation kinds this column can raise (fixes the quarantine columns)."""
        c, text, null = self.col, is_text(t), pa.types.is_null(t)
        numeric = pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
        ranged = c.min is not None or c.max is not None
        kinds: list[str] = []
        if c.type in NUMERIC_TYPES:
            duration = pa.types.is_duration(t)
            if not (numeric or text or null or duration):
                raise self._refuse(t)
            if text:
                kinds += ["parse", "unit"] if c.unit else ["parse"]
            if duration and self.ticks is None:
                kinds.append("unit")
            if c.type == "integer" and not pa.types.is_integer(t):
                kinds.append("type")
            if ranged:
                kinds.append("range")
        elif c.type == "boolean":
            if not (pa.types.is_boolean(t) or numeric or text or null):
                raise self._refuse(t)
            if text:
                kinds.append("parse")
            if numeric:
                kinds.append("type")
        elif c.type in ("timestamp", "time"):
            native = (
                pa.types.is_timestamp(t) or pa.types.is_date(t)
                if c.type == "timestamp"
                else pa.types.is_time(t)
            )
            if not (native or text or null):
                raise self._refuse(t)
            if text:
                kinds.append("parse")
            if ranged:
                kinds.append("range")
        elif c.type == "set":
            if not (pa.types.is_list(t) or pa.types.is_large_list(t) or null):
                raise self._refuse(t)
            if c.levels:
                kinds.append("level")
        elif c.type == "categorical":
            if pa.types.is_nested(t):
                raise self._refuse(t)
            if not c.open:
                kinds.append("level")
        elif pa.types.is_nested(t):
            raise self._refuse(t)
        if not c.nullable:
            kinds.insert(0, "null")
        return tuple(kinds)

    # -- per type ----------------------------------------------------------------------

    def convert(self, raw: pa.Array) -> Converted:
        """The column in the contract's type, with a mask per broken rule."""
        a = decode(raw)
        kind = self.col.type
        if kind in NUMERIC_TYPES:
            out = self._numeric(a)
        elif kind == "boolean":
            out = self._boolean(a)
        elif kind == "timestamp":
            out = self._timestamp(a)
        elif kind == "time":
            out = self._time(a)
        elif kind == "categorical":
            out = self._categorical(a)
        elif kind == "set":
            out = self._set(a)
        elif kind == "identifier":
            t = a.type
            keep = pa.types.is_integer(t) or is_text(t)
            out = Converted(a if keep else pc.cast(a, pa.string()), len(a))
        else:
            out = Converted(pc.cast(a, pa.string()), len(a))
        if not self.col.nullable:
            seen = out.raw if out.raw is not None else out.values
            missing = mask(pc.is_null(seen, nan_is_null=True))
            out.add("null", pc.and_not(missing, out.bad()), say.NOT_NULLABLE)
        return out

    def _numeric(self, a: pa.Array) -> Converted:
        is_int = pa.types.is_integer(a.type)
        if self.bare.identity and (
            is_int or (pa.types.is_floating(a.type) and self.col.type == "number")
        ):
            return self._numeric_fast(a, is_int)
        n = len(a)
        c = self.col
        out = Converted(a, n)
        if is_text(a.type):
            values = self._parse_numbers(a, out)
        elif pa.types.is_null(a.type):
            values = pa.nulls(n, pa.float64())
        elif pa.types.is_duration(a.type):
            values = self._durations(a, out)
        elif is_int and self.bare.identity:
            values = a
        else:
            values = _affine(pc.cast(a, pa.float64()), self.bare)
        if pa.types.is_floating(values.type):
            values = pc.if_else(pc.is_nan(values), pa.scalar(None, pa.float64()), values)
        if c.type == "integer" and not pa.types.is_integer(values.type):
            # beyond 2**53 a float is not reliably whole: refused like a fraction
            exact = pc.less_equal(pc.abs(values), float(2**53))
            frac = mask(pc.or_(pc.not_equal(values, pc.floor(values)), pc.invert(exact)))
            out.add("type", frac, say.expected_number(c))
            values = pc.cast(null_out(values, frac), pa.int64())
        elif c.type == "integer":
            values = values if pa.types.is_uint64(values.type) else pc.cast(values, pa.int64())
        elif not pa.types.is_floating(values.type):
            values = pc.cast(values, pa.float64())
        if self.low is not None or self.high is not None:
            if pa.types.is_integer(values.type):
                both = _int_outside(values, self.low, self.high)
            else:
                below = pc.less(values, float(self.low)) if self.low is not None else None
                above = pc.greater(values, float(self.high)) if self.high is not None else None
                both = below if above is None else above if below is None else pc.or_(below, above)
            if both is not None:
                out.add("range", pc.and_not(mask(both), out.bad()), say.expected_number(c))
        out.values = null_out(values, out.bad())
        return out

    def _numeric_fast(self, a: pa.Array, is_int: bool) -> Converted:
        """Numbers that need no parsing or conversion: masks on the raw array.

        Integer input is compared with exact integer bounds (uint64 values of 2**63 and
        more too) and an integer column keeps uint64 input as uint64.
        """
        if self.col.type == "integer":
            target = a.type if pa.types.is_uint64(a.type) else pa.int64()
        else:
            target = pa.float64()

        def typed() -> pa.Array:
            values = a if a.type == target else pc.cast(a, target)
            if not is_int and pc.any(pc.is_nan(values)).as_py():
                values = pc.if_else(pc.is_nan(values), pa.scalar(None, target), values)
            return values

        out = Converted(typed, len(a), raw=a)
        if self.low is None and self.high is None:
            return out
        if is_int:
            both = _int_outside(a, self.low, self.high)
        else:
            masks = []
            if self.low is not None:
                masks.append(pc.less(a, float(self.low)))
            if self.high is not None:
                masks.append(pc.greater(a, float(self.high)))
            both = masks[0] if len(masks) == 1 else pc.or_(masks[0], masks[1])
        if both is not None:
            m = both if a.null_count == 0 else mask(both)
            out.add("range", m, say.expected_number(self.col))
        return out

    def _durations(self, a: pa.Array, out: Converted) -> pa.Array:
        """Duration ticks converted from their Arrow unit to the column's unit."""
        ticks = pc.cast(a.cast(pa.int64()), pa.float64())
        if self.ticks is None:
            out.add("unit", mask(pc.is_valid(a)), say.expected_unit(self.col))
            return pa.nulls(len(a), pa.float64())
        return _affine(ticks, self.ticks)

    def _parse_numbers(self, a: pa.Array, out: Converted) -> pa.Array:
        fast = try_cast(a, pa.float64())
        if fast is not None and not pc.any(pc.invert(pc.is_finite(fast))).as_py():
            # clean text ("nan"/"inf" excluded, as the regex path refuses them)
            return _affine(fast, self.bare)
        text = blank_to_null(a)
        plain = mask(pc.match_substring_regex(text, IS_NUMBER))
        safe = pc.if_else(plain, text, pa.scalar(None, pa.string()))
        values = _affine(pc.cast(safe, pa.float64()), self.bare)
        unparsed = pc.and_not(pc.is_valid(text), plain)
        if not pc.any(unparsed).as_py():
            return values
        with_unit = (
            pc.and_not(mask(pc.match_substring_regex(text, HAS_UNIT)), plain)
            if self.col.unit
            else None
        )
        if with_unit is not None and pc.any(with_unit).as_py():
            values = self._convert_units(text, with_unit, values, out)
            unparsed = pc.and_not(unparsed, with_unit)
        out.add("parse", unparsed, say.expected_number(self.col))
        return values

    def _convert_units(
        self, text: pa.Array, with_unit: pa.BooleanArray, values: pa.Array, out: Converted
    ) -> pa.Array:
        none = pa.scalar(None, pa.string())
        parts = pc.extract_regex(pc.if_else(with_unit, text, none), NUMBER_AND_UNIT)
        numbers = pc.cast(pc.if_else(with_unit, parts.field("num"), none), pa.float64())
        units = pc.if_else(with_unit, parts.field("unit"), none)
        distinct = pc.unique(units.drop_null()).to_pylist()
        scales, offsets, known = [], [], []
        for unit in distinct:  # one conversion per distinct unit, not per row
            try:
                conv = conversion(str(unit), self.col.unit)
            except UnitError:
                scales.append(np.nan)
                offsets.append(np.nan)
                known.append(False)
                continue
            scales.append(conv.scale)
            offsets.append(conv.offset)
            known.append(True)
        index = pc.index_in(units, value_set=pa.array(distinct, pa.string()))
        scale = pc.take(pa.array(scales, pa.float64()), index)
        offset = pc.take(pa.array(offsets, pa.float64()), index)
        ok = pc.take(pa.array(known, pa.bool_()), index)
        refused = mask(pc.and_(with_unit, pc.invert(ok)))
        out.add("unit", refused, say.expected_unit(self.col))
        converted = null_out(pc.add(pc.multiply(numbers, scale), offset), refused)
        return pc.if_else(with_unit, converted, values)

    def _boolean(self, a: pa.Array) -> Converted:
        n = len(a)
        out = Converted(a, n)
        if pa.types.is_boolean(a.type):
            return out
        if pa.types.is_null(a.type):
            out.values = pa.nulls(n, pa.bool_())
            return out
        if is_text(a.type):
            a = blank_to_null(a)
            low = pc.utf8_lower(a)
            yes = mask(pc.is_in(low, value_set=pa.array(TRUE)))
            no = mask(pc.is_in(low, value_set=pa.array(FALSE)))
            bad = pc.and_not(pc.is_valid(a), pc.or_(yes, no))
            out.add("parse", bad, say.BOOLEAN_TEXT)
        else:
            num = pc.cast(a, pa.float64())
            if pa.types.is_floating(a.type):  # NaN is a missing value, as in a record
                num = pc.if_else(pc.is_nan(num), pa.scalar(None, pa.float64()), num)
                a = num
            yes = mask(pc.equal(num, 1.0))
            bad = pc.and_not(pc.is_valid(num), pc.or_(yes, mask(pc.equal(num, 0.0))))
            out.add("type", bad, say.BOOLEAN_NUMBER)
        values = pc.if_else(pc.is_valid(a), yes, pa.scalar(None, pa.bool_()))
        out.values = null_out(values, out.bad())
        return out

    def _timestamp(self, a: pa.Array) -> Converted:
        n = len(a)
        zone = self.col.timezone or "UTC"
        target = pa.timestamp("us", tz=zone)
        out = Converted(a, n)
        if pa.types.is_null(a.type):
            values = pa.nulls(n, target)
        elif pa.types.is_timestamp(a.type):
            values = a if a.type.tz else pc.assume_timezone(a, zone, ambiguous="earliest")
            values = pc.cast(values, target)
        elif pa.types.is_date(a.type):
            values = pc.assume_timezone(pc.cast(a, pa.timestamp("us")), zone)
        elif (fast := _aware_text(a)) is not None:
            values = pc.cast(fast, target)  # clean text with offsets: one cast, no per-row regex
        else:
            text = blank_to_null(a)
            aware = mask(pc.match_substring_regex(text, TIMESTAMP_AWARE))
            naive = mask(pc.match_substring_regex(text, TIMESTAMP_NAIVE))
            none = pa.scalar(None, pa.string())
            values_naive = cast_each(pc.if_else(naive, text, none), pa.timestamp("us"))
            local = pc.assume_timezone(
                values_naive, zone, ambiguous="earliest", nonexistent="earliest"
            )
            utc = cast_each(pc.if_else(aware, text, none), pa.timestamp("us", tz="UTC"))
            values = pc.cast(pc.if_else(naive, local, utc), target)
            bad = pc.and_not(pc.is_valid(text), mask(pc.is_valid(values)))
            out.add("parse", bad, say.expected_timestamp(self.col))
        self._range(out, values, target, say.expected_timestamp(self.col, ranged=True))
        out.values = null_out(values, out.bad())
        return out

    def _time(self, a: pa.Array) -> Converted:
        n = len(a)
        target = pa.time64("us")
        out = Converted(a, n)
        if pa.types.is_null(a.type):
            values = pa.nulls(n, target)
        elif pa.types.is_time(a.type):
            values = pc.cast(a, target)
        else:
            text = blank_to_null(a)
            values = _clock_text(text)
            bad = pc.and_not(pc.is_valid(text), mask(pc.is_valid(values)))
            out.add("parse", bad, say.expected_time(self.col))
        self._range(out, values, target, say.expected_time(self.col, ranged=True))
        out.values = null_out(values, out.bad())
        return out

    def _range(self, out: Converted, values: pa.Array, target: pa.DataType, what: str) -> None:
        if self.low is None and self.high is None:
            return
        n = len(values)
        below = (
            mask(pc.less(values, pa.scalar(self.low, target)))
            if self.low is not None
            else false_mask(n)
        )
        above = (
            mask(pc.greater(values, pa.scalar(self.high, target)))
            if self.high is not None
            else None
        )
        both = below if above is None else pc.or_(below, above)
        out.add("range", pc.and_not(both, out.bad()), what)

    def _categorical(self, a: pa.Array) -> Converted:
        values = a if is_text(a.type) else pc.cast(a, pa.string())
        out = Converted(values, len(a))
        if not self.col.open:
            known = mask(pc.is_in(values, value_set=self.levels))
            unknown = pc.and_not(pc.is_valid(values), known)
            out.add("level", unknown, f"expected one of {say.levels_text(self.col.levels)}")
        out.values = null_out(values, out.bad())
        return out

    def _set(self, a: pa.Array) -> Converted:
        n = len(a)
        if pa.types.is_null(a.type):
            return Converted(pa.nulls(n, pa.list_(pa.string())), n)
        out = Converted(a, n)
        if self.col.levels:
            flat = pc.list_flatten(a)
            items = flat if is_text(flat.type) else pc.cast(flat, pa.string())
            bad_items = pc.invert(mask(pc.is_in(items, value_set=self.levels)))
            parents = pc.filter(pc.list_parent_indices(a), bad_items)
            rows = pa.array(np.arange(n, dtype=np.int64))
            expected = f"expected items among {say.levels_text(self.col.levels)}"
            out.add("level", mask(pc.is_in(rows, value_set=parents)), expected)
        out.values = null_out(a, out.bad())
        return out


def _aware_text(a: pa.Array) -> pa.Array | None:
    """Text that is all timestamps with offsets, cast to UTC; None otherwise.

    Arrow's cast accepts a little more than the rule (:data:`~suture.parsing.
    TIMESTAMP_AWARE`), so when it succeeds the rule is checked too, on the distinct
    values only (a batch of hourly stamps has a few thousand).
    """
    cast = try_cast(a, pa.timestamp("us", tz="UTC"))
    if cast is None:
        return None
    distinct = pc.unique(a.drop_null())
    if not pc.all(pc.match_substring_regex(distinct, TIMESTAMP_AWARE)).as_py():
        return None
    return cast


def _affine(values: pa.Array, conv: Conversion) -> pa.Array:
    if conv.identity:
        return values
    return pc.add(pc.multiply(values, conv.scale), conv.offset)


def _int_bound(bound: float | int, *, up: bool) -> int:
    """A bound as the integer bound that selects the same integers (exact for ints)."""
    if isinstance(bound, int):
        return bound
    return math.ceil(bound) if up else math.floor(bound)


def _int_outside(a: pa.Array, low: Any, high: Any) -> pa.BooleanArray | None:
    """Integers outside ``[low, high]``, compared exactly within the array's type."""
    info = np.iinfo(a.type.to_pandas_dtype())
    lo_type, hi_type = int(info.min), int(info.max)
    masks = []
    if low is not None:
        lo = _int_bound(low, up=True)
        if lo > hi_type:
            masks.append(pc.is_valid(a))
        elif lo > lo_type:
            masks.append(pc.less(a, pa.scalar(lo, a.type)))
    if high is not None:
        hi = _int_bound(high, up=False)
        if hi < lo_type:
            masks.append(pc.is_valid(a))
        elif hi < hi_type:
            masks.append(pc.greater(a, pa.scalar(hi, a.type)))
    if not masks:
        return None
    return masks[0] if len(masks) == 1 else pc.or_(masks[0], masks[1])


def _clock_text(text: pa.Array) -> pa.Array:
    """Trimmed ``HH:MM[:SS[.ffffff]]`` text as ``time64[us]``; null where it does not read.

    Arrow cannot cast text to a time of day, so the fields are taken apart by the
    :data:`~suture.parsing.TIME_OF_DAY` rule and added up as microseconds.
    """
    ok = mask(pc.match_substring_regex(text, TIME_OF_DAY))
    parts = pc.extract_regex(
        pc.if_else(ok, text, pa.scalar(None, pa.string())),
        r"^(?P<h>\d{2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d{1,6}))?)?$",
    )

    def field(name: str, width: int, pad: Any) -> pa.Array:
        return pc.cast(pad(parts.field(name), width, "0"), pa.int64())

    hours, minutes = field("h", 2, pc.utf8_lpad), field("m", 2, pc.utf8_lpad)
    seconds, fraction = field("s", 2, pc.utf8_lpad), field("f", 6, pc.utf8_rpad)
    fine = mask(pc.and_(pc.and_(pc.less(hours, 24), pc.less(minutes, 60)), pc.less(seconds, 60)))
    total = pc.add(pc.multiply(pc.add(pc.multiply(hours, 60), minutes), 60), seconds)
    micros = pc.add(pc.multiply(total, 1_000_000), fraction)
    micros = pc.if_else(pc.and_(fine, ok), micros, pa.scalar(None, pa.int64()))
    return pc.cast(micros, pa.time64("us"))
