"""The summary of a validation, and the mergeable aggregator that computes it.

:class:`ValidationSummary` counts rows in, valid and quarantined, and violations by
``(column, kind)`` with one example message each.  :class:`ValidationAggregator` folds
checked batches into it as an :class:`~suture.aggregate.Aggregator`, so the same check
runs on the local engine and on Spark.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from suture._codec import Field
from suture.aggregate import Framed
from suture.schema.types import VIOLATION_KINDS
from suture.schema.validator import Checked, Validator

if TYPE_CHECKING:
    from suture.schema.contract import Schema

__all__ = ["ValidationAggregator", "ValidationSummary"]


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

    def to_fields(self) -> dict[str, Field]:
        """The summary as plain fields (the payload of its byte format)."""
        keys = list(self.counts)
        return {
            "rows": [self.rows, self.valid, self.quarantined],
            "keys": [list(k) for k in keys],
            "counts": [self.counts[k] for k in keys],
            "examples": [[*k, v] for k, v in self.examples.items()],
        }

    @classmethod
    def from_fields(cls, f: dict[str, Any]) -> ValidationSummary:
        """The summary :meth:`to_fields` gave."""
        rows, valid, quarantined = (int(x) for x in f["rows"])
        counts = {
            (str(k[0]), str(k[1])): int(n) for k, n in zip(f["keys"], f["counts"], strict=True)
        }
        examples = {(str(e[0]), str(e[1])): str(e[2]) for e in f["examples"]}
        return cls(rows, valid, quarantined, counts, examples)

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


class SummaryFolds(Framed[ValidationSummary]):
    """What every aggregator whose state is a :class:`ValidationSummary` shares.

    Counts merge exactly, associatively and commutatively; examples keep the left
    operand's first.  ``finalize(zero())`` is an empty summary.  Subclasses say how a
    batch is folded in (``update``), and their ``kind`` and ``config``.
    """

    def zero(self) -> ValidationSummary:
        return ValidationSummary()

    def merge(self, a: ValidationSummary, b: ValidationSummary) -> ValidationSummary:
        return a.merge(b)

    def finalize(self, state: ValidationSummary) -> ValidationSummary:
        return state

    def _fields(self, state: ValidationSummary) -> dict[str, Field]:
        return state.to_fields()

    def _from_fields(self, fields: dict[str, Any]) -> ValidationSummary:
        return ValidationSummary.from_fields(fields)


class ValidationAggregator(SummaryFolds):
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

    def update(self, state: ValidationSummary, batch: pa.RecordBatch) -> ValidationSummary:
        checked = self.validator.check(batch, state.rows)
        if not self.row_numbers:
            checked.examples = {k: v.split(": ", 1)[-1] for k, v in checked.examples.items()}
        state.add(checked, batch.num_rows)
        return state
