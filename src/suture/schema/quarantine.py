"""The quarantine layout: the input row as it came, where it was, and why it broke.

Every quarantine batch of one contract and input schema has the same columns (fixed by
the rules the contract can raise on that input, not by what a batch happens to hold):
the input columns, ``__row`` (0-based row in the source), ``__line`` (a CSV file's line,
when knowable), ``__reasons`` (``kind(column)``, ``; ``-separated) and one
``__reason_<kind>_<column>`` text column per rule, null where the rule held.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from suture.schema._masks import decode

__all__ = [
    "LINE",
    "REASONS",
    "ROW",
    "QuarantineLayout",
    "Rule",
    "keep",
    "reason_column",
]

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
        return pc.binary_join_element_wise(f"{self.expected}, got '", shown, "'", "")


def _as_text(a: pa.Array) -> pa.Array:
    """Values as text for messages; a list shows as ``[a, b]``."""
    if pa.types.is_list(a.type) or pa.types.is_large_list(a.type):
        joined = pc.binary_join(pc.cast(a, pa.list_(pa.string())), ", ")
        return pc.binary_join_element_wise("[", joined, "]", "")
    return pc.cast(a, pa.string())


class QuarantineLayout:
    """The schema of the quarantine for one input, and how a batch of it is built.

    Parameters
    ----------
    input_schema : pyarrow.Schema
    rules : list of (column, kind)
        Every rule the contract can raise on this input, in order.
    origin : str
        The name of the data in example messages.
    line_offset : int or None
        When given, rows get ``__line = __row + line_offset``.
    """

    def __init__(
        self,
        input_schema: pa.Schema,
        rules: list[tuple[str, str]],
        origin: str,
        line_offset: int | None,
    ) -> None:
        self.rules = rules
        self.origin = origin
        self.line_offset = line_offset
        fields = [*list(input_schema), pa.field(ROW, pa.int64())]
        if line_offset is not None:
            fields.append(pa.field(LINE, pa.int64()))
        fields.append(pa.field(REASONS, pa.string()))
        fields += [pa.field(reason_column(k, c), pa.string()) for c, k in rules]
        self.schema = pa.schema(fields)

    def empty(self) -> pa.RecordBatch:
        """A quarantine batch without rows."""
        return pa.RecordBatch.from_pylist([], schema=self.schema)

    def where(self, row: int) -> str:
        """``data.csv line 8`` or ``the data row 6``: a row's place for messages."""
        if self.line_offset is not None:
            return f"{self.origin} line {row + self.line_offset}"
        return f"{self.origin} row {row}"

    def build(
        self,
        batch: pa.RecordBatch,
        bad: pa.BooleanArray,
        rules: list[Rule],
        offset: int,
        shown: Callable[[str], pa.Array],
    ) -> tuple[pa.RecordBatch, dict[tuple[str, str], str]]:
        """The quarantined rows of ``batch`` and one example message per broken rule.

        ``shown(column)`` gives, for a column that is not in the input (a derived one),
        the text a message shows as what came (``distance=10, air_time=0``), all rows.
        """
        raw = batch.filter(bad)
        rows = pc.add(pc.filter(pa.array(np.arange(batch.num_rows, dtype=np.int64)), bad), offset)
        by_rule = {(r.column, r.kind): r for r in rules}
        reasons: dict[str, pa.Array] = {}
        examples: dict[tuple[str, str], str] = {}
        for column, kind in self.rules:
            rule = by_rule.get((column, kind))
            name = reason_column(kind, column)
            if rule is None:
                reasons[name] = pa.nulls(raw.num_rows, pa.string())
                continue
            m = pc.filter(rule.mask, bad)
            got = (
                raw.column(column) if column in raw.schema.names else pc.filter(shown(column), bad)
            )
            text = pc.if_else(m, rule.messages(decode(got)), pa.scalar(None, pa.string()))
            reasons[name] = text
            first = pc.index(m, True).as_py()
            if first is not None and first >= 0:
                place = self.where(int(rows[first].as_py()))
                examples[(column, kind)] = f"{place}: {text[first].as_py()}"
        labelled = [
            pc.if_else(
                pc.is_valid(reasons[reason_column(k, c)]),
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
        arrays += [reasons[reason_column(k, c)] for c, k in self.rules]
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema), examples


_SLICE_LIMIT = 2048


def keep(batch: pa.RecordBatch, bad: pa.BooleanArray) -> pa.Table:
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
