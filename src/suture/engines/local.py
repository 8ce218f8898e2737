"""LocalEngine: stream a source in bounded batches and aggregate on every core.

The reading process streams Arrow record batches (Arrow's readers use their own threads);
when more than one worker is asked for and the input is large enough to pay for it,
batches travel as Arrow IPC over pipes to worker processes (``suture.engines._worker``)
that each fold them into a partial state, and the partial states come back as bytes to be
merged.  Workers are plain subprocesses, so a user's script needs no ``__main__`` guard.
Peak memory is bounded by the batch size, the queue depth and the sketch sizes, not by
the table.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pyarrow as pa

from suture import errors
from suture.aggregate import Aggregator
from suture.engines._pipes import read_message, write_message
from suture.errors import SutureError
from suture.sources import DEFAULT_BATCH_SIZE, Source, ipc_bytes, open_source

__all__ = ["LocalEngine"]

R = TypeVar("R")
Progress = Callable[[int], None]

_PARALLEL_MIN_ROWS = 400_000


class LocalEngine:
    """Run aggregators in this process and, for large inputs, in worker processes.

    Parameters
    ----------
    workers : int, optional
        Worker processes; default the number of cores.  ``1`` never starts a process.
    batch_size : int, default 65536
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
        if workers <= 1 or small:
            return _fold(src, aggregator, self.batch_size, progress)
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


def _fold_parallel(
    src: Source,
    aggregator: Aggregator[Any, Any],
    batch_size: int,
    workers: int,
    depth: int,
    progress: Progress | None,
) -> Any:
    pending: queue.Queue[tuple[bytes, bytes] | None] = queue.Queue(maxsize=depth * workers)
    procs = [_start_worker(aggregator) for _ in range(workers)]
    results: list[Any] = [None] * workers
    feeders = [
        threading.Thread(target=_feed, args=(proc, pending, results, i), daemon=True)
        for i, proc in enumerate(procs)
    ]
    for feeder in feeders:
        feeder.start()
    try:
        for tag, message, rows in _messages(src, batch_size):
            _put(pending, (tag, message), feeders)
            if progress is not None:
                progress(rows)
    finally:
        for _ in feeders:
            pending.put(None)
        for feeder in feeders:
            feeder.join()
        for proc in procs:
            proc.wait()
    state = aggregator.zero()
    for result in results:
        state = aggregator.merge(state, aggregator.from_bytes(_unwrap(result)))
    return state


def _messages(src: Source, batch_size: int) -> Iterator[tuple[bytes, bytes, int]]:
    """Row groups that workers read themselves, or else batches shipped as Arrow IPC."""
    if len(src.pieces) >= 2:
        for piece in src.pieces:
            fields = {**dataclasses.asdict(piece), "batch_size": batch_size}
            yield b"P", json.dumps(fields).encode(), piece.num_rows
        return
    for batch in src.batches(batch_size):
        yield b"B", ipc_bytes(batch), batch.num_rows


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
    pending: queue.Queue[tuple[bytes, bytes] | None],
    results: list[Any],
    i: int,
) -> None:
    """Hand batches to one worker until the sentinel, then collect its state or error."""
    assert proc.stdin is not None and proc.stdout is not None
    try:
        while (message := pending.get()) is not None:
            write_message(proc.stdin, *message)
            reply = read_message(proc.stdout)
            if reply[0] != b"K":  # the worker failed: keep its error, stop feeding it
                results[i] = reply
                while pending.get() is not None:
                    pass
                return
        write_message(proc.stdin, b"E")
        results[i] = read_message(proc.stdout)
    except (BrokenPipeError, OSError):
        results[i] = read_message(proc.stdout)
        while pending.get() is not None:
            pass  # keep draining so the reader never blocks on a dead worker
    finally:
        proc.stdin.close()


def _put(
    pending: queue.Queue[tuple[bytes, bytes] | None],
    message: tuple[bytes, bytes],
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
