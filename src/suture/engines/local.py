"""LocalEngine: stream a source in bounded batches and aggregate on every core.

The reading process streams Arrow record batches (Arrow's readers use their own threads).
An input of 400,000 rows or more (or of unknown size) is cut into pieces that depend on
the input and ``batch_size`` alone: runs of consecutive Parquet row groups, or of
consecutive batches for other sources, of at least 131,072 rows each.  Each piece is
folded from zero into a state of its own, which goes through its bytes, and the piece
states are merged in index order (:func:`suture.aggregate.merge_all`).  With more than
one worker the pieces are handed to whichever taker is free: a Parquet source's pieces
to ``workers`` threads of this process, each reading its row groups itself, one decode
at a time (Arrow's decode and the NumPy kernels of suture's aggregators release the GIL,
and threads share one copy of the libraries, which worker processes would each load:
~100 MiB apiece; an aggregator that loops in Python is no faster on more threads);
other sources are read here and their pieces travel as Arrow IPC over pipes to
``workers`` worker processes (``suture.engines._worker``).  Since which taker folded
which piece changes nothing, the state is the same byte for byte in every run and for
every ``workers``.  Workers are plain subprocesses, so a user's script needs no
``__main__`` guard.

Memory is bounded by the batch size (or row group), the window and the sketch sizes, not
by the table: at most ``queue_depth * workers`` pieces are out at once (read and not yet
folded, being folded, or folded and waiting for an earlier piece to be merged); a state
that arrives early waits in that window, and the next piece is handed out only when the
earliest unmerged one is merged.

:meth:`LocalEngine.map_batches` runs its function on ``workers`` threads of this process
(Arrow compute releases the GIL), a few batches ahead of the writer, and keeps the input
order in every output.  Errors from worker processes come back through
:func:`suture.errors.to_wire`: a :class:`~suture.errors.SutureError` as the same class
with the same message and attributes, anything else as
:class:`~suture.errors.InternalError` carrying the worker's traceback."""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa

from suture import errors
from suture.aggregate import Aggregator, helper_thread, merge_all
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
#: A worker process runs ``suture.engines._worker`` with ``pyarrow.compute`` loaded: the
#: sketches call Arrow's kernels without it (it costs a small profile 25 ms), but a
#: user's aggregator may use ``pa.compute`` after ``import pyarrow`` alone, which worked
#: while suture's modules loaded it.
_WORKER_MAIN = (
    "import pyarrow.compute, runpy; runpy.run_module('suture.engines._worker', "
    "run_name='__main__', alter_sys=True)"
)
_OPENED_MAX = 4


class LocalEngine:
    """Aggregate on this process's threads, and large non-Parquet inputs in worker processes.

    Parameters
    ----------
    workers : int, optional
        Cores to use; default all of them.  ``1`` works in the calling thread alone.
        Inputs under 400,000 rows are aggregated in this process, with one helper thread
        for the parts an aggregator lets run concurrently (a profile's co-moments);
        larger inputs are cut into pieces shared by ``workers`` threads of this process
        (Parquet row groups, which each thread reads) or ``workers`` worker processes
        (other sources).  The state does not
        depend on ``workers``: any count gives the same bytes (see the module notes).
        :meth:`map_batches` uses ``workers`` threads.
    batch_size : int, default 131072
        Rows per record batch: with the sketch sizes, this bounds memory.
    delimiter : str, optional
        The CSV field delimiter; default: detected from the header line (``,``, tab,
        ``;`` or ``|``).
    encoding : str, default "utf-8"
        The text encoding of CSV files.
    queue_depth : int, default 2
        Pieces out at once per worker (read, being folded, or waiting to be merged).

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

    def read_ahead(self, source: Any, *, dictionary_strings: bool = False) -> None:
        """Start decoding a small Parquet ``source`` on a background thread.

        The next :meth:`aggregate` of ``source`` (opened with the same
        ``dictionary_strings``) then begins with its first row group decoded: a command
        line calls this before it loads the profile's code, and Arrow's decode, which
        releases the GIL, runs beside those imports.  An input of 400,000 rows or more,
        which is cut into pieces that the takers read themselves, is left alone.
        """
        src = self.open(source, dictionary_strings=dictionary_strings)
        if src.num_rows is not None and src.num_rows < _PARALLEL_MIN_ROWS:
            src.read_ahead()

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
        if small and workers <= 1:
            return _fold(src, aggregator, self.batch_size, progress)
        if small:
            # Too small to pay for a worker process: a second core helps through a thread.
            with ThreadPoolExecutor(1) as helper, helper_thread(helper):
                return _fold(src, aggregator, self.batch_size, progress)
        groups = _row_group_runs(src)
        if workers <= 1:
            return _fold_serial(src, groups, aggregator, self.batch_size, progress)
        window = self.queue_depth * workers
        if groups:
            return _fold_pieces(groups, aggregator, self.batch_size, workers, window, progress)
        return _fold_parallel(src, aggregator, self.batch_size, workers, window, progress)

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
            The result of each aggregator, by output name; and each output of ``schema``
            with neither a sink path nor an aggregator as a ``pyarrow.Table`` of its rows
            in input order (collected in memory; leave an unwanted output out of
            ``schema``).

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
        kept: dict[str, list[pa.RecordBatch]] = {
            name: [] for name in schema if name not in targets and name not in folds
        }
        names = list(targets)
        with atomic_outputs([targets[name] for name in names]) as temporaries:
            states = {name: agg.zero() for name, agg in folds.items()}
            writers: dict[str, Any] = {}
            try:
                for name, temporary in zip(names, temporaries, strict=True):
                    writers[name] = pq.ParquetWriter(str(temporary), schema[name])
                used = list(dict.fromkeys([*writers, *folds, *kept]))
                for outputs in self.iter_batches(source, fn, progress=progress):
                    for name in used:
                        batch = _conform(name, outputs, schema[name])
                        if name in writers and batch.num_rows:
                            writers[name].write_batch(batch)
                        if name in folds:
                            states[name] = folds[name].update(states[name], batch)
                        if name in kept and batch.num_rows:
                            kept[name].append(batch)
            finally:
                for writer in writers.values():
                    writer.close()
        tables = {name: pa.Table.from_batches(kept[name], schema[name]) for name in kept}
        return {**tables, **{name: agg.finalize(states[name]) for name, agg in folds.items()}}

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
    unreleased = 0
    for batch in src.batches(batch_size):
        state = aggregator.update(state, batch)
        if progress is not None:
            progress(batch.num_rows)
        unreleased += batch.num_rows
        if unreleased >= _PIECE_ROWS:
            _release_unused()
            unreleased = 0
    _release_unused()
    return state


# ---------------------------------------------------------------- pieces, in index order
#
# A large input is cut into pieces that depend on the input and ``batch_size`` alone:
# runs of consecutive Parquet row groups, or of consecutive batches for other sources,
# each of at least _PIECE_ROWS rows (the last may hold fewer).  Each piece is folded from
# zero by whichever taker is free, its state goes through its bytes (as a worker's must),
# and the piece states are merged in index order.  So the state is the same whichever
# process folded which piece, however many workers there are, and however fast each was.

_PIECE_ROWS = 131_072

T = TypeVar("T")


def _runs(items: Iterable[T], rows: Callable[[T], int]) -> Iterator[list[T]]:
    """Consecutive ``items`` in runs of at least ``_PIECE_ROWS`` rows (the last: any)."""
    run: list[T] = []
    size = 0
    for item in items:
        run.append(item)
        size += rows(item)
        if size >= _PIECE_ROWS:
            yield run
            run, size = [], 0
    if run:
        yield run


def _row_group_runs(src: Source) -> list[list[RowGroup]]:
    """The row-group pieces of a Parquet source; fewer than two: cut its batches instead."""
    runs = list(_runs(src.pieces, lambda group: group.num_rows))
    return runs if len(runs) >= 2 else []


def _batch_runs(src: Source, batch_size: int) -> Iterator[list[pa.RecordBatch]]:
    return _runs(src.batches(batch_size), lambda batch: batch.num_rows)


def _fold_run(
    aggregator: Aggregator[Any, Any], batches: Iterable[pa.RecordBatch]
) -> tuple[Any, int]:
    """A piece folded from zero, through its bytes; and its row count."""
    state = aggregator.zero()
    rows = 0
    for batch in batches:
        state = aggregator.update(state, batch)
        rows += batch.num_rows
    folded = aggregator.from_bytes(aggregator.to_bytes(state))
    _release_unused()
    return folded, rows


def _release_unused() -> None:
    """Hand the memory pool's freed pages back to the system.

    mimalloc (Arrow's default pool) keeps the freed pages of every thread's heap for a
    while before handing them back; with two takers and Arrow's decode threads that held
    ~35 MiB more at the peak of a million-row profile (218 -> 181 MiB).  Called once a
    piece or every _PIECE_ROWS rows, it costs nothing measurable.
    """
    pa.default_memory_pool().release_unused()


def _group_batches(run: list[RowGroup], batch_size: int) -> Iterator[pa.RecordBatch]:
    for group in run:
        yield from group.batches(batch_size)


def _fold_serial(
    src: Source,
    groups: list[list[RowGroup]],
    aggregator: Aggregator[Any, Any],
    batch_size: int,
    progress: Progress | None,
) -> Any:
    """The pieces folded one after another in this thread: the state of any ``workers``."""
    runs: Iterator[Iterable[pa.RecordBatch]] = (
        (_group_batches(run, batch_size) for run in groups)
        if groups
        else _batch_runs(src, batch_size)
    )

    def states() -> Iterator[Any]:
        for run in runs:
            state, rows = _fold_run(aggregator, run)
            if progress is not None:
                progress(rows)
            yield state

    return merge_all(aggregator, states())


class _InOrder:
    """Piece states handed in by any taker in any order, handed on in index order.

    Takers :meth:`claim` piece indices; at most ``window`` pieces are out at once (claimed
    and not yet merged: being read, queued, folded, or folded and waiting for an earlier
    piece), so memory holds at most ``window`` pieces and states whatever the timing.
    Iterating yields the states in index order as each next one arrives; the first
    failure of any taker (or of the merging thread) stops every taker and is raised by
    the iteration.
    """

    def __init__(self, window: int, total: int | None = None) -> None:
        self._ready = threading.Condition()
        self._window = window
        self._total = total  # None: not known until the reader runs out
        self._states: dict[int, Any] = {}
        self._claimed = 0
        self._merged = 0
        self._error: BaseException | None = None

    @property
    def stopped(self) -> bool:
        return self._error is not None

    def claim(self) -> int | None:
        """The index of the next piece once the window has room; ``None``: stop taking."""
        with self._ready:
            while self._error is None and self._claimed >= self._merged + self._window:
                self._ready.wait()
            if self._error is not None or (
                self._total is not None and self._claimed >= self._total
            ):
                return None
            self._claimed += 1
            return self._claimed - 1

    def finish(self, total: int) -> None:
        """No piece from index ``total`` on (the reader ran out of batches)."""
        with self._ready:
            self._total = total
            self._ready.notify_all()

    def put(self, index: int, state: Any) -> None:
        with self._ready:
            if self._error is None:
                self._states[index] = state
                self._ready.notify_all()

    def fail(self, error: BaseException) -> None:
        with self._ready:
            if self._error is None:
                self._error = error
                self._states.clear()
            self._ready.notify_all()

    def __iter__(self) -> Iterator[Any]:
        index = 0
        while True:
            with self._ready:
                while self._error is None and index not in self._states and not self._done(index):
                    self._ready.wait()
                if self._error is not None:
                    raise self._error
                if index not in self._states:
                    return
                state = self._states.pop(index)
            yield state
            index += 1
            with self._ready:  # the state is merged: its place in the window is free
                self._merged = index
                self._ready.notify_all()

    def _done(self, index: int) -> bool:
        return self._total is not None and index >= self._total


def _merge_in_order(
    aggregator: Aggregator[Any, Any],
    pieces: _InOrder,
    threads: list[threading.Thread],
    procs: list[subprocess.Popen[bytes]],
) -> Any:
    """Merge the piece states in index order while the takers work; then wait for them."""
    for thread in threads:
        thread.start()
    try:
        return merge_all(aggregator, pieces)
    except BaseException as exc:
        pieces.fail(exc)  # an interrupt, or a failed merge, stops every taker
        raise
    finally:
        for thread in threads:
            thread.join()
        for proc in procs:
            proc.wait()


def _fold_pieces(
    groups: list[list[RowGroup]],
    aggregator: Aggregator[Any, Any],
    batch_size: int,
    workers: int,
    window: int,
    progress: Progress | None,
) -> Any:
    """Row-group pieces taken in turn by ``workers`` threads of this process, each
    reading the row groups of the piece it claimed.

    Threads, not worker processes: the decode and the kernels release the GIL, and a
    worker process would hold a second copy of pyarrow, NumPy and suture (~100 MiB, as
    much as the data in flight) and be idle while it imports them.  Each taker claims the
    next piece when done with one, so faster takers take more.
    """
    pieces = _InOrder(window, total=len(groups))
    report = _locked(progress)
    reading = threading.Lock()
    takers = [
        threading.Thread(
            target=_take_locally,
            args=(aggregator, groups, batch_size, pieces, report, reading),
            name=f"suture-piece-{i}",
            daemon=True,
        )
        for i in range(workers)
    ]
    return _merge_in_order(aggregator, pieces, takers, [])


def _one_at_a_time(
    batches: Iterator[pa.RecordBatch], lock: threading.Lock
) -> Iterator[pa.RecordBatch]:
    """``batches``, each one read while holding ``lock``: one taker decodes at a time.

    Arrow decodes a row group on its own threads, so the takers lose little by taking
    turns, and only one row group's compressed pages and decode buffers (as large as the
    row group itself) are in memory at once, beside the decoded pieces being folded.
    """
    while True:
        with lock:
            batch = next(batches, None)
        if batch is None:
            return
        yield batch


def _fold_parallel(
    src: Source,
    aggregator: Aggregator[Any, Any],
    batch_size: int,
    workers: int,
    window: int,
    progress: Progress | None,
) -> Any:
    """Batch pieces read by a thread of this process and shipped as Arrow IPC to
    ``workers`` worker processes, each piece to the first free one."""
    pieces = _InOrder(window)
    jobs: queue.Queue[tuple[int, list[pa.RecordBatch]] | None] = queue.Queue()
    report = _locked(progress)
    procs = [_start_worker(aggregator) for _ in range(workers)]
    reader = threading.Thread(
        target=_read_pieces, args=(src, batch_size, pieces, jobs, workers), daemon=True
    )
    feeders = [
        threading.Thread(
            target=_feed_batches, args=(proc, aggregator, jobs, pieces, report), daemon=True
        )
        for proc in procs
    ]
    return _merge_in_order(aggregator, pieces, [reader, *feeders], procs)


def _take_locally(
    aggregator: Aggregator[Any, Any],
    groups: list[list[RowGroup]],
    batch_size: int,
    pieces: _InOrder,
    report: Progress,
    reading: threading.Lock,
) -> None:
    try:
        while (index := pieces.claim()) is not None:
            batches = _one_at_a_time(_group_batches(groups[index], batch_size), reading)
            state, rows = _fold_run(aggregator, batches)
            pieces.put(index, state)
            report(rows)
    except BaseException as exc:
        pieces.fail(exc)


def _read_pieces(
    src: Source,
    batch_size: int,
    pieces: _InOrder,
    jobs: queue.Queue[tuple[int, list[pa.RecordBatch]] | None],
    feeders: int,
) -> None:
    """Read the batch pieces in order, each once the window has room for it."""
    try:
        runs = _batch_runs(src, batch_size)
        while (index := pieces.claim()) is not None:
            run = next(runs, None)
            if run is None:
                pieces.finish(index)
                return
            jobs.put((index, run))
    except BaseException as exc:
        pieces.fail(exc)
    finally:
        for _ in range(feeders):
            jobs.put(None)  # one end marker for each feeder


def _feed_batches(
    proc: subprocess.Popen[bytes],
    aggregator: Aggregator[Any, Any],
    jobs: queue.Queue[tuple[int, list[pa.RecordBatch]] | None],
    pieces: _InOrder,
    report: Progress,
) -> None:
    """Ship batch pieces to one worker as they come; collect each one's state."""
    assert proc.stdin is not None
    ready = False
    while (job := jobs.get()) is not None:
        if pieces.stopped:
            continue  # drain to the end marker: the reader stops too
        index, run = job
        try:
            if not ready:
                _ask(proc, [])  # the worker's K once it is ready
                ready = True
            messages = [(b"B", ipc_bytes(batch)) for batch in run]
            payload = _ask(proc, [*messages, (b"S", b"")])
            pieces.put(index, aggregator.from_bytes(payload))
            report(sum(batch.num_rows for batch in run))
        except BaseException as exc:
            pieces.fail(exc)
    _end(proc)


def _ask(proc: subprocess.Popen[bytes], messages: list[tuple[bytes, bytes]]) -> bytes:
    """Send ``messages`` to a worker and return the payload of its reply (``K``, ``S``).

    A worker that failed replies ``X`` with its error, raised here as itself (see
    :func:`suture.errors.from_wire`); it may have stopped reading before that.
    """
    assert proc.stdin is not None and proc.stdout is not None
    try:
        for tag, payload in messages:
            write_message(proc.stdin, tag, payload)
    except (BrokenPipeError, OSError):
        pass  # it stopped early: its reply says why
    tag, payload = read_message(proc.stdout)
    if tag in (b"K", b"S"):
        return bytes(payload)
    if tag == b"X":
        raise errors.from_wire(payload)
    raise InternalError(
        "a suture worker process died without a result (a bug in suture, or the machine "
        "ran out of memory); see its error above"
    )


def _end(proc: subprocess.Popen[bytes]) -> None:
    """Tell a worker to exit (unless it stopped already) and close its input."""
    assert proc.stdin is not None
    with contextlib.suppress(OSError):
        write_message(proc.stdin, b"E")
    with contextlib.suppress(OSError):
        proc.stdin.close()


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
        [sys.executable, "-c", _WORKER_MAIN],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, **single},
    )
    assert proc.stdin is not None
    write_message(proc.stdin, b"A", pickle.dumps(aggregator))
    return proc
