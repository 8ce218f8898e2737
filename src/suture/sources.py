"""The one place that knows file formats and data frames.

:func:`open_source` turns whatever the user has (a path to Parquet, CSV, gzipped CSV, a
folder of Parquet files, Arrow IPC; a pyarrow Table, Dataset, RecordBatch or
RecordBatchReader; a pandas or polars DataFrame) into a :class:`Source` that streams Arrow
record batches of bounded size.  Every failure to read is a :class:`SourceError` that
names the file, and for CSV the line, and says what to do.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from suture.errors import SourceError

__all__ = ["Source", "open_source"]

DEFAULT_BATCH_SIZE = 131_072
_CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz")
_IPC_SUFFIXES = (".arrow", ".feather", ".ipc", ".arrows")
_PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")


# Row groups of more values are decoded batch by batch, to bound memory (about 64 MiB of
# 8-byte values; strings are read as dictionaries, 4-byte indices).
WHOLE_ROW_GROUP_VALUES = 8 << 20


@dataclass(frozen=True)
class RowGroup:
    """One Parquet row group: a piece of a source that a worker reads by itself."""

    path: str
    index: int
    num_rows: int
    dictionary_columns: tuple[str, ...] = ()

    def batches(self, batch_size: int) -> Iterator[pa.RecordBatch]:
        """Read this row group as record batches."""
        try:
            handle = pq.ParquetFile(self.path, read_dictionary=list(self.dictionary_columns))
            group = handle.metadata.row_group(self.index)
            if group.num_rows * group.num_columns > WHOLE_ROW_GROUP_VALUES:
                yield from handle.iter_batches(batch_size=batch_size, row_groups=[self.index])
                return
            # Decoding a row group whole is about twice as fast as batch by batch, and its
            # batches share one dictionary per string column.
            yield from handle.read_row_group(self.index).to_batches(max_chunksize=batch_size)
        except (pa.ArrowInvalid, OSError) as exc:
            raise SourceError(
                f"{self.path}: the Parquet data is damaged ({_first_line(exc)}); re-export the file"
            ) from None


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
    """

    name: str
    schema: pa.Schema
    num_rows: int | None
    size_bytes: int | None
    _open: Any = field(repr=False)
    pieces: list[RowGroup] = field(default_factory=list)

    def batches(self, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[pa.RecordBatch]:
        """Yield the rows as record batches of at most ``batch_size`` rows."""
        for batch in self._open(batch_size):
            if batch.num_rows <= batch_size:
                yield batch
            else:
                for start in range(0, batch.num_rows, batch_size):
                    yield batch.slice(start, batch_size)


def open_source(obj: Any, *, format: str | None = None, dictionary_strings: bool = False) -> Source:
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

    Raises
    ------
    SourceError
        When the file is missing, unreadable or not of the expected format.
    """
    if isinstance(obj, Source):
        return obj
    if isinstance(obj, str | os.PathLike):
        return _open_path(Path(obj), format, dictionary_strings)
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


def _open_path(path: Path, format: str | None, dictionary_strings: bool = False) -> Source:
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder; check the path")
    fmt = format or _guess_format(path)
    if fmt == "parquet":
        return _open_parquet(path, dictionary_strings)
    if fmt == "csv":
        return _open_csv(path)
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
        rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
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
        schema = pq.ParquetFile(path).schema_arrow
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(
            f"{path}: not a readable Parquet file ({_first_line(exc)}); "
            "check that the file is complete and really Parquet"
        ) from None
    strings = _string_columns(schema) if dictionary_strings else []
    pieces = _row_groups([str(path)], schema, strings)

    def batches(n: int) -> Iterator[pa.RecordBatch]:
        for piece in pieces:
            yield from piece.batches(n)

    rows = sum(piece.num_rows for piece in pieces)
    return Source(str(path), schema, rows, path.stat().st_size, batches, pieces)


def _string_columns(schema: pa.Schema) -> list[str]:
    return [f.name for f in schema if pa.types.is_string(f.type)]


def _row_groups(files: list[str], schema: pa.Schema, strings: list[str]) -> list[RowGroup]:
    """The row groups of every file, when all files have the dataset's own schema."""
    pieces: list[RowGroup] = []
    for name in files:
        meta = pq.ParquetFile(name).metadata
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


_CONVERSION = re.compile(
    r"In CSV column #(\d+): CSV conversion error to (\w+): invalid value '(.*)'"
)
_PARSE = re.compile(r"CSV parse error: (.*)", re.S)


def _open_csv(path: Path) -> Source:
    delimiter = "\t" if ".tsv" in path.name.lower() else ","
    overrides: dict[str, pa.DataType] = {}

    def reader(batch_size: int) -> pacsv.CSVStreamingReader:
        block = max(1 << 20, min(batch_size * 64, 1 << 24))
        read = pacsv.ReadOptions(block_size=block)
        parse = pacsv.ParseOptions(delimiter=delimiter)
        convert = pacsv.ConvertOptions(column_types=overrides, strings_can_be_null=True)
        return pacsv.open_csv(
            str(path), read_options=read, parse_options=parse, convert_options=convert
        )

    def fail(exc: Exception) -> SourceError:
        message = str(exc)
        parse = _PARSE.search(message)
        if parse:
            line = _find_ragged_line(path, delimiter)
            where = f" line {line}" if line else ""
            return SourceError(
                f"{path}{where}: {parse.group(1).splitlines()[0]}; fix the line "
                "(quote fields that contain the delimiter)"
            )
        if "Empty CSV file" in message:
            return SourceError(f"{path}: the file is empty; it needs at least a header line")
        return SourceError(f"{path}: cannot read the CSV file ({_first_line(exc)})")

    try:
        schema = reader(DEFAULT_BATCH_SIZE).schema
    except (pa.ArrowInvalid, OSError) as exc:
        raise fail(exc) from None
    cell: list[Source] = []

    def batches(n: int) -> Iterator[pa.RecordBatch]:
        # Arrow infers types from the first block; a later value that does not fit
        # (an int column with a "3.5" or an "n/a" far down) fails the read.  The source
        # cannot yield those rows again, so the engine restarts: see CsvTypeWidened.
        try:
            yield from reader(n)
        except pa.ArrowInvalid as exc:
            conversion = _CONVERSION.search(str(exc))
            if conversion is None:
                raise fail(exc) from None
            column = schema.names[int(conversion.group(1))]
            overrides[column] = _widen(conversion.group(3))
            cell[0].schema = reader(n).schema
            raise CsvTypeWidened(column) from None
        except OSError as exc:
            raise fail(exc) from None

    cell.append(Source(str(path), schema, None, path.stat().st_size, batches))
    return cell[0]


class CsvTypeWidened(Exception):
    """A CSV column needed a wider type than its first block showed; read it again.

    Raised inside :meth:`Source.batches`; engines catch it and restart the pass, so no
    partial result is ever presented as whole.
    """

    def __init__(self, column: str) -> None:
        super().__init__(column)
        self.column = column


def _widen(value: str) -> pa.DataType:
    try:
        float(value)
    except ValueError:
        return pa.string()
    return pa.float64()


def _find_ragged_line(path: Path, delimiter: str) -> int | None:
    """Return the 1-based physical line of the first row whose field count differs."""
    opener: Any = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", newline="", encoding="utf-8", errors="replace") as handle:
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
