"""LocalEngine: stream a source in bounded batches and aggregate on every core.

The reading process streams Arrow record batches (Arrow's readers use their own threads).
When more than one worker is asked for and the input is large enough to pay for it, the
work is shared with worker processes (``suture.engines._worker``) that each fold their
share into a partial state and send it back as bytes to be merged: a Parquet source's
row groups are taken in turn by this process and ``workers - 1`` worker processes, which
read them themselves; other sources are read here and their batches travel as Arrow IPC
over pipes to ``workers`` worker processes.  Workers are plain subprocesses, so a user's
script needs no ``__main__`` guard.  Peak memory is bounded by the batch size (or row
group), the queue depth and the sketch sizes, not by the table.

:meth:`LocalEngine.map_batches` runs its function on ``workers`` threads of this process
(Arrow compute releases the GIL), a few batches ahead of the writer, and keeps the input
order in every output.  Errors from worker processes come back through
:func:`suture.errors.to_wire`: a :class:`~suture.errors.SutureError` as the same class
with the same message and attributes, anything else as
:class:`~suture.errors.InternalError` carrying the worker's traceback."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import queue
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa

from suture import errors
from suture.aggregate import Aggregator, helper_thread
from suture.engines._pipes import read_message, write_message
from suture.engines.base import BatchFn, Sink
from suture.errors import ConfigError, InternalError
from suture.sources import (
    DEFAULT_BATCH_SIZE,
    RowGroup,
    Source,
    check_encoding,
    ipc_bytes,
    open_source,
)

__all__ = ["LocalEngine"]

R = TypeVar("R")
Progress = Callable[[int], None]

_PARALLEL_MIN_ROWS = 400_000
_OPENED_MAX = 4


class LocalEngine:
    """Run aggregators in this process and, for large inputs, in worker processes.

    Parameters
    ----------
    workers : int, optional
        Cores to use; default all of them.  ``1`` works in the calling thread alone.
        Inputs under 400,000 rows are aggregated in this process, with one helper thread
        for the parts an aggregator lets run concurrently (a profile's co-moments);
        larger inputs are shared with ``workers - 1`` (Parquet row groups) or ``workers``
        (other sources) worker processes.  :meth:`map_batches` uses ``workers`` threads.
    batch_size : int, default 131072
        Rows per record batch: with the sketch sizes, this bounds memory.
    delimiter : str, optional
        The CSV field delimiter; default: detected from the header line (``,``, tab,
        ``;`` or ``|``).
    encoding : str, default "utf-8"
        The text encoding of CSV files.
    queue_depth : int, default 2
        Batches in flight per worker.

    Raises
    ------
    ConfigError
        For a parameter out of its range (the message names it and the value).
    """

    name = "local"

    def __init__(
        self,
        *,
        workers: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        delimiter: str | None = None,
        encoding: str = "utf-8",
        queue_depth: int = 2,
    ) -> None:
        _at_least("workers", workers, 1, optional=True)
        _at_least("batch_size", batch_size, 1)
        _at_least("queue_depth", queue_depth, 1)
        if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1):
            raise ConfigError(f"delimiter must be one character, got {delimiter!r}")
        check_encoding(encoding)
        self.workers = workers
        self.batch_size = batch_size
        self.delimiter = delimiter
        self.encoding = encoding
        self.queue_depth = queue_depth
        self._opened: dict[Any, tuple[Any, Source]] = {}

    def __repr__(self) -> str:
        return (
            f"LocalEngine(workers={self.workers}, batch_size={self.batch_size}, "
            f"delimiter={self.delimiter!r}, encoding={self.encoding!r})"
        )

    def open(self, source: Any, *, dictionary_strings: bool = False) -> Source:
        """The :class:`~suture.sources.Source` this engine reads ``source`` through.

        ``dictionary_strings`` reads Parquet strings as dictionaries (see ``open_source``).
        The last few sources opened are kept, so asking for the schema, the name and then
        the rows of one input opens it once.
        """
        if isinstance(source, Source):
            return source
        key = _key(source, dictionary_strings)
        kept = self._opened.get(key)
        if kept is not None and (kept[0] is source or key[0] == "path"):
            return kept[1]
        opened = open_source(
            source,
            dictionary_strings=dictionary_strings,
            delimiter=self.delimiter,
            encoding=self.encoding,
        )
        if len(self._opened) >= _OPENED_MAX:
            self._opened.pop(next(iter(self._opened)))
        self._opened[key] = (source, opened)
        return opened

    def schema_of(self, source: Any) -> pa.Schema:
        """The Arrow schema of ``source``."""
        return self.open(source).schema

    def describe(self, source: Any) -> str:
        """A short name of ``source`` for reports and messages."""
        return self.open(source).name

    def aggregate(
        self,
        source: Any,
        aggregator: Aggregator[Any, R],
        *,
        columns: list[str] | None = None,
        progress: Progress | None = None,
    ) -> R:
        """Fold every batch of ``source`` into ``aggregator`` and return its result.

        Parameters
        ----------
        source : path, table or Source
            Anything :func:`suture.sources.open_source` accepts.
        aggregator : Aggregator
        columns : list of str, optional
            The columns the aggregator reads (a hint; others may be read too).
        progress : callable, optional
            Called with the number of rows of each batch as it is done.
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

        ``columns`` names the columns the aggregator reads (a hint; others may be read).
        An aggregator with ``reads_dictionaries = True`` (a profile) is given Parquet
        string columns as dictionary arrays, as they are stored.
        """
        dictionaries = bool(getattr(aggregator, "reads_dictionaries", False))
        src = self.open(source, dictionary_strings=dictionaries)
        workers = self.workers or os.cpu_count() or 1
        small = src.num_rows is not None and src.num_rows < _PARALLEL_MIN_ROWS
        if workers <= 1:
            return _fold(src, aggregator, self.batch_size, progress)
        if small:
            # Too small to pay for a worker process: a second core helps through a thread.
            with ThreadPoolExecutor(1) as helper, helper_thread(helper):
                return _fold(src, aggregator, self.batch_size, progress)
        if len(src.pieces) >= 2:
            return _fold_pieces(src, aggregator, self.batch_size, workers, progress)
        return _fold_parallel(src, aggregator, self.batch_size, workers, self.queue_depth, progress)

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
        """Stream every batch of ``source`` through ``fn``; write and fold its outputs.

        Parameters
        ----------
        source : path, table or Source
            Anything :func:`suture.sources.open_source` accepts.
        fn : BatchFn
            ``fn(batch, first_row)`` returns one batch per name of ``schema``;
            ``first_row`` is the index of the batch's first row in the whole source.
            It runs on ``workers`` threads, a few batches ahead, so it must not depend on
            the order of calls.
        schema : mapping of str to pyarrow.Schema
            The schema of each named output; a batch of another schema is cast to it.
        sink : mapping of str to path or None, optional
            Output name to the Parquet file it is written to (``None``: not written).
            All files are written under temporary names and renamed into place together
            at the end (:func:`suture.bundle.atomic_outputs`): on any failure, a read
            error late in the source included, no output is replaced and no temporary
            remains.  A file is written even when no row goes to it.
        aggregators : mapping of str to Aggregator, optional
            Output name to an aggregator folded over that output's batches in input order.
        progress : callable, optional
            Called with the number of input rows of each batch as it is done.

        Returns
        -------
        dict
            The result of each aggregator, by output name (empty without aggregators).

        Raises
        ------
        ConfigError
            When ``sink`` or ``aggregators`` name an output that ``schema`` lacks.
        OutputError
            When an output path cannot be written (checked before anything is read).
        """
        import pyarrow.parquet as pq

        from suture.bundle import atomic_outputs

        folds = dict(aggregators or {})
        targets = {name: Path(path) for name, path in (sink or {}).items() if path is not None}
        _known_outputs(schema, [*targets, *folds])
        names = list(targets)
        with atomic_outputs([targets[name] for name in names]) as temporaries:
            states = {name: agg.zero() for name, agg in folds.items()}
            writers: dict[str, Any] = {}
            try:
                for name, temporary in zip(names, temporaries, strict=True):
                    writers[name] = pq.ParquetWriter(str(temporary), schema[name])
                used = list(dict.fromkeys([*writers, *folds]))
                for outputs in self.iter_batches(source, fn, progress=progress):
                    for name in used:
                        batch = _conform(name, outputs, schema[name])
                        if name in writers and batch.num_rows:
                            writers[name].write_batch(batch)
                        if name in folds:
                            states[name] = folds[name].update(states[name], batch)
            finally:
                for writer in writers.values():
                    writer.close()
        return {name: agg.finalize(states[name]) for name, agg in folds.items()}

    def iter_batches(
        self, source: Any, fn: BatchFn, *, progress: Progress | None = None
    ) -> Iterator[dict[str, pa.RecordBatch]]:
        """Yield ``fn(batch, first_row)`` for every batch of ``source``, in input order.

        The streaming form of :meth:`map_batches` (batch scoring in Python uses it):
        ``fn`` runs on ``workers`` threads a few batches ahead of the consumer, and memory
        stays bounded by those batches.  Stopping early (``break``) stops the reading.
        """
        src = self.open(source)
        workers = self.workers or os.cpu_count() or 1
        batches = _numbered(src.batches(self.batch_size))
        if workers <= 1:
            for batch, first in batches:
                yield dict(fn(batch, first))
                if progress is not None:
                    progress(batch.num_rows)
            return
        pending: deque[tuple[Future[Mapping[str, pa.RecordBatch]], int]] = deque()
        pool = ThreadPoolExecutor(workers, thread_name_prefix="suture-map")
        try:
            for batch, first in batches:
                pending.append((pool.submit(fn, batch, first), batch.num_rows))
                if len(pending) > 2 * workers:
                    yield _done(pending.popleft(), progress)
            while pending:
                yield _done(pending.popleft(), progress)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _numbered(batches: Iterator[pa.RecordBatch]) -> Iterator[tuple[pa.RecordBatch, int]]:
    first = 0
    for batch in batches:
        yield batch, first
        first += batch.num_rows


def _done(
    item: tuple[Future[Mapping[str, pa.RecordBatch]], int], progress: Progress | None
) -> dict[str, pa.RecordBatch]:
    future, rows = item
    outputs = dict(future.result())
    if progress is not None:
        progress(rows)
    return outputs


def _conform(name: str, outputs: Mapping[str, pa.RecordBatch], schema: pa.Schema) -> pa.RecordBatch:
    """Output ``name`` of one ``fn`` call, in the declared schema."""
    try:
        batch = outputs[name]
    except KeyError:
        raise InternalError(
            f"map_batches: the function returned no {name!r} output (it returned "
            f"{', '.join(map(repr, outputs)) or 'none'})"
        ) from None
    if isinstance(batch, pa.Table):  # accepted too: valid rows are often zero-copy slices
        table = batch.combine_chunks()
        batch = (
            table.to_batches()[0]
            if table.num_rows
            else pa.RecordBatch.from_pylist([], schema=table.schema)
        )
    if batch.schema.equals(schema):
        return batch
    try:
        return pa.RecordBatch.from_arrays(
            [column.cast(f.type) for column, f in zip(batch.columns, schema, strict=True)],
            schema=schema,
        )
    except (ValueError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InternalError(
            f"map_batches: output {name!r} has schema {batch.schema}, not the declared "
            f"{schema} ({exc})"
        ) from None


def _known_outputs(schema: Mapping[str, pa.Schema], names: list[str]) -> None:
    unknown = [name for name in names if name not in schema]
    if unknown:
        raise ConfigError(
            f"map_batches: no output named {', '.join(map(repr, unknown))} in schema; "
            f"outputs are: {', '.join(schema) or 'none'}"
        )


def _at_least(name: str, value: Any, low: int, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{name} must be a whole number of at least {low}, got {value!r}")


def _key(source: Any, dictionary_strings: bool) -> Any:
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        try:
            stat = path.stat()
        except OSError:
            return ("missing", str(path), dictionary_strings)
        return ("path", str(path), stat.st_size, stat.st_mtime_ns, dictionary_strings)
    return ("object", id(source), dictionary_strings)


def _fold(
    src: Source, aggregator: Aggregator[Any, Any], batch_size: int, progress: Progress | None
) -> Any:
    state = aggregator.zero()
    for batch in src.batches(batch_size):
        state = aggregator.update(state, batch)
        if progress is not None:
            progress(batch.num_rows)
    return state


Job = tuple[bytes, bytes, int, RowGroup | None]  # tag, message, rows, row group


def _fold_pieces(
    src: Source,
    aggregator: Aggregator[Any, Any],
    batch_size: int,
    workers: int,
    progress: Progress | None,
) -> Any:
    """Row groups shared out between this process and ``workers - 1`` worker processes.

    This process folds row groups too: it is at work at once, while the workers still
    import their libraries, and it needs no pipe.  Each taker asks for the next row group
    when done with one, so faster takers take more.
    """
    work: queue.Queue[Job | None] = queue.Queue()
    for piece in src.pieces:
        fields = {**dataclasses.asdict(piece), "batch_size": batch_size}
        work.put((b"P", json.dumps(fields).encode(), piece.num_rows, piece))
    procs = [_start_worker(aggregator) for _ in range(workers - 1)]
    for _ in range(len(procs) + 1):
        work.put(None)  # one end marker for each taker, this process included
    results: list[Any] = [None] * len(procs)
    report = _locked(progress)
    feeders = _start_feeders(procs, work, results, report)
    state = aggregator.zero()
    try:
        while (job := work.get()) is not None:
            assert job[3] is not None
            for batch in job[3].batches(batch_size):
                state = aggregator.update(state, batch)
            report(job[2])
    except BaseException:
        _drain(work)
        for _ in procs:
            work.put(None)
        raise
    finally:
        _join(feeders, procs)
    for result in results:
        state = aggregator.merge(state, aggregator.from_bytes(_unwrap(result)))
    return state


def _fold_parallel(
    src: Source,
    aggregator: Aggregator[Any, Any],
    batch_size: int,
    workers: int,
    depth: int,
    progress: Progress | None,
) -> Any:
    """Batches read here and shipped as Arrow IPC to ``workers`` worker processes."""
    pending: queue.Queue[Job | None] = queue.Queue(maxsize=depth * workers)
    procs = [_start_worker(aggregator) for _ in range(workers)]
    results: list[Any] = [None] * workers
    feeders = _start_feeders(procs, pending, results, _locked(progress))
    try:
        for batch in src.batches(batch_size):
            _put(pending, (b"B", ipc_bytes(batch), batch.num_rows, None), feeders)
    finally:
        for _ in feeders:
            pending.put(None)
        _join(feeders, procs)
    state = aggregator.zero()
    for result in results:
        state = aggregator.merge(state, aggregator.from_bytes(_unwrap(result)))
    return state


def _start_feeders(
    procs: list[subprocess.Popen[bytes]],
    work: queue.Queue[Job | None],
    results: list[Any],
    report: Progress,
) -> list[threading.Thread]:
    feeders = [
        threading.Thread(target=_feed, args=(proc, work, results, i, report), daemon=True)
        for i, proc in enumerate(procs)
    ]
    for feeder in feeders:
        feeder.start()
    return feeders


def _join(feeders: list[threading.Thread], procs: list[subprocess.Popen[bytes]]) -> None:
    for feeder in feeders:
        feeder.join()
    for proc in procs:
        proc.wait()


def _drain(work: queue.Queue[Any]) -> None:
    while True:
        try:
            work.get_nowait()
        except queue.Empty:
            return


def _locked(progress: Progress | None) -> Progress:
    """``progress`` made callable from several threads (a no-op when ``None``)."""
    lock = threading.Lock()

    def report(rows: int) -> None:
        if progress is not None:
            with lock:
                progress(rows)

    return report


def _start_worker(aggregator: Aggregator[Any, Any]) -> subprocess.Popen[bytes]:
    # One BLAS thread per worker: the workers already use every core, and BLAS threads
    # spinning beside them slowed the co-moment products severalfold.
    single = {name: "1" for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "suture.engines._worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, **single},
    )
    assert proc.stdin is not None
    write_message(proc.stdin, b"A", pickle.dumps(aggregator))
    return proc


def _feed(
    proc: subprocess.Popen[bytes],
    work: queue.Queue[Job | None],
    results: list[Any],
    i: int,
    report: Progress,
) -> None:
    """Hand jobs to one worker until an end marker, then collect its state or error."""
    assert proc.stdin is not None and proc.stdout is not None
    try:
        while (job := work.get()) is not None:
            write_message(proc.stdin, job[0], job[1])
            reply = read_message(proc.stdout)
            if reply[0] != b"K":  # the worker failed: keep its error, stop feeding it
                results[i] = reply
                while work.get() is not None:
                    pass
                return
            report(job[2])
        write_message(proc.stdin, b"E")
        results[i] = read_message(proc.stdout)
    except (BrokenPipeError, OSError):
        results[i] = read_message(proc.stdout)
        while work.get() is not None:
            pass  # keep draining so the reader never blocks on a dead worker
    finally:
        proc.stdin.close()


def _put(
    pending: queue.Queue[Job | None],
    message: Job,
    feeders: list[threading.Thread],
) -> None:
    while True:
        try:
            pending.put(message, timeout=1.0)
            return
        except queue.Full:
            if not any(f.is_alive() for f in feeders):
                raise InternalError("every suture worker process stopped early") from None


def _unwrap(result: Any) -> bytes:
    """The state bytes of a worker's reply; its error raised as itself (see errors.from_wire)."""
    tag, payload = result if result is not None else (b"", b"")
    if tag == b"S":
        return bytes(payload)
    if tag == b"X":
        raise errors.from_wire(payload)
    raise InternalError(
        "a suture worker process died without a result (a bug in suture, or the machine "
        "ran out of memory); see its error above"
    )
