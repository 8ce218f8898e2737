"""SparkEngine: run the same aggregators and batch maps on Apache Spark.

``aggregate``
    Each partition folds its Arrow record batches into a partial state inside
    ``DataFrame.mapInArrow`` and yields one row holding ``aggregator.to_bytes(state)``;
    the partial states are merged as bytes in a tree (each level a ``repartition`` and
    another ``mapInArrow`` that merges up to ``fan_in`` states into one), so the driver
    only ever holds a few states however many partitions there are.

``map_batches``
    A first, cheap job counts the rows of each partition (so that ``fn`` learns the index
    of each batch's first row); then one Spark job per output with a sink runs ``fn`` in
    ``mapInArrow`` and writes that output as a Parquet folder.  Aggregators over outputs
    are folded per partition in the first of those jobs (a job that writes nothing when
    no output has a sink) and their partial states come back, as bytes, with the task
    results.  An output with neither a sink nor an aggregator comes back as a lazy
    DataFrame that computes it (with the same row numbers) when Spark is asked for it.

The aggregator (and ``fn``) is configuration only and travels to the executors by
cloudpickle; states travel as their portable byte images, never as pickles.  An error
raised on an executor comes back to the driver through :func:`suture.errors.to_wire` as a
row, not as a failed task that Spark would retry: a :class:`~suture.errors.SutureError`
as the same class with the same message and attributes, anything else as an
:class:`~suture.errors.InternalError` carrying the executor's traceback.

A session this engine starts itself is quiet: no console stage bars, Spark's log at
ERROR, and the JVM's own start-up lines kept off the terminal (set ``SUTURE_DEBUG=1`` to
see them); suture's progress display shows instead.  A session the user made keeps its
settings.
"""

from __future__ import annotations

import codecs
import contextlib
import math
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa

from suture import errors
from suture.aggregate import Aggregator, merge_all
from suture.engines import is_spark_frame
from suture.engines._spark_map import (
    URI,
    MapTask,
    ReportsParam,
    check_outputs,
    check_reports,
    committed,
    job_reports,
    lazy_output,
    offsets,
    partition_counts,
    slices,
    spark_schema,
    wire,
)
from suture.engines._spark_session import quiet, session
from suture.engines.base import BatchFn, Progress, Sink
from suture.errors import ConfigError, SourceError, UnsupportedTypeError
from suture.sources import DEFAULT_BATCH_SIZE
from suture.sources import _check_encoding_name as check_encoding_name
from suture.sources import _detect_delimiter as detect_delimiter

__all__ = ["SparkEngine"]

R = TypeVar("R")

# A partial result on its way to the driver: (state bytes, error as to_wire bytes, rows).
Partial = tuple[bytes | None, bytes | None, int]

_PARTIAL_SCHEMA = "state binary, error binary, rows long"
_PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
_CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz")
_FAILED_READ = re.compile(r"\[FAILED_READ_FILE[^\]]*\]\s*([^\n]*?)\.?(?=\s+SQLSTATE|$)", re.M)
_POLL_SECONDS = 0.25


class SparkEngine:
    """Run aggregators and batch maps on Apache Spark through ``DataFrame.mapInArrow``.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession, optional
        The session to use.  By default the active session, or a new, quiet one
        (application name ``suture``) on ``master``.
    master : str, optional
        The Spark master URL of a session this engine creates (``spark://host:7077``,
        ``yarn``, ``local[4]``); default ``local[*]``, or the master ``spark-submit`` (or
        ``--master`` in ``PYSPARK_SUBMIT_ARGS``) chose.  Ignored when a session is passed
        or already active.
    batch_size : int, default 131072
        The largest record batch an aggregator or ``fn`` sees.  Spark itself cuts
        partitions into batches of ``spark.sql.execution.arrow.maxRecordsPerBatch`` rows;
        larger ones are sliced.
    fan_in : int, default 32
        How many partial states are merged into one at each level of the merge tree (and
        at most on the driver at the end).
    delimiter : str, optional
        The field separator of CSV sources; by default detected from the header line of
        a local file (``,``, ``;``, tab or ``|``, whichever it holds most; tab for
        ``.tsv``), else ``,``.
    encoding : str, default "utf-8"
        The text encoding of CSV sources.

    Raises
    ------
    ConfigError
        For a parameter out of its range.

    Notes
    -----
    The result equals the local engine's for the same rows: exact statistics exactly
    (up to floating rounding for moments, which are summed in another order), sketches
    within their stated error bounds.  Empty partitions contribute the zero state.  When
    this engine starts a local session, the workers run this Python interpreter
    (``PYSPARK_PYTHON`` defaults to ``sys.executable``); on a cluster, the executors need
    the same version of suture installed and ``PYSPARK_PYTHON`` naming it.
    """

    name = "spark"

    def __init__(
        self,
        spark: Any | None = None,
        *,
        master: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        fan_in: int = 32,
        delimiter: str | None = None,
        encoding: str = "utf-8",
    ) -> None:
        _check_int("batch_size", batch_size, 1)
        _check_int("fan_in", fan_in, 2)
        if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1):
            raise ConfigError(
                f"delimiter must be one character such as ',' or ';', got {delimiter!r}"
            )
        check_encoding_name(encoding)
        if master is not None and (not isinstance(master, str) or not master.strip()):
            raise ConfigError(f"master must be a Spark master URL such as local[2], got {master!r}")
        self._spark = spark
        self.master = master
        self.batch_size = batch_size
        self.fan_in = fan_in
        self.delimiter = delimiter
        self.encoding = encoding
        self._names: dict[int, tuple[Any, str]] = {}

    @property
    def spark(self) -> Any:
        """The Spark session, started on first use when none was given."""
        if self._spark is None:
            self._spark = session(self.master)
        return self._spark

    def open(self, source: Any) -> Any:
        """The Spark DataFrame for ``source``: a DataFrame, or a Parquet or CSV path.

        Parameters
        ----------
        source : pyspark.sql.DataFrame, str or Path
            A DataFrame passes through.  A path (local, or a URI such as ``s3a://...``)
            to a Parquet file or folder, or a CSV, TSV or gzipped CSV file, is read with
            ``spark.read`` (CSV with a header line and inferred column types, with this
            engine's ``delimiter`` and ``encoding``).

        Raises
        ------
        SourceError
            When the path is missing or unreadable, or ``source`` is another object.
        """
        if is_spark_frame(source):
            if type(source).__module__.startswith("pyspark.sql.connect"):
                raise SourceError(
                    "the Spark engine needs a classic Spark session, not Spark Connect (it "
                    "merges partial states with DataFrame.rdd); profile with a classic session"
                )
            return source
        if isinstance(source, str | os.PathLike):
            frame = self._read(str(source))
            self._names[id(frame)] = (frame, str(source))
            return frame
        raise SourceError(
            f"the Spark engine cannot read a {type(source).__name__}: pass a Spark DataFrame "
            "or a path to Parquet or CSV data, or profile it with the local engine"
        )

    def schema_of(self, source: Any) -> pa.Schema:
        """The Arrow schema of the record batches the aggregators see.

        Spark's types map to Arrow as ``mapInArrow`` delivers them (timestamps in
        microseconds, strings as ``large_string`` when
        ``spark.sql.execution.arrow.useLargeVarTypes`` is on), except that timestamps are
        labelled UTC whatever the session time zone: a Spark timestamp is an instant, and
        one label lets profiles from sessions in different zones (and local profiles of
        UTC data) merge.  Batches are relabelled to this schema before aggregation.

        Raises
        ------
        UnsupportedTypeError
            For a column whose Spark type has no Arrow equivalent.
        """
        frame = self.open(source)
        return _arrow_schema(frame.schema, frame.sparkSession)

    def describe(self, source: Any) -> str:
        """The path a DataFrame was read from, or ``"Spark DataFrame"``."""
        if isinstance(source, str | os.PathLike):
            return str(source)
        known = self._names.get(id(source))
        return known[1] if known is not None and known[0] is source else "Spark DataFrame"

    def aggregate(
        self,
        source: Any,
        aggregator: Aggregator[Any, R],
        *,
        columns: list[str] | None = None,
        progress: Progress | None = None,
    ) -> R:
        """Fold every row of ``source`` into ``aggregator`` on Spark and return the result.

        Parameters
        ----------
        source : pyspark.sql.DataFrame, str or Path
            Anything :meth:`open` accepts.
        aggregator : Aggregator
            Built for the columns of :meth:`schema_of` (or of ``columns``).
        columns : list of str, optional
            The columns the aggregator reads; the others are never read.
        progress : callable, optional
            Called, on a thread of the driver, with the number of rows of the partitions
            that finished since the last call.
        """
        state = self.aggregate_state(source, aggregator, columns=columns, progress=progress)
        return aggregator.finalize(state)

    def aggregate_state(
        self,
        source: Any,
        aggregator: Aggregator[Any, Any],
        *,
        columns: list[str] | None = None,
        progress: Progress | None = None,
    ) -> Any:
        """Like :meth:`aggregate` but return the merged state, not its result.

        ``columns`` selects the columns the aggregator reads; the others are never read
        (so a column of a type Arrow cannot carry can be left out).
        """
        frame = self.open(source)
        if columns is not None:
            frame = frame.select(*[_column(name) for name in columns])
        spark = frame.sparkSession
        schema = _arrow_schema(frame.schema, spark)
        done = spark.sparkContext.accumulator(0)
        with quiet(), _spark_failures(self.describe(source)), _polling(done, progress) as told:
            partitions = frame.rdd.getNumPartitions()
            level = frame.mapInArrow(
                _partition_fold(aggregator, schema, self.batch_size, done), _PARTIAL_SCHEMA
            )
            while partitions > self.fan_in:
                partitions = math.ceil(partitions / self.fan_in)
                level = level.repartition(partitions).mapInArrow(
                    _merge_level(aggregator), _PARTIAL_SCHEMA
                )
            partials = [(row[0], row[1], row[2]) for row in level.collect()]
        state, error, rows = _merge_partials(aggregator, partials)
        if error is not None:
            raise errors.from_wire(error)
        if progress is not None and rows > told[0]:
            progress(rows - told[0])
        return aggregator.zero() if state is None else state

    def map_batches(
        self,
        source: Any,
        fn: BatchFn,
        *,
        schema: Mapping[str, pa.Schema],
        sink: Sink | None = None,
        aggregators: Mapping[str, Aggregator[Any, Any]] | None = None,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        """Run ``fn`` over every batch of ``source`` on Spark and write its outputs.

        Parameters
        ----------
        source : pyspark.sql.DataFrame, str or Path
            Anything :meth:`open` accepts.
        fn : BatchFn
            ``fn(batch, first_row)`` returns one batch per output name of ``schema``.  It
            runs on the executors (so it must be picklable and pure).  ``first_row`` is
            the index of the batch's first row in the DataFrame as Spark holds it: its
            partitions in order, the order in which ``df.collect()`` returns the rows.
            For a single Parquet or CSV file this is the row's position in the file
            (Spark keeps a file's pieces in order); the files of a folder Spark may take
            in another order than the local engine does.
        schema : mapping of str to pyarrow.Schema
            The schema of each named output; ``fn``'s batches are cast to it.
        sink : mapping of str to path or None, optional
            Where each output goes, as a Parquet folder (``None`` or absent: not written).
        aggregators : mapping of str to Aggregator, optional
            Output name to an aggregator folded over that output's batches.
        progress : callable, optional
            Called, on a thread of the driver, with the number of input rows of the
            partitions that finished since the last call (in the first job).

        Returns
        -------
        dict
            The result of each aggregator, by output name; and, for each output of
            ``schema`` with neither a sink path nor an aggregator, a lazy Spark
            DataFrame of that output: a ``mapInArrow`` of ``fn`` over ``source`` with
            the same ``first_row`` numbering, its rows in the source's order.  Nothing
            of it runs until it is computed (``collect``, ``toArrow``, ``write``), and
            each computation reruns ``fn``; an error of ``fn`` is then raised by Spark.

        Raises
        ------
        ConfigError
            When ``sink`` or ``aggregators`` name an output that ``schema`` lacks.
        OutputError
            When an output path cannot be written (checked before any work).
        SourceError
            When the DataFrame gives other rows in the second pass than in the first
            (a non-deterministic DataFrame: persist it first), or cannot be read; a
            returned lazy DataFrame raises it (through Spark) when computed.

        Notes
        -----
        Local output folders are written atomically together: Spark writes each under a
        hidden temporary folder beside its target, and all are renamed into place only
        when every job succeeded (:func:`suture.bundle.atomic_outputs`); on any failure
        no existing output is touched and no temporary remains.  For a URI
        (``s3a://``, ``hdfs://``, ``file://``) the folders are written under hidden
        temporary names beside the targets too (names starting with ``.``, which Spark
        and Hadoop readers skip), then each target is deleted and the temporary renamed
        through the Hadoop file system.  That rename is atomic on HDFS and local files
        but a copy on object stores such as S3: a failure during it can leave a target
        missing or partly copied (its hidden temporary stays complete beside it).

        Each output with a sink costs one pass of ``fn`` over the data (aggregators ride
        along with the first), after the count, and each computation of a returned lazy
        output one more; every pass recomputes the DataFrame, so persist one that is
        costly to compute (a join, a wide aggregation).  The partial
        aggregator states, one per partition, are merged on the driver with
        :func:`suture.aggregate.merge_all`, so keep such states small (a validation
        summary is a few counts).
        """
        frame = self.open(source)
        spark = frame.sparkSession
        folds = dict(aggregators or {})
        targets = {name: path for name, path in (sink or {}).items() if path is not None}
        check_outputs(schema, targets, folds)
        lazy = [name for name in schema if name not in targets and name not in folds]
        input_schema = _arrow_schema(frame.schema, spark)
        spark_schemas = {name: spark_schema(name, schema[name]) for name in [*targets, *lazy]}
        with (
            quiet(),
            _spark_failures(self.describe(source)),
            committed(spark, {n: str(p) for n, p in targets.items()}) as folders,
        ):
            counts = partition_counts(frame)
            starts = offsets(counts)
            done = spark.sparkContext.accumulator(0)
            reports = spark.sparkContext.accumulator({}, ReportsParam())
            with _polling(done, progress) as told:
                for job, name in enumerate(list(targets) or ([None] if folds else [])):
                    task = MapTask(
                        fn, dict(schema), input_schema, self.batch_size, starts, name,
                        folds if job == 0 else {}, done if job == 0 else None, reports, job,
                    )  # fmt: skip
                    if name is None:
                        frame.mapInArrow(task, "done int").write.format("noop").mode(
                            "overwrite"
                        ).save()
                    else:
                        out = frame.mapInArrow(task, spark_schemas[name])
                        out.write.mode("overwrite").parquet(folders[name])
                    check_reports(reports.value, job, counts)
            first = job_reports(reports.value, 0)
            results = {
                name: agg.finalize(
                    merge_all(agg, (agg.from_bytes(states[name]) for _, states, _ in first))
                )
                for name, agg in folds.items()
            }
            for name in lazy:
                results[name] = lazy_output(
                    frame, fn, name, schema[name], input_schema, self.batch_size, counts
                )
        if progress is not None:
            rows = sum(counts.values())
            if rows > told[0]:
                progress(rows - told[0])
        return results

    def _read(self, path: str) -> Any:
        local = URI.match(path) is None or path.startswith("file://")
        local_path = Path(path.removeprefix("file://"))
        if local and not local_path.exists():
            raise SourceError(f"{path}: no such file or folder; check the path")
        name = path.lower().rstrip("/")
        reader = self.spark.read
        try:
            with quiet():
                if name.endswith(_CSV_SUFFIXES):
                    sep = self.delimiter or _csv_delimiter(path, local, self.encoding)
                    charset = _java_charset(self.spark, self.encoding)
                    return reader.csv(
                        path, header=True, inferSchema=True, sep=sep, encoding=charset
                    )
                if name.endswith(_PARQUET_SUFFIXES) or (local and local_path.is_dir()):
                    return reader.parquet(path)
        except Exception as exc:
            if not _is_spark_error(exc):
                raise
            raise SourceError(f"{path}: Spark cannot read it ({_first_line(exc)})") from None
        raise SourceError(
            f"{path}: cannot tell the format from the name; use a .parquet, .csv or .csv.gz "
            "file or a folder of Parquet files"
        )


def _check_int(name: str, value: Any, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer of at least {least}, got {value!r}")
    if value < least:
        raise ConfigError(f"{name} must be at least {least}, got {value}")


def _java_charset(spark: Any, encoding: str) -> str:
    """The name Java knows ``encoding`` by (Python's ``latin-1`` is Java's ISO-8859-1)."""
    charset = spark.sparkContext._jvm.java.nio.charset.Charset
    for name in (encoding, codecs.lookup(encoding).name):
        with contextlib.suppress(Exception):
            return str(charset.forName(name).name())
    raise ConfigError(
        f"encoding {encoding!r} is not known to Spark (Java); give its Java name, such as "
        "ISO-8859-1 or windows-1252"
    )


def _csv_delimiter(path: str, local: bool, encoding: str) -> str:
    """The delimiter of a CSV source: from a local file's header line, else by name."""
    local_path = Path(path.removeprefix("file://"))
    if local and local_path.is_file():
        return detect_delimiter(local_path, encoding)
    return "\t" if ".tsv" in path.lower() else ","


def _column(name: str) -> Any:
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def _arrow_schema(struct: Any, spark: Any) -> pa.Schema:
    from pyspark.sql.pandas.types import to_arrow_type

    large = spark.conf.get("spark.sql.execution.arrow.useLargeVarTypes", "false") == "true"
    fields = []
    for field in struct:
        try:
            arrow = to_arrow_type(field.dataType, timezone="UTC", prefers_large_types=large)
        except Exception:
            raise UnsupportedTypeError(
                f"column {field.name!r} has Spark type {field.dataType.simpleString()}, "
                f"which Arrow cannot carry; drop it before profiling (df.drop({field.name!r}))"
            ) from None
        fields.append(pa.field(field.name, arrow, nullable=field.nullable))
    return pa.schema(fields)


def _partition_fold(
    aggregator: Aggregator[Any, Any], schema: pa.Schema, batch_size: int, done: Any
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The ``mapInArrow`` function: one partition's batches in, one partial state out."""

    def fold(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        rows = 0
        error: bytes | None = None
        image: bytes | None = None
        try:
            state = aggregator.zero()
            for batch in slices(batches, schema, batch_size):
                state = aggregator.update(state, batch)
                rows += batch.num_rows
            image = aggregator.to_bytes(state)
        except Exception as exc:
            # Reported as a row, not raised: neither a user error nor a bug is worth
            # Spark's task retries.
            error = wire(exc)
        done.add(rows)
        yield _partial_batch((image, error, rows))

    return fold


def _merge_partials(
    aggregator: Aggregator[Any, Any], partials: Iterable[Partial]
) -> tuple[Any, bytes | None, int]:
    """Merge partial results into (state, error, rows).

    The state is ``None`` when there were no partials; the first error met wins.
    """
    listed = list(partials)
    rows = sum(count for _, _, count in listed)
    for _, error, _ in listed:
        if error is not None:
            return None, bytes(error), rows
    if not listed:
        return None, None, rows
    try:
        states = [aggregator.from_bytes(bytes(image or b"")) for image, _, _ in listed]
        return merge_all(aggregator, states), None, rows
    except Exception as exc:
        return None, wire(exc), rows


def _merge_level(
    aggregator: Aggregator[Any, Any],
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The ``mapInArrow`` function of a merge level: partial states in, one merged out."""

    def combine(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        partials: list[Partial] = [
            (image, error, count)
            for batch in batches
            for image, error, count in zip(
                *(column.to_pylist() for column in batch.columns), strict=True
            )
        ]
        if not partials:
            return
        state, error, rows = _merge_partials(aggregator, partials)
        image = None if state is None else aggregator.to_bytes(state)
        yield _partial_batch((image, error, rows))

    return combine


def _partial_batch(partial: Partial) -> pa.RecordBatch:
    image, error, rows = partial
    return pa.RecordBatch.from_pydict(
        {
            "state": pa.array([image], pa.binary()),
            "error": pa.array([error], pa.binary()),
            "rows": pa.array([rows], pa.int64()),
        }
    )


@contextlib.contextmanager
def _polling(done: Any, progress: Progress | None) -> Iterator[list[int]]:
    """Report ``done`` (an accumulator of finished rows) to ``progress`` as it grows.

    Yields a one-element list holding the rows reported so far.
    """
    told = [0]
    if progress is None:
        yield told
        return
    stop = threading.Event()

    def report() -> None:
        value = int(done.value)
        if value > told[0]:
            progress(value - told[0])
            told[0] = value

    def poll() -> None:
        while not stop.wait(_POLL_SECONDS):
            report()

    thread = threading.Thread(target=poll, daemon=True, name="suture-spark-progress")
    thread.start()
    try:
        yield told
    finally:
        stop.set()
        thread.join()
        report()


def _is_spark_error(exc: BaseException) -> bool:
    module = type(exc).__module__
    return module.startswith(("pyspark", "py4j"))


@contextlib.contextmanager
def _spark_failures(name: str) -> Iterator[None]:
    """Turn Spark's report of unreadable input into a SourceError."""
    try:
        yield
    except Exception as exc:
        if not _is_spark_error(exc):
            raise
        unreadable = _FAILED_READ.search(str(exc))
        if unreadable:
            raise SourceError(
                f"{name}: Spark cannot read the data ({unreadable.group(1)}); check "
                "that the files are complete and in the format their names say"
            ) from None
        raise


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
