"""Read and write contracts as commented, human-editable TOML.

The writer is hand-made so that each column carries the evidence it was inferred from as
comments; :mod:`tomllib` reads the file back.  To say on which line a mistake is, the
reader also scans the text for each ``[columns.NAME]`` / ``[derived.NAME]`` table and the
``field =`` lines inside it.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from suture.errors import SchemaError
from suture.schema.types import Column, Derived, Problem

__all__ = ["CONTRACT_FORMAT", "ContractText", "dumps", "loads"]

CONTRACT_FORMAT = 1

_TABLE = re.compile(r"^\s*\[\s*(columns|derived)\s*\.\s*(.+?)\s*\]\s*(#.*)?$")
_CONTRACT_TABLE = re.compile(r"^\s*\[\s*contract\s*\]\s*(#.*)?$")
_OTHER_TABLE = re.compile(r"^\s*\[")
_FIELD = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*|\"[^\"]*\")\s*=")
_BARE = re.compile(r"^[A-Za-z0-9_-]+$")

_COLUMN_FIELDS = {f.name for f in fields(Column)} - {"name", "note"}
_DERIVED_FIELDS = {f.name for f in fields(Derived)} - {"name", "note"}


@dataclass(frozen=True)
class ContractText:
    """A contract as read from TOML, before its expressions are compiled."""

    columns: tuple[Column, ...]
    derived: tuple[Derived, ...]
    meta: dict[str, Any]
    lines: dict[tuple[str, str, str], int]
    """(section, column, field) -> 1-based line; field "" is the table header; the
    ``[contract]`` table's fields are under section "contract", column ""."""
    notes: dict[tuple[str, str], str] = field(default_factory=dict)
    """(section, column) -> the comment lines right under the table header."""
    drift: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)
    """column -> metric -> (watch, alert): a column's ``drift`` thresholds, if any."""

    def where(self, section: str, column: str, field: str) -> str:
        """``line N`` of a field (or of its table) for messages; "" when unknown."""
        line = self.lines.get((section, column, field)) or self.lines.get((section, column, ""))
        return f"line {line}" if line else ""


# ---------------------------------------------------------------------------- writing


def _key(name: str) -> str:
    return name if _BARE.match(name) else json.dumps(name, ensure_ascii=False)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isfinite(v) and v == int(v) and abs(v) < 1e15:
            return str(int(v))
        return repr(v)
    if isinstance(v, tuple | list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return json.dumps(str(v), ensure_ascii=False)


# C0 and C1 controls and Unicode line separators: str.splitlines() would break on them.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def _comment(note: str) -> list[str]:
    clean = _CONTROL.sub("?", note.replace("\r\n", "\n"))
    return [f"# {line}".rstrip() for line in clean.split("\n")] if clean else []


def _drift_line(limits: Mapping[str, tuple[float, float]]) -> str:
    pairs = ", ".join(f"{m} = {_value(list(wa))}" for m, wa in limits.items())
    return f"drift = {{ {pairs} }}"


def _column_lines(col: Column) -> list[str]:
    out = [f"[columns.{_key(col.name)}]", *_comment(col.note), f"type = {_value(col.type)}"]
    if col.type in ("number", "integer"):
        out.append(f"unit = {_value(col.unit)}" if col.unit else '# unit = ""  # e.g. "minute"')
        if col.input_unit:
            out.append(f"input_unit = {_value(col.input_unit)}")
    out.append(f"nullable = {_value(col.nullable)}")
    if not col.feature:
        out.append("feature = false")
    if col.sensitive:
        out.append("sensitive = true")
    for key in ("min", "max"):
        bound = getattr(col, key)
        if bound is not None:
            out.append(f"{key} = {_value(bound)}")
    if col.type == "timestamp":
        out.append(f"timezone = {_value(col.timezone)}")
    if col.levels or (col.type == "categorical" and not col.open):
        out.append(f"levels = {_value(col.levels)}")
    if col.type == "categorical":
        out.append(f"open = {_value(col.open)}")
    return out


def _derived_lines(d: Derived) -> list[str]:
    out = [f"[derived.{_key(d.name)}]", *_comment(d.note), f"expr = {_value(d.expr)}"]
    if d.unit:
        out.append(f"unit = {_value(d.unit)}")
    out.append(f"nullable = {_value(d.nullable)}")
    for key in ("min", "max"):
        bound = getattr(d, key)
        if bound is not None:
            out.append(f"{key} = {_value(bound)}")
    return out


HEADER = """\
# suture data contract.  Review every column, then enforce it with
#   suture validate DATA --schema THIS_FILE --quarantine bad.parquet
# Types: number, integer (with unit, min, max), categorical (levels, or open = true),
# boolean, timestamp (timezone, ISO min/max), time (of day, HH:MM min/max), identifier,
# text, set.  Durations are numbers with a time unit.
# feature = false keeps a column out of models (identifiers, constants, free text).
# Derived columns: [derived.NAME] with expr = "a / b"; units are checked when loaded.
"""


def dumps(
    columns: tuple[Column, ...],
    derived: tuple[Derived, ...],
    meta: Mapping[str, Any],
    drift: Mapping[str, Mapping[str, tuple[float, float]]] | None = None,
) -> str:
    """The contract as commented TOML text (``drift``: per-column drift thresholds)."""
    out = [HEADER.rstrip("\n"), "", "[contract]"]
    for key, value in meta.items():
        if value is not None and value != "":
            out.append(f"{_key(key)} = {_value(value)}")
    for col in columns:
        out += ["", *_column_lines(col)]
        if drift and drift.get(col.name):
            out.append(_drift_line(drift[col.name]))
    for d in derived:
        out += ["", *_derived_lines(d)]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------- reading


def _locate(text: str) -> tuple[dict[tuple[str, str, str], int], dict[tuple[str, str], str]]:
    lines: dict[tuple[str, str, str], int] = {}
    notes: dict[tuple[str, str], list[str]] = {}
    current: tuple[str, str] | None = None
    in_note = False
    for number, line in enumerate(text.splitlines(), start=1):
        table = _TABLE.match(line)
        if table:
            raw = table.group(2)
            name = json.loads(raw) if raw.startswith('"') else raw.strip("'")
            current = (table.group(1), name)
            lines.setdefault((*current, ""), number)
            in_note = True
            notes[current] = []
            continue
        if _CONTRACT_TABLE.match(line):
            current, in_note = ("contract", ""), False
            lines.setdefault((*current, ""), number)
            continue
        if _OTHER_TABLE.match(line):
            current = None
            continue
        if in_note and current and line.lstrip().startswith("#"):
            notes[current].append(line.lstrip()[1:].removeprefix(" "))
            continue
        in_note = False
        found = _FIELD.match(line)
        if found and current:
            key = found.group(1).strip('"')
            lines.setdefault((*current, key), number)
    return lines, {k: "\n".join(v) for k, v in notes.items()}


_EXPECTED: dict[str, tuple[type | tuple[type, ...], str]] = {
    "type": (str, "a string"),
    "expr": (str, "a string"),
    "unit": (str, "a string"),
    "input_unit": (str, "a string"),
    "timezone": (str, "a string"),
    "nullable": (bool, "true or false"),
    "feature": (bool, "true or false"),
    "open": (bool, "true or false"),
    "sensitive": (bool, "true or false"),
    "levels": (list, "a list of strings"),
    "min": ((int, float, str), "a number (or an ISO timestamp)"),
    "max": ((int, float, str), "a number (or an ISO timestamp)"),
}


def loads(text: str, origin: str = "schema.toml") -> ContractText:
    """Read contract TOML; every mistake names ``origin``, the line and the field.

    Raises
    ------
    SchemaError
        For invalid TOML, an unknown field, a value of the wrong type, or a mistake that
        :func:`suture.schema.types.check_column` finds.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SchemaError(f"{origin}: not valid TOML ({exc}); fix the syntax there") from None
    lines, notes = _locate(text)
    meta = data.get("contract", {})
    if not isinstance(meta, dict):
        raise SchemaError(f"{origin}: [contract] must be a table")
    fmt = meta.get("format", CONTRACT_FORMAT)
    if not isinstance(fmt, int) or fmt > CONTRACT_FORMAT:
        raise SchemaError(
            f"{origin}: contract format {fmt!r} is newer than this suture reads "
            f"({CONTRACT_FORMAT}); upgrade suture"
        )
    unknown = sorted(set(data) - {"contract", "columns", "derived"})
    if unknown:
        raise SchemaError(
            f"{origin}: unknown table [{unknown[0]}]; a contract has [contract], "
            "[columns.NAME] and [derived.NAME] tables"
        )
    partial = ContractText((), (), dict(meta), lines)
    column_specs = _tables(data, "columns", origin)
    drift = {
        name: _drift(partial, origin, name, spec.pop("drift"))
        for name, spec in column_specs.items()
        if "drift" in spec
    }
    columns = tuple(
        Column(
            name=name,
            note=notes.get(("columns", name), ""),
            **_fields(partial, origin, "columns", name, spec, _COLUMN_FIELDS),
        )
        for name, spec in column_specs.items()
    )
    derived = tuple(
        Derived(
            name=name,
            note=notes.get(("derived", name), ""),
            **_fields(partial, origin, "derived", name, spec, _DERIVED_FIELDS),
        )
        for name, spec in _tables(data, "derived", origin).items()
    )
    return replace(partial, columns=columns, derived=derived, drift=drift)


def _drift(
    text: ContractText, origin: str, name: str, spec: object
) -> dict[str, tuple[float, float]]:
    """A column's ``drift = { psi = [0.1, 0.25], ... }`` thresholds, checked."""
    from suture.errors import ConfigError
    from suture.monitor.thresholds import check_metric_thresholds

    try:
        return check_metric_thresholds(spec, "")
    except ConfigError as exc:
        raise fail(text, origin, "columns", Problem(name, "drift", str(exc))) from None


def _tables(data: dict[str, Any], section: str, origin: str) -> dict[str, dict[str, Any]]:
    tables = data.get(section, {})
    if not isinstance(tables, dict) or not all(isinstance(v, dict) for v in tables.values()):
        raise SchemaError(f"{origin}: write each entry of {section} as a [{section}.NAME] table")
    return tables


def _fields(
    text: ContractText,
    origin: str,
    section: str,
    name: str,
    spec: dict[str, Any],
    allowed: set[str],
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in spec.items():
        if key not in allowed:
            raise fail(
                text,
                origin,
                section,
                Problem(
                    name, key, f"unknown field {key!r}; fields are: {', '.join(sorted(allowed))}"
                ),
            )
        expected, described = _EXPECTED[key]
        bad = not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool)
        if key == "levels" and not bad:
            bad = not all(isinstance(v, str) for v in value)
            value = tuple(value)
        if bad:
            problem = Problem(name, key, f"expected {described}, got {value!r}")
            raise fail(text, origin, section, problem)
        out[key] = value
    if section == "columns" and "type" not in out:
        raise fail(text, origin, section, Problem(name, "type", "the column has no type"))
    if section == "derived" and "expr" not in out:
        raise fail(text, origin, section, Problem(name, "expr", "the derived column has no expr"))
    return out


def fail(text: ContractText, origin: str, section: str, problem: Problem) -> SchemaError:
    """The :class:`SchemaError` for ``problem``, naming file, line and field."""
    where = text.where(section, problem.column, problem.field)
    kind = "column" if section == "columns" else "derived column"
    place = f"{origin} {where}" if where else origin
    return SchemaError(
        f"{place}, {kind} {problem.column!r}, field {problem.field!r}: {problem.message}"
    )
