"""The one place that knows file formats and data frames.

:func:`open_source` turns whatever the user has (a path to Parquet, CSV, gzipped CSV, a
folder of Parquet files, Arrow IPC; a pyarrow Table, Dataset, RecordBatch or
RecordBatchReader; a pandas or polars DataFrame) into a :class:`Source` that streams Arrow
record batches of bounded size.  Every failure to read is a :class:`SourceError` that
names the file, and for CSV the line, and says what to do.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc

from suture.errors import ConfigError, SourceError

R = TypeVar("R")

__all__ = ["Source", "check_encoding", "csv_line_offset", "detect_delimiter", "open_source"]

DEFAULT_BATCH_SIZE = 131_072
_CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz")
_IPC_SUFFIXES = (".arrow", ".feather", ".ipc", ".arrows")
_PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")


# Row groups of more values are decoded batch by batch, to bound memory (about 64 MiB of
# 8-byte values; strings are read as dictionaries, 4-byte indices).
WHOLE_ROW_GROUP_VALUES = 8 << 20


def _parquet_file(path: str, read_dictionary: Sequence[str] = ()) -> Any:
    """A reader of the local Parquet file ``path``, as ``pyarrow.parquet.ParquetFile`` opens it.

    The reader that ``ParquetFile`` wraps, opened with its defaults (whole-column pre-buffering,
    Arrow extension types), so ``metadata``, ``schema_arrow``, ``read_row_group`` and
    ``iter_batches`` give the same tables.  Importing ``pyarrow.parquet`` loads
    ``pyarrow.fs``, its cloud filesystems and ``ssl`` (about 15 ms, 3% of a whole
    ``suture profile`` of a small file), none of which a local file needs.  A pyarrow that
    moved the private module gets ``ParquetFile`` itself.
    """
    try:
        from pyarrow._parquet import ParquetReader
    except ImportError:  # pragma: no cover - a pyarrow that moved its private module
        import pyarrow.parquet as pq

        return pq.ParquetFile(path, read_dictionary=list(read_dictionary))
    reader = ParquetReader()
    reader.open(
        path, read_dictionary=list(read_dictionary), pre_buffer=True, arrow_extensions_enabled=True
    )
    return reader


@dataclass(frozen=True)
class RowGroup:
    """One Parquet row group: a piece of a source that a worker reads by itself."""

    path: str
    index: int
    num_rows: int
    dictionary_columns: tuple[str, ...] = ()

    def batches(self, batch_size: int) -> Iterator[pa.RecordBatch]:
        """Read this row group as record batches."""
        whole = self.read_whole()
        if whole is not None:
            yield from whole.to_batches(max_chunksize=batch_size)
            return
        try:
            handle = self._handle()
            yield from handle.iter_batches(batch_size=batch_size, row_groups=[self.index])
        except (pa.ArrowInvalid, OSError) as exc:
            raise self._damaged(exc) from None

    def read_whole(self) -> pa.Table | None:
        """This row group decoded whole, or ``None`` when it is too large to hold at once
        (:meth:`batches` then streams it).

        Decoding a row group whole is about twice as fast as batch by batch, and its
        batches share one dictionary per string column.
        """
        try:
            handle = self._handle()
            group = handle.metadata.row_group(self.index)
            if group.num_rows * group.num_columns > WHOLE_ROW_GROUP_VALUES:
                return None
            return handle.read_row_group(self.index)
        except (pa.ArrowInvalid, OSError) as exc:
            raise self._damaged(exc) from None

    def _handle(self) -> Any:
        return _parquet_file(self.path, self.dictionary_columns)

    def _damaged(self, exc: BaseException) -> SourceError:
        return SourceError(
            f"{self.path}: the Parquet data is damaged ({_first_line(exc)}); re-export the file"
        )


@dataclass
class Source:
    """A stream of Arrow record batches with a known schema.

    Parameters
    ----------
    name : str
        What error messages and reports call the source (a path or a type name).
    schema : pyarrow.Schema
        The schema every batch has.
    num_rows : int or None
        The row count when known without reading (Parquet metadata, in-memory tables).
    size_bytes : int or None
        The input size on disk, used for progress reporting.
    pieces : list of RowGroup
        For Parquet: the row groups, which worker processes can read on their own.

    Raises
    ------
    SourceError
        When two columns have the same name.
    """

    name: str
    schema: pa.Schema
    num_rows: int | None
    size_bytes: int | None
    _open: Any = field(repr=False)
    pieces: list[RowGroup] = field(default_factory=list)
    _ahead: Callable[[], None] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        _check_names(self.name, self.schema)

    def read_ahead(self) -> None:
        """Start decoding the first rows now, on a background thread.

        The next :meth:`batches` begins with them (it waits for the decode, and raises
        its error).  Arrow decodes Parquet without the GIL, so the decode runs beside
        whatever this thread does meanwhile (a command line loading the profile's code).
        Only a Parquet file whose first row group is decoded whole reads ahead; for any
        other source this does nothing.
        """
        if self._ahead is not None:
            self._ahead()

    def batches(self, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[pa.RecordBatch]:
        """Yield the rows as record batches of at most ``batch_size`` rows."""
        for batch in self._open(batch_size):
            if batch.num_rows <= batch_size:
                yield batch
            else:
                for start in range(0, batch.num_rows, batch_size):
                    yield batch.slice(start, batch_size)


def open_source(
    obj: Any,
    *,
    format: str | None = None,
    dictionary_strings: bool = False,
    delimiter: str | None = None,
    encoding: str = "utf-8",
) -> Source:
    """Open a path or an in-memory table as a :class:`Source`.

    Parameters
    ----------
    obj : str, Path, pyarrow.Table, RecordBatch, RecordBatchReader, Dataset, pandas or
        polars DataFrame
    format : {"parquet", "csv", "arrow"}, optional
        Overrides the format guessed from the file name.
    dictionary_strings : bool, default False
        Read Parquet string columns as dictionary arrays, as they are stored, so that
        counting their values needs no hashing.  The schema still says ``string``.
    delimiter : str, optional
        The CSV field delimiter; default: the most frequent of ``,``, tab, ``;`` and ``|``
        in the header line.
    encoding : str, default "utf-8"
        The text encoding of a CSV file (any Python codec name).

    Returns
    -------
    Source
        For CSV, the column types are settled when the file is opened: a value far down
        that does not fit the type Arrow inferred from the first block (an integer column
        with ``3.5`` or ``n/a``) widens the column (to float, then to string) before any
        batch is read, so every batch has the same schema.  ISO timestamps are read in
        microseconds (with their zone when the text has one), as Parquet files written
        by pyarrow from pandas hold them.

    Raises
    ------
    SourceError
        When the file is missing, unreadable or not of the expected format, when its
        bytes are not valid in ``encoding`` (naming the line), or when two columns have
        the same name.
    ConfigError
        For an unknown encoding or a delimiter that is not one character.
    """
    if isinstance(obj, Source):
        return obj
    if delimiter is not None and (len(delimiter) != 1 or delimiter in '\r\n"'):
        raise ConfigError(
            f"delimiter must be one character other than a quote or line break, got {delimiter!r}"
        )
    if isinstance(obj, str | os.PathLike):
        return _open_path(Path(obj), format, dictionary_strings, delimiter, encoding)
    return _open_object(obj)


def _open_object(obj: Any) -> Source:
    if isinstance(obj, pa.RecordBatch):
        obj = pa.Table.from_batches([obj])
    if isinstance(obj, pa.Table):
        table = obj
        return Source("table", table.schema, table.num_rows, None, lambda n: table.to_batches(n))
    ds = sys.modules.get("pyarrow.dataset")  # a Dataset means its module is loaded
    if ds is not None and isinstance(obj, ds.Dataset):
        dataset = obj
        return Source(
            "dataset", dataset.schema, None, None, lambda n: dataset.to_batches(batch_size=n)
        )
    if isinstance(obj, pa.RecordBatchReader):
        reader = obj
        return Source("stream", reader.schema, None, None, lambda n: iter(reader))
    module = type(obj).__module__.split(".")[0]
    if module == "pandas":
        _check_names("the pandas DataFrame", pa.schema([(str(c), pa.null()) for c in obj.columns]))
        return _open_object(pa.Table.from_pandas(obj, preserve_index=False))
    if module == "polars":
        return _open_object(obj.to_arrow())
    raise SourceError(
        f"cannot read a {type(obj).__name__}: pass a file path, a pyarrow Table, Dataset or "
        "RecordBatchReader, a pandas or polars DataFrame, or a Spark DataFrame"
    )


def _guess_format(path: Path) -> str:
    name = path.name.lower()
    if path.is_dir():
        return "parquet"
    if name.endswith(_CSV_SUFFIXES):
        return "csv"
    if name.endswith(_PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(_IPC_SUFFIXES):
        return "arrow"
    raise SourceError(
        f"{path}: cannot tell the format from the name; use a .parquet, .csv, .csv.gz or "
        ".arrow file, or pass --format"
    )


def _open_path(
    path: Path,
    format: str | None,
    dictionary_strings: bool = False,
    delimiter: str | None = None,
    encoding: str = "utf-8",
) -> Source:
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder; check the path")
    fmt = format or _guess_format(path)
    if fmt == "parquet":
        return _open_parquet(path, dictionary_strings)
    if fmt == "csv":
        return _open_csv(path, delimiter, encoding)
    if fmt == "arrow":
        return _open_ipc(path)
    raise SourceError(f"{path}: unknown format {fmt!r}; use parquet, csv or arrow")


def _open_parquet(path: Path, dictionary_strings: bool = False) -> Source:
    if not path.is_dir():
        return _open_parquet_file(path, dictionary_strings)
    # Imported here: pyarrow.dataset imports pandas, a quarter second that a single file
    # (and every worker process) is spared.
    import pyarrow.dataset as ds

    try:
        dataset = ds.dataset(path, format="parquet")
        files = dataset.files
        if not files:
            raise SourceError(f"{path}: the folder holds no Parquet files")
        rows = sum(_parquet_file(f).metadata.num_rows for f in files)
        size = sum(os.path.getsize(f) for f in files)
    except SourceError:
        raise
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(
            f"{path}: not a readable Parquet file ({_first_line(exc)}); "
            "check that the file is complete and really Parquet"
        ) from None

    strings = _string_columns(dataset.schema) if dictionary_strings else []
    if strings:
        options = ds.ParquetReadOptions(dictionary_columns=strings)
        reading = ds.dataset(path, format=ds.ParquetFileFormat(read_options=options))
    else:
        reading = dataset

    pieces = _row_groups(dataset.files, dataset.schema, strings)

    def batches(n: int) -> Iterator[pa.RecordBatch]:
        # One row group at a time: the scanner's read-ahead would hold many in memory.
        if pieces:
            for piece in pieces:
                yield from piece.batches(n)
            return
        try:
            yield from reading.to_batches(batch_size=n, batch_readahead=1, fragment_readahead=1)
        except (pa.ArrowInvalid, OSError) as exc:
            raise SourceError(
                f"{path}: the Parquet data is damaged ({_first_line(exc)}); re-export the file"
            ) from None

    return Source(str(path), dataset.schema, rows, size, batches, pieces)


def _open_parquet_file(path: Path, dictionary_strings: bool) -> Source:
    try:
        schema = _parquet_file(str(path)).schema_arrow
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(
            f"{path}: not a readable Parquet file ({_first_line(exc)}); "
            "check that the file is complete and really Parquet"
        ) from None
    strings = _string_columns(schema) if dictionary_strings else []
    pieces = _row_groups([str(path)], schema, strings)
    ahead: list[Future[pa.Table | None]] = []

    def read_ahead() -> None:
        if not ahead and pieces:
            ahead.append(_in_background(pieces[0].read_whole))

    def batches(n: int) -> Iterator[pa.RecordBatch]:
        rest = pieces
        if ahead:
            first = ahead.pop().result()
            if first is not None:
                yield from first.to_batches(max_chunksize=n)
                rest = pieces[1:]
        for piece in rest:
            yield from piece.batches(n)

    rows = sum(piece.num_rows for piece in pieces)
    return Source(str(path), schema, rows, path.stat().st_size, batches, pieces, read_ahead)


def _in_background(fn: Callable[[], R]) -> Future[R]:
    """``fn()`` running on a daemon thread of its own; its result or error in the future."""
    future: Future[R] = Future()

    def run() -> None:
        try:
            future.set_result(fn())
        except BaseException as exc:  # handed to whoever waits for the result
            future.set_exception(exc)

    threading.Thread(target=run, name="suture-read-ahead", daemon=True).start()
    return future


def _string_columns(schema: pa.Schema) -> list[str]:
    return [f.name for f in schema if pa.types.is_string(f.type)]


def _row_groups(files: list[str], schema: pa.Schema, strings: list[str]) -> list[RowGroup]:
    """The row groups of every file, when all files have the dataset's own schema."""
    pieces: list[RowGroup] = []
    for name in files:
        meta = _parquet_file(name).metadata
        if not meta.schema.to_arrow_schema().equals(schema):
            return []
        pieces += [
            RowGroup(name, i, meta.row_group(i).num_rows, tuple(strings))
            for i in range(meta.num_row_groups)
        ]
    return pieces


def _open_ipc(path: Path) -> Source:
    try:
        with pa.memory_map(str(path)) as source:
            try:
                schema = ipc.open_file(source).schema
                stream = False
            except pa.ArrowInvalid:
                source.seek(0)
                schema = ipc.open_stream(source).schema
                stream = True
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(f"{path}: not a readable Arrow IPC file ({_first_line(exc)})") from None

    def batches(n: int) -> Iterator[pa.RecordBatch]:
        with pa.memory_map(str(path)) as source:
            try:
                if stream:
                    yield from ipc.open_stream(source)
                else:
                    reader = ipc.open_file(source)
                    for i in range(reader.num_record_batches):
                        yield reader.get_batch(i)
            except (pa.ArrowInvalid, OSError) as exc:
                raise SourceError(
                    f"{path}: the Arrow data is damaged ({_first_line(exc)})"
                ) from None

    return Source(str(path), schema, None, path.stat().st_size, batches)


# ------------------------------------------------------------------------------- CSV
#
# Arrow's streaming CSV reader infers column types from the first block only; a value
# further down that does not fit (an int column with "3.5", a number column with "n/a")
# fails the read.  So the types are *settled* once, when the file is opened: a scan of
# the whole file that widens a column and resumes where it failed (never from the start:
# the rows before it fit the wider type too).  Every later read converts with the settled
# types, so a pass never meets a type it did not expect and no caller restarts anything.
# The settled types of an unchanged file are kept, so opening it again reads one line.

_CONVERSION = re.compile(
    r"In CSV column #(\d+): CSV conversion error to ([^:]+): invalid value '(.*)'", re.S
)
_PARSE = re.compile(r"CSV parse error: (.*)", re.S)
_INFER_BLOCK = 1 << 23  # the block Arrow infers types from (and a whole small file)
_DELIMITERS = (",", "\t", ";", "|")
_SETTLED: dict[tuple[Any, ...], tuple[str, pa.Schema]] = {}
_SETTLED_MAX = 32


@dataclass(frozen=True)
class _Csv:
    """How one CSV file is read: its path, delimiter, encoding and column types."""

    path: Path
    delimiter: str
    encoding: str

    def reader(
        self,
        batch_size: int,
        types: pa.Schema | None = None,
        *,
        skip: int = 0,
        block: int | None = None,
    ) -> pacsv.CSVStreamingReader:
        """A streaming reader; with ``types``, no inference (every column converted so)."""
        size = block or max(1 << 20, min(batch_size * 64, 1 << 24))
        read = pacsv.ReadOptions(
            block_size=size, encoding=self.encoding, skip_rows_after_names=skip
        )
        parse = pacsv.ParseOptions(delimiter=self.delimiter)
        column_types = {f.name: f.type for f in types} if types is not None else None
        convert = pacsv.ConvertOptions(column_types=column_types, strings_can_be_null=True)
        return pacsv.open_csv(
            str(self.path), read_options=read, parse_options=parse, convert_options=convert
        )

    def error(self, exc: BaseException) -> SourceError:
        """The one-line SourceError for a failed read of this file."""
        message = str(exc)
        if isinstance(exc, UnicodeError) or "UTF8" in message or "UTF-8" in message:
            return _encoding_error(self.path, self.encoding) or SourceError(
                f"{self.path}: cannot decode the text as {self.encoding} ({_first_line(exc)}); "
                "pass --encoding with the file's encoding"
            )
        parse = _PARSE.search(message)
        if parse:
            line = _find_ragged_line(self.path, self.delimiter, self.encoding)
            where = f" line {line}" if line else ""
            return SourceError(
                f"{self.path}{where}: {parse.group(1).splitlines()[0]}; fix the line "
                "(quote fields that contain the delimiter)"
            )
        if "Empty CSV file" in message:
            return SourceError(f"{self.path}: the file is empty; it needs at least a header line")
        return SourceError(f"{self.path}: cannot read the CSV file ({_first_line(exc)})")


def _open_csv(path: Path, delimiter: str | None, encoding: str) -> Source:
    check_encoding(encoding)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, delimiter, encoding)
    if key in _SETTLED:
        found, schema = _SETTLED[key]
        csv_file = _Csv(path, found, encoding)
    else:
        csv_file = _Csv(path, delimiter or detect_delimiter(path, encoding), encoding)
        schema = _settle(csv_file)
        if len(_SETTLED) >= _SETTLED_MAX:
            _SETTLED.pop(next(iter(_SETTLED)))
        _SETTLED[key] = (csv_file.delimiter, schema)

    def batches(n: int) -> Iterator[pa.RecordBatch]:
        try:
            yield from csv_file.reader(n, schema)
        except (pa.ArrowInvalid, OSError, UnicodeError) as exc:
            if _CONVERSION.search(str(exc)) and "UTF8" not in str(exc):
                raise SourceError(
                    f"{path}: a value does not fit the column types found when the file was "
                    f"opened ({_first_line(exc)}); was the file changed while it was read?"
                ) from None
            raise csv_file.error(exc) from None

    return Source(str(path), schema, None, stat.st_size, batches)


def _settle(csv_file: _Csv) -> pa.Schema:
    """The column types that every row of the file fits (see the comment above).

    The reader that infers the types from the first block goes on through the file, so
    a file whose first block tells the truth is read once.  At a value that does not fit,
    the column is widened and a reader with the settled types resumes at the batch that
    failed (the rows before it fit the wider type too).
    """
    try:
        reader = csv_file.reader(DEFAULT_BATCH_SIZE, block=_INFER_BLOCK)
    except (pa.ArrowInvalid, OSError, UnicodeError) as exc:
        raise csv_file.error(exc) from None
    inferred = reader.schema
    _check_names(str(csv_file.path), inferred, "give every column its own name in the header line")
    if any(pa.types.is_binary(f.type) for f in inferred):
        # Arrow reads a column with bytes that are not UTF-8 as binary.
        raise _encoding_error(csv_file.path, csv_file.encoding) or SourceError(
            f"{csv_file.path}: the text is not valid {csv_file.encoding}; pass --encoding "
            "with the file's encoding"
        )
    schema = pa.schema([_normalized(f) for f in inferred])
    done = 0
    failed: set[tuple[int, int]] = set()
    for _ in range(4 * len(schema) + 2):  # each round widens a column by a step
        try:
            for batch in reader:
                done += batch.num_rows
            return schema
        except (pa.ArrowInvalid, OSError, UnicodeError) as exc:
            conversion = _CONVERSION.search(str(exc))
            if conversion is None or "UTF8" in str(exc):
                raise csv_file.error(exc) from None
            index, value = int(conversion.group(1)), conversion.group(3)
            current = schema.field(index).type
            if (done, index) in failed or not _fits(value, current):
                schema = schema.set(index, schema.field(index).with_type(_widen(current, value)))
            failed.add((done, index))
        reader = csv_file.reader(0, schema, skip=done, block=_INFER_BLOCK)
    raise SourceError(f"{csv_file.path}: column types kept changing while reading the file")


def _fits(value: str, t: pa.DataType) -> bool:
    """Whether ``value`` converts to ``t`` (the inferring reader used a narrower type)."""
    try:
        pa.array([value]).cast(t)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def _normalized(f: pa.Field) -> pa.Field:
    """ISO timestamps in microseconds, as pyarrow writes them to Parquet from pandas and
    as Spark reads them, so a table read from CSV and from Parquet has the same types."""
    if pa.types.is_timestamp(f.type) and f.type.unit != "us":
        return f.with_type(pa.timestamp("us", f.type.tz))
    return f


def _widen(current: pa.DataType, value: str) -> pa.DataType:
    """The next wider type for a column of ``current`` that met ``value``.

    Every row that fit ``current`` fits the result too (so the scan resumes, not restarts).
    """
    if pa.types.is_null(current) and _parses(int, value):
        return pa.int64()
    if (pa.types.is_integer(current) or pa.types.is_null(current)) and _parses(float, value):
        return pa.float64()
    if pa.types.is_timestamp(current) and current.unit != "ns":
        try:
            pa.scalar(value).cast(pa.timestamp("ns", current.tz))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return pa.string()
        return pa.timestamp("ns", current.tz)
    return pa.string()


def _parses(kind: Any, value: str) -> bool:
    try:
        kind(value)
    except ValueError:
        return False
    return True


def _gzipped(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


def _open_text(path: Path, encoding: str) -> Any:
    opener: Any = gzip.open if _gzipped(path) else open
    return opener(path, "rt", newline="", encoding=encoding, errors="replace")


def check_encoding(encoding: str) -> None:
    """Refuse an encoding name Python does not know, with a ConfigError naming it."""
    try:
        codecs.lookup(encoding)
    except (LookupError, TypeError):
        raise ConfigError(
            f"unknown encoding {encoding!r}; use a Python codec name such as utf-8, latin-1 "
            "or cp1252"
        ) from None


def detect_delimiter(path: Path, encoding: str = "utf-8") -> str:
    """The delimiter the header line shows: the most frequent of , tab ; | outside quotes.

    A header with none of them (one column) gives tab for a .tsv file, else a comma.
    """
    with _open_text(path, encoding) as handle:
        header = handle.readline(1 << 16)
    unquoted = re.sub(r'"[^"]*"', "", header)
    counts = {d: unquoted.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])  # ties keep the earlier one
    if counts[best] == 0:
        return "\t" if ".tsv" in path.name.lower() else ","
    return best


def _encoding_error(path: Path, encoding: str) -> SourceError | None:
    """The SourceError that names the first line with bytes not valid in ``encoding``."""
    opener: Any = gzip.open if _gzipped(path) else open
    decoder = codecs.getincrementaldecoder(encoding)()
    line, previous_newline = 1, -1
    consumed = 0
    with opener(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                before = chunk[: exc.start]
                line += before.count(b"\n")
                last = before.rfind(b"\n")
                column = exc.start - last if last >= 0 else consumed + exc.start - previous_newline
                return SourceError(
                    f"{path} line {line}: the bytes are not valid {encoding} "
                    f"(0x{chunk[exc.start]:02x} at byte {column}); pass --encoding latin-1 "
                    "(or the file's encoding)"
                )
            line += chunk.count(b"\n")
            last = chunk.rfind(b"\n")
            if last >= 0:
                previous_newline = consumed + last
            consumed += len(chunk)
    return None


def _find_ragged_line(path: Path, delimiter: str, encoding: str = "utf-8") -> int | None:
    """Return the 1-based physical line of the first row whose field count differs."""
    with _open_text(path, encoding) as handle:
        rows = csv.reader(handle, delimiter=delimiter)
        expected: int | None = None
        line = 0
        for row in rows:
            line = rows.line_num
            if expected is None:
                expected = len(row)
            elif row and len(row) != expected:
                return line
    return None


_CHUNK = 1 << 22


def csv_line_offset(path: Path) -> int | None:
    """2 when row ``r`` of the CSV file ``path`` is on line ``r + 2``; else None.

    True when no field can hold a line break (no ``"`` at all) and there are no blank
    lines (which the reader skips); line 1 is the header.
    """
    if not path.name.lower().endswith(_CSV_SUFFIXES):
        return None
    opener: Any = gzip.open if _gzipped(path) else open
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


def _check_names(name: str, schema: pa.Schema, fix: str = "give every column its own name") -> None:
    """Refuse a schema in which two columns have the same name."""
    seen: dict[str, list[int]] = {}
    for i, column in enumerate(schema.names, start=1):
        seen.setdefault(column, []).append(i)
    twice = {column: where for column, where in seen.items() if len(where) > 1}
    if twice:
        listed = "; ".join(
            f"{column!r} (columns {', '.join(map(str, where))})" for column, where in twice.items()
        )
        raise SourceError(f"{name}: more than one column is named {listed}; {fix}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def ipc_bytes(batch: pa.RecordBatch) -> bytes:
    """Serialize one batch as an Arrow IPC stream (to hand it to another process)."""
    sink = io.BytesIO()
    with ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue()


def batch_from_ipc(data: bytes) -> pa.RecordBatch:
    """Inverse of :func:`ipc_bytes`."""
    return ipc.open_stream(data).read_next_batch()


# The names the Spark engine imported first.
_check_encoding_name = check_encoding
_detect_delimiter = detect_delimiter
