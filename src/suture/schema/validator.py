"""A contract compiled for one input schema: split each batch into valid and quarantined.

For each batch, :class:`Validator` converts every contract column with its
:class:`~suture.schema.checks.ColumnCheck`, computes the derived columns, and splits the
batch into valid rows (typed, unit-converted, derived columns added) and quarantined
rows (laid out by :class:`~suture.schema.quarantine.QuarantineLayout`).  Nothing loops
over rows in Python.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from suture.errors import SchemaError
from suture.schema._masks import all_valid, any_of, decode, false_mask, mask, null_out
from suture.schema.checks import ColumnCheck, Converted
from suture.schema.expressions import Expr
from suture.schema.messages import derived_range_text
from suture.schema.quarantine import QuarantineLayout, Rule, keep
from suture.schema.types import NUMERIC_TYPES, Derived

if TYPE_CHECKING:
    from suture.schema.contract import Schema

__all__ = ["Checked", "Validator"]


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
        return keep(self.typed, self.bad)


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
        self.layout = QuarantineLayout(input_schema, rules, origin, line_offset)
        self.quarantine_schema = self.layout.schema
        self.input_schema = input_schema
        self._valid_schema: pa.Schema | None = None

    def check(self, batch: pa.RecordBatch, offset: int = 0) -> Checked:
        """Validate one batch whose first row is row ``offset`` of the source."""
        n = batch.num_rows
        converted = {ch.col.name: ch.convert(batch.column(ch.col.name)) for ch in self.checks}
        derived = self._derive(converted, n)
        rules: list[Rule] = []
        for name, conv in [*converted.items(), *derived.items()]:
            for kind, (m, expected) in conv.problems.items():
                rules.append(Rule(name, kind, m, expected))
        bad = any_of((r.mask for r in rules), n)
        names = [c.col.name for c in self.checks] + list(derived) + self.extra

        def typed() -> pa.RecordBatch:
            columns = [converted[c.col.name].values for c in self.checks]
            columns += [d.values for d in derived.values()]
            columns += [decode(batch.column(name)) for name in self.extra]
            return pa.RecordBatch.from_arrays(columns, names=names)

        counts = {(r.column, r.kind): int(pc.sum(r.mask).as_py() or 0) for r in rules}
        if not rules:
            return Checked(typed, n, None, self.layout.empty(), counts, {})

        def shown(name: str) -> pa.Array:
            return pc.cast(self._derived_inputs(batch, name), pa.string())

        quarantine, examples = self.layout.build(batch, bad, rules, offset, shown)
        return Checked(typed, n, bad, quarantine, counts, examples)

    def _derive(self, converted: dict[str, Converted], n: int) -> dict[str, Converted]:
        env: dict[str, pa.Array] = {}
        needed = set().union(*(self.schema.compiled[d.name].columns() for d in self.schema.derived))
        for ch in self.checks:
            if ch.col.type in NUMERIC_TYPES and ch.col.name in needed:
                conv = converted[ch.col.name]
                env[ch.col.name] = null_out(pc.cast(conv.values, pa.float64()), conv.bad())
        out: dict[str, Converted] = {}
        for d in self.schema.derived:
            expr = self.schema.compiled[d.name]
            result = expr.arrow(env)
            if isinstance(result, pa.Scalar):
                result = pa.array([result.as_py()] * n, result.type)
            conv = Converted(result, n)
            inputs_ok = all_valid([env[c] for c in expr.columns()], n)
            if not expr.boolean:
                broken = pc.and_(inputs_ok, pc.invert(mask(pc.is_finite(result))))
                conv.add("derived", mask(broken), f"expected {d.expr} to give a finite number")
                result = null_out(result, conv.bad())
                _derived_range(d, expr, result, conv)
                env[d.name] = result
            if not d.nullable:
                missing = pc.and_not(mask(pc.is_null(result)), conv.bad())
                conv.add("null", missing, f"expected {d.expr} to have a value (not nullable)")
            conv.values = null_out(result, conv.bad())
            out[d.name] = conv
        return out

    def _derived_inputs(self, batch: pa.RecordBatch, name: str) -> pa.Array:
        """The inputs of a derived column as text ("distance=10, air_time=0")."""
        expr = self.schema.compiled[name]
        parts: list[Any] = []
        for i, col in enumerate(sorted(expr.columns())):
            if i:
                parts.append(", ")
            if col in batch.schema.names:
                parts += [
                    f"{col}=",
                    pc.fill_null(pc.cast(decode(batch.column(col)), pa.string()), "null"),
                ]
        if not parts:
            return pa.array([""] * batch.num_rows)
        return pc.binary_join_element_wise(*parts, "")

    def valid_schema(self) -> pa.Schema:
        """The schema of the valid (typed) rows."""
        if self._valid_schema is None:
            empty = pa.RecordBatch.from_pylist([], schema=self.input_schema)
            self._valid_schema = self.check(empty).typed.schema
        return self._valid_schema


def _derived_kinds(d: Derived, expr: Expr) -> tuple[str, ...]:
    kinds = [] if d.nullable else ["null"]
    if not expr.boolean:
        kinds.append("derived")
        if d.min is not None or d.max is not None:
            kinds.append("range")
    return tuple(kinds)


def _derived_range(d: Derived, expr: Expr, result: pa.Array, conv: Converted) -> None:
    if d.min is None and d.max is None:
        return
    n = len(result)
    below = mask(pc.less(result, d.min)) if d.min is not None else false_mask(n)
    above = mask(pc.greater(result, d.max)) if d.max is not None else false_mask(n)
    conv.add("range", pc.and_not(pc.or_(below, above), conv.bad()), derived_range_text(d, expr))
