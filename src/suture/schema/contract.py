"""Schema: a typed, unit-aware data contract — infer, load, save, validate, coerce."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pyarrow as pa

from suture import __version__
from suture.errors import ConfigError, SchemaError, SourceError, UnitError
from suture.schema import toml_io
from suture.schema.coerce import RecordCoercer, compile_record
from suture.schema.expressions import Expr, ExpressionError, compile_expression
from suture.schema.result import ValidationResult
from suture.schema.types import (
    NUMERIC_TYPES,
    Column,
    Derived,
    Problem,
    check_column,
    check_derived,
)
from suture.schema.units import canonical, conversion
from suture.schema.validator import Validator

__all__ = ["KEY_TYPES", "Schema", "ValidationResult"]

KEY_TYPES = ("identifier", "integer", "categorical")
"""The column types a business key (``[contract] key``) may have."""


class Schema:
    """A data contract: typed columns with units and ranges, and derived columns.

    Build one with :meth:`infer` (from a profile), :meth:`load` (a reviewed TOML file)
    or directly from :class:`~suture.schema.types.Column` and
    :class:`~suture.schema.types.Derived` specs.  Every way checks the contract (types,
    units, ranges, expressions) and raises :class:`~suture.errors.SchemaError` on a
    mistake.

    Parameters
    ----------
    columns : sequence of Column
    derived : sequence of Derived
    meta : mapping, optional
        ``source``, ``rows`` and other provenance written in ``[contract]``.
    drift : mapping, optional
        Per-column drift thresholds for ``suture compare``: column -> metric (``psi``,
        ``ks``, ``js``, ``null_rate``) -> ``(watch, alert)``; a column's ``drift = {
        psi = [0.1, 0.25] }`` in TOML.  Not rules of the data: they leave the fingerprint
        as it is.
    key : str, optional
        The business key: an identifier, integer or categorical column whose value names
        a case (``customer_id``), so that outcomes arriving later can be joined to the
        predictions made for it; ``key = "customer_id"`` in ``[contract]``.  Also taken
        from ``meta["key"]``.  Not a rule of the data: it leaves the fingerprint as it is.
    """

    def __init__(
        self,
        columns: tuple[Column, ...] | list[Column],
        derived: tuple[Derived, ...] | list[Derived] = (),
        meta: Mapping[str, Any] | None = None,
        *,
        _text: toml_io.ContractText | None = None,
        _origin: str = "the contract",
        drift: Mapping[str, Mapping[str, tuple[float, float]]] | None = None,
        key: str | None = None,
    ) -> None:
        _check_specs("columns", columns, Column)
        _check_specs("derived", derived, Derived)
        self.columns = tuple(_normalize(c) for c in columns)
        self.derived = tuple(
            replace(d, unit=canonical(d.unit)) if d.unit and _unit_ok(d.unit) else d
            for d in derived
        )
        self.meta = dict(meta or {})
        named = self.meta.pop("key", None)
        self.origin = _origin
        self._text = _text
        self._check()
        self.compiled: dict[str, Expr] = self._compile()
        self.by_name = {c.name: c for c in self.columns}
        self._coercer: RecordCoercer | None = None
        self.drift = _drift_thresholds(drift, self.by_name)
        self.key: str | None = self._check_key(key if key is not None else named)

    # ------------------------------------------------------------------ construction

    def _fail(self, section: str, problem: Problem) -> SchemaError:
        if self._text is not None:
            return toml_io.fail(self._text, self.origin, section, problem)
        kind = "column" if section == "columns" else "derived column"
        return SchemaError(
            f"{self.origin}, {kind} {problem.column!r}, field {problem.field!r}: {problem.message}"
        )

    def _check(self) -> None:
        if not self.columns:
            fix = "add a [columns.NAME] table for each column (suture infer DATA writes them)"
            if self._text is not None:
                raise SchemaError(f"{self.origin}: the contract has no columns; {fix}")
            raise SchemaError("a contract needs at least one column; give Column specs")
        seen: set[str] = set()
        for col in self.columns:
            problems = check_column(col)
            if problems:
                raise self._fail("columns", problems[0])
            seen.add(col.name)
        for d in self.derived:
            if d.name in seen:
                raise self._fail(
                    "derived", Problem(d.name, "expr", "a column of this name already exists")
                )
            problems = check_derived(d)
            if problems:
                raise self._fail("derived", problems[0])
            seen.add(d.name)

    def _check_key(self, key: object) -> str | None:
        """The business key, if any, after checking that it names a column that can be one."""
        if key is None:
            return None
        problem = ""
        kinds = "an identifier, integer or categorical column"
        if not isinstance(key, str):
            problem = f"expected the name of a column (a string), got {key!r}"
        elif key not in self.by_name:
            choices = [c.name for c in self.columns if c.type in KEY_TYPES]
            problem = f"no column {key!r} in the contract; the key names {kinds}" + (
                f": {', '.join(choices)}" if choices else " (add one)"
            )
        elif self.by_name[key].type not in KEY_TYPES:
            problem = f"column {key!r} is a {self.by_name[key].type} column; the key names {kinds}"
        if not problem:
            return str(key)
        where = self._text.where("contract", "", "key") if self._text is not None else ""
        place = f"{self.origin} {where}" if where else self.origin
        raise SchemaError(f"{place}, [contract] field 'key': {problem}")

    @property
    def sensitive(self) -> frozenset[str]:
        """The names of the columns marked ``sensitive = true``."""
        return frozenset(c.name for c in self.columns if c.sensitive)

    def _compile(self) -> dict[str, Expr]:
        units: dict[str, str | None] = {
            c.name: (c.unit if c.type in NUMERIC_TYPES else None) for c in self.columns
        }
        compiled: dict[str, Expr] = {}
        for d in self.derived:
            try:
                expr = compile_expression(d.expr, units)
            except ExpressionError as exc:
                raise self._fail("derived", Problem(d.name, "expr", str(exc))) from None
            if d.unit:
                if expr.boolean:
                    raise self._fail("derived", Problem(d.name, "unit", "a comparison has no unit"))
                try:
                    conv = conversion(expr.unit, d.unit)
                except UnitError as exc:
                    raise self._fail(
                        "derived",
                        Problem(
                            d.name,
                            "unit",
                            f"{d.expr} gives {expr.unit or 'a plain number'}, not {d.unit}: {exc}",
                        ),
                    ) from None
                if not conv.identity:
                    expr = Expr("*", d.unit, args=(expr, Expr("num", "", value=conv.scale)))
                    if conv.offset:
                        expr = Expr(
                            "+", d.unit, args=(expr, Expr("num", d.unit, value=conv.offset))
                        )
                else:
                    expr = replace(expr, unit=d.unit)
            compiled[d.name] = expr
            units[d.name] = None if expr.boolean else expr.unit
        return compiled

    @classmethod
    def infer(
        cls, profile: Any, *, source: str | None = None, exclude: Sequence[str] = ()
    ) -> Schema:
        """The contract a reviewer starts from, inferred from a :class:`~suture.Profile`.

        Each column's type, nullability and suggested range come from the profile (see
        :mod:`suture.schema.infer`); the evidence is kept as the column's ``note``.

        Parameters
        ----------
        profile : Profile
        source : str, optional
            The data's name, recorded in ``[contract]`` (default: the profile's source).
        exclude : sequence of str
            Columns of the profile to leave out of the contract.

        Raises
        ------
        ConfigError
            When ``exclude`` names a column the profile does not have.
        SchemaError
            When no column is left.
        """
        from suture.schema.infer import infer_column

        names = list(profile)
        unknown = [name for name in exclude if name not in names]
        if unknown:
            raise ConfigError(
                f"cannot exclude {', '.join(map(repr, unknown))}: no such column in the "
                f"profile; columns are: {', '.join(names)}"
            )
        kept = [name for name in names if name not in set(exclude)]
        columns = [infer_column(profile[name], profile.row_count) for name in kept]
        meta = {
            "source": source or str(profile.metadata.get("source", "")),
            "rows": int(profile.row_count),
        }
        return cls(columns, (), meta)

    @classmethod
    def loads(cls, text: str, origin: str = "schema.toml") -> Schema:
        """Read a contract from TOML text (``origin`` names it in messages)."""
        parsed = toml_io.loads(text, origin)
        meta = {k: v for k, v in parsed.meta.items() if k not in ("fingerprint", "format")}
        meta["stored_fingerprint"] = parsed.meta.get("fingerprint", "")
        return cls(
            parsed.columns, parsed.derived, meta, _text=parsed, _origin=origin, drift=parsed.drift
        )

    @classmethod
    def load(cls, path: str | Path) -> Schema:
        """Read a contract file written by :meth:`save` (and perhaps edited by a person).

        Raises
        ------
        SchemaError
            With the file, line and field of the first mistake.
        SourceError
            When the file cannot be read.
        """
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SourceError(f"{p}: no such contract file; check the path") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise SourceError(f"{p}: cannot read the contract ({exc})") from None
        return cls.loads(text, str(p))

    # ------------------------------------------------------------------ identity and I/O

    @property
    def fingerprint(self) -> str:
        """A digest of the rules (not of comments or provenance): equal rules, equal print."""
        body = {
            "columns": [_rules(asdict(c)) for c in self.columns],
            "derived": [_rules(asdict(d)) for d in self.derived],
        }
        text = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def dumps(self) -> str:
        """The contract as commented TOML."""
        meta: dict[str, Any] = {
            "format": toml_io.CONTRACT_FORMAT,
            "suture_version": __version__,
            "fingerprint": self.fingerprint,
            "key": self.key,
        }
        meta.update(
            {
                k: v
                for k, v in self.meta.items()
                if k not in ("suture_version", "stored_fingerprint")
            }
        )
        return toml_io.dumps(self.columns, self.derived, meta, self.drift)

    def save(self, path: str | Path) -> Path:
        """Write the contract to ``path`` (conventionally ``schema.toml``) atomically.

        The file appears complete or not at all; on any failure an existing file of the
        same name is left as it was (see :func:`suture.bundle.write_bytes_atomic`).

        Raises
        ------
        OutputError
            When the path cannot be written (missing folder, a folder, no permission).
        """
        from suture.bundle import write_bytes_atomic

        return write_bytes_atomic(path, self.dumps().encode("utf-8"))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Schema):
            return NotImplemented
        return (self.columns, self.derived, self.key) == (other.columns, other.derived, other.key)

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __repr__(self) -> str:
        return (
            f"<Schema {len(self.columns)} columns, {len(self.derived)} derived, {self.fingerprint}>"
        )

    def __iter__(self) -> Iterator[Column]:
        return iter(self.columns)

    def __getitem__(self, name: str) -> Column:
        try:
            return self.by_name[name]
        except KeyError:
            raise KeyError(f"no column {name!r} in this contract") from None

    @property
    def features(self) -> list[str]:
        """The columns a model may use (``feature = true``) and the numeric derived ones."""
        return [c.name for c in self.columns if c.feature] + [
            d.name for d in self.derived if not self.compiled[d.name].boolean
        ]

    # ------------------------------------------------------------------ enforcement

    def validator(
        self, input_schema: pa.Schema, origin: str = "the data", *, line_offset: int | None = None
    ) -> Validator:
        """The contract compiled for batches of ``input_schema``."""
        return Validator(self, input_schema, origin, line_offset=line_offset)

    def validate(
        self, data: Any, *, engine: Any = None, batch_size: int | None = None
    ) -> ValidationResult:
        """Check a table, file or Spark DataFrame; split it into valid and quarantined rows.

        Parameters
        ----------
        data : path, pyarrow Table/RecordBatch, pandas/polars or Spark DataFrame
        engine : {"local", "spark"}, Engine, optional
            Where to run (:func:`suture.engines.resolve_engine`): default the local
            engine, or Spark for a Spark DataFrame.  ``"spark"``, a ``SparkEngine`` and a
            Spark DataFrame run on Spark, a path included.
        batch_size : int, optional
            Rows per batch of the local engine (the same as
            ``engine=LocalEngine(batch_size=...)``).

        Returns
        -------
        ValidationResult
            ``valid`` and ``quarantine`` in input order, as the engine's own dataset:
            Arrow tables on the local engine, lazy Spark DataFrames on Spark (nothing is
            collected to the driver; each use recomputes them).  The summary is counted
            before this returns.
        """
        from suture.schema.run import engine_with_batch_size, validate_data

        return validate_data(self, data, engine=engine_with_batch_size(engine, batch_size))

    def coerce(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Check and convert one record (a dict), as the service does for each request.

        Returns the typed, unit-converted record with derived columns added.

        Raises
        ------
        SchemaError
            Naming the field, what was expected, what came, and the fix.
        """
        coercer = self._coercer
        if coercer is None:
            coercer = self._coercer = compile_record(self)
        return coercer(record)

    def diff(self, other: Schema) -> list[str]:
        """What changed from this contract to ``other``, one readable line per change."""
        from suture.schema.diff import diff

        return diff(self, other)


def _check_specs(name: str, specs: Any, kind: type) -> None:
    """Refuse anything but a sequence of ``kind`` (a ConfigError, as for any parameter)."""
    if isinstance(specs, str | bytes | Mapping) or not isinstance(specs, tuple | list):
        raise ConfigError(
            f"{name} must be a list of {kind.__name__} specs, got {type(specs).__name__}"
        )
    for spec in specs:
        if not isinstance(spec, kind):
            raise ConfigError(
                f"{name} must hold {kind.__name__} specs, got {type(spec).__name__} "
                f"{spec!r:.60}; build them with suture.schema.{kind.__name__}(...)"
            )


def _drift_thresholds(
    drift: Mapping[str, Mapping[str, tuple[float, float]]] | None, columns: Mapping[str, Column]
) -> dict[str, dict[str, tuple[float, float]]]:
    """Per-column drift thresholds, checked (see :mod:`suture.monitor.thresholds`)."""
    from suture.monitor.thresholds import check_metric_thresholds

    if drift is None:
        return {}
    if not isinstance(drift, Mapping):
        raise ConfigError(f"drift must map column names to thresholds, got {drift!r}")
    unknown = [name for name in drift if name not in columns]
    if unknown:
        raise ConfigError(
            f"drift thresholds name column {unknown[0]!r}, which the contract does not have; "
            f"columns are: {', '.join(columns)}"
        )
    return {
        name: check_metric_thresholds(spec, f"drift thresholds of column {name!r}")
        for name, spec in drift.items()
        if spec
    }


def _unit_ok(unit: str) -> bool:
    try:
        canonical(unit)
    except UnitError:
        return False
    return True


def _normalize(col: Column) -> Column:
    """Spell units canonically; bounds of numbers as floats, of integers as exact ints.

    An integer column's bound that is a whole float becomes an int; an int stays exact
    (``9223372036854775807`` is not rounded to a float).
    """
    changes: dict[str, Any] = {}
    for key in ("unit", "input_unit"):
        value = getattr(col, key)
        if value and _unit_ok(value):
            changes[key] = canonical(value)
    if col.type in NUMERIC_TYPES:
        for key in ("min", "max"):
            bound = getattr(col, key)
            if isinstance(bound, bool) or not isinstance(bound, float | int):
                continue
            if col.type == "number":
                # + 0.0 turns -0.0 into 0.0: TOML writes both as 0.0, and the digest must
                # not tell them apart.
                changes[key] = float(bound) + 0.0
            elif isinstance(bound, float) and math.isfinite(bound) and bound.is_integer():
                changes[key] = int(bound)
    return replace(col, **changes) if changes else col


def _rules(d: dict[str, Any]) -> dict[str, Any]:
    d.pop("note", None)
    d.pop("sensitive", None)  # how values are kept and shown, not a rule of the data
    if "levels" in d:
        d["levels"] = list(d["levels"])
    if d.get("type") in NUMERIC_TYPES:
        for key in ("min", "max"):
            bound = d.get(key)
            # Digest exact integers as the floats earlier versions stored (the same
            # fingerprint) unless a float would round them.
            if isinstance(bound, int) and not isinstance(bound, bool) and abs(bound) <= 2**53:
                d[key] = float(bound)
    return d
