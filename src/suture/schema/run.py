"""Validate a whole source: one pass of an engine's ``map_batches``, on any engine.

A :class:`ValidatorFn` checks each batch and returns up to three named outputs: the
``valid`` rows (typed), the ``quarantine`` rows (as they came, with their reasons) and a
one-row ``summary`` of the batch's counts.  The engine writes the outputs that have a
sink (Parquet files locally, Parquet folders on Spark; all replaced together or none)
and folds aggregators over others: :class:`ValidationCounts` turns the summary rows into
a :class:`~suture.schema.summary.ValidationSummary`.  For the Python API the valid and
quarantined rows have neither, so the engine hands them back as its own datasets (Arrow
tables locally, lazy Spark DataFrames on Spark).  Nothing here knows which engine runs.

``__line`` for CSV
    A quarantined row of a CSV file gets ``__line = __row + 2`` (line 1 is the header)
    only when a scan of the file shows that no field can hold a line break (no ``"``
    character at all) and there are no blank lines (which the reader skips); otherwise
    the line is not knowable from the row number and the column is left out
    (:func:`suture.sources.csv_line_offset`).  ``__row`` is the ``first_row`` the
    engine passes plus the row's place in its batch.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from suture.aggregate import Aggregator
from suture.errors import ConfigError
from suture.schema.result import ValidationResult
from suture.schema.summary import SummaryFolds, ValidationSummary
from suture.schema.validator import Checked, Validator
from suture.sources import csv_line_offset

if TYPE_CHECKING:
    from suture.engines.base import Engine
    from suture.schema.contract import Schema

__all__ = [
    "SUMMARY_SCHEMA",
    "ValidationCounts",
    "ValidatorFn",
    "validate_data",
    "validate_to_files",
]

_VIOLATION = pa.struct(
    [
        ("column", pa.string()),
        ("kind", pa.string()),
        ("count", pa.int64()),
        ("example", pa.string()),
    ]
)
#: The ``summary`` output: one row per checked batch.
SUMMARY_SCHEMA = pa.schema(
    [
        ("rows", pa.int64()),
        ("valid", pa.int64()),
        ("quarantined", pa.int64()),
        ("violations", pa.list_(_VIOLATION)),
    ]
)


class ValidatorFn:
    """The map function of a validation: ``fn(batch, first_row)`` to named outputs.

    Parameters
    ----------
    schema : Schema
        The contract.
    origin : str
        The name of the data in messages (a path).
    outputs : sequence of str
        Which of ``"valid"``, ``"quarantine"`` and ``"summary"`` to return (the valid
        rows cost a conversion, so they are only built when asked for).
    line_offset : int or None
        Passed to :class:`~suture.schema.validator.Validator`.

    Notes
    -----
    Pure and thread-safe: engines call it on several threads, or on Spark executors
    (it pickles without its compiled validators, which are rebuilt there).  A validator
    is compiled for each input schema met, so an engine may hand over batches whose
    physical types differ from the declared ones (Spark's ``large_string``).
    """

    def __init__(
        self,
        schema: Schema,
        origin: str,
        outputs: tuple[str, ...] = ("valid", "quarantine", "summary"),
        *,
        line_offset: int | None = None,
    ) -> None:
        self.schema = schema
        self.origin = origin
        self.outputs = outputs
        self.line_offset = line_offset
        self._validators: dict[pa.Schema, Validator] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_validators": {}}

    def validator(self, input_schema: pa.Schema) -> Validator:
        """The contract compiled for batches of ``input_schema``."""
        found = self._validators.get(input_schema)
        if found is None:
            found = self.schema.validator(input_schema, self.origin, line_offset=self.line_offset)
            self._validators[input_schema] = found
        return found

    def __call__(self, batch: pa.RecordBatch, first_row: int) -> dict[str, pa.RecordBatch]:
        checked = self.validator(batch.schema).check(batch, first_row)
        out: dict[str, pa.RecordBatch] = {}
        if "valid" in self.outputs:
            out["valid"] = _valid_rows(checked)
        if "quarantine" in self.outputs:
            out["quarantine"] = checked.quarantine
        if "summary" in self.outputs:
            out["summary"] = summary_batch(checked)
        return out


def _valid_rows(checked: Checked) -> pa.RecordBatch:
    typed = checked.typed
    return typed if checked.bad is None else typed.filter(pc.invert(checked.bad))


def summary_batch(checked: Checked) -> pa.RecordBatch:
    """The one-row ``summary`` output of one checked batch."""
    violations = [
        {
            "column": column,
            "kind": kind,
            "count": count,
            "example": checked.examples.get((column, kind)),
        }
        for (column, kind), count in checked.counts.items()
        if count
    ]
    row = {
        "rows": checked.rows,
        "valid": checked.valid_rows,
        "quarantined": checked.quarantine.num_rows,
        "violations": violations,
    }
    return pa.RecordBatch.from_pylist([row], schema=SUMMARY_SCHEMA)


class ValidationCounts(SummaryFolds):
    """Folds ``summary`` rows (:data:`SUMMARY_SCHEMA`) into a ValidationSummary.

    Notes
    -----
    Counts merge exactly, associatively and commutatively; ``examples`` keep the left
    operand's first (the earliest batch when folded in input order).
    ``finalize(zero())`` is an empty summary.  The loop runs over the violation entries
    of each summary row (one row per input batch, one entry per rule broken), never
    over input rows.
    """

    kind = "validation_counts"

    def config(self) -> str:
        return "validation_counts"

    def update(self, state: ValidationSummary, batch: pa.RecordBatch) -> ValidationSummary:
        for row in batch.to_pylist():
            state.rows += row["rows"]
            state.valid += row["valid"]
            state.quarantined += row["quarantined"]
            for v in row["violations"] or ():
                key = (v["column"], v["kind"])
                state.counts[key] = state.counts.get(key, 0) + v["count"]
                if v["example"] is not None:
                    state.examples.setdefault(key, v["example"])
        return state


def validate_data(
    schema: Schema, data: Any, *, engine: str | Engine | None = None
) -> ValidationResult:
    """Validate ``data``: its summary now, its valid and quarantined rows as the engine's own.

    Used by :meth:`Schema.validate <suture.schema.Schema.validate>`.  One pass of
    ``map_batches`` folds the summary (so the counts are known when this returns); the
    ``valid`` and ``quarantine`` outputs have neither sink nor aggregator, so they come
    back as the engine's native datasets: Arrow tables on the local engine, lazy Spark
    DataFrames on Spark (computed, by another pass over the data, when they are used;
    nothing is collected to the driver).
    """
    plan = _plan(schema, data, engine, ("valid", "quarantine", "summary"))
    folds: dict[str, Aggregator[Any, Any]] = {"summary": ValidationCounts()}
    done = plan.engine.map_batches(data, plan.fn, schema=plan.outputs, aggregators=folds)
    return ValidationResult(done["valid"], done["quarantine"], done["summary"])


def validate_to_files(
    schema: Schema,
    data: Any,
    *,
    quarantine: str | os.PathLike[str] | None = None,
    valid: str | os.PathLike[str] | None = None,
    engine: str | Engine | None = None,
    progress: Callable[[int], None] | None = None,
    batch_size: int | None = None,
) -> ValidationSummary:
    """Stream ``data``, writing quarantined (and optionally valid) rows to Parquet.

    Parameters
    ----------
    schema : Schema
    data : path, table or DataFrame
        Anything the engine reads.
    quarantine, valid : path, optional
        Where to write the quarantined rows and the valid (typed) rows: Parquet files
        on the local engine, Parquet folders on Spark.  A quarantine output is written
        even when empty, so a pipeline can always read it.  Both are replaced together
        at the end or, on any failure, neither.
    engine : {"local", "spark"}, Engine or None
        Where to run (see :func:`suture.engines.resolve_engine`).
    progress : callable, optional
        Called with the number of input rows done.
    batch_size : int, optional
        Rows per batch of the local engine (as ``engine=LocalEngine(batch_size=...)``).
    """
    engine = engine_with_batch_size(engine, batch_size)
    wanted: tuple[str, ...] = ("summary",)
    if quarantine is not None:
        wanted += ("quarantine",)
    if valid is not None:
        wanted += ("valid",)
    plan = _plan(schema, data, engine, wanted)
    sinks = {"quarantine": _path(quarantine), "valid": _path(valid)}
    done = plan.engine.map_batches(
        data,
        plan.fn,
        schema=plan.outputs,
        sink={name: path for name, path in sinks.items() if path is not None},
        aggregators={"summary": ValidationCounts()},
        progress=progress,
    )
    summary: ValidationSummary = done["summary"]
    return summary


def _path(target: str | os.PathLike[str] | None) -> Path | None:
    return None if target is None else Path(target)


class _Plan:
    def __init__(self, engine: Engine, fn: ValidatorFn, outputs: dict[str, pa.Schema]) -> None:
        self.engine = engine
        self.fn = fn
        self.outputs = outputs


def _plan(schema: Schema, data: Any, engine: str | Engine | None, wanted: tuple[str, ...]) -> _Plan:
    from suture.engines import is_spark_frame, resolve_engine

    runner = resolve_engine(engine, data)
    input_schema = runner.schema_of(data)
    if isinstance(data, str | os.PathLike):
        origin = str(data)
        line_offset = csv_line_offset(Path(data)) if Path(data).is_file() else None
    else:
        origin = "the Spark DataFrame" if is_spark_frame(data) else "the data"
        line_offset = None
    validator = schema.validator(input_schema, origin, line_offset=line_offset)
    every = {
        "valid": validator.valid_schema(),
        "quarantine": validator.quarantine_schema,
        "summary": SUMMARY_SCHEMA,
    }
    outputs = {name: every[name] for name in wanted}
    fn = ValidatorFn(schema, origin, wanted, line_offset=line_offset)
    return _Plan(runner, fn, outputs)


def engine_with_batch_size(
    engine: str | Engine | None, batch_size: int | None
) -> str | Engine | None:
    """``engine`` with a ``batch_size`` given beside it (the local engine's option)."""
    if batch_size is None:
        return engine
    if engine not in (None, "local"):
        raise ConfigError(
            "batch_size is an option of the engine: pass LocalEngine(batch_size=...) or "
            "SparkEngine(batch_size=...) as engine, not both"
        )
    from suture.engines import LocalEngine

    return LocalEngine(batch_size=batch_size)
