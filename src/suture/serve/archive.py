"""The audit archive: every acknowledged prediction, durably, and what was learnt later.

One schema in SQLite (WAL mode, the default, one file beside the service) and in
PostgreSQL (by URL, for teams that have a server)::

    predictions   seq, id (unique), ts, model_version, worker, key (indexed),
                  received, coerced, features, output, explanation   (JSON text)
    outcomes      prediction_id (unique), outcome (JSON text), ts
    features      model_version (unique), names (JSON text)
    window_state  worker, bucket, state, rows, last_seq, closed      (the live drift window)
    interactions  seq, ts, user_id, item_id                          (recommender feedback)
    meta          name, value                                        (the schema version)

Tables are created when an archive is opened; an archive written by a newer suture (a
higher schema version) is refused with a message that names both versions.

Writes are *group commits*: :meth:`SqlArchive.write` puts the records on a queue and
waits; one writer thread per archive takes everything pending (up to
:data:`MAX_GROUP` records), inserts it in one transaction, commits, and only then wakes
every waiting caller.  So a prediction is acknowledged only once it is committed, and a
failed commit raises :class:`ArchiveError` to every caller of that group (the service
answers 503 and acknowledges nothing).  Every other write (outcomes, window states,
interactions, pruning) goes through the same thread, so one process holds one writing
connection.  Several processes writing one SQLite file take turns (:class:`_WriteTurn`,
a lock file beside it): a writer waits for its turn without spinning, then takes
everything queued meanwhile into one transaction.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import itertools
import os
import queue
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from suture.errors import ConfigError, CorruptStateError, SourceError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "MAX_GROUP",
    "ROW_COLUMNS",
    "SCHEMA_VERSION",
    "Archive",
    "ArchiveError",
    "ArchivedProbabilities",
    "LabelledRows",
    "Outcome",
    "OutcomeReport",
    "PredictionRecord",
    "SqlArchive",
    "WindowState",
    "encode_features",
    "encode_rows",
    "iso_time",
    "new_prediction_id",
    "new_prediction_ids",
    "open_archive",
]

#: The archive's table layout; an archive with a higher version is refused.
SCHEMA_VERSION = 1
#: The most records one group commit takes from the queue.
MAX_GROUP = 4096
#: How long a SQLite writer waits for another process's transaction (milliseconds).
BUSY_TIMEOUT_MS = 30_000
#: Rows fetched per round trip when streaming (export, recovery).
CHUNK = 2000
#: SQLite page size of a new archive file (an existing file keeps its own).  An archived
#: prediction is about 1.5 KB of JSON text: with 4 KB pages the rows of a group commit
#: spread over many pages and page splits; with 16 KB pages SQLite spent ~20% less CPU a
#: row on 100-row commits (8-9 µs against 10-11 µs measured; 32 and 64 KB were slower,
#: each commit rewriting larger index pages).
SQLITE_PAGE_SIZE = 16384


class ArchiveError(SourceError):
    """The archive cannot be opened, read or written (the message names it and the fix)."""


@dataclass(frozen=True)
class PredictionRecord:
    """One decision as the archive keeps it (already redacted by the caller).

    Attributes
    ----------
    id : str
        :func:`new_prediction_id`: time-ordered, 32 hex characters.
    ts : float
        When it was made, Unix seconds.
    model_version, worker : str
        The bundle's version and the serving worker's id.
    key : str or None
        The value of the contract's business key (``[contract] key``), if it names one.
    received, coerced : dict
        The record as received and as coerced by the contract (JSON-able).
    features : list of float
        The feature row the model scored.
    output : dict
        ``prediction`` and ``probability`` (``probability_<class>``) or the value.
    explanation : list of dict
        The top contributions: ``column``, ``value``, ``unit``, ``contribution``.
    """

    id: str
    ts: float
    model_version: str
    worker: str
    key: str | None
    received: dict[str, Any]
    coerced: dict[str, Any]
    features: list[float]
    output: dict[str, Any]
    explanation: list[dict[str, Any]]


@dataclass(frozen=True)
class Outcome:
    """The true outcome of an earlier prediction, by its id or by the business key.

    With a ``key`` and no ``prediction_id``, the outcome joins the latest prediction made
    for that key.  ``ts`` defaults to the time it is added.
    """

    value: Any
    prediction_id: str | None = None
    key: str | None = None
    ts: float | None = None


@dataclass(frozen=True)
class OutcomeReport:
    """What :meth:`SqlArchive.add_outcomes` did.

    Attributes
    ----------
    matched : tuple of str
        The prediction ids that received (or had replaced) an outcome, in input order.
    unknown : tuple of int
        The positions, in the input, of outcomes whose id or key matches no prediction.
    """

    matched: tuple[str, ...]
    unknown: tuple[int, ...]


@dataclass(frozen=True)
class LabelledRows:
    """Predictions joined with their outcomes, oldest first (for realized performance).

    ``ts`` is a float64 array of Unix seconds; ``outputs[i]`` is the archived output
    dict and ``outcomes[i]`` the outcome value of ``ids[i]``.
    """

    ids: list[str]
    ts: npt.NDArray[np.float64]
    outputs: list[dict[str, Any]]
    outcomes: list[Any]

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class ArchivedProbabilities:
    """The positive-class probabilities of the archived predictions of a time span,
    oldest first (for the performance estimate before outcomes arrive).

    ``ts`` and ``probability`` are float64 arrays of the same length (``probability`` is
    NaN where an output has no numeric ``probability``: a regression or multiclass
    output); ``in_span`` counts every prediction of the span, read or not (more than
    ``len(ts)`` when the read was capped).
    """

    ts: npt.NDArray[np.float64]
    probability: npt.NDArray[np.float64]
    in_span: int

    def __len__(self) -> int:
        return int(self.ts.size)


@dataclass(frozen=True)
class WindowState:
    """One persisted bucket of a worker's live drift window."""

    worker: str
    bucket: float
    state: bytes
    rows: int
    last_seq: int
    closed: bool


class _RandomHex:
    """Random hex text from the operating system, drawn a few kilobytes at a time: one
    ``os.urandom`` call per id was 3 µs, most of an archive record's cost."""

    def __init__(self, size: int = 4096) -> None:
        self.size = 2 * size  # hex characters per draw
        self._size = size
        self._pool = ""
        self._at = 0
        self._lock = threading.Lock()

    def take(self, chars: int) -> str:
        with self._lock:
            if self._at + chars > len(self._pool):
                self._pool, self._at = os.urandom(self._size).hex(), 0
            start = self._at
            self._at += chars
            return self._pool[start : self._at]


_RANDOM_HEX = _RandomHex()


def new_prediction_id() -> str:
    """A new prediction id: 32 hex characters, the first 12 the time in milliseconds.

    Ids sort by the time they were made (to the millisecond); the last 80 bits are
    random (from ``os.urandom``), so ids from several workers never collide in practice.
    """
    return f"{time.time_ns() // 1_000_000:012x}{_RANDOM_HEX.take(20)}"


def new_prediction_ids(n: int) -> list[str]:
    """``n`` new prediction ids made at once (as :func:`new_prediction_id` makes one):
    the same millisecond prefix, 80 random bits each, from one draw of the pool."""
    stamp = f"{time.time_ns() // 1_000_000:012x}"
    pool = _RANDOM_HEX.take(20 * n) if 20 * n <= _RANDOM_HEX.size else os.urandom(10 * n).hex()
    return [stamp + pool[i : i + 20] for i in range(0, 20 * n, 20)]


def iso_time(ts: float) -> str:
    """Unix seconds as ISO 8601 in UTC with microseconds (``2026-12-02T04:00:31.123456Z``)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Archive(Protocol):
    """What the service, the window and the command line use of an archive."""

    url: str

    async def write(self, records: Sequence[PredictionRecord]) -> None:
        """Archive records; returns once they are committed."""

    async def write_rows(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """:meth:`write` of rows already encoded (the values of :data:`ROW_COLUMNS`)."""

    def write_now(self, records: Sequence[PredictionRecord]) -> None:
        """:meth:`write` for synchronous callers."""

    def set_feature_names(self, model_version: str, names: Sequence[str]) -> None:
        """Record the feature names of a model version (once; :meth:`get` shows them)."""

    def get(self, id: str) -> dict[str, Any] | None:
        """The whole decision with this id, or None."""

    def recent(self, limit: int = 20) -> list[dict[str, Any]]:
        """The latest decisions, newest first."""

    def add_outcomes(self, outcomes: Sequence[Outcome]) -> OutcomeReport:
        """Join outcomes to their predictions."""

    def labelled(self, since: float | None = None) -> LabelledRows:
        """Predictions with an outcome."""

    def probabilities(
        self, since: float | None = None, limit: int = 200_000
    ) -> ArchivedProbabilities:
        """The newest predictions' probabilities of a span, labelled or not."""

    def save_window(
        self,
        worker: str,
        bucket: float,
        state: bytes,
        rows: int,
        last_seq: int,
        closed: bool = False,
    ) -> None:
        """Persist one bucket of a worker's window (replaces the previous image)."""

    def window_states(self, since: float | None) -> list[WindowState]:
        """Every persisted bucket at or after ``since``."""

    def last_seq(self, worker: str) -> int:
        """The sequence number of a worker's latest archived prediction (0 if none)."""

    def unfolded(self, worker: str, after_seq: int) -> Iterator[tuple[int, float, dict[str, Any]]]:
        """A worker's predictions after ``after_seq``: sequence, time, coerced record."""

    def committed(self, worker: str, after_seq: int, limit: int) -> list[tuple[int, str, float]]:
        """A worker's committed predictions after ``after_seq``, in order: seq, id, time."""

    def prune_window(self, before: float) -> int:
        """Delete window buckets that start before ``before``; returns how many."""

    def write_interactions(self, rows: Sequence[tuple[float, Any, Any]]) -> int:
        """Archive interactions; returns the last sequence number."""

    def interactions_after(self, seq: int) -> list[tuple[int, Any, Any]]:
        """Interactions after ``seq``: sequence, user, item."""

    def export_parquet(self, path: Path, *, since: float | None = None) -> int:
        """Write predictions (and outcomes) to Parquet; returns the row count."""

    def prune(self, older_than: float) -> int:
        """Delete predictions older than ``older_than``; returns how many."""

    def stats(self) -> dict[str, Any]:
        """Counts and time span."""

    def close(self) -> None:
        """Wait for pending commits and close."""


# -- SQL dialects ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Dialect:
    """What differs between SQLite and PostgreSQL: placeholders and column types."""

    name: str
    serial: str
    real: str
    blob: str

    def sql(self, text: str) -> str:
        return text if self.name == "sqlite" else text.replace("?", "%s")

    def ddl(self) -> list[str]:
        t = "TEXT"
        return [
            f"""CREATE TABLE IF NOT EXISTS predictions (
                seq {self.serial}, id {t} NOT NULL UNIQUE, ts {self.real} NOT NULL,
                model_version {t} NOT NULL, worker {t} NOT NULL, key {t},
                received {t} NOT NULL, coerced {t} NOT NULL, features {t} NOT NULL,
                output {t} NOT NULL, explanation {t} NOT NULL)""",
            # Partial: a prediction without a business key costs the index nothing (the
            # only query, ``key = ?``, implies ``key IS NOT NULL``).  An archive made
            # before keeps its full index of the same name.
            "CREATE INDEX IF NOT EXISTS predictions_key ON predictions (key) WHERE key IS NOT NULL",
            "CREATE INDEX IF NOT EXISTS predictions_ts ON predictions (ts)",
            "CREATE INDEX IF NOT EXISTS predictions_worker ON predictions (worker, seq)",
            f"""CREATE TABLE IF NOT EXISTS outcomes (
                prediction_id {t} PRIMARY KEY, outcome {t} NOT NULL, ts {self.real} NOT NULL)""",
            f"""CREATE TABLE IF NOT EXISTS features (
                model_version {t} PRIMARY KEY, names {t} NOT NULL)""",
            f"""CREATE TABLE IF NOT EXISTS window_state (
                worker {t} NOT NULL, bucket {self.real} NOT NULL, state {self.blob} NOT NULL,
                rows BIGINT NOT NULL, last_seq BIGINT NOT NULL, closed INTEGER NOT NULL,
                PRIMARY KEY (worker, bucket))""",
            f"""CREATE TABLE IF NOT EXISTS interactions (
                seq {self.serial}, ts {self.real} NOT NULL, user_id {t} NOT NULL,
                item_id {t} NOT NULL)""",
            f"CREATE TABLE IF NOT EXISTS meta (name {t} PRIMARY KEY, value {t} NOT NULL)",
        ]


_SQLITE = _Dialect("sqlite", "INTEGER PRIMARY KEY AUTOINCREMENT", "REAL", "BLOB")
_POSTGRES = _Dialect("postgresql", "BIGSERIAL PRIMARY KEY", "DOUBLE PRECISION", "BYTEA")


_DUMPS_OPTION = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=str, option=_DUMPS_OPTION).decode()


def _loads(text: str | bytes | None) -> Any:
    return None if text is None else orjson.loads(text)


def _dumps_features(values: Sequence[float | None]) -> str:
    """A feature row as JSON: the list, or ``{"n": size, "at": [...], "v": [...]}`` with
    only the entries that are not 0 when that is shorter.

    One-hot and bin designs are mostly zeros: a wa_churn row of 141 features was 2.8 KB
    as a list, most of an archived record; kept sparse it is a tenth of that.  Exact:
    the values are the same floats.
    """
    at = [i for i, v in enumerate(values) if v != 0.0]
    if 2 * len(at) >= len(values):
        return _dumps(list(values))
    return _dumps({"n": len(values), "at": at, "v": [values[i] for i in at]})


def _loads_features(text: str | bytes | None) -> list[float | None] | None:
    """A feature row stored by :func:`_dumps_features`, as the whole list."""
    stored = _loads(text)
    if not isinstance(stored, dict):
        return stored  # type: ignore[no-any-return]
    row: list[float | None] = [0.0] * int(stored["n"])
    for i, v in zip(stored["at"], stored["v"], strict=True):
        row[i] = v
    return row


def encode_features(X: npt.NDArray[np.float64]) -> list[str]:
    """:func:`_dumps_features` of every row of a feature matrix, the same text, without
    a Python pass over each row's values: the non-zero entries are found for the whole
    matrix at once (NaN counts as non-zero, as ``v != 0.0`` does)."""
    import numpy as np

    if len(X) < 4:  # NumPy's fixed cost per call is more than one row's Python pass
        return [_dumps_features(row) for row in X.tolist()]
    width = X.shape[1]
    mask = X != 0.0
    counts = np.count_nonzero(mask, axis=1)
    dense = (2 * counts >= width).tolist()
    rows, cols = np.nonzero(mask)
    values = X[rows, cols].tolist()
    at = cols.tolist()
    ends = np.cumsum(counts).tolist()
    out: list[str] = []
    start = 0
    for i, end in enumerate(ends):
        if dense[i]:
            out.append(_dumps(X[i].tolist()))
        else:
            out.append(_dumps({"n": width, "at": at[start:end], "v": values[start:end]}))
        start = end
    return out


# -- the writer thread -----------------------------------------------------------------


_Call = Callable[[Any], Any]


@dataclass
class _Job:
    """Records to insert (a group commit merges consecutive ones), or a call to run.

    ``rows`` are records already encoded as the ``predictions`` table's values (the
    tuples :func:`_row` makes), in the order of :data:`ROW_COLUMNS`."""

    future: Future[Any]
    records: Sequence[PredictionRecord] = ()
    call: _Call | None = None
    rows: Sequence[tuple[Any, ...]] = ()

    def __len__(self) -> int:
        return len(self.records) + len(self.rows)


_STOP = object()


@dataclass
class _Connection:
    """A DB-API connection and what it needs to run one transaction."""

    raw: Any
    dialect: _Dialect

    def begin(self) -> None:
        if self.dialect.name == "sqlite":
            _begin_immediate(self.raw)

    def commit(self) -> None:
        self.raw.commit() if self.dialect.name != "sqlite" else self.raw.execute("COMMIT")

    def rollback(self) -> None:
        try:
            if self.dialect.name == "sqlite":
                if self.raw.in_transaction:
                    self.raw.execute("ROLLBACK")
            else:
                self.raw.rollback()
        except Exception:
            pass

    def execute(self, text: str, params: Sequence[Any] = ()) -> Any:
        return self.raw.execute(self.dialect.sql(text), params)

    def executemany(self, text: str, rows: Sequence[Sequence[Any]]) -> None:
        cur = self.raw.cursor()
        try:
            cur.executemany(self.dialect.sql(text), rows)
        finally:
            cur.close()

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a broken connection
            self.raw.close()


def _begin_immediate(raw: sqlite3.Connection) -> None:
    """``BEGIN IMMEDIATE``, retried every few hundred microseconds while another process
    holds the write lock.

    SQLite's own busy handler sleeps 1, 2, 5, 10 ... 100 ms between attempts and is not
    fair, so with two workers committing one file a waiting commit often slept 100 ms
    and more (p99 over 100 ms measured with two workers); short random pauses keep the
    wait near the other commit's own length.  Gives up after :data:`BUSY_TIMEOUT_MS`.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    raw.execute("PRAGMA busy_timeout = 0")
    try:
        while True:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(_PAUSE.uniform(0.0001, 0.0005))
    finally:
        raw.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")


_PAUSE = random.Random()

#: The columns of an encoded prediction row (:meth:`SqlArchive.write_rows`), in order.
ROW_COLUMNS = (
    "id", "ts", "model_version", "worker", "key",
    "received", "coerced", "features", "output", "explanation",
)  # fmt: skip
_INSERT = (
    f"INSERT INTO predictions ({', '.join(ROW_COLUMNS)}) VALUES "
    f"({', '.join('?' for _ in ROW_COLUMNS)})"
)


def encode_rows(
    ids: Sequence[str],
    ts: float,
    model_version: str,
    worker: str,
    keys: Sequence[str | None],
    received: Sequence[dict[str, Any]],
    coerced: Sequence[dict[str, Any]],
    features: Sequence[str],
    outputs: Sequence[dict[str, Any]],
    explanations: Sequence[list[dict[str, Any]]],
) -> list[tuple[Any, ...]]:
    """The rows :meth:`SqlArchive.write_rows` takes, for records made at one time by one
    worker: the same values :func:`_row` gives each :class:`PredictionRecord`, with the
    feature rows already encoded (:func:`encode_features`)."""
    # _dumps written out: its four Python calls a record were about a quarter of the cost.
    d, option, stamp = orjson.dumps, _DUMPS_OPTION, float(ts)
    return [
        (
            i,
            stamp,
            model_version,
            worker,
            None if k is None else str(k),
            d(r, default=str, option=option).decode(),
            d(c, default=str, option=option).decode(),
            f,
            d(o, default=str, option=option).decode(),
            d(e, default=str, option=option).decode(),
        )
        for i, k, r, c, f, o, e in zip(
            ids, keys, received, coerced, features, outputs, explanations, strict=True
        )
    ]


def _row(r: PredictionRecord) -> tuple[Any, ...]:
    """A record as the values of :data:`ROW_COLUMNS`."""
    return (
        r.id,
        float(r.ts),
        r.model_version,
        r.worker,
        None if r.key is None else str(r.key),
        _dumps(r.received),
        _dumps(r.coerced),
        _dumps_features(r.features),
        _dumps(r.output),
        _dumps(r.explanation),
    )


def _insert(rows: list[tuple[Any, ...]], conn: _Connection) -> int | None:
    """Insert prediction rows; in SQLite, return the sequence number of the last one (the
    transaction holds the write lock, so AUTOINCREMENT numbered them consecutively)."""
    conn.executemany(_INSERT, rows)
    if conn.dialect.name != "sqlite":
        return None  # PostgreSQL sequences interleave across sessions: nothing assumed
    return int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])


#: The most committed predictions a :class:`_CommitLog` keeps per worker.
LOG_LIMIT = 400_000


class _CommitLog:
    """The ``(seq, id, ts)`` of every prediction this archive object committed, per
    worker, so :meth:`SqlArchive.committed` answers the window without a query.

    A worker's log is complete after ``covered`` (the sequence number before its first
    entry, raised as old entries are dropped): a SQLite sequence only grows, so no
    record committed before this object's first commit of a worker has a higher one.
    Workers are one per process, and a process writes through one archive object, so a
    worker's records after ``covered`` are all here; asked for less, the caller reads
    the table.
    """

    def __init__(self, limit: int = LOG_LIMIT) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._entries: dict[str, collections.deque[tuple[int, str, float]]] = {}
        self._covered: dict[str, int] = {}

    def add(self, rows: Sequence[tuple[Any, ...]], last_seq: int) -> None:
        """Note committed rows (:data:`ROW_COLUMNS` tuples), the last numbered
        ``last_seq``."""
        first = last_seq - len(rows) + 1
        with self._lock:
            for seq, row in enumerate(rows, start=first):
                worker = row[3]
                entries = self._entries.get(worker)
                if entries is None:
                    entries = self._entries[worker] = collections.deque()
                    self._covered[worker] = seq - 1
                entries.append((seq, row[0], float(row[1])))
            for worker, entries in self._entries.items():
                while len(entries) > self._limit:
                    self._covered[worker] = entries.popleft()[0]

    def after(self, worker: str, after_seq: int, limit: int) -> list[tuple[int, str, float]] | None:
        """The worker's entries after ``after_seq`` (at most ``limit``), or None when the
        log does not cover that far back.  Entries up to ``after_seq`` are dropped: the
        window asks with a watermark that only grows."""
        with self._lock:
            entries = self._entries.get(worker)
            if entries is None or after_seq < self._covered[worker]:
                return None
            while entries and entries[0][0] <= after_seq:
                self._covered[worker] = entries.popleft()[0]
            return list(itertools.islice(entries, limit))


class _WriteTurn:
    """The turn of one process to write a SQLite file: an exclusive ``flock`` on the
    lock file ``<archive>-writer`` beside it, held from before a transaction's ``BEGIN``
    until after its ``COMMIT``.

    Without it, two workers' writers met at SQLite's lock: the loser retried ``BEGIN
    IMMEDIATE`` every few hundred microseconds, each try costing CPU and the GIL the
    event loop needed, and it committed only what had queued before it began to wait.
    Waiting for the turn costs nothing (the thread sleeps in the kernel until the other
    process's commit is done), and the records queued meanwhile join the group commit.
    The kernel drops the lock of a killed process.  Writers that do not take turns (an
    older suture, the ``sqlite3`` shell) still meet at SQLite's lock, as before.  Where
    ``fcntl`` is missing (Windows), there are no turns.
    """

    def __init__(self, database: Path) -> None:
        self.path = Path(f"{database}-writer")
        self._fd: int | None = None

    def __enter__(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not on POSIX
            return
        if self._fd is None:
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError:
                return  # a read-only folder: SQLite's own lock still serializes writers
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            import fcntl

            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@dataclass
class _Writer:
    """The one thread that writes: group commits of predictions, and every other write."""

    connect: Callable[[], _Connection]
    url: str
    turn: contextlib.AbstractContextManager[None] = field(default_factory=contextlib.nullcontext)
    jobs: queue.SimpleQueue[Any] = field(default_factory=queue.SimpleQueue)
    commits: int = 0
    records: int = 0
    log: _CommitLog = field(default_factory=_CommitLog)
    _conn: _Connection | None = None
    _held: _Job | None = None
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="suture-archive", daemon=True)
        self._thread.start()

    def submit(self, job: _Job) -> Future[Any]:
        self.jobs.put(job)
        return job.future

    def stop(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self.jobs.put(_STOP)
            self._thread.join()
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if isinstance(self.turn, _WriteTurn):
            self.turn.close()

    def _run(self) -> None:
        while True:
            job = self._held if self._held is not None else self.jobs.get()
            self._held = None
            if job is _STOP:
                return
            with self.turn:
                if job.call is not None:
                    self._transaction([job], job.call)
                    continue
                group = self._gather(job)  # with the turn: what queued while waiting too
                rows = [row for j in group for row in (*map(_row, j.records), *j.rows)]
                self._transaction(group, functools.partial(_insert, rows), rows)
                self.records += len(rows)

    def _gather(self, first: _Job) -> list[_Job]:
        """``first`` and every record job pending behind it, up to :data:`MAX_GROUP`."""
        group, n = [first], len(first)
        while n < MAX_GROUP:
            try:
                job = self.jobs.get_nowait()
            except queue.Empty:
                break
            if job is _STOP or job.call is not None:
                self._held = job
                break
            group.append(job)
            n += len(job)
        return group

    def _transaction(
        self, group: list[_Job], work: _Call, rows: Sequence[tuple[Any, ...]] = ()
    ) -> None:
        try:
            if self._conn is None:
                self._conn = self.connect()
            conn = self._conn
            conn.begin()
            result = work(conn)
            conn.commit()
        except Exception as exc:
            error = self._error(exc)
            if self._conn is not None:
                self._conn.rollback()
                if not isinstance(exc, sqlite3.IntegrityError):
                    self._conn.close()
                    self._conn = None
            for job in group:
                _resolve(job.future, error=error)
            return
        self.commits += 1
        if rows and result is not None:
            self.log.add(rows, result)
        for job in group:
            _resolve(job.future, result=result if job.call is not None else None)

    def _error(self, exc: Exception) -> Exception:
        if isinstance(exc, (ArchiveError, ConfigError)):
            return exc
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return ArchiveError(f"archive {self.url}: the write was not committed ({text})")


def _resolve(future: Future[Any], *, result: Any = None, error: Exception | None = None) -> None:
    if future.set_running_or_notify_cancel():
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


# -- the archive -----------------------------------------------------------------------


class SqlArchive:
    """An archive in SQLite or PostgreSQL (see :func:`open_archive`).

    Reads run on their own connection (guarded by a lock, so any thread may read);
    writes go through the writer thread.
    """

    def __init__(
        self,
        url: str,
        connect: Callable[[], _Connection],
        turn: contextlib.AbstractContextManager[None] | None = None,
    ) -> None:
        self.url = url
        self._connect = connect
        self._closed = False
        self._read_lock = threading.Lock()
        setup = connect()
        try:
            _create_schema(setup, url)
        finally:
            setup.close()
        self._reader: _Connection | None = connect()
        self._writer = _Writer(connect, url, turn or contextlib.nullcontext())
        self._writer.start()

    # -- writes ------------------------------------------------------------------------

    def _submit(
        self,
        records: Sequence[PredictionRecord] = (),
        call: _Call | None = None,
        rows: Sequence[tuple[Any, ...]] = (),
    ) -> Future[Any]:
        if self._closed:
            raise ArchiveError(f"archive {self.url} is closed; nothing more can be written")
        return self._writer.submit(_Job(Future(), records, call, rows))

    async def write(self, records: Sequence[PredictionRecord]) -> None:
        """Archive ``records``; returns only after they are committed.

        Raises
        ------
        ArchiveError
            When the group commit failed (nothing of the group was archived).
        """
        if records:
            await asyncio.wrap_future(self._submit(records=records))

    async def write_rows(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """:meth:`write` of records already encoded: each row the values of
        :data:`ROW_COLUMNS` (ids, time, version, worker, key, then the JSON texts as
        :func:`_dumps` and :func:`encode_features` make them); the service builds a
        request's rows in bulk.  Returns only after they are committed.

        Raises
        ------
        ArchiveError
            When the group commit failed (nothing of the group was archived).
        """
        if rows:
            await asyncio.wrap_future(self._submit(rows=rows))

    def write_now(self, records: Sequence[PredictionRecord]) -> None:
        """:meth:`write` for synchronous callers (tests, the command line)."""
        if records:
            self._submit(records=records).result()

    def _call(self, call: _Call) -> Any:
        return self._submit(call=call).result()

    def set_feature_names(self, model_version: str, names: Sequence[str]) -> None:
        """Record the feature names of a model version; :meth:`get` pairs them with values."""
        text = _dumps(list(names))
        self._call(
            lambda c: c.execute(
                "INSERT INTO features (model_version, names) VALUES (?, ?) "
                "ON CONFLICT (model_version) DO UPDATE SET names = excluded.names",
                (model_version, text),
            )
        )

    # -- reads -------------------------------------------------------------------------

    def _fetch(
        self, text: str | Callable[[str], str], params: Sequence[Any] = ()
    ) -> list[tuple[Any, ...]]:
        """Run one read; ``text`` may be a function of the dialect's name."""
        with self._read_lock:
            if self._closed:
                raise ArchiveError(f"archive {self.url} is closed; nothing more can be read")
            try:
                if self._reader is None:  # the last read lost its connection
                    self._reader = self._connect()
                reader = self._reader
                if not isinstance(text, str):
                    text = text(reader.dialect.name)
                rows: list[tuple[Any, ...]] = reader.execute(text, params).fetchall()
                if reader.dialect.name != "sqlite":
                    reader.raw.rollback()  # end the read transaction
            except ArchiveError:
                raise
            except Exception as exc:
                if self._reader is not None:
                    self._reader.close()
                    self._reader = None
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise ArchiveError(f"archive {self.url}: cannot read ({first})") from None
            return rows

    def get(self, id: str) -> dict[str, Any] | None:
        """The whole decision: input, coerced values, features, output, explanation, outcome.

        Returns
        -------
        dict or None
            ``id``, ``ts`` (Unix seconds), ``time`` (ISO 8601 UTC), ``model_version``,
            ``worker``, ``key``, ``received``, ``coerced``, ``features`` (a list of
            floats), ``feature_names`` (a list, or None when the service did not record
            them), ``output``, ``explanation`` and ``outcome`` (None, or a dict of
            ``value``, ``ts`` and ``time``).  None for an unknown id.
        """
        rows = self._fetch(
            "SELECT p.seq, p.id, p.ts, p.model_version, p.worker, p.key, p.received, "
            "p.coerced, p.features, p.output, p.explanation, f.names, o.outcome, o.ts "
            "FROM predictions p LEFT JOIN features f ON f.model_version = p.model_version "
            "LEFT JOIN outcomes o ON o.prediction_id = p.id WHERE p.id = ?",
            (id,),
        )
        if not rows:
            return None
        seq, pid, ts, version, worker, key, rec, coe, feat, out, expl, names, oval, ots = rows[0]
        outcome = None
        if ots is not None:
            outcome = {"value": _loads(oval), "ts": ots, "time": iso_time(ots)}
        return {
            "id": pid,
            "seq": seq,
            "ts": ts,
            "time": iso_time(ts),
            "model_version": version,
            "worker": worker,
            "key": key,
            "received": _loads(rec),
            "coerced": _loads(coe),
            "features": _loads_features(feat),
            "feature_names": _loads(names),
            "output": _loads(out),
            "explanation": _loads(expl),
            "outcome": outcome,
        }

    def recent(self, limit: int = 20) -> list[dict[str, Any]]:
        """The latest ``limit`` decisions, newest first: ``id``, ``ts``, ``time``,
        ``model_version``, ``key`` and ``output``."""
        if limit < 1:
            return []
        rows = self._fetch(
            "SELECT id, ts, model_version, key, output FROM predictions "
            "ORDER BY ts DESC, seq DESC LIMIT ?",
            (int(limit),),
        )
        return [
            {
                "id": i,
                "ts": ts,
                "time": iso_time(ts),
                "model_version": v,
                "key": k,
                "output": _loads(o),
            }
            for i, ts, v, k, o in rows
        ]

    # -- outcomes ----------------------------------------------------------------------

    def add_outcomes(self, outcomes: Sequence[Outcome]) -> OutcomeReport:
        """Join outcomes to their predictions, by prediction id or by business key.

        An outcome by ``key`` joins the latest prediction made for that key.  Sending an
        outcome again replaces the earlier one (so retries are harmless).

        Returns
        -------
        OutcomeReport
            The matched prediction ids, and the positions of outcomes that match none.
        """
        now = time.time()
        items = [
            (o.prediction_id, o.key, _dumps(o.value), now if o.ts is None else o.ts)
            for o in outcomes
        ]
        if not items:
            return OutcomeReport((), ())
        result: OutcomeReport = self._call(functools.partial(_join_outcomes, items))
        return result

    def labelled(self, since: float | None = None) -> LabelledRows:
        """Predictions made at or after ``since`` that have an outcome, oldest first."""
        import numpy as np

        rows = self._fetch(
            "SELECT p.id, p.ts, p.output, o.outcome FROM predictions p "
            "JOIN outcomes o ON o.prediction_id = p.id WHERE p.ts >= ? ORDER BY p.ts, p.seq",
            (-1e300 if since is None else float(since),),
        )
        return LabelledRows(
            ids=[r[0] for r in rows],
            ts=np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows)),
            outputs=[_loads(r[2]) for r in rows],
            outcomes=[_loads(r[3]) for r in rows],
        )

    def probabilities(
        self, since: float | None = None, limit: int = 200_000
    ) -> ArchivedProbabilities:
        """The ``probability`` of the predictions made at or after ``since``, oldest first:
        the most recent ``limit`` of them when the span holds more.

        The probability is read from the archived output in SQL (SQLite's
        ``json_extract``, PostgreSQL's ``jsonb``), so no row is parsed in Python.
        """
        import numpy as np

        start = -1e300 if since is None else float(since)
        rows = self._fetch(_probability_sql, (start, max(0, int(limit))))
        ((in_span,),) = self._fetch("SELECT COUNT(*) FROM predictions WHERE ts >= ?", (start,))
        table = np.array(rows, dtype=np.float64).reshape(len(rows), 2)[::-1]
        return ArchivedProbabilities(
            ts=np.ascontiguousarray(table[:, 0]),
            probability=np.ascontiguousarray(table[:, 1]),
            in_span=max(int(in_span), len(rows)),
        )

    # -- the live window ---------------------------------------------------------------

    def save_window(
        self,
        worker: str,
        bucket: float,
        state: bytes,
        rows: int,
        last_seq: int,
        closed: bool = False,
    ) -> None:
        """Persist one bucket of a worker's drift window, replacing its previous image."""
        params = (worker, float(bucket), bytes(state), int(rows), int(last_seq), int(closed))
        self._call(
            lambda c: c.execute(
                "INSERT INTO window_state (worker, bucket, state, rows, last_seq, closed) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (worker, bucket) DO UPDATE SET "
                "state = excluded.state, rows = excluded.rows, last_seq = excluded.last_seq, "
                "closed = excluded.closed",
                params,
            )
        )

    def window_states(self, since: float | None) -> list[WindowState]:
        """Every persisted bucket starting at or after ``since`` (all when None), oldest
        first."""
        rows = self._fetch(
            "SELECT worker, bucket, state, rows, last_seq, closed FROM window_state "
            "WHERE bucket >= ? ORDER BY bucket, worker",
            (-1e300 if since is None else float(since),),
        )
        return [WindowState(w, b, bytes(s), n, q, bool(c)) for w, b, s, n, q, c in rows]

    def last_seq(self, worker: str) -> int:
        """The sequence number of ``worker``'s latest archived prediction (0 if none)."""
        rows = self._fetch("SELECT MAX(seq) FROM predictions WHERE worker = ?", (worker,))
        return int(rows[0][0] or 0)

    def workers(self) -> list[str]:
        """Every worker id that archived a prediction."""
        return [
            r[0] for r in self._fetch("SELECT DISTINCT worker FROM predictions ORDER BY worker")
        ]

    def unfolded(self, worker: str, after_seq: int) -> Iterator[tuple[int, float, dict[str, Any]]]:
        """``worker``'s predictions after ``after_seq`` in order: sequence, time and the
        coerced record (streamed in chunks, for recovering the window)."""
        seq = int(after_seq)
        while True:
            rows = self._fetch(
                "SELECT seq, ts, coerced FROM predictions WHERE worker = ? AND seq > ? "
                "ORDER BY seq LIMIT ?",
                (worker, seq, CHUNK),
            )
            for s, ts, coerced in rows:
                yield s, ts, _loads(coerced)
            if len(rows) < CHUNK:
                return
            seq = rows[-1][0]

    def committed(self, worker: str, after_seq: int, limit: int) -> list[tuple[int, str, float]]:
        """``worker``'s committed predictions after ``after_seq``, in order: sequence, id
        and time, without their JSON (the window folds the records it was handed and
        uses this to keep its watermark exact).  Those this object committed come from
        its commit log (no query; SQLite only), the others from the table."""
        logged = self._writer.log.after(worker, int(after_seq), int(limit))
        if logged is not None:
            return logged
        rows = self._fetch(
            "SELECT seq, id, ts FROM predictions WHERE worker = ? AND seq > ? ORDER BY seq LIMIT ?",
            (worker, int(after_seq), int(limit)),
        )
        return [(int(seq), str(ident), float(ts)) for seq, ident, ts in rows]

    def prune_window(self, before: float) -> int:
        """Delete the window buckets that start before ``before`` (Unix seconds), and
        nothing else; returns how many."""
        count: int = self._call(
            lambda c: (
                c.execute("DELETE FROM window_state WHERE bucket < ?", (float(before),)).rowcount
            )
        )
        return count

    # -- interactions (recommender bundles) --------------------------------------------

    def write_interactions(self, rows: Sequence[tuple[float, Any, Any]]) -> int:
        """Archive ``(ts, user, item)`` interactions in one commit.

        Returns
        -------
        int
            The sequence number of the last one written (of the latest interaction when
            ``rows`` is empty).
        """
        params = [(float(ts), _dumps(user), _dumps(item)) for ts, user, item in rows]
        if not params:
            latest = self._fetch("SELECT MAX(seq) FROM interactions")
            return int(latest[0][0] or 0)
        seq: int = self._call(functools.partial(_insert_interactions, params))
        return seq

    def interactions_after(self, seq: int) -> list[tuple[int, Any, Any]]:
        """Interactions after ``seq``, in order: sequence, user, item."""
        rows = self._fetch(
            "SELECT seq, user_id, item_id FROM interactions WHERE seq > ? ORDER BY seq",
            (int(seq),),
        )
        return [(s, _loads(u), _loads(i)) for s, u, i in rows]

    # -- export, retention, statistics -------------------------------------------------

    def _chunks(self, since: float | None) -> Iterator[list[tuple[Any, ...]]]:
        """Predictions with their outcomes, in chunks of :data:`CHUNK` by sequence."""
        seq, start = 0, -1e300 if since is None else float(since)
        while True:
            rows = self._fetch(
                "SELECT p.seq, p.id, p.ts, p.model_version, p.worker, p.key, p.output, "
                "p.received, p.coerced, p.features, p.explanation, o.outcome, o.ts "
                "FROM predictions p LEFT JOIN outcomes o ON o.prediction_id = p.id "
                "WHERE p.seq > ? AND p.ts >= ? ORDER BY p.seq LIMIT ?",
                (seq, start, CHUNK),
            )
            if rows:
                yield rows
            if len(rows) < CHUNK:
                return
            seq = rows[-1][0]

    def export_parquet(self, path: Path, *, since: float | None = None) -> int:
        """Write the predictions made at or after ``since`` (all when None) to Parquet.

        Streamed chunk by chunk (the table is never in memory whole) into a temporary
        file renamed into place at the end, so ``path`` is complete or untouched.
        Columns: ``id``, ``ts`` (timestamp[us, UTC]), ``model_version``, ``worker``,
        ``key``, one column per output field (``prediction``, ``probability``, ...:
        float64 when every value is a number, else text), ``received``, ``coerced``,
        ``features`` and ``explanation`` as JSON text, ``outcome`` (JSON text, null
        without one) and ``outcome_ts``.

        Returns
        -------
        int
            The number of rows written.
        """
        fields = _output_fields(self._chunks(since))
        return _write_parquet(Path(path), fields, self._chunks(since))

    def prune(self, older_than: float) -> int:
        """Delete the predictions made before ``older_than`` (Unix seconds), their
        outcomes and the window buckets before it; returns how many predictions."""
        count: int = self._call(functools.partial(_prune, float(older_than)))
        return count

    def stats(self) -> dict[str, Any]:
        """How much the archive holds: ``predictions``, ``outcomes``, ``interactions``,
        ``window_buckets``, ``workers``, ``model_versions`` and the ``first``/``last``
        prediction times (ISO 8601, None when empty)."""
        ((n, first, last, workers),) = self._fetch(
            "SELECT COUNT(*), MIN(ts), MAX(ts), COUNT(DISTINCT worker) FROM predictions"
        )
        versions = [
            r[0] for r in self._fetch("SELECT DISTINCT model_version FROM predictions ORDER BY 1")
        ]
        return {
            "url": self.url,
            "schema_version": SCHEMA_VERSION,
            "predictions": int(n),
            "outcomes": int(self._fetch("SELECT COUNT(*) FROM outcomes")[0][0]),
            "interactions": int(self._fetch("SELECT COUNT(*) FROM interactions")[0][0]),
            "window_buckets": int(self._fetch("SELECT COUNT(*) FROM window_state")[0][0]),
            "workers": int(workers),
            "model_versions": versions,
            "first": None if first is None else iso_time(first),
            "last": None if last is None else iso_time(last),
        }

    def close(self) -> None:
        """Wait for every pending commit, then close the connections (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._writer.stop()
        with self._read_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None

    def __enter__(self) -> SqlArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def commits(self) -> int:
        """How many transactions the writer committed (a group commit counts once)."""
        return self._writer.commits


def _probability_sql(dialect: str) -> str:
    """The newest predictions' times and numeric ``probability`` (NULL where the output
    has none), newest first."""
    if dialect == "sqlite":
        value = (
            "CASE WHEN json_type(output, '$.probability') IN ('real', 'integer') "
            "THEN json_extract(output, '$.probability') END"
        )
    else:
        value = (
            "CASE WHEN jsonb_typeof(output::jsonb -> 'probability') = 'number' "
            "THEN (output::jsonb ->> 'probability')::double precision END"
        )
    return f"SELECT ts, {value} FROM predictions WHERE ts >= ? ORDER BY ts DESC, seq DESC LIMIT ?"


def _join_outcomes(
    items: list[tuple[str | None, str | None, str, float]], conn: _Connection
) -> OutcomeReport:
    """Find each outcome's prediction (by id, else the latest with the key) and upsert it."""
    matched: list[str] = []
    unknown: list[int] = []
    for i, (pid, key, value, ts) in enumerate(items):
        if pid is not None:
            row = conn.execute("SELECT id FROM predictions WHERE id = ?", (pid,)).fetchone()
        elif key is not None:
            row = conn.execute(
                "SELECT id FROM predictions WHERE key = ? ORDER BY ts DESC, seq DESC LIMIT 1",
                (str(key),),
            ).fetchone()
        else:
            row = None
        if row is None:
            unknown.append(i)
            continue
        conn.execute(
            "INSERT INTO outcomes (prediction_id, outcome, ts) VALUES (?, ?, ?) "
            "ON CONFLICT (prediction_id) DO UPDATE SET outcome = excluded.outcome, "
            "ts = excluded.ts",
            (row[0], value, ts),
        )
        matched.append(row[0])
    return OutcomeReport(tuple(matched), tuple(unknown))


def _insert_interactions(params: list[tuple[float, str, str]], conn: _Connection) -> int:
    if conn.dialect.name != "sqlite":
        # Serialize the writers of interactions, so that sequence order is commit order
        # and a reader of interactions_after(seq) never skips a later-committed lower seq.
        conn.execute("SELECT pg_advisory_xact_lock(7271824)")
    conn.executemany("INSERT INTO interactions (ts, user_id, item_id) VALUES (?, ?, ?)", params)
    if conn.dialect.name == "sqlite":
        row = conn.execute("SELECT last_insert_rowid()").fetchone()
    else:
        row = conn.execute(
            "SELECT currval(pg_get_serial_sequence('interactions', 'seq'))"
        ).fetchone()
    return int(row[0])


def _prune(older_than: float, conn: _Connection) -> int:
    conn.execute(
        "DELETE FROM outcomes WHERE prediction_id IN (SELECT id FROM predictions WHERE ts < ?)",
        (older_than,),
    )
    count = conn.execute("DELETE FROM predictions WHERE ts < ?", (older_than,)).rowcount
    conn.execute("DELETE FROM window_state WHERE bucket < ?", (older_than,))
    return int(count)


def _create_schema(conn: _Connection, url: str) -> None:
    """Create the tables (once, under a lock every process respects) and check the version."""
    try:
        conn.begin()
        if conn.dialect.name != "sqlite":
            conn.execute("SELECT pg_advisory_xact_lock(7271823)")
        for statement in conn.dialect.ddl():
            conn.execute(statement)
        row = conn.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
        if row is None:
            conn.execute(
                "INSERT INTO meta (name, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
        conn.commit()
    except Exception as exc:
        conn.rollback()
        raise ArchiveError(f"archive {url}: cannot create its tables ({exc})") from None
    version = int(row[0]) if row is not None else SCHEMA_VERSION
    if version > SCHEMA_VERSION:
        raise CorruptStateError(
            f"archive {url} has schema version {version}, written by a newer suture; this "
            f"suture reads versions up to {SCHEMA_VERSION}: upgrade suture to use it"
        )


# -- opening ---------------------------------------------------------------------------


def _sqlite_path(url: str) -> Path:
    if url.startswith("sqlite:///"):
        rest = url[len("sqlite:///") :]
    elif url.startswith("sqlite://"):
        raise ConfigError(
            f"archive {url}: a SQLite URL has three slashes before a relative path "
            "(sqlite:///archive.db) and four before an absolute one (sqlite:////srv/archive.db)"
        )
    else:
        rest = url
    if not rest or rest == ":memory:":
        raise ConfigError(
            f"archive {url!r}: give a file, e.g. sqlite:///archive.db (an in-memory "
            "archive would not survive a restart)"
        )
    return Path(rest)


def _sqlite_connect(path: Path, synchronous: str) -> Callable[[], _Connection]:
    def connect() -> _Connection:
        try:
            raw = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
            raw.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            # Before WAL mode: a new file takes it, an existing one keeps its own size.
            raw.execute(f"PRAGMA page_size = {SQLITE_PAGE_SIZE}")
            raw.execute("PRAGMA journal_mode = WAL")
            raw.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        except sqlite3.Error as exc:
            raise ArchiveError(
                f"archive sqlite:///{path}: cannot open it ({exc}); check that the folder "
                "exists and is writable"
            ) from None
        return _Connection(raw, _SQLITE)

    return connect


def _postgres_connect(url: str) -> Callable[[], _Connection]:
    def connect() -> _Connection:
        import psycopg

        try:
            raw = psycopg.connect(url, connect_timeout=10)
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ArchiveError(
                f"archive {_public(url)}: cannot connect ({first}); check that the server "
                "runs and the URL names its host, port, user and database"
            ) from None
        return _Connection(raw, _POSTGRES)

    return connect


def _public(url: str) -> str:
    """A URL without its password (for messages)."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        credentials, _, host = rest.rpartition("@")
        user = credentials.split(":", 1)[0]
        return f"{scheme}{sep}{user}@{host}"
    return url


def open_archive(url: str, *, synchronous: str = "full") -> SqlArchive:
    """Open (creating if needed) the archive at ``url``.

    Parameters
    ----------
    url : str
        ``sqlite:///relative.db``, ``sqlite:////absolute/path.db`` (or a plain file path:
        SQLite), or ``postgresql://user[:password]@host:port/database``.
    synchronous : {"full", "normal"}
        SQLite's durability: ``full`` syncs every group commit to disk (an acknowledged
        prediction survives a power cut); ``normal`` survives a crash of the process but
        may lose the latest commits on a power cut.  Ignored by PostgreSQL.

    Raises
    ------
    ConfigError
        For a URL of another scheme or a bad ``synchronous``.
    ArchiveError
        When the archive cannot be opened or created.
    CorruptStateError
        When a newer suture wrote it.
    """
    if synchronous not in ("full", "normal"):
        raise ConfigError(f"--synchronous {synchronous!r}: expected full or normal")
    if url.startswith(("postgresql://", "postgres://")):
        return SqlArchive(_public(url), _postgres_connect(url))
    if "://" in url and not url.startswith("sqlite:"):
        raise ConfigError(
            f"archive {_public(url)!r}: expected sqlite:///path.db or "
            "postgresql://user@host:port/database"
        )
    path = _sqlite_path(url)
    if path.is_dir():
        raise ConfigError(
            f"archive {url}: {path} is a folder; give a file such as {path}/archive.db"
        )
    if not path.parent.exists() and str(path.parent) not in ("", "."):
        raise ConfigError(
            f"archive {url}: the folder {path.parent} does not exist; create it first"
        )
    return SqlArchive(
        f"sqlite:///{path}", _sqlite_connect(path, synchronous), turn=_WriteTurn(path)
    )


# -- Parquet export --------------------------------------------------------------------


def _output_fields(chunks: Iterator[list[tuple[Any, ...]]]) -> dict[str, bool]:
    """Every output field name in first-seen order, and whether all its values are numbers
    (a first pass over the output column only)."""
    fields: dict[str, bool] = {}
    for rows in chunks:
        for row in rows:
            for name, value in _loads(row[6]).items():
                number = value is None or (
                    isinstance(value, (int, float)) and not isinstance(value, bool)
                )
                fields[name] = fields.get(name, True) and number
    return fields


_FIXED = ("id", "ts", "model_version", "worker", "key")
_JSON = ("received", "coerced", "features", "explanation")


def _parquet_schema(fields: dict[str, bool]) -> Any:
    import pyarrow as pa

    stamp = pa.timestamp("us", tz="UTC")
    columns = [("id", pa.string()), ("ts", stamp), ("model_version", pa.string())]
    columns += [("worker", pa.string()), ("key", pa.string())]
    columns += [(n, pa.float64() if numeric else pa.string()) for n, numeric in fields.items()]
    columns += [(n, pa.string()) for n in _JSON]
    columns += [("outcome", pa.string()), ("outcome_ts", stamp)]
    return pa.schema(columns)


def _text(value: Any) -> str | None:
    return None if value is None else value if isinstance(value, str) else _dumps(value)


def _micros(values: Sequence[float | None], kind: Any) -> Any:
    """Unix seconds as an Arrow timestamp array (nulls kept)."""
    import pyarrow as pa

    return pa.array([None if v is None else round(v * 1e6) for v in values], pa.int64()).cast(kind)


def _batch(rows: list[tuple[Any, ...]], fields: dict[str, bool], schema: Any) -> Any:
    """One chunk of archive rows as an Arrow record batch of ``schema``."""
    import pyarrow as pa

    outputs = [_loads(r[6]) for r in rows]
    data: dict[str, Any] = {name: [r[i + 1] for r in rows] for i, name in enumerate(_FIXED)}
    data["ts"] = _micros(data["ts"], schema.field("ts").type)
    for name, numeric in fields.items():
        values = [o.get(name) for o in outputs]
        data[name] = values if numeric else [_text(v) for v in values]
    for i, name in enumerate(_JSON):
        data[name] = [r[7 + i] for r in rows]
    data["features"] = [_text(_loads_features(text)) for text in data["features"]]
    data["outcome"] = [r[11] for r in rows]
    data["outcome_ts"] = _micros([r[12] for r in rows], schema.field("outcome_ts").type)
    return pa.RecordBatch.from_pydict(data, schema=schema)


def _write_parquet(
    path: Path, fields: dict[str, bool], chunks: Iterator[list[tuple[Any, ...]]]
) -> int:
    import pyarrow.parquet as pq

    from suture._atomic import atomic_outputs, check_output

    check_output(path)
    schema = _parquet_schema(fields)
    count = 0
    with atomic_outputs([path]) as (temporary,), pq.ParquetWriter(temporary, schema) as writer:
        for rows in chunks:
            writer.write_batch(_batch(rows, fields, schema))
            count += len(rows)
    return count
