"""LocalEngine: stream a source in bounded batches and aggregate on every core.

The reading process streams Arrow record batches (Arrow's readers use their own threads).
When more than one worker is asked for and the input is large enough to pay for it, the
work is shared with worker processes (``suture.engines._worker``) that each fold their
share into a partial state and send it back as bytes to be merged: a Parquet source's
row groups are taken in turn by this process and ``workers - 1`` worker processes, which
read them themselves; other sources are read here and their batches travel as Arrow IPC
over pipes to ``workers`` worker processes.  Workers are plain subprocesses, so a user's
script needs no ``__main__`` guard.  Peak memory is bounded by the batch size (or row
group), the queue depth and the sketch sizes, not by the table."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pyarrow as pa

from suture import errors
from suture.aggregate import Aggregator, helper_thread
from suture.engines._pipes import read_message, write_message
from suture.errors import SutureError
from suture.sources import DEFAULT_BATCH_SIZE, RowGroup, Source, ipc_bytes, open_source

__all__ = ["LocalEngine"]

R = TypeVar("R")
Progress = Callable[[int], None]

_PARALLEL_MIN_ROWS = 400_000


class LocalEngine:
    """Run aggregators in this process and, for large inputs, in worker processes.

    Parameters
    ----------
    workers : int, optional
        Cores to use; default all of them.  ``1`` works in the calling thread alone.
        Inputs under 400,000 rows are aggregated in this process, with one helper thread
        for the parts an aggregator lets run concurrently (a profile's co-moments);
        larger inputs are shared with ``workers - 1`` (Parquet row groups) or ``workers``
        (other sources) worker processes.
    batch_size : int, default 131072
        Rows per record batch: with the sketch sizes, this bounds memory.
    queue_depth : int, default 2
        Batches in flight per worker.
    """

    def __init__(
        self,
        *,
        workers: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        queue_depth: int = 2,
    ) -> None:
        self.workers = workers
        self.batch_size = batch_size
        self.queue_depth = queue_depth

    name = "local"

    def open(self, source: Any, *, dictionary_strings: bool = False) -> Source:
        """The :class:`~suture.sources.Source` this engine reads ``source`` through.

        ``dictionary_strings`` reads Parquet strings as dictionaries (see ``open_source``).
        """
        return open_source(source, dictionary_strings=dictionary_strings)

    def schema_of(self, source: Any) -> pa.Schema:
        """The Arrow schema of ``source``."""
        return open_source(source).schema

    def describe(self, source: Any) -> str:
        """A short name of ``source`` for reports and messages."""
        return open_source(source).name

    def aggregate(
        self,
        source: Any,
        aggregator: Aggregator[Any, R],
        *,
        progress: Progress | None = None,
    ) -> R:
        """Fold every batch of ``source`` into ``aggregator`` and return its result.

        Parameters
        ----------
        source : path, table or Source
            Anything :func:`suture.sources.open_source` accepts.
        aggregator : Aggregator
        progress : callable, optional
            Called with the number of rows of each batch as it is read.
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

        ``columns`` names the columns the aggregator reads (a hint; others may be read).
        """
        src = open_source(source)
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
                raise RuntimeError("every suture worker process stopped early") from None


def _unwrap(result: Any) -> bytes:
    tag, payload = result if result is not None else (b"", b"")
    if tag == b"S":
        return bytes(payload)
    if tag == b"X":
        name, _, message = payload.decode().partition("\0")
        error = getattr(errors, name, None)
        if isinstance(error, type) and issubclass(error, SutureError):
            raise error(message)
        raise RuntimeError(f"a suture worker process failed:\n{message}")
    raise RuntimeError("a suture worker process died without a result; see its error above")
