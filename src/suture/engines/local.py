"""LocalEngine: stream a source in bounded batches and aggregate on every core.

The reading process streams Arrow record batches (Arrow's readers use their own threads);
when more than one worker is asked for and the input is large enough to pay for it,
batches travel as Arrow IPC to worker processes that each fold them into a partial state,
and the partial states come back as bytes to be merged.  Peak memory is bounded by the
batch size, the queue depth and the sketch sizes, not by the table.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import pyarrow as pa

from suture.aggregate import Aggregator
from suture.errors import SutureError
from suture.sources import DEFAULT_BATCH_SIZE, Source, batch_from_ipc, ipc_bytes, open_source

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

    def open(self, source: Any) -> Source:
        """The :class:`~suture.sources.Source` this engine reads ``source`` through."""
        return open_source(source)

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


def _worker(aggregator: Aggregator[Any, Any], inbox: Any, outbox: Any) -> None:
    state = aggregator.zero()
    try:
        while True:
            message = inbox.get()
            if message is None:
                break
            state = aggregator.update(state, batch_from_ipc(message))
        outbox.put(("state", aggregator.to_bytes(state)))
    except SutureError as exc:
        outbox.put(("user-error", exc))
    except BaseException:
        outbox.put(("crash", traceback.format_exc()))


def _fold_parallel(
    src: Source,
    aggregator: Aggregator[Any, Any],
    batch_size: int,
    workers: int,
    depth: int,
    progress: Progress | None,
) -> Any:
    context = mp.get_context("spawn")
    outbox = context.Queue()
    inboxes = [context.Queue(maxsize=depth) for _ in range(workers)]
    procs = [
        context.Process(target=_worker, args=(aggregator, inbox, outbox), daemon=True)
        for inbox in inboxes
    ]
    for proc in procs:
        proc.start()
    try:
        for i, batch in enumerate(src.batches(batch_size)):
            _put(inboxes[i % workers], ipc_bytes(batch), procs)
            if progress is not None:
                progress(batch.num_rows)
        for inbox in inboxes:
            _put(inbox, None, procs)
        state = aggregator.zero()
        for _ in procs:
            state = aggregator.merge(state, aggregator.from_bytes(_receive(outbox, procs)))
        return state
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
            proc.join()


def _put(inbox: Any, message: bytes | None, procs: list[Any]) -> None:
    while True:
        try:
            inbox.put(message, timeout=1.0)
            return
        except queue.Full:
            if not all(p.is_alive() for p in procs):
                raise RuntimeError("a suture worker process died; see its error above") from None


def _receive(outbox: Any, procs: list[Any]) -> bytes:
    while True:
        try:
            kind, payload = outbox.get(timeout=1.0)
        except queue.Empty:
            if not all(p.is_alive() or p.exitcode == 0 for p in procs):
                raise RuntimeError("a suture worker process died without reporting") from None
            continue
        if kind == "state":
            return bytes(payload)
        if kind == "user-error":
            raise payload
        raise RuntimeError(f"a suture worker process failed:\n{payload}")
