"""The Aggregator protocol: every pass over data in suture is a monoid over batches.

An aggregator is configuration only; its *state* is a separate value with a stable byte
format, because the state is what crosses process and machine boundaries::

    zero() -> S                         the identity
    update(S, batch) -> S               fold one Arrow RecordBatch in, vectorized
    merge(S, S) -> S                    associative (and commutative where documented)
    finalize(S) -> R                    the user-facing value
    to_bytes(S) -> bytes / from_bytes(bytes) -> S   versioned, portable, no pickle

Laws every aggregator obeys (``suture.testing.check_aggregator`` checks them):

* identity: ``merge(zero(), s) == s == merge(s, zero())``;
* associativity: ``merge(merge(a, b), c) == merge(a, merge(b, c))``;
* homomorphism: splitting a table anywhere into any number of parts, updating each and
  merging gives the one-pass state (exactly for exact statistics, within the stated error
  bound for sketches);
* round trip: ``from_bytes(to_bytes(s)) == s``.

States are mutable objects (sketches are), so ``update`` and ``merge`` may reuse their
*first* argument and return it: always use the returned state, never the argument again.
The second argument of ``merge`` is never modified.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Executor
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol, TypeVar, runtime_checkable

import pyarrow as pa

from suture._codec import frame, pack, unframe, unpack

__all__ = [
    "Aggregator",
    "ColumnAggregator",
    "Columns",
    "Joined",
    "RowCount",
    "copy_state",
    "helper_thread",
    "merge_all",
]

S = TypeVar("S")
R_co = TypeVar("R_co", covariant=True)


@runtime_checkable
class Aggregator(Protocol[S, R_co]):
    """A monoid over Arrow record batches; see the module docstring for the laws."""

    kind: str

    def config(self) -> str:
        """A canonical string of the configuration; states merge only when it matches."""
        ...

    def zero(self) -> S: ...

    def update(self, state: S, batch: pa.RecordBatch) -> S: ...

    def merge(self, a: S, b: S) -> S: ...

    def finalize(self, state: S) -> R_co: ...

    def to_bytes(self, state: S) -> bytes: ...

    def from_bytes(self, data: bytes) -> S: ...


@runtime_checkable
class ColumnAggregator(Protocol[S, R_co]):
    """An aggregator over one Arrow array instead of a whole batch.

    :class:`Columns` lifts a set of them, one per column name, into an :class:`Aggregator`.
    """

    kind: str

    def config(self) -> str: ...

    def zero(self) -> S: ...

    def update(self, state: S, array: pa.Array) -> S: ...

    def merge(self, a: S, b: S) -> S: ...

    def finalize(self, state: S) -> R_co: ...

    def to_bytes(self, state: S) -> bytes: ...

    def from_bytes(self, data: bytes) -> S: ...


def merge_all(aggregator: Aggregator[S, Any], states: Iterable[S]) -> S:
    """Merge any number of states (none gives ``zero()``); no argument is modified.

    The first state is copied before anything is merged into it, so every input stays
    usable; the others are only read (``merge`` never modifies its second argument).
    """
    merged: S | None = None
    for state in states:
        if merged is None:
            merged = copy_state(aggregator, state)
        else:
            merged = aggregator.merge(merged, state)
    return aggregator.zero() if merged is None else merged


def copy_state(aggregator: Aggregator[S, Any], state: S) -> S:
    """An independent copy of ``state`` (merging into the copy leaves ``state`` as it was)."""
    return aggregator.merge(aggregator.zero(), state)


class RowCount:
    """Counts rows.  State and result are an ``int``; ``finalize(zero())`` is 0."""

    kind = "row_count"

    def config(self) -> str:
        return "row_count"

    def zero(self) -> int:
        return 0

    def update(self, state: int, batch: pa.RecordBatch) -> int:
        return state + int(batch.num_rows)

    def merge(self, a: int, b: int) -> int:
        return a + b

    def finalize(self, state: int) -> int:
        return state

    def to_bytes(self, state: int) -> bytes:
        return frame(self.kind, self.config(), pack({"rows": state}))

    def from_bytes(self, data: bytes) -> int:
        rows = unpack(unframe(data, self.kind, self.config()), self.kind)["rows"]
        return int(rows)


class Columns:
    """Run one :class:`ColumnAggregator` per named column in a single pass.

    Parameters
    ----------
    aggregators : mapping of str to ColumnAggregator
        Column name to the aggregator that summarizes it.

    Notes
    -----
    The state is a ``dict`` of column name to column state; the result a ``dict`` of column
    name to column result.  Laws hold column by column.  A batch without one of the named
    columns is an error, not a silent gap.
    """

    kind = "columns"

    def __init__(self, aggregators: Mapping[str, ColumnAggregator[Any, Any]]) -> None:
        self.aggregators = dict(aggregators)

    def config(self) -> str:
        inner = ",".join(f"{n!r}:{a.config()}" for n, a in self.aggregators.items())
        return f"columns({inner})"

    def zero(self) -> dict[str, Any]:
        return {name: agg.zero() for name, agg in self.aggregators.items()}

    def update(self, state: dict[str, Any], batch: pa.RecordBatch) -> dict[str, Any]:
        for name, agg in self.aggregators.items():
            state[name] = agg.update(state[name], batch.column(name))
        return state

    def merge(self, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        for name, agg in self.aggregators.items():
            a[name] = agg.merge(a[name], b[name])
        return a

    def finalize(self, state: dict[str, Any]) -> dict[str, Any]:
        return {name: agg.finalize(state[name]) for name, agg in self.aggregators.items()}

    def to_bytes(self, state: dict[str, Any]) -> bytes:
        parts = {name: agg.to_bytes(state[name]) for name, agg in self.aggregators.items()}
        return frame(self.kind, self.config(), pack({"columns": parts}))

    def from_bytes(self, data: bytes) -> dict[str, Any]:
        parts = unpack(unframe(data, self.kind, self.config()), self.kind)["columns"]
        return {name: agg.from_bytes(parts[name]) for name, agg in self.aggregators.items()}


_HELPER: ContextVar[Executor | None] = ContextVar("suture_helper_thread", default=None)


@contextmanager
def helper_thread(executor: Executor | None) -> Iterator[None]:
    """Let :class:`Joined` aggregators updated in this context run their
    ``concurrent_parts`` on ``executor`` (``None``: everything in the calling thread).

    Engines use this to put a second core to work on one batch: NumPy and Arrow release
    the GIL in their heavy loops.  The states and the results are the same either way.
    """
    token = _HELPER.set(executor)
    try:
        yield
    finally:
        _HELPER.reset(token)


class Joined:
    """Run several aggregators over the same batches in one pass (a named product).

    Parameters
    ----------
    parts : mapping of str to Aggregator
        The state, the result and the byte image are ``dict``s keyed by these names.

    Attributes
    ----------
    concurrent_parts : tuple of str
        Parts that may be updated on a helper thread while the others are updated in the
        calling thread, when an engine provides one (see :func:`helper_thread`).  Name a
        heavy part whose work is mostly inside NumPy; subclasses set it.
    """

    kind = "joined"
    concurrent_parts: tuple[str, ...] = ()

    def __init__(self, parts: Mapping[str, Aggregator[Any, Any]]) -> None:
        self.parts = dict(parts)

    def config(self) -> str:
        return "joined(" + ",".join(f"{n!r}:{a.config()}" for n, a in self.parts.items()) + ")"

    def zero(self) -> dict[str, Any]:
        return {name: agg.zero() for name, agg in self.parts.items()}

    def update(self, state: dict[str, Any], batch: pa.RecordBatch) -> dict[str, Any]:
        executor = _HELPER.get()
        aside = [n for n in self.concurrent_parts if n in self.parts] if executor else []
        pending = {
            name: executor.submit(self.parts[name].update, state[name], batch)
            for name in aside
            if executor is not None
        }
        for name, agg in self.parts.items():
            if name not in pending:
                state[name] = agg.update(state[name], batch)
        for name, future in pending.items():
            state[name] = future.result()
        return state

    def merge(self, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        for name, agg in self.parts.items():
            a[name] = agg.merge(a[name], b[name])
        return a

    def finalize(self, state: dict[str, Any]) -> dict[str, Any]:
        return self.finalize_parts(state)

    def finalize_parts(self, state: dict[str, Any]) -> dict[str, Any]:
        """The result of every part, by name."""
        return {name: agg.finalize(state[name]) for name, agg in self.parts.items()}

    def to_bytes(self, state: dict[str, Any]) -> bytes:
        parts = {name: agg.to_bytes(state[name]) for name, agg in self.parts.items()}
        return frame(self.kind, self.config(), pack({"parts": parts}))

    def from_bytes(self, data: bytes) -> dict[str, Any]:
        parts = unpack(unframe(data, self.kind, self.config()), self.kind)["parts"]
        return {name: agg.from_bytes(parts[name]) for name, agg in self.parts.items()}
