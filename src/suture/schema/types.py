"""Column specifications of a data contract, as frozen dataclasses.

A contract is a list of :class:`Column` (what the input must look like) and of
:class:`Derived` (columns computed from others by a typed expression).  These are plain
values: :mod:`suture.schema.toml_io` reads and writes them, :mod:`suture.schema.validate`
enforces them on batches and :mod:`suture.schema.coerce` on single records.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from suture.errors import UnitError
from suture.parsing import read_time_of_day, read_timestamp
from suture.schema.units import canonical

__all__ = [
    "NUMERIC_TYPES",
    "TYPES",
    "VIOLATION_KINDS",
    "Column",
    "Derived",
    "Problem",
    "check_column",
    "check_derived",
    "parse_clock",
    "parse_time",
]

TYPES = (
    "number",
    "integer",
    "categorical",
    "boolean",
    "timestamp",
    "time",
    "identifier",
    "text",
    "set",
)
NUMERIC_TYPES = ("number", "integer")

VIOLATION_KINDS = ("type", "null", "range", "level", "unit", "parse", "derived")
"""Why a row can be quarantined (see docs/contracts.md for each)."""

Bound = int | float | str | None


@dataclass(frozen=True)
class Column:
    """What one input column must hold.

    Parameters
    ----------
    name : str
    type : {"number", "integer", "categorical", "boolean", "timestamp", "time", \
"identifier", "text", "set"}
    nullable : bool
        Whether a missing value (null; NaN in a number column) is allowed.
    feature : bool
        Whether a model may use the column (false for identifiers, constants, free text).
    unit : str
        Unit of a number or integer column (pint spelling, e.g. ``"minute"``); "" is none.
    input_unit : str
        Unit of bare numbers in the input when it differs from ``unit``; they are
        converted.  A string value with its own unit (``"90 s"``) is converted from that.
    min, max : int, float or str, optional
        Inclusive valid range; ISO 8601 strings for timestamps, ``"HH:MM[:SS]"`` for
        times of day.  Integer bounds are kept exactly (``9223372036854775807``).
    levels : tuple of str
        The allowed values of a categorical column (or of a set column's items).
    open : bool
        A categorical column whose ``levels`` are only the known ones: others are allowed.
    timezone : str
        Time zone of a timestamp column; naive input is read as local time there.
    sensitive : bool
        Whether the column holds personal or secret data: the service hashes or leaves
        out its values in the archive, and no error message echoes them.  Not a rule of
        the data, so it leaves the fingerprint as it is.
    note : str
        The evidence the contract was inferred from (written as a comment; not compared).
    """

    name: str
    type: str
    nullable: bool = True
    feature: bool = True
    unit: str = ""
    input_unit: str = ""
    min: Bound = None
    max: Bound = None
    levels: tuple[str, ...] = ()
    open: bool = False
    timezone: str = ""
    sensitive: bool = False
    note: str = field(default="", compare=False)

    @property
    def source_unit(self) -> str:
        """The unit bare input numbers are in."""
        return self.input_unit or self.unit


@dataclass(frozen=True)
class Derived:
    """A column computed from others: ``expr`` over column names, with units checked.

    Parameters
    ----------
    name : str
    expr : str
        An arithmetic expression: ``+ - * /``, comparisons, numbers, column names
        (in backticks when not identifiers), ``abs``, ``sqrt``, ``log``, ``exp``.
    unit : str
        The unit the result is expressed in; "" keeps the unit the expression yields.
    nullable, min, max, note
        As for :class:`Column`.
    """

    name: str
    expr: str
    unit: str = ""
    nullable: bool = True
    min: float | None = None
    max: float | None = None
    note: str = field(default="", compare=False)


@dataclass(frozen=True)
class Problem:
    """A mistake in a contract: which column and field, and what is wrong."""

    column: str
    field: str
    message: str


def parse_time(text: str) -> dt.datetime:
    """Read an ISO 8601 timestamp bound (naive bounds are UTC).

    Raises
    ------
    ValueError
        When ``text`` is not a timestamp by :data:`suture.parsing.TIMESTAMP`.
    """
    value = read_timestamp(text)
    if value is None:
        raise ValueError(f"not an ISO 8601 timestamp: {text!r}")
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def parse_clock(text: str) -> dt.time:
    """Read a time-of-day bound (``"HH:MM[:SS[.ffffff]]"``).

    Raises
    ------
    ValueError
        When ``text`` is not a time of day by :data:`suture.parsing.TIME_OF_DAY`.
    """
    value = read_time_of_day(text)
    if value is None:
        raise ValueError(f"not a time of day: {text!r}")
    return value


def _check_unit(name: str, key: str, unit: str) -> list[Problem]:
    if not unit:
        return []
    try:
        canonical(unit)
    except UnitError as exc:
        return [Problem(name, key, str(exc))]
    return []


def _check_bounds(name: str, kind: str, low: Bound, high: Bound) -> list[Problem]:
    problems: list[Problem] = []
    values: list[Any] = []
    for key, bound in (("min", low), ("max", high)):
        if bound is None:
            continue
        if kind == "timestamp":
            try:
                values.append(parse_time(str(bound)))
            except ValueError:
                problems.append(
                    Problem(name, key, f"expected an ISO 8601 timestamp, got {bound!r}")
                )
        elif kind == "time":
            try:
                values.append(parse_clock(str(bound)))
            except ValueError:
                problems.append(
                    Problem(name, key, f"expected a time of day (HH:MM[:SS]), got {bound!r}")
                )
        elif isinstance(bound, bool) or not isinstance(bound, int | float):
            problems.append(Problem(name, key, f"expected a number, got {bound!r}"))
        elif math.isnan(bound):
            problems.append(Problem(name, key, "expected a number, got nan"))
        else:
            values.append(bound)
    if not problems and len(values) == 2 and values[0] > values[1]:
        lo, hi = (_show(b) for b in (low, high))
        problems.append(
            Problem(name, "min", f"min {lo} is greater than max {hi}; swap them or fix one")
        )
    return problems


def check_column(col: Column) -> list[Problem]:
    """Every mistake in one column spec (empty when it is sound)."""
    if col.type not in TYPES:
        return [Problem(col.name, "type", f"unknown type {col.type!r}; use one of {_or(TYPES)}")]
    problems: list[Problem] = []
    numeric = col.type in NUMERIC_TYPES
    if (col.unit or col.input_unit) and not numeric:
        key = "unit" if col.unit else "input_unit"
        problems.append(Problem(col.name, key, f"a {col.type} column has no unit; remove {key}"))
    problems += _check_unit(col.name, "unit", col.unit)
    problems += _check_unit(col.name, "input_unit", col.input_unit)
    if not problems and col.input_unit:
        from suture.schema.units import conversion

        try:
            conversion(col.input_unit, col.unit)
        except UnitError as exc:
            problems.append(Problem(col.name, "input_unit", str(exc)))
    ranged = numeric or col.type in ("timestamp", "time")
    if (col.min is not None or col.max is not None) and not ranged:
        problems.append(
            Problem(col.name, "min", f"a {col.type} column has no range; remove min and max")
        )
    else:
        problems += _check_bounds(col.name, col.type, col.min, col.max)
    if col.levels and col.type not in ("categorical", "set"):
        problems.append(Problem(col.name, "levels", f"a {col.type} column has no levels"))
    if col.type == "categorical" and not col.levels and not col.open:
        problems.append(
            Problem(
                col.name,
                "levels",
                "a closed categorical column needs levels; list them or set open = true",
            )
        )
    if len(set(col.levels)) != len(col.levels):
        problems.append(Problem(col.name, "levels", "levels are listed more than once"))
    if col.timezone:
        try:
            import zoneinfo

            zoneinfo.ZoneInfo(col.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            problems.append(
                Problem(col.name, "timezone", f"unknown time zone {col.timezone!r}; use e.g. UTC")
            )
    return problems


def check_derived(d: Derived) -> list[Problem]:
    """The mistakes in a derived column spec that do not need the other columns."""
    return _check_unit(d.name, "unit", d.unit) + _check_bounds(d.name, "number", d.min, d.max)


def _show(bound: Bound) -> str:
    if isinstance(bound, float) and bound.is_integer():
        return str(int(bound))
    return str(bound)


def _or(options: tuple[str, ...]) -> str:
    return ", ".join(options[:-1]) + " or " + options[-1]
