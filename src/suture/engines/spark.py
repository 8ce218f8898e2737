"""SparkEngine: run the same aggregators on Apache Spark.

Each partition folds its Arrow record batches into a partial state inside
``DataFrame.mapInArrow`` and yields one row holding ``aggregator.to_bytes(state)``; the
partial states are merged as bytes in a tree (each level a ``repartition`` and another
``mapInArrow`` that merges up to ``fan_in`` states into one), so the driver only ever
holds a few states however many partitions there are.  The aggregator object is
configuration only and travels to the executors by cloudpickle; states travel as their
portable byte images, never as pickles.

A :class:`~suture.errors.SutureError` raised on an executor (a damaged state, a value the
aggregator refuses) comes back to the driver as the same error with the same message,
not as a Java stack trace.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa

from suture import errors
from suture.aggregate import Aggregator
from suture.errors import SourceError, SutureError, UnsupportedTypeError
from suture.sources import DEFAULT_BATCH_SIZE

__all__ = ["SparkEngine"]

R = TypeVar("R")
Progress = Callable[[int], None]

# A partial result on its way to the driver: (state bytes, error class, error message, rows).
Partial = tuple[bytes | None, str | None, str | None, int]

_OUTPUT_SCHEMA = "state binary, error_class string, error_message string, rows long"
_PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
_CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# The last line of a Python traceback shipped back from an executor.
_REMOTE_ERROR = re.compile(r"^suture\.errors\.(\w+): (.+)$", re.M)
_FAILED_READ = re.compile(r"\[FAILED_READ_FILE[^\]]*\]\s*([^\n]*?)\.?(?=\s+SQLSTATE|$)", re.M)
# PySpark warns about pandas 3 whenever it touches its Arrow path; suture uses no pandas.
_PANDAS_WARNING = "PySpark does not yet fully support pandas"


class SparkEngine:
    """Run aggregators on Apache Spark through ``DataFrame.mapInArrow``.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession, optional
        The session to use.  By default the active session, or a new one (application
        name ``suture``) on ``master``.
    master : str, optional
        The Spark master URL of a session this engine creates (``spark://host:7077``,
        ``yarn``, ``local[4]``); default ``local[*]``, or the master ``spark-submit``
        chose.  Ignored when a session is passed or already active.
    batch_size : int, default 65536
        The largest record batch an aggregator sees.  Spark itself cuts partitions into
        batches of ``spark.sql.execution.arrow.maxRecordsPerBatch`` rows; larger ones are
        sliced.
    fan_in : int, default 32
        How many partial states are merged into one at each level of the merge tree (and
        at most on the driver at the end).

    Notes
    -----
    The result equals the local engine's for the same rows: exact statistics exactly
    (up to floating rounding for moments, which are summed in another order), sketches
    within their stated error bounds.  Empty partitions contribute the zero state.  When
    this engine starts a local session, the workers run this Python interpreter
    (``PYSPARK_PYTHON`` defaults to ``sys.executable``); on a cluster, the executors need
    the same version of suture installed.
    """

    name = "spark"

    def __init__(
        self,
        spark: Any | None = None,
        *,
        master: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        fan_in: int = 32,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if fan_in < 2:
            raise ValueError(f"fan_in must be at least 2, got {fan_in}")
        self._spark = spark
        self.master = master
        self.batch_size = batch_size
        self.fan_in = fan_in
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
            ``spark.read`` (CSV with a header line and inferred column types).

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
        progress: Progress | None = None,
    ) -> R:
        """Fold every row of ``source`` into ``aggregator`` on Spark and return the result.

        Parameters
        ----------
        source : pyspark.sql.DataFrame, str or Path
            Anything :meth:`open` accepts.
        aggregator : Aggregator
            Built for the columns of :meth:`schema_of`.
        progress : callable, optional
            Called once, with the number of rows read, when the Spark job has finished.
        """
        return aggregator.finalize(self.aggregate_state(source, aggregator, progress=progress))

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
        schema = _arrow_schema(frame.schema, frame.sparkSession)
        with _quiet(), _spark_failures(self.describe(source)):
            partitions = frame.rdd.getNumPartitions()
            level = frame.mapInArrow(
                _partition_fold(aggregator, schema, self.batch_size), _OUTPUT_SCHEMA
            )
            while partitions > self.fan_in:
                partitions = math.ceil(partitions / self.fan_in)
                level = level.repartition(partitions).mapInArrow(
                    _merge_level(aggregator), _OUTPUT_SCHEMA
                )
            partials = [tuple(row) for row in level.collect()]
        state, error_class, message, rows = _merge_partials(aggregator, partials)
        if message is not None:
            raise _error_class(error_class)(message)
        if progress is not None:
            progress(rows)
        return aggregator.zero() if state is None else state

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
                    sep = "\t" if ".tsv" in name else ","
                    return reader.csv(path, header=True, inferSchema=True, sep=sep)
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


def _session(master: str | None) -> Any:
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        return active
    if master is None and "PYSPARK_GATEWAY_PORT" not in os.environ:
        master = "local[*]"  # not under spark-submit, which chooses the master itself
    if master is not None and master.startswith("local"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName("suture")
    if master is not None:
        builder = builder.master(master)
    with _quiet():
        return builder.getOrCreate()


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


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` with exactly the column types of ``schema`` (cast where they differ)."""
    if batch.schema.types == schema.types and batch.schema.names == schema.names:
        return batch
    arrays = [
        column if column.type == field.type else column.cast(field.type)
        for column, field in zip(batch.columns, schema, strict=True)
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _partition_fold(
    aggregator: Aggregator[Any, Any], schema: pa.Schema, batch_size: int
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The ``mapInArrow`` function: one partition's batches in, one partial state out."""

    def fold(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        rows = 0
        error: SutureError | None = None
        try:
            state = aggregator.zero()
            for batch in batches:
                conformed = _conform(batch, schema)
                for start in range(0, conformed.num_rows, batch_size):
                    state = aggregator.update(state, conformed.slice(start, batch_size))
                rows += batch.num_rows
            image: bytes | None = aggregator.to_bytes(state)
        except SutureError as exc:
            # Reported as a row, not raised: a user error is not worth Spark's task retries.
            error, image = exc, None
        yield _partial_batch(
            (image, type(error).__name__ if error else None, str(error) if error else None, rows)
        )

    return fold


def _merge_partials(
    aggregator: Aggregator[Any, Any], partials: Iterable[Partial]
) -> tuple[Any, str | None, str | None, int]:
    """Merge partial results into (state, error class, error message, rows).

    The state is ``None`` when there were no partials; the first error met wins.
    """
    state: Any = None
    rows = 0
    for image, error_class, message, count in partials:
        rows += count
        if message is not None:
            return None, error_class, message, rows
        try:
            part = aggregator.from_bytes(bytes(image or b""))
            state = part if state is None else aggregator.merge(state, part)
        except SutureError as exc:
            return None, type(exc).__name__, str(exc), rows
    return state, None, None, rows


def _merge_level(
    aggregator: Aggregator[Any, Any],
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The ``mapInArrow`` function of a merge level: partial states in, one merged out."""

    def combine(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        partials = (
            partial
            for batch in batches
            for partial in zip(*(column.to_pylist() for column in batch.columns), strict=True)
        )
        state, error_class, message, rows = _merge_partials(aggregator, partials)
        if state is not None or message is not None:
            image = None if state is None else aggregator.to_bytes(state)
            yield _partial_batch((image, error_class, message, rows))

    return combine


def _partial_batch(partial: Partial) -> pa.RecordBatch:
    image, error_class, message, rows = partial
    return pa.RecordBatch.from_pydict(
        {
            "state": pa.array([image], pa.binary()),
            "error_class": pa.array([error_class], pa.string()),
            "error_message": pa.array([message], pa.string()),
            "rows": pa.array([rows], pa.int64()),
        }
    )


def _error_class(name: str | None) -> type[SutureError]:
    found = getattr(errors, name or "", None)
    if isinstance(found, type) and issubclass(found, SutureError):
        return found
    return SutureError


def _is_spark_error(exc: BaseException) -> bool:
    module = type(exc).__module__
    return module.startswith(("pyspark", "py4j"))


@contextlib.contextmanager
def _spark_failures(name: str) -> Iterator[None]:
    """Turn Spark's report of a SutureError or of unreadable input into a SutureError."""
    try:
        yield
    except Exception as exc:
        if not _is_spark_error(exc):
            raise
        text = str(exc)
        remote = _REMOTE_ERROR.findall(text)
        if remote:
            error_name, message = remote[-1]
            raise _error_class(error_name)(message) from None
        unreadable = _FAILED_READ.search(text)
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
