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
    are folded per partition in the first of those jobs and their partial states come
    back, as bytes, with the task results.

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
import collections
import contextlib
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import traceback
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa

from suture import errors
from suture.aggregate import Aggregator, merge_all
from suture.bundle import atomic_outputs
from suture.engines.base import BatchFn, Progress, Sink
from suture.errors import ConfigError, InternalError, SourceError, SutureError, UnsupportedTypeError
from suture.sources import DEFAULT_BATCH_SIZE
from suture.sources import _check_encoding_name as check_encoding_name
from suture.sources import _detect_delimiter as detect_delimiter

__all__ = ["SparkEngine"]

R = TypeVar("R")

# A partial result on its way to the driver: (state bytes, error as to_wire bytes, rows).
Partial = tuple[bytes | None, bytes | None, int]
# What one partition of a map_batches job reports: (rows, states by output, error).
Report = tuple[int, dict[str, bytes], bytes | None]

_PARTIAL_SCHEMA = "state binary, error binary, rows long"
_PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
_CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_FAILED_READ = re.compile(r"\[FAILED_READ_FILE[^\]]*\]\s*([^\n]*?)\.?(?=\s+SQLSTATE|$)", re.M)
# PySpark warns about pandas 3 whenever it touches its Arrow path; suture uses no pandas.
_PANDAS_WARNING = "PySpark does not yet fully support pandas"
_POLL_SECONDS = 0.25

# Spark's log for sessions suture starts: errors only.  The repl logger must match the
# root level, or Spark resets the root to WARN and prints "Setting default log level".
_LOG4J2 = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex
logger.repl.name = org.apache.spark.repl.Main
logger.repl.level = error
"""

#: The last lines the JVM of a session suture started wrote to its stderr (kept off the
#: terminal; shown with SUTURE_DEBUG=1 instead).
JVM_STDERR: collections.deque[str] = collections.deque(maxlen=200)


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
            self._spark = _session(self.master)
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
        if _is_spark_frame(source):
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
        with _quiet(), _spark_failures(self.describe(source)), _polling(done, progress) as told:
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
            For a single Parquet or CSV file read in one partition this is the row's
            position in the file; Spark may order the pieces of larger inputs otherwise.
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
            The result of each aggregator, by output name.

        Raises
        ------
        ConfigError
            When ``sink`` or ``aggregators`` name an output that ``schema`` lacks.
        OutputError
            When an output path cannot be written (checked before any work).
        SourceError
            When the DataFrame gives other rows in the second pass than in the first
            (a non-deterministic DataFrame: persist it first), or cannot be read.

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
        along with the first); the partial aggregator states, one per partition, are
        merged on the driver with :func:`suture.aggregate.merge_all`, so keep such
        states small (a validation summary is a few counts).
        """
        frame = self.open(source)
        spark = frame.sparkSession
        folds = dict(aggregators or {})
        targets = {name: path for name, path in (sink or {}).items() if path is not None}
        _check_outputs(schema, targets, folds)
        input_schema = _arrow_schema(frame.schema, spark)
        spark_schemas = {name: _spark_schema(name, schema[name]) for name in targets}
        with (
            _quiet(),
            _spark_failures(self.describe(source)),
            _committed(spark, {n: str(p) for n, p in targets.items()}) as folders,
        ):
            counts = _partition_counts(frame)
            offsets = _offsets(counts)
            done = spark.sparkContext.accumulator(0)
            reports = spark.sparkContext.accumulator({}, _ReportsParam())
            with _polling(done, progress) as told:
                for job, name in enumerate(list(targets) or [None]):
                    task = _MapTask(
                        fn, dict(schema), input_schema, self.batch_size, offsets, name,
                        folds if job == 0 else {}, done if job == 0 else None, reports, job,
                    )  # fmt: skip
                    if name is None:
                        frame.mapInArrow(task, "done int").write.format("noop").mode(
                            "overwrite"
                        ).save()
                    else:
                        out = frame.mapInArrow(task, spark_schemas[name])
                        out.write.mode("overwrite").parquet(folders[name])
                    _check_reports(reports.value, job, counts)
            first = _job_reports(reports.value, 0)
            results = {
                name: agg.finalize(
                    merge_all(agg, (agg.from_bytes(states[name]) for _, states, _ in first))
                )
                for name, agg in folds.items()
            }
        if progress is not None:
            rows = sum(counts.values())
            if rows > told[0]:
                progress(rows - told[0])
        return results

    def _read(self, path: str) -> Any:
        local = _URI.match(path) is None or path.startswith("file://")
        local_path = Path(path.removeprefix("file://"))
        if local and not local_path.exists():
            raise SourceError(f"{path}: no such file or folder; check the path")
        name = path.lower().rstrip("/")
        reader = self.spark.read
        try:
            with _quiet():
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


def _session(master: str | None) -> Any:
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        return active
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ
    if master is None and not submitted and "--master" not in _submit_args():
        master = "local[*]"
    if master is not None and master.startswith("local"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName("suture")
    if master is not None:
        builder = builder.master(master)
    with _quiet():
        if submitted:  # under spark-submit the user's settings rule
            return builder.getOrCreate()
        return _quiet_session(builder)


def _submit_args() -> list[str]:
    return os.environ.get("PYSPARK_SUBMIT_ARGS", "").split()


def _quiet_session(builder: Any) -> Any:
    """Start a session whose JVM keeps its log and start-up lines off the terminal."""
    from pyspark import SparkConf, SparkContext

    builder = builder.config("spark.ui.showConsoleProgress", "false")
    debug = os.environ.get("SUTURE_DEBUG", "") not in ("", "0")
    if SparkContext._gateway is not None or debug:  # the JVM is already up, or wanted loud
        session = builder.getOrCreate()
        if not debug:
            session.sparkContext.setLogLevel("ERROR")
        return session
    folder = Path(tempfile.mkdtemp(prefix="suture-spark-"))
    try:
        config = folder / "log4j2.properties"
        config.write_text(_LOG4J2)
        option = f"-Dlog4j2.configurationFile={config.as_uri()}"
        builder = builder.config("spark.driver.extraJavaOptions", option)
        conf = SparkConf()
        for key, value in builder._options.items():
            conf.set(key, value)
        _start_gateway(conf)
        session = builder.getOrCreate()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    session.sparkContext.setLogLevel("ERROR")
    return session


def _start_gateway(conf: Any) -> None:
    """Launch the JVM with its stderr kept in :data:`JVM_STDERR` instead of the terminal."""
    from pyspark import SparkContext
    from pyspark.java_gateway import launch_gateway

    kwargs = {"stderr": subprocess.PIPE}
    gateway = launch_gateway(conf, popen_kwargs=kwargs)  # type: ignore[no-untyped-call]
    process = getattr(gateway, "proc", None)
    stream = getattr(process, "stderr", None)
    if stream is not None:
        threading.Thread(
            target=_drain, args=(stream,), daemon=True, name="suture-spark-stderr"
        ).start()
    SparkContext._ensure_initialized(gateway=gateway, conf=conf)


def _drain(stream: Any) -> None:
    for line in iter(stream.readline, b""):
        JVM_STDERR.append(line.decode("utf-8", "replace").rstrip("\n"))


def _is_spark_frame(obj: Any) -> bool:
    return type(obj).__module__.startswith("pyspark.sql") and hasattr(obj, "mapInArrow")


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


def _spark_schema(output: str, schema: pa.Schema) -> Any:
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


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` with exactly the column types of ``schema`` (cast where they differ)."""
    if batch.schema.types == schema.types and batch.schema.names == schema.names:
        return batch
    arrays = [
        column if column.type == field.type else column.cast(field.type)
        for column, field in zip(batch.columns, schema, strict=True)
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _slices(
    batches: Iterable[pa.RecordBatch], schema: pa.Schema, batch_size: int
) -> Iterator[pa.RecordBatch]:
    """Spark's batches relabelled to ``schema`` and cut to at most ``batch_size`` rows."""
    for batch in batches:
        conformed = _conform(batch, schema)
        if conformed.num_rows <= batch_size:
            yield conformed
            continue
        for start in range(0, conformed.num_rows, batch_size):
            yield conformed.slice(start, batch_size)


def _wire(exc: Exception) -> bytes:
    """``exc`` encoded for the driver; a bug becomes an InternalError with its traceback."""
    if isinstance(exc, SutureError):
        return errors.to_wire(exc)
    detail = "".join(traceback.format_exception(exc)).rstrip()
    return errors.to_wire(
        InternalError(f"a Spark executor failed ({type(exc).__name__}: {exc}); this is a "
                      f"bug in suture, please report it with this message:\n{detail}")
    )  # fmt: skip


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
            for batch in _slices(batches, schema, batch_size):
                state = aggregator.update(state, batch)
                rows += batch.num_rows
            image = aggregator.to_bytes(state)
        except Exception as exc:
            # Reported as a row, not raised: neither a user error nor a bug is worth
            # Spark's task retries.
            error = _wire(exc)
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
        return None, _wire(exc), rows


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


def _check_outputs(
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


def _partition_counts(frame: Any) -> dict[int, int]:
    """Rows in each partition of ``frame`` (a job that reads no columns in Python)."""
    from pyspark.sql import functions as F

    rows = frame.select(F.spark_partition_id().alias("p")).groupBy("p").count().collect()
    counts = {int(row[0]): int(row[1]) for row in rows}
    for partition in range(frame.rdd.getNumPartitions()):
        counts.setdefault(partition, 0)
    return counts


def _offsets(counts: Mapping[int, int]) -> list[int]:
    """The index of each partition's first row, partitions in order."""
    offsets, total = [], 0
    for partition in range(max(counts, default=-1) + 1):
        offsets.append(total)
        total += counts.get(partition, 0)
    return offsets


class _ReportsParam:
    """Accumulates ``{(job, partition): Report}``; a retried task overwrites its report."""

    def zero(self, value: dict[Any, Any]) -> dict[Any, Any]:
        return {}

    def addInPlace(self, a: dict[Any, Any], b: dict[Any, Any]) -> dict[Any, Any]:
        a.update(b)
        return a


class _MapTask:
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
            for batch in _slices(batches, self.input_schema, self.batch_size):
                outputs = self.fn(batch, row + rows)
                rows += batch.num_rows
                for name, agg in self.folds.items():
                    states[name] = agg.update(states[name], self._output(outputs, name))
                if self.emit is not None:
                    yield self._output(outputs, self.emit)
            images = {name: agg.to_bytes(states[name]) for name, agg in self.folds.items()}
        except Exception as exc:
            error, images = _wire(exc), {}
        if self.done is not None:
            self.done.add(rows)
        self.reports.add({(self.job, partition): (rows, images, error)})

    def _output(self, outputs: Mapping[str, pa.RecordBatch], name: str) -> pa.RecordBatch:
        if name not in outputs:
            raise InternalError(
                f"map_batches: fn returned no output {name!r} (it returned "
                f"{', '.join(map(repr, outputs)) or 'none'})"
            )
        return _conform(outputs[name], self.schema[name])


def _job_reports(reports: Mapping[Any, Report], job: int) -> list[Report]:
    return [report for (number, _), report in sorted(reports.items()) if number == job]


def _check_reports(reports: Mapping[Any, Report], job: int, counts: Mapping[int, int]) -> None:
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
def _committed(spark: Any, targets: Mapping[str, str]) -> Iterator[dict[str, str]]:
    """Temporary folders for ``targets``, renamed into place when the block succeeds."""
    uris = {name: path for name, path in targets.items() if _URI.match(path)}
    local = {name: path for name, path in targets.items() if name not in uris}
    names = list(local)
    with atomic_outputs([local[n] for n in names], folders=[True] * len(names)) as temporaries:
        folders = {name: str(path) for name, path in zip(names, temporaries, strict=True)}
        with _committed_uris(spark, uris) as remote:
            folders.update(remote)
            yield folders


@contextlib.contextmanager
def _committed_uris(spark: Any, targets: Mapping[str, str]) -> Iterator[dict[str, str]]:
    """Like :func:`_committed` for URIs, through the Hadoop file system of each."""
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


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_PANDAS_WARNING, category=FutureWarning)
        yield


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
