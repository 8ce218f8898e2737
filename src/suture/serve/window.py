"""The live drift window: the profile of recent requests, persisted beside the archive.

A :class:`LiveWindow` summarizes the records a worker scored with the same profile
aggregators as training (a :class:`~suture.profile.ProfileAggregator` with the training
profile's sketch sizes), in time buckets of ``spec.bucket_seconds``, and compares the
window with the bundle's training profile (:mod:`suture.serve.drift_view`).

How records get in, and why nothing is lost:

- The request path only counts: :meth:`LiveWindow.add` bumps a counter (O(1)) after the
  archive committed the record, :meth:`LiveWindow.rejected` appends the broken rules of
  a refused record (O(1)).
- A background thread, every ``flush_seconds`` (sooner once ``flush_records`` were
  added, but at most every ``flush_seconds / 4``), takes this worker's committed records
  after its watermark in archive order: the coerced records handed to ``add(coerced,
  id)``, matched to ``archive.committed(worker, last_seq, n)`` (it stops before the
  first one not handed over yet), or read back with ``archive.unfolded`` (after a
  restart, at close, for a record never handed over, or when the archive cannot list
  committed ids).  It builds ONE Arrow table of them (one pass per column, typed like
  the training profile) and folds each run of
  records that fall in one bucket into that bucket's state with one vectorized
  ``update``.  Given the worker's event loop (:meth:`LiveWindow.start`), the thread
  hands the fold's CPU work to the loop one column at a time (:class:`LoopSteps`), so
  requests wait for at most one column's step, never for a thread that holds the GIL.
- At most one bucket holds folded records not yet saved (the *dirty* one).  It is saved
  (``archive.save_window(worker, bucket, state, rows, last_seq)``: the state and the
  watermark in one statement) every :data:`PERSIST_SECONDS`, before records go into
  another bucket, and on close; so every saved watermark covers exactly the records in
  the saved states.
- After a SIGKILL, :func:`recover_window` (run once before the workers start) replays
  the archived records of every worker whose window was not closed, after its
  watermark, and closes it: every archived prediction ends up in exactly one bucket.
  Counts of *refused* records are not archived; those of the last seconds before a kill
  are lost.

The window's profile is the merge of every worker's persisted buckets inside the window
(``archive.window_states``), so all workers of a service, and the service before a
restart, share one window.  Columns the contract marks ``sensitive`` are left out: the
sketches keep sample values, and the window's state is stored in the archive.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import datetime as dt
import functools
import itertools
import math
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from suture._codec import Field
from suture.aggregate import Framed, Stepper, in_steps, merge_all
from suture.errors import ConfigError, CorruptStateError
from suture.profile import Profile, ProfileAggregator
from suture.serve.config import ServeConfig, WindowSpec
from suture.serve.drift_view import (
    MIN_RECORDS,
    Rejections,
    column_limits,
    distribution,
    drift_payload,
)

if TYPE_CHECKING:
    from suture.models.bundle import ModelBundle
    from suture.schema.contract import Schema
    from suture.serve.archive import Archive, WindowState

__all__ = ["LiveWindow", "WindowAggregator", "monitored_columns", "recover_window"]

#: How long a computed window profile (and the drift answer) is reused.
CACHE_SECONDS = 1.0
#: :meth:`LiveWindow.drift` answers from a payload at most this old (then recomputes).
STALE_SECONDS = 3.0
#: The bucket holding records not yet persisted is saved at least this often.
PERSIST_SECONDS = 2.0
#: A record committed but not added after this long was cancelled: it is read back.
ORPHAN_SECONDS = 5.0
#: At most this many records wait in memory for the fold (beyond, they are read back).
MAX_IN_MEMORY = 200_000
#: At most this many archived records are folded per run of the thread.
FOLD_LIMIT = 50_000
#: A step the event loop has not started after this long runs on the window's thread.
STEP_PATIENCE_SECONDS = 0.05


def _inline(step: Callable[[], Any]) -> Any:
    return step()


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running in this thread, or None."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class LoopSteps:
    """Run the drift window's steps on the worker's event loop, from the window's thread.

    A fold costs ~20 ms of Python and Arrow work a second under load.  On a thread, it
    holds the GIL for up to the switch interval (5 ms) each time the event loop lets go
    of it (a socket write, an await on the archive), several times per request: a
    single-record request that met a fold took 10-50 ms instead of 2 (serve_bench,
    2026-12-04: open-loop p99 8.6-17.8 ms with folds, 5.1-6.2 ms without).  Handed to
    the loop a column at a time (~0.3-1 ms each), a step waits behind the requests
    already queued, and a request behind at most one step.

    Parameters
    ----------
    loop : asyncio.AbstractEventLoop
        The worker's event loop.
    stopping : threading.Event
        Set when the window closes: steps then run on the calling thread (the loop may
        be the one waiting for the window's thread).  Steps asked for on the loop's own
        thread run there and then.

    Attributes
    ----------
    late_ : int
        Steps the loop had not started within :data:`STEP_PATIENCE_SECONDS`, run on the
        calling thread instead.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, stopping: threading.Event) -> None:
        self.loop = loop
        self.stopping = stopping
        self.late_ = 0
        self._caught_up: threading.Event | None = None

    def __call__(self, step: Callable[[], Any]) -> Any:
        """``step()``, run on the loop; on the calling thread when the loop is closed,
        the window is closing, or the loop has not started it within
        :data:`STEP_PATIENCE_SECONDS` (it may be blocked, e.g. on the window's lock),
        and then until the loop has caught up with the calls queued on it."""
        if (
            self.stopping.is_set()
            or self.loop.is_closed()
            or running_loop() is self.loop
            or self._behind()
        ):
            return step()
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def call() -> None:
            if not future.set_running_or_notify_cancel():
                return  # taken back by the thread
            try:
                future.set_result(step())
            except BaseException as exc:  # handed to the waiting thread
                future.set_exception(exc)

        try:
            self.loop.call_soon_threadsafe(call)
        except RuntimeError:  # closed meanwhile
            return step()
        try:
            return future.result(timeout=STEP_PATIENCE_SECONDS)
        except concurrent.futures.TimeoutError:
            if future.cancel():
                self.late_ += 1
                self._mark_behind()
                return step()
        return future.result()

    def _behind(self) -> bool:
        return self._caught_up is not None and not self._caught_up.is_set()

    def _mark_behind(self) -> None:
        # Without this, each later step of a fold would wait out the patience again
        # behind a loop that is still stuck.
        caught_up = threading.Event()
        self._caught_up = caught_up
        try:
            self.loop.call_soon_threadsafe(caught_up.set)
        except RuntimeError:  # closed meanwhile: is_closed() answers from now on
            caught_up.set()


class _HasField(Protocol):
    """A violation as :class:`suture.schema.coerce.Violation` has it."""

    @property
    def field(self) -> str: ...

    @property
    def rule(self) -> str: ...


# ----------------------------------------------------------------------------- state


@dataclass
class BucketState:
    """One bucket: the profile state of its scored records and its refused records."""

    profile: dict[str, Any]
    rejected: int = 0
    counts: dict[tuple[str, str], int] = field(default_factory=dict)


class WindowAggregator(Framed[BucketState]):
    """The aggregator of one window bucket: a profile plus counts of refused records.

    ``update`` folds scored records (a batch typed like ``schema``) into the profile;
    :meth:`add_rejected` counts a refused record's broken rules.  States merge
    (associative, commutative) and travel as framed bytes like every aggregator's.

    Parameters
    ----------
    schema : pyarrow.Schema
        The monitored columns, typed as in the training profile.
    options : mapping of str to int
        The training profile's sketch sizes (``k``, ``lg_k``, ``lg_max_map``).
    max_correlated : int
    """

    kind = "live_window"

    def __init__(self, schema: pa.Schema, options: Mapping[str, int], max_correlated: int) -> None:
        self.profile = ProfileAggregator(schema, **dict(options), max_correlated=max_correlated)
        self.schema = schema

    def config(self) -> str:
        return f"live_window({self.profile.config()})"

    def zero(self) -> BucketState:
        return BucketState(self.profile.zero())

    def update(self, state: BucketState, batch: pa.RecordBatch) -> BucketState:
        state.profile = self.profile.update(state.profile, batch)
        return state

    def add_rejected(self, state: BucketState, rules: Iterable[tuple[str, str]]) -> BucketState:
        """Count one refused record with these ``(field, rule)`` violations."""
        state.rejected += 1
        for key in set(rules):
            state.counts[key] = state.counts.get(key, 0) + 1
        return state

    def merge(self, a: BucketState, b: BucketState) -> BucketState:
        a.profile = self.profile.merge(a.profile, b.profile)
        a.rejected += b.rejected
        for key, n in b.counts.items():
            a.counts[key] = a.counts.get(key, 0) + n
        return a

    def finalize(self, state: BucketState) -> Profile:
        return Profile(self.profile, state.profile, {"source": "live window"})

    def rows(self, state: BucketState) -> int:
        """Scored records in the state."""
        rows: int = state.profile["rows"]
        return rows

    def _fields(self, state: BucketState) -> dict[str, Field]:
        keys = sorted(state.counts)
        return {
            "profile": self.profile.to_bytes(state.profile),
            "rejected": state.rejected,
            "fields": [f for f, _ in keys],
            "rules": [r for _, r in keys],
            "counts": [state.counts[k] for k in keys],
        }

    def _from_fields(self, fields: dict[str, Any]) -> BucketState:
        counts = {
            (str(f), str(r)): int(n)
            for f, r, n in zip(fields["fields"], fields["rules"], fields["counts"], strict=True)
        }
        return BucketState(
            self.profile.from_bytes(fields["profile"]), int(fields["rejected"]), counts
        )


# ----------------------------------------------------------------------------- columns


def monitored_columns(contract: Schema, training: Profile) -> list[str]:
    """The columns a window watches: the contract's columns and derived columns that
    the training profile has, in contract order, without the sensitive ones."""
    names = [c.name for c in contract.columns if not c.sensitive]
    names += [d.name for d in contract.derived]
    sensitive = {c.name for c in contract.columns if c.sensitive}
    derived_of = {d.name: contract.compiled[d.name].columns() for d in contract.derived}
    return [
        n
        for n in names
        if n in training.schema.names and not (set(derived_of.get(n, ())) & sensitive)
    ]


_BAD_VALUE = (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError)


def _column(values: list[Any], f: pa.Field) -> pa.Array:
    """One column of coerced values (as the archive's JSON gives them) in ``f``'s type.

    Times come back from JSON as ISO 8601 text and are parsed in one cast.  A value that
    still does not convert (an archive written under another contract) becomes null
    rather than stopping the window.
    """
    try:
        return _converted(values, f.type)
    except _BAD_VALUE:
        return pa.array([_one(v, f.type) for v in values], type=f.type)


def _converted(values: list[Any], t: pa.DataType) -> pa.Array:
    value = t.value_type if pa.types.is_dictionary(t) else t
    if pa.types.is_time(value):
        values = [_clock(v) for v in values]
    try:
        return pa.array(values, type=t)
    except _BAD_VALUE:
        if not pa.types.is_temporal(value):
            raise
    text = pa.array([None if v is None else str(v) for v in values], pa.string())
    return pc.cast(text, t)


def _clock(v: Any) -> Any:
    return v if v is None or isinstance(v, dt.time) else dt.time.fromisoformat(str(v))


def _one(v: Any, t: pa.DataType) -> Any:
    """``v`` if it converts to ``t`` on its own, else None (the slow path of _column)."""
    try:
        return _converted([v], t)[0].as_py()
    except _BAD_VALUE:
        return None


def _table(
    schema: pa.Schema, records: Sequence[Mapping[str, Any]], run: Stepper = _inline
) -> pa.RecordBatch:
    if not schema:  # no column to watch: the rows are still counted
        return pa.RecordBatch.from_struct_array(pa.array([{}] * len(records), pa.struct([])))
    arrays = [run(functools.partial(_column_of, records, f)) for f in schema]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _column_of(records: Sequence[Mapping[str, Any]], f: pa.Field) -> pa.Array:
    return _column([r.get(f.name) for r in records], f)


class _Row:
    """Row ``index`` of a typed request batch handed to :meth:`LiveWindow.add_batch`."""

    __slots__ = ("batch", "index")

    def __init__(self, batch: pa.RecordBatch, index: int) -> None:
        self.batch = batch
        self.index = index


def _assemble(
    schema: pa.Schema, records: Sequence[Mapping[str, Any] | _Row], step: Stepper = _inline
) -> pa.RecordBatch:
    """:func:`_table` of records some of which are rows of typed batches: each run of
    consecutive rows of one batch is a slice of it, each run of mappings is converted
    as :func:`_table` converts them, and the pieces are joined in order (the same
    values, in the same order, as :func:`_table` of the coerced records); ``step`` runs
    each column's conversion."""
    if not any(type(r) is _Row for r in records):
        return _table(schema, records, step)  # type: ignore[arg-type]
    pieces: list[pa.RecordBatch] = []
    loose: list[Mapping[str, Any]] = []
    run: list[Any] = []  # [batch, start, stop]
    for r in records:
        if type(r) is _Row and run and run[0] is r.batch and run[2] == r.index:
            run[2] += 1
            continue
        if run:
            pieces.append(run[0].slice(run[1], run[2] - run[1]))
            run = []
        if type(r) is _Row:
            if loose:
                pieces.append(_table(schema, loose, step))
                loose = []
            run = [r.batch, r.index, r.index + 1]
        else:
            loose.append(r)  # type: ignore[arg-type]
    if run:
        pieces.append(run[0].slice(run[1], run[2] - run[1]))
    if loose:
        pieces.append(_table(schema, loose, step))
    return pa.concat_batches(pieces)


def _bucket_of(ts: float, width: float) -> float:
    return math.floor(ts / width) * width


# ----------------------------------------------------------------------------- window


@dataclass
class _Cached:
    at: float
    profile: Profile
    rejections: Rejections
    since: float | None
    until: float


class LiveWindow:
    """One worker's live drift window (see the module notes).

    Parameters
    ----------
    contract : Schema
        The contract records are coerced by (the bundle's scoring contract); its
        monitored columns (:func:`monitored_columns`) are profiled, its ``drift``
        tables set the thresholds.
    training : Profile
        The training profile: the reference, and the sketch sizes of the window.
    archive : Archive
        Where records are read back from and bucket states persisted.
    worker : str
        This worker's id (as in its archived predictions).
    spec : WindowSpec
    thresholds : mapping, optional
        Threshold overrides (as ``suture compare --thresholds``).
    training_out_of_range : float
        The share of training rows that broke the contract.
    min_records : int
        Fewer scored records in the window: level ``insufficient``.
    clock : callable
        Unix seconds now (tests pass their own).
    """

    def __init__(
        self,
        contract: Schema,
        training: Profile,
        archive: Archive,
        *,
        worker: str,
        spec: WindowSpec,
        thresholds: Mapping[str, Any] | None = None,
        training_out_of_range: float = 0.0,
        min_records: int = MIN_RECORDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.contract = contract
        self.training = training
        self.archive = archive
        self.worker = worker
        self.spec = spec
        self.columns = monitored_columns(contract, training)
        schema = pa.schema([training.schema.field(n) for n in self.columns])
        agg = training.aggregator
        self.aggregator = WindowAggregator(schema, agg.options, agg.max_correlated)
        self.limits = column_limits(contract.drift, self.columns, thresholds)
        self.units = {c.name: c.unit for c in contract.columns if c.name in set(self.columns)}
        self.training_out_of_range = float(training_out_of_range)
        self.min_records = min_records
        self.clock = clock
        self.last_seq = 0
        self.error: str | None = None
        self._buckets: dict[float, BucketState] = {}
        self._added = 0
        self._folded_mark = 0
        self._rejections: collections.deque[tuple[float, tuple[tuple[str, str], ...]]] = (
            collections.deque()
        )
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._decoded: dict[tuple[str, float], tuple[bytes, int, BucketState]] = {}
        self._versions = itertools.count()
        self._settled: tuple[tuple[Any, ...], BucketState] | None = None
        self._oldest_needed: float | None = None
        self._dirty: float | None = None
        self._dirty_version = 0
        self._persisted_seq = 0
        self._persisted_at = clock()
        self._pruned_at = -math.inf
        self._asked_at = -math.inf
        self._committed: Callable[[str, int, int], Iterable[tuple[int, str, float]]] | None = (
            getattr(archive, "committed", None)
        )
        self._with_ids = False
        self._memory: dict[str, Mapping[str, Any] | _Row] = {}
        self._missing: dict[str, float] = {}
        self._cache: _Cached | None = None
        self._payload: tuple[float, dict[str, Any]] | None = None
        self._steps: Stepper | None = None

    @classmethod
    def for_bundle(
        cls, bundle: ModelBundle, archive: Archive, *, worker: str, spec: WindowSpec
    ) -> LiveWindow:
        """The window of a model bundle: its scoring contract against its training
        profile, the training out-of-range rate from its quarantined rows."""
        rows = bundle.profile.row_count + bundle.quarantined
        share = bundle.quarantined / rows if rows else 0.0
        return cls(
            bundle.scoring_contract, bundle.profile, archive, worker=worker, spec=spec,
            training_out_of_range=share,
        )  # fmt: skip

    # -- the request path ----------------------------------------------------------------

    def add(self, coerced: Mapping[str, Any] | None = None, id: str | None = None) -> None:
        """Note one more archived (committed) scored record; O(1).

        With its prediction ``id`` (and an archive that lists committed ids), the fold
        uses ``coerced`` as given; without, it reads the record back from the archive.
        """
        if (
            id is not None
            and coerced is not None
            and self._committed is not None
            and len(self._memory) < MAX_IN_MEMORY
        ):
            self._memory[id] = coerced
            self._with_ids = True
        self._added += 1
        if self._added - self._folded_mark >= self.spec.flush_records:
            self._wake.set()

    def add_batch(self, ids: Sequence[str], batch: pa.RecordBatch) -> bool:
        """:meth:`add` of a request's archived (committed) records at once, as one
        typed batch (row ``i`` is prediction ``ids[i]``) that holds the monitored
        columns in the window's types; the fold slices it instead of converting the
        records again.

        Returns
        -------
        bool
            False, and nothing noted, when the batch lacks a monitored column or types
            one otherwise, or the window watches no column: hand the records to
            :meth:`add` instead.
        """
        schema = self.aggregator.schema
        names = list(schema.names)
        if not names or batch.num_rows != len(ids) or not set(names) <= set(batch.schema.names):
            return False
        picked = batch.select(names)
        if not picked.schema.equals(schema):
            return False
        if self._committed is not None and len(self._memory) + len(ids) <= MAX_IN_MEMORY:
            memory = self._memory
            for i, pid in enumerate(ids):
                memory[pid] = _Row(picked, i)
            self._with_ids = True
        self._added += len(ids)
        if self._added - self._folded_mark >= self.spec.flush_records:
            self._wake.set()
        return True

    def rejected(self, violations: Sequence[_HasField]) -> None:
        """Count one refused record by the ``(field, rule)`` of its violations; O(1)."""
        self._rejections.append((self.clock(), tuple((v.field, v.rule) for v in violations)))

    # -- the thread ----------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Register this worker's window in the archive and start the folding thread.

        A fold of a record of nulls runs first on a throwaway state (:meth:`warm`), so
        that the first real fold does not stall the worker's requests.

        Parameters
        ----------
        loop : asyncio.AbstractEventLoop, optional
            The worker's event loop: the thread hands it the fold's steps
            (:class:`LoopSteps`).  Without, the thread folds on its own.
        """
        self.warm()
        self._steps = None if loop is None else LoopSteps(loop, self._stop)
        with self._lock:
            bucket = _bucket_of(self.clock(), self.spec.bucket_seconds)
            state = self._buckets.setdefault(bucket, self.aggregator.zero())
            self._save(bucket, state, self._persisted_seq)
        self._thread = threading.Thread(
            target=self._run, name=f"suture-window-{self.worker}", daemon=True
        )
        self._thread.start()

    def warm(self) -> None:
        """Fold, encode and decode a record of nulls on a throwaway state; nothing is
        counted.

        What the first fold would otherwise load on the window's thread, holding the GIL
        while the worker serves, is loaded here, before it serves: pyarrow imports
        pandas at its first conversion of Python values (0.4 to 0.9 s measured
        under serve_bench), and the sketches set up their kernels.
        """
        agg = self.aggregator
        state = agg.update(agg.zero(), _table(agg.schema, [{}]))
        agg.merge(agg.from_bytes(agg.to_bytes(state)), agg.zero())

    def _run(self) -> None:
        # A fold costs mostly a fixed amount per column, whatever its size: under load,
        # ``flush_records`` wakes the thread early, but never more often than every
        # ``flush_seconds / 4``, so that a busy service folds larger batches, not more.
        gap = self.spec.flush_seconds / 4
        while not self._stop.is_set():
            self._wake.wait(self.spec.flush_seconds)
            self._stop.wait(gap)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.flush()
                if self.clock() - self._persisted_at >= PERSIST_SECONDS:
                    self.persist()
                self.prune()
                self._refresh()
                self.error = None
            except Exception as exc:  # keep folding later; the archive may be back
                error = f"{type(exc).__name__}: {exc}"
                if error != self.error:  # once per distinct error, not twice a second
                    sys.stderr.write(f"suture serve: drift window: {error}; retrying\n")
                self.error = error

    def close(self) -> None:
        """Stop the thread, fold what is left and mark this worker's buckets closed."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.finish()

    def finish(self) -> int:
        """Fold what is left, persist it and mark this worker's buckets closed; return
        the records folded (the thread must not be running)."""
        with self._lock:
            folded = self.flush()
            folded += self.flush(read_back=True)  # committed, never added: none, normally
            self.persist()
            for bucket, state in sorted(self._buckets.items()):
                self._save(bucket, state, self.last_seq, closed=True)
        return folded

    # -- folding -------------------------------------------------------------------------

    def resume(self, states: Iterable[WindowState]) -> None:
        """Continue from this worker's persisted buckets (for :func:`recover_window`).

        Raises
        ------
        CorruptStateError
            When a bucket was written by another kind of window (another model's).
        """
        with self._lock:
            for s in states:
                if s.worker == self.worker:
                    self._buckets[s.bucket] = self.aggregator.from_bytes(bytes(s.state))
                    self.last_seq = max(self.last_seq, int(s.last_seq))
            self._persisted_seq = self.last_seq

    def flush(self, *, read_back: bool = False) -> int:
        """Fold this worker's archived records after its watermark; return how many.

        Records are folded in runs of consecutive records (by archive sequence) that fall
        in one bucket, one ``update`` per run.  At most one bucket holds records not yet
        persisted (the *dirty* one): before a run goes into another bucket, the dirty one
        is saved with the watermark of its last record, so whatever the archive holds is
        consistent (a kill loses nothing the watermark claims, and recovery replays the
        rest once).  The dirty bucket is saved by :meth:`persist` (every
        :data:`PERSIST_SECONDS` by the thread, and on close).  Refused records counted
        since the last flush go into the bucket of the time they were refused.
        """
        total = 0
        with self._lock:
            self._folded_mark = self._added
            pending = self._pending_rejections()
            while True:
                n = self._fold_some(pending, read_back)
                total += n
                if n < FOLD_LIMIT:
                    break
            for bucket, records in sorted(pending.items()):
                state = self._state(bucket)
                for rules in records:
                    state = self.aggregator.add_rejected(state, rules)
                self._buckets[bucket] = state
                if bucket == self._dirty:
                    self._dirty_version = next(self._versions)
                else:  # its records are persisted already: only the counts change
                    self._save(bucket, state, self._persisted_seq)
            self._evict()
            if total or pending:
                self._cache = None
        return total

    def persist(self) -> None:
        """Save the bucket that holds records not yet persisted, with the watermark."""
        with self._lock:
            if self._dirty is not None:
                self._save(self._dirty, self._buckets[self._dirty], self.last_seq)
                self._persisted_seq = self.last_seq
                self._dirty = None
            self._persisted_at = self.clock()

    def _fold_some(
        self, pending: dict[float, list[tuple[tuple[str, str], ...]]], read_back: bool = False
    ) -> int:
        if self._committed is not None and self._with_ids and not read_back:
            seqs, times, records, stale = self._from_memory()
            if stale:  # a record committed but never added (its request was cancelled)
                seqs, times, records = self._from_archive()
        else:
            seqs, times, records = self._from_archive()
        if not seqs:
            return 0
        run = self._steps
        batch = _assemble(self.aggregator.schema, records, run or _inline)
        width = self.spec.bucket_seconds
        buckets = np.floor(np.asarray(times, dtype=np.float64) / width) * width
        cuts = [0, *(np.flatnonzero(np.diff(buckets)) + 1).tolist(), len(seqs)]
        for start, stop in itertools.pairwise(cuts):
            bucket = float(buckets[start])
            if self._dirty is not None and self._dirty != bucket:
                self.persist()
            with in_steps(run):
                state = self.aggregator.update(
                    self._state(bucket), batch.slice(start, stop - start)
                )
            for rules in pending.pop(bucket, []):
                state = self.aggregator.add_rejected(state, rules)
            self._buckets[bucket] = state
            self.last_seq = int(seqs[stop - 1])
            self._dirty = bucket
            self._dirty_version = next(self._versions)
        return len(seqs)

    def _from_memory(
        self,
    ) -> tuple[list[int], list[float], list[Mapping[str, Any] | _Row], bool]:
        """The next committed records of this worker, in archive order, from the coerced
        records :meth:`add` was given; it stops before the first one not added yet, so the
        watermark never passes a record that was not folded.  ``stale`` when that one
        has been missing for :data:`ORPHAN_SECONDS` (then read the archive instead)."""
        assert self._committed is not None
        seqs: list[int] = []
        times: list[float] = []
        records: list[Mapping[str, Any] | _Row] = []
        now = self.clock()
        for seq, pid, ts in self._committed(self.worker, self.last_seq, FOLD_LIMIT):
            found = self._memory.pop(pid, None)
            if found is None:
                first = self._missing.setdefault(pid, now)
                return seqs, times, records, not seqs and now - first >= ORPHAN_SECONDS
            self._missing.pop(pid, None)
            seqs.append(int(seq))
            times.append(float(ts))
            records.append(found)
        return seqs, times, records, False

    def _from_archive(self) -> tuple[list[int], list[float], list[Mapping[str, Any] | _Row]]:
        """The next committed records of this worker, read back from the archive (after
        a restart, at close, or past a record that was never added)."""
        seqs: list[int] = []
        times: list[float] = []
        records: list[Mapping[str, Any] | _Row] = []
        for seq, ts, coerced in self.archive.unfolded(self.worker, self.last_seq):
            seqs.append(seq)
            times.append(ts)
            records.append(coerced)
            if len(seqs) >= FOLD_LIMIT:
                break
        if seqs and self._committed is not None and (self._memory or self._missing):
            for _, pid, _ in self._committed(self.worker, self.last_seq, len(seqs)):
                self._memory.pop(pid, None)
                self._missing.pop(pid, None)
        return seqs, times, records

    def _pending_rejections(self) -> dict[float, list[tuple[tuple[str, str], ...]]]:
        out: dict[float, list[tuple[tuple[str, str], ...]]] = {}
        width = self.spec.bucket_seconds
        while self._rejections:
            ts, rules = self._rejections.popleft()
            out.setdefault(_bucket_of(ts, width), []).append(rules)
        return out

    def _state(self, bucket: float) -> BucketState:
        found = self._buckets.get(bucket)
        if found is not None:
            return found
        for s in self.archive.window_states(bucket):  # a late record for an evicted bucket
            if s.worker == self.worker and s.bucket == bucket:
                return self.aggregator.from_bytes(bytes(s.state))
        return self.aggregator.zero()

    def _save(self, bucket: float, state: BucketState, seq: int, *, closed: bool = False) -> None:
        encode = functools.partial(self.aggregator.to_bytes, state)
        data = encode() if self._steps is None else self._steps(encode)
        self.archive.save_window(
            self.worker, bucket, data, self.aggregator.rows(state), seq, closed
        )

    def _evict(self) -> None:
        """Keep in memory only the buckets records still arrive in (this one and the
        one before); the others are persisted and closed."""
        now = _bucket_of(self.clock(), self.spec.bucket_seconds)
        old = [b for b in self._buckets if b < now - self.spec.bucket_seconds]
        if self._dirty in old:
            self.persist()
        for bucket in old:
            self._save(bucket, self._buckets.pop(bucket), self._persisted_seq, closed=True)

    # -- the window ----------------------------------------------------------------------

    def _decode(self, s: WindowState) -> tuple[int, BucketState]:
        """A persisted bucket, decoded once per distinct image, with its version."""
        key = (s.worker, float(s.bucket))
        data = bytes(s.state)
        found = self._decoded.get(key)
        if found is not None and found[0] == data:
            return found[1], found[2]
        version = next(self._versions)
        state = self.aggregator.from_bytes(data)
        self._decoded[key] = (data, version, state)
        return version, state

    def _readable(self, s: WindowState) -> bool:
        """Whether a persisted bucket was written by a window like this one (another
        model on the same archive watches other columns: its buckets are not ours)."""
        try:
            self._decode(s)
        except CorruptStateError:
            return False
        return True

    def _merged(
        self, chosen: Mapping[tuple[str, float], WindowState | None], now: float
    ) -> BucketState:
        """The merge of the chosen buckets (``None``: this worker's bucket in memory);
        the buckets before the current one change rarely, so their merge is kept until
        one of them changes or leaves."""
        agg = self.aggregator
        current = _bucket_of(now, self.spec.bucket_seconds)
        settled: list[tuple[tuple[str, float], int, BucketState]] = []
        fresh: list[BucketState] = []
        for key in sorted(chosen):
            found = chosen[key]
            if found is None:
                version, state = self._dirty_version, self._buckets[key[1]]
            else:
                version, state = self._decode(found)
            if key[1] < current:
                settled.append((key, version, state))
            else:
                fresh.append(state)
        signature = tuple((key, version) for key, version, _ in settled)
        if self._settled is None or self._settled[0] != signature:
            self._settled = (signature, merge_all(agg, [s for _, _, s in settled]))
        return merge_all(agg, [self._settled[1], *fresh])

    def window(self) -> tuple[Profile, Rejections, float | None, float]:
        """The window's profile (every worker's buckets), its refused records, and the
        time span it covers (``since`` is ``None`` for an empty window)."""
        now = self.clock()
        cached = self._cache
        if cached is not None and now - cached.at < CACHE_SECONDS:
            return cached.profile, cached.rejections, cached.since, cached.until
        with self._lock:
            if self._added != self._folded_mark or self._rejections:
                self.flush()
            chosen = self._chosen(now)
            self._decoded = {k: v for k, v in self._decoded.items() if k in chosen}
            merged = self._merged(chosen, now)
            profile = self.aggregator.finalize(merged)
            rows = self.aggregator.rows(merged)
            rejections = Rejections(rows + merged.rejected, merged.rejected, dict(merged.counts))
            since = min((b for _, b in chosen), default=None)
            self._cache = _Cached(now, profile, rejections, since, now)
            return profile, rejections, since, now

    def _chosen(self, now: float) -> dict[tuple[str, float], WindowState | None]:
        """The buckets of the window by worker; ``None`` marks this worker's bucket that
        holds records not yet persisted (read from memory instead)."""
        width = self.spec.bucket_seconds
        first = None if self.spec.seconds is None else _bucket_of(now - self.spec.seconds, width)
        found: dict[tuple[str, float], WindowState | None] = {
            (s.worker, float(s.bucket)): s
            for s in self.archive.window_states(first)
            if (first is None or s.bucket >= first) and self._readable(s)
        }
        if self._dirty is not None and (first is None or self._dirty >= first):
            found[(self.worker, self._dirty)] = None
        if self.spec.seconds is not None:
            return found
        wanted = int(self.spec.records or 0)
        by_bucket: dict[float, list[tuple[str, float]]] = {}
        for key in found:
            by_bucket.setdefault(key[1], []).append(key)
        out: dict[tuple[str, float], WindowState | None] = {}
        rows = 0
        for bucket in sorted(by_bucket, reverse=True):
            if rows >= wanted:
                break
            for key in by_bucket[bucket]:
                out[key] = found[key]
                state = found[key]
                rows += self.aggregator.rows(self._buckets[bucket]) if state is None else state.rows
        if rows >= wanted:
            self._oldest_needed = min(b for _, b in out)
        return out

    def prune_before(self, now: float) -> float | None:
        """Buckets starting before this time are no longer needed by the window (one
        bucket of slack); ``None`` while it is not known (a window of records that has
        not been computed yet)."""
        width = self.spec.bucket_seconds
        if self.spec.seconds is not None:
            return _bucket_of(now - self.spec.seconds, width) - width
        if self._oldest_needed is None:
            return None
        return self._oldest_needed - width

    def prune(self) -> int:
        """Delete persisted buckets (of every worker) that left the window, at most once
        per bucket; returns how many (0 when the archive cannot prune buckets alone)."""
        now = self.clock()
        drop = getattr(self.archive, "prune_window", None)
        before = self.prune_before(now)
        if drop is None or before is None or now - self._pruned_at < self.spec.bucket_seconds:
            return 0
        self._pruned_at = now
        count: int = drop(before)
        return count

    def _info(self, since: float | None, until: float) -> dict[str, Any]:
        spec = self.spec
        return {
            "seconds": spec.seconds,
            "target_records": spec.records,
            "bucket_seconds": spec.bucket_seconds,
            "since": since,
            "until": until,
        }

    def drift(self) -> dict[str, Any]:
        """The ``/v1/drift`` answer (see :func:`suture.serve.drift_view.drift_payload`).

        While someone asks (a dashboard polling), the background thread recomputes it
        every :data:`CACHE_SECONDS`, so this returns a ready answer at most
        :data:`STALE_SECONDS` old without sketch work on the caller's thread; only the
        first call after a quiet spell computes it here.
        """
        now = self.clock()
        self._asked_at = now
        found = self._payload
        if found is not None and now - found[0] < STALE_SECONDS:
            return found[1]
        return self._compute()

    def _compute(self) -> dict[str, Any]:
        profile, rejections, since, until = self.window()
        found = self._payload
        if found is not None and found[0] == until:
            return found[1]
        payload = drift_payload(
            self.training, profile, limits=self.limits, rejections=rejections,
            window=self._info(since, until), units=self.units,
            training_out_of_range=self.training_out_of_range, min_records=self.min_records,
        )  # fmt: skip
        payload["error"] = self.error
        self._payload = (until, payload)
        return payload

    def _refresh(self) -> None:
        """Recompute the answer ahead of the next question, while questions come."""
        now = self.clock()
        found = self._payload
        asked = now - self._asked_at < 10 * STALE_SECONDS
        if asked and (found is None or now - found[0] >= CACHE_SECONDS):
            self._compute()

    def scores(self) -> dict[str, float]:
        """Per monitored column, its drift score (PSI for numbers, JS for categories),
        for the ``suture_feature_drift`` gauge; ``nan`` while the window holds fewer than
        ``min_records`` scored records."""
        payload = self.drift()
        judged = payload["overall"]["level"] != "insufficient"
        return {
            f["column"]: (f["score"] if judged and f["score"] is not None else math.nan)
            for f in payload["features"]
        }

    def distributions(self, column: str | None = None) -> dict[str, Any]:
        """Live-versus-training distributions for the dashboard, by column (or one)."""
        profile, *_ = self.window()
        names = self.columns if column is None else [column]
        unknown = [n for n in names if n not in self.columns]
        if unknown:
            raise ConfigError(
                f"the drift window has no column {unknown[0]!r}; columns are: "
                f"{', '.join(self.columns)}"
            )
        return {n: distribution(self.training[n], profile[n]) for n in names}


# ----------------------------------------------------------------------------- recovery


def recover_states(window_of: Callable[[str], LiveWindow], states: Sequence[WindowState]) -> int:
    """Fold and close the windows of every worker with an unclosed bucket; return the
    records replayed."""
    open_workers = sorted({s.worker for s in states if not s.closed})
    replayed = 0
    for worker in open_workers:
        window = window_of(worker)
        try:
            window.resume(states)
        except CorruptStateError as exc:
            _close_foreign(window.archive, [s for s in states if s.worker == worker], exc)
            continue
        replayed += window.finish()
    return replayed


def _close_foreign(archive: Archive, states: Sequence[WindowState], exc: Exception) -> None:
    """Close, as they are, the buckets of a worker that served another model: its records
    were watched under other columns or sketch sizes and cannot be replayed here."""
    sys.stderr.write(
        f"suture serve: drift window of worker {states[0].worker} not replayed: it was "
        f"written for another model ({exc}); its buckets are closed as they are\n"
    )
    for s in states:
        archive.save_window(s.worker, s.bucket, bytes(s.state), s.rows, s.last_seq, True)


def recover_window(config: ServeConfig, workers: Collection[str] | None = None) -> int:
    """Replay what killed workers archived but had not folded into their window.

    Run once by ``suture serve`` before the workers start: for every worker whose
    window state is not closed, the archived predictions after its watermark are folded
    into its buckets, which are then closed.  With ``workers``, only those (a worker the
    supervisor saw die, while the others keep serving).  Returns how many records were
    replayed.

    Raises
    ------
    SutureError
        When the bundle or the archive cannot be opened (one sentence).
    """
    from suture.models.bundle import ModelBundle
    from suture.serve.archive import open_archive

    bundle = ModelBundle.read(config.bundle)
    archive = open_archive(config.archive, synchronous=config.synchronous)
    try:
        states = archive.window_states(None)
        if workers is not None:
            states = [s for s in states if s.worker in set(workers)]
        return recover_states(
            lambda worker: LiveWindow.for_bundle(
                bundle, archive, worker=worker, spec=config.window
            ),
            states,
        )
    finally:
        archive.close()
