"""Drive a :class:`~suture.schema.validate.Validator` over a whole source.

Locally the source is streamed batch by batch: valid and quarantined rows are either
collected (the Python API) or written to Parquet as they come (the command line), so
memory stays bounded.  On Spark, ``mapInArrow`` applies the same validator per partition
and the summary comes from :class:`~suture.schema.validate.ValidationAggregator` run by
the Spark engine.

``__line`` for CSV
    A quarantined row of a CSV file gets ``__line = __row + 2`` (line 1 is the header)
    only when a scan of the file shows that no field can hold a line break (no ``"``
    character at all) and there are no blank lines (which the reader skips); otherwise
    the line is not knowable from the row number and the column is left out.
"""

from __future__ import annotations

import gzip
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from suture.errors import SourceError
from suture.schema.validate import ROW, Checked, ValidationAggregator, ValidationSummary, Validator
from suture.sources import CsvTypeWidened, Source, open_source

if TYPE_CHECKING:
    from suture.schema.contract import Schema, ValidationResult

__all__ = [
    "csv_line_offset",
    "stream_checks",
    "validate_local",
    "validate_spark",
    "validate_to_files",
]

_CHUNK = 1 << 22


def csv_line_offset(path: Path) -> int | None:
    """2 when row ``r`` of the CSV file ``path`` is on line ``r + 2``; else None."""
    name = path.name.lower()
    if not (name.endswith((".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz"))):
        return None
    opener: Any = gzip.open if name.endswith(".gz") else open
    previous = b""
    with opener(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            if b'"' in chunk:
                return None
            window = (previous + chunk).replace(b"\r\n", b"\n")
            if b"\n\n" in window:
                return None
            previous = chunk[-2:]
    return 2


def _origin(data: Any) -> tuple[str, int | None]:
    if isinstance(data, str | Path):
        return str(data), csv_line_offset(Path(data)) if Path(data).is_file() else None
    return "the data", None


def stream_checks(
    schema: Schema, data: Any, *, batch_size: int = 65_536
) -> Iterator[tuple[Validator, Checked, int]]:
    """Yield ``(validator, checked batch, input rows)`` for every batch of ``data``.

    The validator is yielded first with an empty check so that callers learn the output
    schemas even for an empty source.  Raises :class:`~suture.sources.CsvTypeWidened`
    when a CSV column had to be read again with a wider type: the caller restarts.
    """
    origin, line_offset = _origin(data)
    source: Source = open_source(data)
    validator = schema.validator(source.schema, origin, line_offset=line_offset)
    workers = max(1, min(os.cpu_count() or 1, 8))
    if workers == 1:
        offset = 0
        for batch in source.batches(batch_size):
            yield validator, validator.check(batch, offset), batch.num_rows
            offset += batch.num_rows
        return
    # Arrow compute releases the GIL: check batches on every core, yield them in order.
    with ThreadPoolExecutor(workers, thread_name_prefix="suture-validate") as pool:
        pending: deque[tuple[Future[Checked], int]] = deque()
        offset = 0
        for batch in source.batches(batch_size):
            pending.append((pool.submit(validator.check, batch, offset), batch.num_rows))
            offset += batch.num_rows
            if len(pending) > 2 * workers:
                done, rows = pending.popleft()
                yield validator, done.result(), rows
        while pending:
            done, rows = pending.popleft()
            yield validator, done.result(), rows


def _restarting(run: Callable[[], Any]) -> Any:
    for _ in range(100):
        try:
            return run()
        except CsvTypeWidened:
            continue
    raise SourceError("column types kept changing while reading the CSV file")


def _validator_for(schema: Schema, data: Any) -> Validator:
    origin, offset = _origin(data)
    return schema.validator(open_source(data).schema, origin, line_offset=offset)


def validate_local(schema: Schema, data: Any, *, batch_size: int = 65_536) -> ValidationResult:
    """Validate in this process and collect valid and quarantined rows as tables."""
    from suture.schema.contract import ValidationResult

    if not isinstance(data, str | Path):
        data = open_source(data)  # read a one-shot stream once only

    def run() -> ValidationResult:
        summary = ValidationSummary()
        parts: list[Checked] = []
        bad: list[pa.RecordBatch] = []
        validator: Validator | None = None
        for validator, checked, rows in stream_checks(  # noqa: B007 (used after the loop)
            schema, data, batch_size=batch_size
        ):
            summary.add(checked, rows)
            parts.append(checked)
            if checked.quarantine.num_rows:
                bad.append(checked.quarantine)
        if validator is None:
            validator = _validator_for(schema, data)
        empty = validator.valid_schema().empty_table()

        def valid() -> pa.Table:
            return pa.concat_tables([empty, *(p.valid for p in parts)])

        return ValidationResult(
            valid,
            pa.Table.from_batches(bad, schema=validator.quarantine_schema),
            summary,
        )

    result: ValidationResult = _restarting(run)
    return result


def validate_to_files(
    schema: Schema,
    data: Any,
    *,
    quarantine: Path | None = None,
    valid: Path | None = None,
    batch_size: int = 65_536,
    progress: Callable[[int], None] | None = None,
) -> ValidationSummary:
    """Stream ``data``, writing quarantined (and optionally valid) rows to Parquet.

    A quarantine file is written even when empty, so a pipeline can always read it.
    """

    def run() -> ValidationSummary:
        summary = ValidationSummary()
        with ExitStack() as stack:
            writers: dict[str, pq.ParquetWriter] = {}
            validator: Validator | None = None
            for validator, checked, rows in stream_checks(schema, data, batch_size=batch_size):
                summary.add(checked, rows)
                if quarantine is not None:
                    q_schema = validator.quarantine_schema
                    _write(stack, writers, "q", quarantine, checked.quarantine, q_schema)
                if valid is not None:
                    _write(stack, writers, "v", valid, checked.valid, checked.valid.schema)
                if progress is not None:
                    progress(rows)
            if validator is None:
                validator = _validator_for(schema, data)
            if quarantine is not None and "q" not in writers:
                pq.write_table(validator.quarantine_schema.empty_table(), quarantine)
            if valid is not None and "v" not in writers:
                pq.write_table(validator.valid_schema().empty_table(), valid)
        return summary

    result: ValidationSummary = _restarting(run)
    return result


def _write(
    stack: ExitStack,
    writers: dict[str, pq.ParquetWriter],
    key: str,
    path: Path,
    batch: pa.RecordBatch | pa.Table,
    schema: pa.Schema,
) -> None:
    if key not in writers:
        try:
            writers[key] = stack.enter_context(pq.ParquetWriter(str(path), schema))
        except OSError as exc:
            raise SourceError(f"{path}: cannot write ({exc})") from None
    if batch.num_rows and isinstance(batch, pa.Table):
        writers[key].write_table(batch.combine_chunks())
    elif batch.num_rows:
        writers[key].write_batch(batch)


def validate_spark(schema: Schema, df: Any, engine: Any = None) -> ValidationResult:
    """Validate a Spark DataFrame on Spark: lazy valid/quarantine frames and a summary."""
    from suture.engines import resolve_engine
    from suture.engines.spark import _quiet

    runner = resolve_engine(engine or "spark", df)
    with _quiet():
        return _validate_spark(schema, df, runner)


def _validate_spark(schema: Schema, df: Any, runner: Any) -> ValidationResult:
    from pyspark.sql.pandas.types import from_arrow_schema

    from suture.schema.contract import ValidationResult

    input_schema = runner.schema_of(df)
    validator = schema.validator(input_schema, "the Spark DataFrame")
    text = schema.dumps()
    quarantine_arrow = validator.quarantine_schema
    valid_arrow = validator.valid_schema()
    quarantine_schema = from_arrow_schema(quarantine_arrow)
    valid_schema = from_arrow_schema(valid_arrow)

    def split(which: str) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
        def apply(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            from suture.schema.contract import Schema as _Schema

            local: Validator | None = None
            for batch in batches:
                if local is None:
                    local = _Schema.loads(text).validator(batch.schema, "the Spark DataFrame")
                checked = local.check(batch)
                if which == "valid":
                    for piece in checked.valid.to_batches():
                        yield _conform(piece, valid_arrow)
                else:
                    yield _conform(_no_rows(checked.quarantine), quarantine_arrow)

        return apply

    aggregator = ValidationAggregator(
        schema, input_schema, "the Spark DataFrame", row_numbers=False
    )
    summary = runner.aggregate(df, aggregator)
    return ValidationResult(
        df.mapInArrow(split("valid"), valid_schema),
        df.mapInArrow(split("quarantine"), quarantine_schema),
        summary,
    )


def _no_rows(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Spark has no source row numbers: ``__row`` is null there."""
    index = batch.schema.get_field_index(ROW)
    return batch.set_column(index, ROW, pa.nulls(batch.num_rows, pa.int64()))


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    if batch.schema.equals(schema):
        return batch
    arrays = [
        column if column.type == f.type else column.cast(f.type)
        for column, f in zip(batch.columns, schema, strict=True)
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
