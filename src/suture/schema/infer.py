"""Infer a contract from a profile: types, nullability, ranges with a margin, evidence.

The profile's hints decide the type (``identifier``, ``free_text``, ``constant``,
``categorical``, ``timestamp``, ...).  Ranges are the observed extremes widened by a
margin (10% of the span on each side, never across zero) and rounded outward to a readable
step.  Each column's note says what the profile saw, so a reviewer decides with evidence.
"""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa

from suture.schema.checks import DURATION_UNITS
from suture.schema.messages import fmt
from suture.schema.types import Column
from suture.sketches import is_numeric
from suture.sketches._base import ColumnSummary

__all__ = ["MAX_LEVELS", "fmt", "infer_column", "integer_range", "readable_range"]

MAX_LEVELS = 64
"""A string column with at most this many distinct values gets closed levels."""
MARGIN = 0.10


def count(x: float) -> str:
    """An estimated count for a comment: a whole number with separators."""
    return f"{round(float(x)):,}"


def _step(span: float) -> float:
    if span <= 0 or not math.isfinite(span):
        return 1.0
    power = 10.0 ** math.floor(math.log10(span))
    for m in (0.1, 0.2, 0.5, 1.0):
        if span / (m * power) <= 20:
            return m * power
    return power


def readable_range(low: float, high: float, *, integer: bool = False) -> tuple[float, float]:
    """Widen ``[low, high]`` by 10% of the span each side and round to a readable step.

    The range never crosses zero when the data does not (non-negative data keeps a
    non-negative minimum), and integer columns get integer bounds.

    >>> readable_range(-43, 1301)
    (-200.0, 1500.0)
    >>> readable_range(17, 4983, integer=True)
    (0.0, 5500.0)
    """
    span = high - low
    margin = span * MARGIN if span > 0 else max(abs(high) * 0.01, 1.0)
    step = _step(span + 2 * margin)
    if integer:
        step = max(1.0, round(step))
    lo = math.floor((low - margin) / step) * step
    hi = math.ceil((high + margin) / step) * step
    if low >= 0 > lo:
        lo = 0.0
    if high <= 0 < hi:
        hi = 0.0
    return float(_tidy(lo)), float(_tidy(hi))


def integer_range(low: int, high: int, t: pa.DataType | None = None) -> tuple[int, int]:
    """:func:`readable_range` for integers, exactly, within the range of the type ``t``.

    Beyond 2**53 the arithmetic stays in Python integers, so an int64 maximum stays
    ``9223372036854775807`` instead of becoming ``9.223372036854776e+18``; for 64-bit
    types the bounds are clamped to what the type can hold.

    >>> integer_range(17, 4983)
    (0, 5500)
    >>> integer_range(0, 2**63 - 1, pa.int64())
    (0, 9223372036854775807)
    """
    if max(abs(low), abs(high)) < 2**53:
        lo_f, hi_f = readable_range(float(low), float(high), integer=True)
        lo, hi = int(lo_f), int(hi_f)
    else:
        span = high - low
        margin = -(-span // 10) if span > 0 else max(abs(high) // 100, 1)
        step = max(1, int(_step(float(span + 2 * margin))))
        lo = ((low - margin) // step) * step
        hi = -((-(high + margin)) // step) * step
        if low >= 0 > lo:
            lo = 0
        if high <= 0 < hi:
            hi = 0
    if t is not None and pa.types.is_integer(t) and t.bit_width == 64:
        info = (0, 2**64 - 1) if pa.types.is_unsigned_integer(t) else (-(2**63), 2**63 - 1)
        lo, hi = max(lo, info[0]), min(hi, info[1])
    return lo, hi


def _exact(x: Any) -> int:
    """A whole number from the profile (an int, or a float that is one) as an int."""
    return x if isinstance(x, int) else int(x)


def _tidy(x: float) -> float:
    return float(f"{x:.12g}")


def _nulls(s: ColumnSummary) -> str:
    count, nulls = int(getattr(s, "count", 0)), int(getattr(s, "nulls", 0))
    share = nulls / count if count else 0.0
    return f"observed {share:.2%} nulls ({nulls:,} of {count:,})"


def infer_column(s: ColumnSummary, rows: int) -> Column:
    """The contract column a reviewer would start from for one profiled column."""
    name = s.name
    hints = set(s.hints)
    nullable = int(getattr(s, "nulls", 0)) > 0 or getattr(s, "nans", 0) > 0
    base = _nulls(s)
    t = s.arrow_type
    if t is not None and pa.types.is_dictionary(t):
        t = t.value_type
    if "empty" in hints:
        return Column(name, "text", True, False, note=f"{base}; every value is missing")
    if "identifier" in hints:
        return Column(
            name,
            "identifier",
            nullable,
            False,
            note=f"{base}; about {count(s.distinct())} distinct values in {rows:,} rows: "  # type: ignore[attr-defined]
            "looks like an identifier, never a model feature",
        )
    if "free_text" in hints:
        return Column(
            name,
            "text",
            nullable,
            False,
            note=f"{base}; mean length {fmt(s.mean_length)} characters: free text, "  # type: ignore[attr-defined]
            "not a feature",
        )
    constant = "constant" in hints
    if t is not None and is_numeric(t):
        col = _numeric(s, base, nullable, t)
    elif s.kind == "boolean" or "boolean" in hints:
        col = Column(name, "boolean", nullable, note=f"{base}; {_top(s)}")
    elif t is not None and pa.types.is_duration(t):
        col = _duration(s, base, nullable, t)
    elif t is not None and pa.types.is_time(t):
        col = Column(name, "time", nullable, note=f"{base}; from {s.min} to {s.max}")  # type: ignore[attr-defined]
    elif s.kind == "temporal" or "timestamp" in hints:
        col = _timestamp(s, base, nullable)
    elif s.kind == "set":
        col = _set(s, base, nullable)
    elif "numeric" in hints:
        col = Column(
            name,
            "number",
            nullable,
            note=f"{base}; text that reads as numbers "
            f"({s.parse_failures:,} values do not): min and max unknown",
        )
    else:
        col = _categorical(s, base, nullable)
    if constant:
        from dataclasses import replace

        col = replace(
            col, feature=False, note=col.note + "\nconstant: a single value, not a feature"
        )
    return col


def _numeric(s: Any, base: str, nullable: bool, t: pa.DataType) -> Column:
    integer = pa.types.is_integer(t)
    kind = "integer" if integer else "number"
    if s.finite == 0:
        return Column(s.name, kind, True, note=f"{base}; no finite value")
    q999 = s.quantile(0.999).value
    q001 = s.quantile(0.001).value
    lo: int | float
    hi: int | float
    if integer:
        lo, hi = integer_range(_exact(s.min), _exact(s.max), t)
    else:
        lo, hi = readable_range(float(s.min), float(s.max))  # a decimal's are Decimals
    note = (
        f"{base}; min {fmt(s.min)}, max {fmt(s.max)}; 0.1th percentile {fmt(q001)}, "
        f"99.9th percentile {fmt(q999)}; mean {fmt(s.mean)}"
    )
    if s.nans or s.pos_inf or s.neg_inf:
        note += f"; {s.nans:,} NaN, {s.pos_inf + s.neg_inf:,} infinite"
    if "categorical" in s.hints and "constant" not in s.hints:
        note += f"\nonly {count(s.distinct())} distinct values: a code? then use categorical"
    note += "\nsuggested range = observed extremes widened by 10% and rounded"
    return Column(s.name, kind, nullable, min=lo, max=hi, note=note)


def _duration(s: Any, base: str, nullable: bool, t: pa.DataType) -> Column:
    """A duration is a number in the unit of its Arrow type (``duration[s]``: second)."""
    unit = DURATION_UNITS[t.unit]
    if s.finite == 0:
        return Column(s.name, "number", True, unit=unit, note=f"{base}; no finite value")
    lo, hi = readable_range(s.min_ticks, s.max_ticks)
    note = (
        f"{base}; durations from {s.min} to {s.max}, read as numbers in {unit}"
        "\nsuggested range = observed extremes widened by 10% and rounded"
    )
    return Column(s.name, "number", nullable, unit=unit, min=lo, max=hi, note=note)


def _top(s: Any, k: int = 5) -> str:
    items = s.top(k)
    shown = ", ".join(f"{it.value} ({fmt(float(it.count))})" for it in items)
    return f"most frequent: {shown}" if shown else "no values"


def _categorical(s: Any, base: str, nullable: bool) -> Column:
    distinct = float(s.distinct())
    top = s.top(MAX_LEVELS + 1)
    exact = s.top_error == 0 and len(top) <= MAX_LEVELS and distinct <= MAX_LEVELS * 1.1
    note = f"{base}; about {count(distinct)} distinct values; {_top(s)}"
    if exact:
        levels = tuple(sorted(str(it.value) for it in top))
        return Column(s.name, "categorical", nullable, levels=levels, note=note)
    return Column(
        s.name,
        "categorical",
        nullable,
        open=True,
        note=note + f"\nmore than {MAX_LEVELS} values: open (any value allowed)",
    )


def _timestamp(s: Any, base: str, nullable: bool) -> Column:
    zone = ""
    t = s.arrow_type
    if pa.types.is_timestamp(t) and t.tz:
        zone = str(t.tz)
    elif s.kind == "string":
        sample = [str(it.value) for it in s.top(20)]
        if sample and all(v.endswith("Z") or (v[-6:-5] in "+-" and v[-3] == ":") for v in sample):
            zone = "UTC"
    if s.kind == "temporal":
        note = f"{base}; from {s.min} to {s.max}"
    else:
        note = f"{base}; text that reads as timestamps ({s.parse_failures:,} do not); {_top(s, 2)}"
    return Column(s.name, "timestamp", nullable, timezone=zone or "UTC", note=note)


def _set(s: Any, base: str, nullable: bool) -> Column:
    distinct = float(s.distinct())
    sizes = s.sizes
    note = (
        f"{base}; {count(distinct)} distinct items, sizes {fmt(sizes.min)} to {fmt(sizes.max)}; "
        f"{_top(s)}"
    )
    top = s.top(MAX_LEVELS + 1)
    if s.elements.top_error == 0 and len(top) <= MAX_LEVELS:
        return Column(
            s.name, "set", nullable, levels=tuple(sorted(str(i.value) for i in top)), note=note
        )
    return Column(s.name, "set", nullable, note=note)
