"""``map_batches`` on Spark: the task each partition runs, its reports, the outputs.

A map job runs :class:`MapTask` in ``mapInArrow``: it numbers the partition's batches
from the partition's offset (from a first job that counts the rows of each partition),
runs ``fn``, yields the batches of one output for Spark to write, folds aggregators over
outputs, and reports rows, partial states (as bytes) and any error (as
:func:`suture.errors.to_wire` bytes) through an accumulator keyed by job and partition, so
a retried task counts once.  :func:`committed` gives each output a temporary folder and
renames them all into place at the end.

An output with neither a sink nor an aggregator is not run at all: :func:`lazy_output`
returns a lazy DataFrame, a ``mapInArrow`` of :class:`OutputTask` over the source, that
computes it with the same row numbering whenever (and as often as) Spark is asked for it.
"""

from __future__ import annotations

import contextlib
import re
import traceback
import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import pyarrow as pa

from suture import errors
from suture.aggregate import Aggregator
from suture.bundle import atomic_outputs
from suture.engines.base import BatchFn
from suture.errors import ConfigError, InternalError, SourceError, SutureError, UnsupportedTypeError

__all__ = [
    "URI",
    "MapTask",
    "OutputTask",
    "Report",
    "ReportsParam",
    "check_outputs",
    "check_reports",
    "committed",
    "conform",
    "job_reports",
    "lazy_output",
    "offsets",
    "partition_counts",
    "slices",
    "spark_schema",
    "wire",
]

#: What one partition of a map job reports: (rows, states by output, error).
Report = tuple[int, dict[str, bytes], bytes | None]

URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def spark_schema(output: str, schema: pa.Schema) -> Any:
    """The Spark schema of an output, or a clear error for an Arrow type Spark lacks."""
    from pyspark.sql.pandas.types import from_arrow_type
    from pyspark.sql.types import StructField, StructType

    fields = []
    for field in schema:
        try:
            fields.append(StructField(field.name, from_arrow_type(field.type), field.nullable))
        except Exception:
            raise UnsupportedTypeError(
                f"output {output!r} column {field.name!r} has Arrow type {field.type}, which "
                "Spark cannot store; cast it (an unsigned integer to int64 or decimal) or "
                "use the local engine"
            ) from None
    return StructType(fields)


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` with exactly the columns of ``schema``: taken by name, cast where needed."""
    if batch.schema.types == schema.types and batch.schema.names == schema.names:
        return batch
    if batch.schema.names != schema.names:
        missing = [name for name in schema.names if name not in batch.schema.names]
        if missing:
            raise InternalError(
                f"a batch lacks the column {missing[0]!r} of its schema (it has "
                f"{', '.join(map(repr, batch.schema.names)) or 'none'})"
            )
        batch = batch.select(schema.names)
    arrays = [
        column if column.type == field.type else column.cast(field.type)
        for column, field in zip(batch.columns, schema, strict=True)
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def slices(
    batches: Iterable[pa.RecordBatch], schema: pa.Schema, batch_size: int
) -> Iterator[pa.RecordBatch]:
    """Spark's batches relabelled to ``schema`` and cut to at most ``batch_size`` rows."""
    for batch in batches:
        conformed = conform(batch, schema)
        if conformed.num_rows <= batch_size:
            yield conformed
            continue
        for start in range(0, conformed.num_rows, batch_size):
            yield conformed.slice(start, batch_size)


def wire(exc: Exception) -> bytes:
    """``exc`` encoded for the driver; a bug becomes an InternalError with its traceback."""
    if isinstance(exc, SutureError):
        return errors.to_wire(exc)
    detail = "".join(traceback.format_exception(exc)).rstrip()
    return errors.to_wire(
        InternalError(f"a Spark executor failed ({type(exc).__name__}: {exc}); this is a "
                      f"bug in suture, please report it with this message:\n{detail}")
    )  # fmt: skip


def check_outputs(
    schema: Mapping[str, pa.Schema],
    targets: Mapping[str, Any],
    folds: Mapping[str, Any],
) -> None:
    for what, names in (("sink", targets), ("aggregators", folds)):
        unknown = [name for name in names if name not in schema]
        if unknown:
            raise ConfigError(
                f"map_batches: {what} names output {unknown[0]!r}, which schema lacks; "
                f"the outputs are {', '.join(map(repr, schema)) or 'none'}"
            )


def partition_counts(frame: Any) -> dict[int, int]:
    """Rows in each partition of ``frame`` (a job that reads no columns in Python)."""
    from pyspark.sql import functions as F

    rows = frame.select(F.spark_partition_id().alias("p")).groupBy("p").count().collect()
    counts = {int(row[0]): int(row[1]) for row in rows}
    for partition in range(frame.rdd.getNumPartitions()):
        counts.setdefault(partition, 0)
    return counts


def offsets(counts: Mapping[int, int]) -> list[int]:
    """The index of each partition's first row, partitions in order."""
    offsets, total = [], 0
    for partition in range(max(counts, default=-1) + 1):
        offsets.append(total)
        total += counts.get(partition, 0)
    return offsets


class ReportsParam:
    """Accumulates ``{(job, partition): Report}``; a retried task overwrites its report."""

    def zero(self, value: dict[Any, Any]) -> dict[Any, Any]:
        return {}

    def addInPlace(self, a: dict[Any, Any], b: dict[Any, Any]) -> dict[Any, Any]:
        a.update(b)
        return a


class MapTask:
    """The ``mapInArrow`` function of one ``map_batches`` job (pickled to the executors).

    It runs ``fn`` over the partition's batches, yields the batches of output ``emit``
    (none when ``emit`` is None), folds ``folds`` over their outputs, and reports the
    partition's rows, states and any error through the ``reports`` accumulator.
    """

    def __init__(
        self,
        fn: BatchFn,
        schema: dict[str, pa.Schema],
        input_schema: pa.Schema,
        batch_size: int,
        offsets: list[int],
        emit: str | None,
        folds: dict[str, Aggregator[Any, Any]],
        done: Any,
        reports: Any,
        job: int,
    ) -> None:
        self.fn, self.schema, self.input_schema = fn, schema, input_schema
        self.batch_size, self.offsets, self.emit = batch_size, offsets, emit
        self.folds, self.done, self.reports, self.job = folds, done, reports, job

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        context = TaskContext.get()
        partition = context.partitionId() if context is not None else 0
        row = self.offsets[partition] if partition < len(self.offsets) else 0
        rows, error = 0, None
        states = {name: agg.zero() for name, agg in self.folds.items()}
        try:
            for batch in slices(batches, self.input_schema, self.batch_size):
                outputs = self.fn(batch, row + rows)
                rows += batch.num_rows
                for name, agg in self.folds.items():
                    states[name] = agg.update(states[name], self._output(outputs, name))
                if self.emit is not None:
                    yield self._output(outputs, self.emit)
            images = {name: agg.to_bytes(states[name]) for name, agg in self.folds.items()}
        except Exception as exc:
            error, images = wire(exc), {}
        if self.done is not None:
            self.done.add(rows)
        self.reports.add({(self.job, partition): (rows, images, error)})

    def _output(self, outputs: Mapping[str, pa.RecordBatch], name: str) -> pa.RecordBatch:
        if name not in outputs:
            raise InternalError(
                f"map_batches: fn returned no output {name!r} (it returned "
                f"{', '.join(map(repr, outputs)) or 'none'})"
            )
        return conform(outputs[name], self.schema[name])


class OutputTask:
    """The ``mapInArrow`` function of a lazy output: ``fn`` over a partition, one output.

    The partition's index comes in a column ``partition`` that :func:`lazy_output` adds
    with ``spark_partition_id()`` (evaluated where the source's partitions are read, so
    it stays right under a later ``coalesce`` or ``union``, unlike the task's own id).
    Errors are raised in the task: Spark reports them when the DataFrame is computed.
    """

    def __init__(
        self,
        fn: BatchFn,
        name: str,
        schema: pa.Schema,
        input_schema: pa.Schema,
        batch_size: int,
        counts: dict[int, int],
        partition: str,
    ) -> None:
        self.fn, self.name, self.schema, self.input_schema = fn, name, schema, input_schema
        self.batch_size, self.counts, self.partition = batch_size, counts, partition
        self.offsets = offsets(counts)

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        partition, rows = None, 0
        for raw in batches:
            if raw.num_rows == 0:
                continue
            if partition is None:
                partition = int(raw.column(self.partition)[0].as_py())
                self._check(partition, None)
            for batch in slices([raw], self.input_schema, self.batch_size):
                outputs = self.fn(batch, self.offsets[partition] + rows)
                rows += batch.num_rows
                if self.name not in outputs:
                    raise InternalError(
                        f"map_batches: fn returned no output {self.name!r} (it returned "
                        f"{', '.join(map(repr, outputs)) or 'none'})"
                    )
                yield conform(outputs[self.name], self.schema)
        if partition is not None:
            self._check(partition, rows)

    def _check(self, partition: int, rows: int | None) -> None:
        expected = self.counts.get(partition)
        if expected is None or (rows is not None and rows != expected):
            raise SourceError(
                f"the Spark DataFrame gave other rows when output {self.name!r} was "
                f"computed than when it was counted (partition {partition}: "
                f"{expected or 0:,} rows, then {'more' if rows is None else f'{rows:,}'}), "
                "so its row numbers are not knowable; persist it first (df.persist()) or "
                "write it out and use the files"
            )


def lazy_output(
    frame: Any,
    fn: BatchFn,
    name: str,
    schema: pa.Schema,
    input_schema: pa.Schema,
    batch_size: int,
    counts: dict[int, int],
) -> Any:
    """A lazy DataFrame of output ``name``: ``fn`` over ``frame``, rows numbered globally.

    Nothing runs until the DataFrame is computed; each computation reruns ``fn`` over
    ``frame`` (which must then give the rows ``counts`` counted, in the same partitions).
    """
    from pyspark.sql import functions as F

    partition = "__suture_partition"
    while partition in frame.columns:
        partition = "_" + partition
    numbered = frame.select(F.spark_partition_id().alias(partition), "*")
    task = OutputTask(fn, name, schema, input_schema, batch_size, dict(counts), partition)
    return numbered.mapInArrow(task, spark_schema(name, schema))


def job_reports(reports: Mapping[Any, Report], job: int) -> list[Report]:
    return [report for (number, _), report in sorted(reports.items()) if number == job]


def check_reports(reports: Mapping[Any, Report], job: int, counts: Mapping[int, int]) -> None:
    """Raise the first error of ``job``; refuse a DataFrame that changed between passes."""
    mine = {partition: report for (number, partition), report in reports.items() if number == job}
    for partition in sorted(mine):
        if mine[partition][2] is not None:
            raise errors.from_wire(bytes(mine[partition][2] or b""))
    for partition, expected in sorted(counts.items()):
        got = mine[partition][0] if partition in mine else 0
        if got != expected:
            raise SourceError(
                f"the Spark DataFrame gave other rows in a second pass over it (partition "
                f"{partition}: {expected:,} rows, then {got:,}), so its row numbers are not "
                "knowable; persist it first (df.persist()) or write it out and use the files"
            )


@contextlib.contextmanager
def committed(spark: Any, targets: Mapping[str, str]) -> Iterator[dict[str, str]]:
    """Temporary folders for ``targets``, renamed into place when the block succeeds."""
    uris = {name: path for name, path in targets.items() if URI.match(path)}
    local = {name: path for name, path in targets.items() if name not in uris}
    names = list(local)
    with atomic_outputs([local[n] for n in names], folders=[True] * len(names)) as temporaries:
        folders = {name: str(path) for name, path in zip(names, temporaries, strict=True)}
        with committed_uris(spark, uris) as remote:
            folders.update(remote)
            yield folders


@contextlib.contextmanager
def committed_uris(spark: Any, targets: Mapping[str, str]) -> Iterator[dict[str, str]]:
    """Like :func:`committed` for URIs, through the Hadoop file system of each."""
    if not targets:
        yield {}
        return
    jvm, conf = spark.sparkContext._jvm, spark.sparkContext._jsc.hadoopConfiguration()

    def hadoop(uri: str) -> tuple[Any, Any]:
        path = jvm.org.apache.hadoop.fs.Path(uri)
        return path, path.getFileSystem(conf)

    temporaries = {}
    for name, uri in targets.items():
        parent, _, leaf = uri.rstrip("/").rpartition("/")
        temporaries[name] = f"{parent}/.{leaf}.suture-{uuid.uuid4().hex[:12]}.tmp"
    try:
        yield dict(temporaries)
        for name, uri in targets.items():
            final, fs = hadoop(uri)
            if fs.exists(final):
                fs.delete(final, True)
            if not fs.rename(hadoop(temporaries[name])[0], final):
                raise errors.OutputError(
                    f"{uri}: cannot rename {temporaries[name]} into place; the complete "
                    "output stays there, check the permissions of the folder"
                )
            del temporaries[name]
    finally:
        for temporary in temporaries.values():
            path, fs = hadoop(temporary)
            if fs.exists(path):
                fs.delete(path, True)
