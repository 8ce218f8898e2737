"""Enforce a contract on record batches, vectorized: typed valid rows and a quarantine.

For each batch, :class:`Validator` converts every contract column with Arrow compute
(parsing text, converting units), builds one boolean mask per rule, splits the batch
with ``filter`` into valid rows (typed, unit-converted, derived columns added) and
quarantined rows (the input values as they came, plus ``__row``, ``__line`` for CSV, a
readable ``__reasons`` and one ``__reason_<kind>_<column>`` string column per rule, null
where the rule held).  Nothing loops over rows in Python.

:class:`ValidationAggregator` folds the counts into a mergeable summary, so the same check
runs on the local engine and on Spark.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from suture._codec import frame, pack, unframe, unpack
from suture.errors import SchemaError
from suture.schema.expressions import Expr
from suture.schema.infer import fmt
from suture.schema.types import NUMERIC_TYPES, VIOLATION_KINDS, Column, Derived, parse_time
from suture.schema.units import UnitProblem, conversion

if TYPE_CHECKING:
    from suture.schema.contract import Schema

__all__ = [
    "NUMBER_WITH_UNIT",
    "Checked",
    "Rule",
    "ValidationAggregator",
    "ValidationSummary",
    "Validator",
]

NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
NUMBER_WITH_UNIT = re.compile(rf"^\s*({NUMBER})\s*(\S(?:.*\S)?)?\s*$")
_IS_NUMBER = rf"^\s*{NUMBER}\s*$"
_HAS_UNIT = rf"^\s*{NUMBER}\s*[^\s\d.+-]"
_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$"
_TIMESTAMP_TZ = r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$"
TRUE = ("true", "t", "yes", "y", "1")
FALSE = ("false", "f", "no", "n", "0")
ROW = "__row"
LINE = "__line"
REASONS = "__reasons"


def reason_column(kind: str, column: str) -> str:
    """The quarantine column that explains a violation of ``kind`` on ``column``."""
    return f"__reason_{kind}_{column}"


@dataclass(frozen=True)
class Rule:
    """One check on one column: which rows break it, and why in words."""

    column: str
    kind: str
    mask: pa.BooleanArray
    expected: str

    def messages(self, got: pa.Array) -> pa.Array:
        """Per row ``"<expected>, got '<value>'"`` (the mask must already be applied)."""
        shown = pc.fill_null(_as_text(got), "null")
        text = pc.binary_join_element_wise(f"{self.expected}, got '", shown, "'", "")
        return text


def _as_text(a: pa.Array) -> pa.Array:
    """Values as text for messages; a list shows as ``[a, b]``."""
    if pa.types.is_list(a.type) or pa.types.is_large_list(a.type):
        joined = pc.binary_join(pc.cast(a, pa.list_(pa.string())), ", ")
        return pc.binary_join_element_wise("[", joined, "]", "")
    return pc.cast(a, pa.string())


@dataclass
class Checked:
    """The outcome of one batch: valid rows, quarantined rows and violation counts.

    ``typed`` is the whole batch converted to the contract's types and ``bad`` marks the
    quarantined rows (None when there are none); :attr:`valid` selects the others on
    first use, so a caller that only needs the quarantine and the counts never pays
    for it.
    """

    build: Callable[[], pa.RecordBatch]
    rows: int
    bad: pa.BooleanArray | None
    quarantine: pa.RecordBatch
    counts: dict[tuple[str, str], int]
    examples: dict[tuple[str, str], str]

    @property
    def valid_rows(self) -> int:
        """How many rows of the batch keep the contract."""
        return self.rows - int(self.quarantine.num_rows)

    @functools.cached_property
    def typed(self) -> pa.RecordBatch:
        """The whole batch in the contract's types, with derived columns."""
        return self.build()

    @functools.cached_property
    def valid(self) -> pa.Table:
        """The rows that keep the contract, typed."""
        if self.bad is None:
            return pa.Table.from_batches([self.typed])
        return _keep(self.typed, self.bad)


# ------------------------------------------------------------------------- conversions


def _decode(a: pa.Array) -> pa.Array:
    if isinstance(a, pa.ChunkedArray):
        a = a.combine_chunks()
    return a.dictionary_decode() if pa.types.is_dictionary(a.type) else a


def _is_text(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


_FALSE: dict[int, pa.BooleanArray] = {}


def _false(n: int) -> pa.BooleanArray:
    """An all-false mask of length ``n`` (cached: validators ask for it often)."""
    mask = _FALSE.get(n)
    if mask is None:
        if len(_FALSE) > 64:
            _FALSE.clear()
        mask = _FALSE[n] = pa.array(np.zeros(n, dtype=bool))
    return mask


def _mask(m: Any) -> pa.BooleanArray:
    """A null-free boolean mask (null counts as 'rule holds')."""
    m = pc.fill_null(m, False)
    return m.combine_chunks() if isinstance(m, pa.ChunkedArray) else m


def _or(masks: Iterable[pa.BooleanArray], n: int) -> pa.BooleanArray:
    out: pa.BooleanArray | None = None
    for m in masks:
        out = m if out is None else pc.or_(out, m)
    return out if out is not None else _false(n)


def _null_out(values: pa.Array, bad: pa.BooleanArray) -> pa.Array:
    if not pc.any(bad).as_py():
        return values
    return pc.if_else(bad, pa.scalar(None, values.type), values)


class _Converted:
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
        if callable(self._values):
            self._values = self._values()
        return self._values

    @values.setter
    def values(self, values: pa.Array) -> None:
        self._values = values

    def add(self, kind: str, mask: pa.BooleanArray, expected: str) -> None:
        if pc.any(mask).as_py():
            old = self.problems.get(kind)
            self.problems[kind] = (pc.or_(old[0], mask) if old else mask, expected)

    def bad(self) -> pa.BooleanArray:
        return _or((m for m, _ in self.problems.values()), self.n)


class ColumnCheck:
    """The compiled checks of one contract column for one input Arrow type."""

    def __init__(self, col: Column, input_type: pa.DataType, origin: str) -> None:
        self.col = col
        self.origin = origin
        t = input_type.value_type if pa.types.is_dictionary(input_type) else input_type
        self.input_type = t
        self.kinds = self._kinds(t)
        if col.type in NUMERIC_TYPES and col.input_unit:
            self.bare = conversion(col.input_unit, col.unit)
        else:
            self.bare = conversion("", "")
        self.low: Any = col.min
        self.high: Any = col.max
        if col.type == "timestamp":
            self.low = parse_time(str(col.min)) if col.min is not None else None
            self.high = parse_time(str(col.max)) if col.max is not None else None

    def _refuse(self, t: pa.DataType) -> SchemaError:
        return SchemaError(
            f"column {self.col.name!r} in {self.origin} holds {t} values, but the contract "
            f"says {self.col.type}; fix the column's type in the data or in the contract"
        )

    def _kinds(self, t: pa.DataType) -> tuple[str, ...]:
        """The violation kinds this column can raise (fixes the quarantine columns)."""
        c, text, null = self.col, _is_text(t), pa.types.is_null(t)
        numeric = pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
        kinds: list[str] = []
        if c.type in NUMERIC_TYPES:
            if not (numeric or text or null):
                raise self._refuse(t)
            if text:
                kinds += ["parse", "unit"] if c.unit else ["parse"]
            if c.type == "integer" and not pa.types.is_integer(t):
                kinds.append("type")
            if c.min is not None or c.max is not None:
                kinds.append("range")
        elif c.type == "boolean":
            if not (pa.types.is_boolean(t) or numeric or text or null):
                raise self._refuse(t)
            if text:
                kinds.append("parse")
            if numeric:
                kinds.append("type")
        elif c.type == "timestamp":
            if not (pa.types.is_timestamp(t) or pa.types.is_date(t) or text or null):
                raise self._refuse(t)
            if text:
                kinds.append("parse")
            if c.min is not None or c.max is not None:
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

    def convert(self, raw: pa.Array) -> _Converted:
        a = _decode(raw)
        kind = self.col.type
        if kind in NUMERIC_TYPES:
            out = self._numeric(a)
        elif kind == "boolean":
            out = self._boolean(a)
        elif kind == "timestamp":
            out = self._timestamp(a)
        elif kind == "categorical":
            out = self._categorical(a)
        elif kind == "set":
            out = self._set(a)
        elif kind == "identifier":
            t = a.type
            keep = pa.types.is_integer(t) or _is_text(t)
            out = _Converted(a if keep else pc.cast(a, pa.string()), len(a))
        else:
            out = _Converted(pc.cast(a, pa.string()), len(a))
        if not self.col.nullable:
            seen = out.raw if out.raw is not None else out.values
            missing = _mask(pc.is_null(seen, nan_is_null=True))
            bad = out.bad()
            out.add("null", pc.and_not(missing, bad), "expected a value (not nullable)")
        return out

    def _expected_number(self) -> str:
        c = self.col
        what = "a whole number" if c.type == "integer" else "a number"
        if c.unit:
            what += f" in {c.unit}"
        if c.min is not None and c.max is not None:
            what += f" between {fmt(float(c.min))} and {fmt(float(c.max))}"
        elif c.min is not None:
            what += f" of at least {fmt(float(c.min))}"
        elif c.max is not None:
            what += f" of at most {fmt(float(c.max))}"
        return "expected " + what

    def _numeric(self, a: pa.Array) -> _Converted:
        is_int = pa.types.is_integer(a.type)
        if self.bare.identity and (
            (is_int and not pa.types.is_decimal(a.type))
            or (pa.types.is_floating(a.type) and self.col.type == "number")
        ):
            return self._numeric_fast(a, is_int)
        n = len(a)
        c = self.col
        exact_int = pa.types.is_integer(a.type) and self.bare.identity
        out = _Converted(a, n)
        if _is_text(a.type):
            values = self._parse_numbers(a, out)
        elif pa.types.is_null(a.type):
            values = pa.nulls(n, pa.float64())
        elif exact_int:
            values = a
        else:
            values = pc.cast(a, pa.float64())
            if not self.bare.identity:
                values = pc.add(pc.multiply(values, self.bare.scale), self.bare.offset)
        if pa.types.is_floating(values.type):
            values = pc.if_else(pc.is_nan(values), pa.scalar(None, pa.float64()), values)
        if c.type == "integer" and not pa.types.is_integer(values.type):
            # beyond 2**53 a float is not reliably whole: refused like a fraction
            exact = pc.less_equal(pc.abs(values), float(2**53))
            frac = _mask(pc.or_(pc.not_equal(values, pc.floor(values)), pc.invert(exact)))
            out.add("type", frac, self._expected_number())
            values = _null_out(values, frac)
            values = pc.cast(values, pa.int64())
        elif c.type == "integer":
            values = pc.cast(values, pa.int64())
        elif not pa.types.is_floating(values.type):
            values = pc.cast(values, pa.float64())
        if self.low is not None or self.high is not None:
            floats = pc.cast(values, pa.float64(), safe=False)
            below = pc.less(floats, self.low) if self.low is not None else None
            above = pc.greater(floats, self.high) if self.high is not None else None
            both = below if above is None else above if below is None else pc.or_(below, above)
            out.add("range", pc.and_not(_mask(both), out.bad()), self._expected_number())
        out.values = _null_out(values, out.bad())
        return out

    def _numeric_fast(self, a: pa.Array, is_int: bool) -> _Converted:
        """Numbers that need no parsing or conversion: masks on the raw array."""
        target = pa.int64() if self.col.type == "integer" else pa.float64()

        def typed() -> pa.Array:
            values = a if a.type == target else pc.cast(a, target)
            if not is_int and pc.any(pc.is_nan(values)).as_py():
                values = pc.if_else(pc.is_nan(values), pa.scalar(None, target), values)
            return values

        out = _Converted(typed, len(a), raw=a)
        if self.low is None and self.high is None:
            return out
        masks = []
        if self.low is not None:
            low = _int_bound(self.low, up=True) if is_int else float(self.low)
            masks.append(pc.less(a, low))
        if self.high is not None:
            high = _int_bound(self.high, up=False) if is_int else float(self.high)
            masks.append(pc.greater(a, high))
        both = masks[0] if len(masks) == 1 else pc.or_(masks[0], masks[1])
        out.add("range", both if a.null_count == 0 else _mask(both), self._expected_number())
        return out

    def _parse_numbers(self, a: pa.Array, out: _Converted) -> pa.Array:
        fast = _try_cast(a, pa.float64())
        if fast is not None and not pc.any(pc.invert(pc.is_finite(fast))).as_py():
            # clean text ("nan"/"inf" excluded, as the regex path refuses them)
            if self.bare.identity:
                return fast
            return pc.add(pc.multiply(fast, self.bare.scale), self.bare.offset)
        text = _blank_to_null(a)
        plain = _mask(pc.match_substring_regex(text, _IS_NUMBER))
        safe = pc.if_else(plain, text, pa.scalar(None, pa.string()))
        values = pc.cast(safe, pa.float64())
        if not self.bare.identity:
            values = pc.add(pc.multiply(values, self.bare.scale), self.bare.offset)
        unparsed = pc.and_not(pc.is_valid(text), plain)
        if not pc.any(unparsed).as_py():
            return values
        with_unit = (
            pc.and_not(_mask(pc.match_substring_regex(text, _HAS_UNIT)), plain)
            if self.col.unit
            else None
        )
        if with_unit is not None and pc.any(with_unit).as_py():
            values = self._convert_units(text, with_unit, values, out)
            unparsed = pc.and_not(unparsed, with_unit)
        out.add("parse", unparsed, self._expected_number())
        return values

    def _convert_units(
        self, text: pa.Array, with_unit: pa.BooleanArray, values: pa.Array, out: _Converted
    ) -> pa.Array:
        parts = pc.extract_regex(
            pc.if_else(with_unit, text, pa.scalar(None, pa.string())),
            rf"^\s*(?P<num>{NUMBER})\s*(?P<unit>.*?)\s*$",
        )
        none = pa.scalar(None, pa.string())
        numbers = pc.cast(pc.if_else(with_unit, parts.field("num"), none), pa.float64())
        units = pc.if_else(with_unit, parts.field("unit"), none)
        distinct = pc.unique(units.drop_null()).to_pylist()
        scales, offsets, known = [], [], []
        for unit in distinct:  # one conversion per distinct unit, not per row
            try:
                conv = conversion(str(unit), self.col.unit)
            except UnitProblem:
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
        refused = _mask(pc.and_(with_unit, pc.invert(ok)))
        out.add("unit", refused, f"expected a quantity convertible to {self.col.unit}")
        converted = pc.add(pc.multiply(numbers, scale), offset)
        converted = _null_out(converted, refused)
        return pc.if_else(with_unit, converted, values)

    def _boolean(self, a: pa.Array) -> _Converted:
        n = len(a)
        out = _Converted(a, n)
        if pa.types.is_boolean(a.type):
            return out
        if pa.types.is_null(a.type):
            out.values = pa.nulls(n, pa.bool_())
            return out
        if _is_text(a.type):
            a = _blank_to_null(a)
            low = pc.utf8_lower(a)
            yes = _mask(pc.is_in(low, value_set=pa.array(TRUE)))
            no = _mask(pc.is_in(low, value_set=pa.array(FALSE)))
            bad = pc.and_not(pc.is_valid(a), pc.or_(yes, no))
            out.add("parse", bad, "expected true or false")
        else:
            num = pc.cast(a, pa.float64())
            yes = _mask(pc.equal(num, 1.0))
            bad = pc.and_not(pc.is_valid(num), pc.or_(yes, _mask(pc.equal(num, 0.0))))
            out.add("type", bad, "expected true or false (1 or 0)")
        values = pc.if_else(pc.is_valid(a), yes, pa.scalar(None, pa.bool_()))
        out.values = _null_out(values, out.bad())
        return out

    def _timestamp(self, a: pa.Array) -> _Converted:
        n = len(a)
        zone = self.col.timezone or "UTC"
        target = pa.timestamp("us", tz=zone)
        out = _Converted(a, n)
        expected = f"expected an ISO 8601 timestamp ({zone})"
        if pa.types.is_null(a.type):
            values = pa.nulls(n, target)
        elif pa.types.is_timestamp(a.type):
            values = a if a.type.tz else pc.assume_timezone(a, zone, ambiguous="earliest")
            values = pc.cast(values, target)
        elif pa.types.is_date(a.type):
            values = pc.assume_timezone(pc.cast(a, pa.timestamp("us")), zone)
        elif (fast := _try_cast(a, pa.timestamp("us", tz="UTC"))) is not None:
            values = pc.cast(fast, target)  # clean text with offsets: no regex needed
        else:
            text = _blank_to_null(a)
            naive = _mask(pc.match_substring_regex(text, _TIMESTAMP))
            aware = _mask(pc.match_substring_regex(text, _TIMESTAMP_TZ))
            none = pa.scalar(None, pa.string())
            values_naive = _cast_each(pc.if_else(naive, text, none), pa.timestamp("us"))
            local = pc.assume_timezone(
                values_naive, zone, ambiguous="earliest", nonexistent="earliest"
            )
            utc = _cast_each(pc.if_else(aware, text, none), pa.timestamp("us", tz="UTC"))
            values = pc.cast(pc.if_else(naive, local, utc), target)
            out.add("parse", pc.and_not(pc.is_valid(text), _mask(pc.is_valid(values))), expected)
        if self.low is not None or self.high is not None:
            lo = pa.scalar(self.low, target) if self.low is not None else None
            hi = pa.scalar(self.high, target) if self.high is not None else None
            below = _mask(pc.less(values, lo)) if lo is not None else _false(n)
            above = _mask(pc.greater(values, hi)) if hi is not None else _false(n)
            span = f"{expected} between {self.col.min} and {self.col.max}"
            out.add("range", pc.and_not(pc.or_(below, above), out.bad()), span)
        out.values = _null_out(values, out.bad())
        return out

    def _categorical(self, a: pa.Array) -> _Converted:
        values = a if _is_text(a.type) else pc.cast(a, pa.string())
        out = _Converted(values, len(a))
        if not self.col.open:
            unknown = pc.and_not(
                pc.is_valid(values), _mask(pc.is_in(values, value_set=pa.array(self.col.levels)))
            )
            out.add("level", unknown, f"expected one of {_levels(self.col.levels)}")
        out.values = _null_out(values, out.bad())
        return out

    def _set(self, a: pa.Array) -> _Converted:
        n = len(a)
        if pa.types.is_null(a.type):
            return _Converted(pa.nulls(n, pa.list_(pa.string())), n)
        out = _Converted(a, n)
        if self.col.levels:
            flat = pc.list_flatten(a)
            items = flat if _is_text(flat.type) else pc.cast(flat, pa.string())
            bad_items = pc.invert(_mask(pc.is_in(items, value_set=pa.array(self.col.levels))))
            parents = pc.filter(pc.list_parent_indices(a), bad_items)
            rows = pa.array(np.arange(n, dtype=np.int64))
            expected = f"expected items among {_levels(self.col.levels)}"
            out.add("level", _mask(pc.is_in(rows, value_set=parents)), expected)
        out.values = _null_out(a, out.bad())
        return out


def _try_cast(a: pa.Array, target: pa.DataType) -> pa.Array | None:
    """``a`` cast to ``target``, or None when some value does not convert."""
    try:
        return pc.cast(a, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _int_bound(bound: float, *, up: bool) -> int:
    """A float bound as the integer bound that selects the same integers (clamped)."""
    value = math.ceil(bound) if up else math.floor(bound)
    return max(-(2**63), min(2**63 - 1, value))


def _blank_to_null(a: pa.Array) -> pa.Array:
    """Text trimmed of white space, with blank values as nulls (missing)."""
    text = pc.utf8_trim_whitespace(a)
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, text.type), text)


def _levels(levels: tuple[str, ...], shown: int = 8) -> str:
    head = ", ".join(repr(v) for v in levels[:shown])
    return head + (f" and {len(levels) - shown:,} more" if len(levels) > shown else "")


def _cast_each(text: pa.Array, target: pa.DataType) -> pa.Array:
    """Cast text to timestamps; values Arrow cannot read (``2013-02-30``) become null."""
    try:
        return pc.cast(text, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        distinct = pc.unique(text.drop_null())
        parsed = []
        for value in distinct.to_pylist():  # only after a failure, per distinct value
            try:
                parsed.append(pc.cast(pa.array([value]), target)[0].as_py())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                parsed.append(None)
        return pc.take(pa.array(parsed, target), pc.index_in(text, value_set=distinct))


# --------------------------------------------------------------------------- validator


class Validator:
    """A contract compiled for one input schema; :meth:`check` splits one batch.

    Parameters
    ----------
    schema : Schema
        The contract.
    input_schema : pyarrow.Schema
        The schema of the batches to check.
    origin : str
        The name of the data in messages (a path).
    line_offset : int or None
        When given, quarantined rows get ``__line = __row + line_offset`` (2 for a CSV
        file with a header and no line breaks inside fields).

    Raises
    ------
    SchemaError
        When a contract column is missing from the input or has an incompatible type.
    """

    def __init__(
        self,
        schema: Schema,
        input_schema: pa.Schema,
        origin: str = "the data",
        *,
        line_offset: int | None = None,
    ) -> None:
        self.schema = schema
        self.origin = origin
        self.line_offset = line_offset
        missing = [c.name for c in schema.columns if c.name not in input_schema.names]
        if missing:
            raise SchemaError(
                f"{origin} has no column {', '.join(map(repr, missing))}, which the contract "
                f"requires; columns are: {', '.join(input_schema.names)}"
            )
        self.checks = [
            ColumnCheck(c, input_schema.field(c.name).type, origin) for c in schema.columns
        ]
        self.extra = [n for n in input_schema.names if n not in {c.name for c in schema.columns}]
        self.derived_kinds = {
            d.name: _derived_kinds(d, schema.compiled[d.name]) for d in schema.derived
        }
        rules = [(ch.col.name, k) for ch in self.checks for k in ch.kinds]
        rules += [(name, k) for name, kinds in self.derived_kinds.items() for k in kinds]
        self.rules: list[tuple[str, str]] = rules
        fields = [*list(input_schema), pa.field(ROW, pa.int64())]
        if line_offset is not None:
            fields.append(pa.field(LINE, pa.int64()))
        fields.append(pa.field(REASONS, pa.string()))
        fields += [pa.field(reason_column(k, c), pa.string()) for c, k in rules]
        self.quarantine_schema = pa.schema(fields)
        self.input_schema = input_schema
        self._valid_schema: pa.Schema | None = None

    def check(self, batch: pa.RecordBatch, offset: int = 0) -> Checked:
        """Validate one batch whose first row is row ``offset`` of the source."""
        n = batch.num_rows
        converted = {ch.col.name: ch.convert(batch.column(ch.col.name)) for ch in self.checks}
        derived = self._derive(converted, n)
        rules: list[Rule] = []
        for name, conv in [*converted.items(), *derived.items()]:
            for kind, (mask, expected) in conv.problems.items():
                rules.append(Rule(name, kind, mask, expected))
        bad = _or((r.mask for r in rules), n)
        names = [c.col.name for c in self.checks] + list(derived) + self.extra

        def typed() -> pa.RecordBatch:
            columns = [converted[c.col.name].values for c in self.checks]
            columns += [d.values for d in derived.values()]
            columns += [_decode(batch.column(name)) for name in self.extra]
            return pa.RecordBatch.from_arrays(columns, names=names)

        counts = {(r.column, r.kind): int(pc.sum(r.mask).as_py() or 0) for r in rules}
        if not rules:
            return Checked(typed, n, None, _empty(self.quarantine_schema), counts, {})
        quarantine, examples = self._quarantine(batch, bad, rules, offset)
        return Checked(typed, n, bad, quarantine, counts, examples)

    def _derive(self, converted: dict[str, _Converted], n: int) -> dict[str, _Converted]:
        env: dict[str, pa.Array] = {}
        needed = set().union(*(self.schema.compiled[d.name].columns() for d in self.schema.derived))
        for ch in self.checks:
            if ch.col.type in NUMERIC_TYPES and ch.col.name in needed:
                conv = converted[ch.col.name]
                env[ch.col.name] = _null_out(pc.cast(conv.values, pa.float64()), conv.bad())
        out: dict[str, _Converted] = {}
        for d in self.schema.derived:
            expr = self.schema.compiled[d.name]
            result = expr.arrow(env)
            if isinstance(result, pa.Scalar):
                result = pa.array([result.as_py()] * n, result.type)
            conv = _Converted(result, n)
            inputs_ok = _all_valid([env[c] for c in expr.columns()], n)
            if not expr.boolean:
                broken = pc.and_(inputs_ok, pc.invert(_mask(pc.is_finite(result))))
                conv.add("derived", _mask(broken), f"expected {d.expr} to give a finite number")
                result = _null_out(result, conv.bad())
                _derived_range(d, expr, result, conv)
                env[d.name] = result
            if not d.nullable:
                missing = pc.and_not(_mask(pc.is_null(result)), conv.bad())
                conv.add("null", missing, f"expected {d.expr} to have a value (not nullable)")
            conv.values = _null_out(result, conv.bad())
            out[d.name] = conv
        return out

    def _quarantine(
        self, batch: pa.RecordBatch, bad: pa.BooleanArray, rules: list[Rule], offset: int
    ) -> tuple[pa.RecordBatch, dict[tuple[str, str], str]]:
        raw = batch.filter(bad)
        rows = pc.add(pc.filter(pa.array(np.arange(batch.num_rows, dtype=np.int64)), bad), offset)
        by_rule = {(r.column, r.kind): r for r in rules}
        reason_arrays: dict[str, pa.Array] = {}
        examples: dict[tuple[str, str], str] = {}
        for column, kind in self.rules:
            rule = by_rule.get((column, kind))
            name = reason_column(kind, column)
            if rule is None:
                reason_arrays[name] = pa.nulls(raw.num_rows, pa.string())
                continue
            mask = pc.filter(rule.mask, bad)
            got = (
                raw.column(column)
                if column in raw.schema.names
                else pc.cast(pc.filter(self._derived_value(batch, column), bad), pa.string())
            )
            text = pc.if_else(mask, rule.messages(_decode(got)), pa.scalar(None, pa.string()))
            reason_arrays[name] = text
            first = pc.index(mask, True).as_py()
            if first is not None and first >= 0:
                examples[(column, kind)] = (
                    f"{self._where(int(rows[first].as_py()))}: {text[first].as_py()}"
                )
        labelled = [
            pc.if_else(
                pc.is_valid(reason_arrays[reason_column(k, c)]),
                pa.scalar(f"{k}({c})", pa.string()),
                pa.scalar(None, pa.string()),
            )
            for c, k in self.rules
        ]
        joined = (
            pc.binary_join_element_wise(*labelled, "; ", null_handling="skip")
            if labelled
            else pa.nulls(raw.num_rows, pa.string())
        )
        arrays = [*list(raw.columns), rows]
        if self.line_offset is not None:
            arrays.append(pc.add(rows, self.line_offset))
        arrays.append(joined)
        arrays += [reason_arrays[reason_column(k, c)] for c, k in self.rules]
        return pa.RecordBatch.from_arrays(arrays, schema=self.quarantine_schema), examples

    def _derived_value(self, batch: pa.RecordBatch, name: str) -> pa.Array:
        """The inputs of a derived column as text ("distance=10, air_time=0")."""
        expr = self.schema.compiled[name]
        parts: list[Any] = []
        for i, col in enumerate(sorted(expr.columns())):
            if i:
                parts.append(", ")
            if col in batch.schema.names:
                parts += [
                    f"{col}=",
                    pc.fill_null(pc.cast(_decode(batch.column(col)), pa.string()), "null"),
                ]
        if not parts:
            return pa.array([""] * batch.num_rows)
        return pc.binary_join_element_wise(*parts, "")

    def _where(self, row: int) -> str:
        if self.line_offset is not None:
            return f"{self.origin} line {row + self.line_offset}"
        return f"{self.origin} row {row}"

    def valid_schema(self) -> pa.Schema:
        """The schema of the valid (typed) rows."""
        if self._valid_schema is None:
            empty = pa.RecordBatch.from_pylist([], schema=self.input_schema)
            self._valid_schema = self.check(empty).typed.schema
        return self._valid_schema


_SLICE_LIMIT = 2048


def _keep(batch: pa.RecordBatch, bad: pa.BooleanArray) -> pa.Table:
    """The rows of ``batch`` where ``bad`` is false.

    When few rows are bad, the result is zero-copy slices between them (one Python step
    per *bad* row, never per row); otherwise one ``filter``.
    """
    where = np.flatnonzero(bad.to_numpy(zero_copy_only=False))
    if len(where) == 0:
        return pa.Table.from_batches([batch])
    if len(where) > _SLICE_LIMIT:
        return pa.Table.from_batches([batch.filter(pc.invert(bad))])
    starts = np.concatenate(([0], where + 1))
    ends = np.concatenate((where, [batch.num_rows]))
    pieces = [batch.slice(int(a), int(b - a)) for a, b in zip(starts, ends, strict=True) if b > a]
    return pa.Table.from_batches(pieces, schema=batch.schema)


def _empty(schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([], schema=schema)


def _all_valid(arrays: list[pa.Array], n: int) -> pa.BooleanArray:
    out = pa.array(np.ones(n, dtype=bool))
    for a in arrays:
        out = pc.and_(out, pc.is_valid(a))
    return out


def _derived_kinds(d: Derived, expr: Expr) -> tuple[str, ...]:
    kinds = [] if d.nullable else ["null"]
    if not expr.boolean:
        kinds.append("derived")
        if d.min is not None or d.max is not None:
            kinds.append("range")
    return tuple(kinds)


def _derived_range(d: Derived, expr: Expr, result: pa.Array, conv: _Converted) -> None:
    if d.min is None and d.max is None:
        return
    below = _mask(pc.less(result, d.min)) if d.min is not None else _false(len(result))
    above = _mask(pc.greater(result, d.max)) if d.max is not None else _false(len(result))
    lo = fmt(float(d.min)) if d.min is not None else "-inf"
    hi = fmt(float(d.max)) if d.max is not None else "inf"
    unit = f" in {expr.unit}" if expr.unit else ""
    conv.add(
        "range",
        pc.and_not(pc.or_(below, above), conv.bad()),
        f"expected {d.expr}{unit} between {lo} and {hi}",
    )


# --------------------------------------------------------------------------- summaries


@dataclass
class ValidationSummary:
    """Counts of a validation: rows in, valid, quarantined, violations by column and kind.

    ``examples`` holds one message per (column, kind), from the earliest batch seen.
    Invariant: ``rows == valid + quarantined``.
    """

    rows: int = 0
    valid: int = 0
    quarantined: int = 0
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    examples: dict[tuple[str, str], str] = field(default_factory=dict)

    def add(self, checked: Checked, rows: int) -> None:
        """Count one checked batch in."""
        self.rows += rows
        self.valid += checked.valid_rows
        self.quarantined += checked.quarantine.num_rows
        for key, count in checked.counts.items():
            if count:
                self.counts[key] = self.counts.get(key, 0) + count
        for key, text in checked.examples.items():
            self.examples.setdefault(key, text)

    def merge(self, other: ValidationSummary) -> ValidationSummary:
        """The summary of both inputs (``other`` is not modified)."""
        out = ValidationSummary(
            self.rows + other.rows,
            self.valid + other.valid,
            self.quarantined + other.quarantined,
            dict(self.counts),
            dict(self.examples),
        )
        for key, count in other.counts.items():
            out.counts[key] = out.counts.get(key, 0) + count
        for key, text in other.examples.items():
            out.examples.setdefault(key, text)
        return out

    @property
    def violations(self) -> int:
        """All violations (a row breaking two rules counts twice)."""
        return sum(self.counts.values())

    def by_kind(self) -> dict[str, int]:
        """Violation counts per kind, in the order of :data:`VIOLATION_KINDS`."""
        out = dict.fromkeys(VIOLATION_KINDS, 0)
        for (_, kind), count in self.counts.items():
            out[kind] += count
        return {k: v for k, v in out.items() if v}

    def table(self) -> list[tuple[str, str, int, str]]:
        """Rows of (column, kind, count, example), most frequent first."""
        items = sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return [(c, k, n, self.examples.get((c, k), "")) for (c, k), n in items]


class ValidationAggregator:
    """Validation counts as an :class:`~suture.aggregate.Aggregator`, for any engine.

    Parameters
    ----------
    schema : Schema
    input_schema : pyarrow.Schema
    origin : str
    row_numbers : bool, default True
        Examples name row numbers counted within the state's own rows; engines that
        split the input (Spark) should pass False, as those numbers are per partition.

    Notes
    -----
    The state is a :class:`ValidationSummary`.  Counts merge exactly and commutatively;
    examples keep the left operand's first.  ``finalize(zero())`` is an empty summary.
    """

    kind = "validation"

    def __init__(
        self,
        schema: Schema,
        input_schema: pa.Schema,
        origin: str = "the data",
        *,
        row_numbers: bool = True,
    ) -> None:
        self.schema = schema
        self.input_schema = input_schema
        self.origin = origin
        self.row_numbers = row_numbers
        self._validator: Validator | None = None

    @property
    def validator(self) -> Validator:
        """The compiled validator (built lazily, so the aggregator pickles small)."""
        if self._validator is None:
            self._validator = Validator(self.schema, self.input_schema, self.origin)
        return self._validator

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_validator": None}

    def config(self) -> str:
        return f"validation(fingerprint={self.schema.fingerprint},origin={self.origin!r})"

    def zero(self) -> ValidationSummary:
        return ValidationSummary()

    def update(self, state: ValidationSummary, batch: pa.RecordBatch) -> ValidationSummary:
        checked = self.validator.check(batch, state.rows)
        if not self.row_numbers:
            checked.examples = {k: v.split(": ", 1)[-1] for k, v in checked.examples.items()}
        state.add(checked, batch.num_rows)
        return state

    def merge(self, a: ValidationSummary, b: ValidationSummary) -> ValidationSummary:
        return a.merge(b)

    def finalize(self, state: ValidationSummary) -> ValidationSummary:
        return state

    def to_bytes(self, state: ValidationSummary) -> bytes:
        keys = list(state.counts)
        body: dict[str, Any] = {
            "rows": [state.rows, state.valid, state.quarantined],
            "keys": [list(k) for k in keys],
            "counts": [state.counts[k] for k in keys],
            "examples": [[*k, v] for k, v in state.examples.items()],
        }
        return frame(self.kind, self.config(), pack(body))

    def from_bytes(self, data: bytes) -> ValidationSummary:
        f = unpack(unframe(data, self.kind, self.config()), self.kind)
        rows, valid, quarantined = (int(x) for x in f["rows"])
        counts = {
            (str(k[0]), str(k[1])): int(n) for k, n in zip(f["keys"], f["counts"], strict=True)
        }
        examples = {(str(e[0]), str(e[1])): str(e[2]) for e in f["examples"]}
        return ValidationSummary(rows, valid, quarantined, counts, examples)
