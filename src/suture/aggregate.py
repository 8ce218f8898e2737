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
* round trip: ``from_bytes(to_bytes(s)) == s``;
* ``merge`` never modifies its second argument, and ``merge(zero(), s)`` is an
  independent copy of ``s`` (:func:`copy_state`).

States are mutable objects (sketches are), so ``update`` and ``merge`` may reuse their
*first* argument and return it: always use the returned state, never the argument again.

Building blocks: :class:`Framed` (the byte framing every aggregator shares),
:class:`Joined` (several aggregators in one pass), :class:`Columns` (one column
aggregator per column, the same product), :class:`Grouped` (one state per level of a key
column), :func:`merge_all` and :func:`copy_state`.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

import numpy as np
import pyarrow as pa

from suture._codec import Field, frame, pack, unframe, unpack
from suture.errors import ConfigError, CorruptStateError, SchemaError, UnsupportedTypeError

__all__ = [
    "Aggregator",
    "ColumnAggregator",
    "Columns",
    "Framed",
    "Grouped",
    "Joined",
    "RowCount",
    "copy_state",
    "helper_thread",
    "in_steps",
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


class _Mergeable(Protocol[S]):
    def zero(self) -> S: ...

    def merge(self, a: S, b: S) -> S: ...


def merge_all(aggregator: _Mergeable[S], states: Iterable[S]) -> S:
    """Merge any number of states, in the order given (none gives ``zero()``).

    No argument is modified: the first state is copied before anything is merged into
    it, the others are only read (``merge`` never modifies its second argument).  Merge
    in a fixed order (for example by part number) where the bytes must be reproducible:
    sketches merge within their bounds in any order, but not always to the same bytes.
    """
    merged: S | None = None
    for state in states:
        merged = (
            copy_state(aggregator, state) if merged is None else aggregator.merge(merged, state)
        )
    return aggregator.zero() if merged is None else merged


def copy_state(aggregator: _Mergeable[S], state: S) -> S:
    """An independent copy of ``state``: merging into the copy leaves ``state`` as it was.

    Every aggregator's ``merge(zero(), s)`` is such a copy (a law the law checks test);
    no byte round trip is needed.
    """
    return aggregator.merge(aggregator.zero(), state)


class Framed(ABC, Generic[S]):
    """Base of every aggregator's byte image: subclasses name their state's fields.

    Subclasses set ``kind``, implement ``config()``, ``_fields(state) -> dict`` (numbers,
    strings, bytes, NumPy arrays, lists and dicts of them) and ``_from_fields(dict) ->
    state``; :meth:`to_bytes` frames the packed fields with the magic, the format version,
    the kind and the configuration (see :mod:`suture._codec`), and :meth:`from_bytes`
    checks all of them, so a state loaded under another configuration says which
    configuration wrote it and which one reads it.
    """

    kind: str = "framed"

    @abstractmethod
    def config(self) -> str:
        """A canonical string of the configuration; states load and merge only under it."""

    @abstractmethod
    def _fields(self, state: S) -> dict[str, Field]:
        """The state as named fields (must not modify ``state``)."""

    @abstractmethod
    def _from_fields(self, fields: dict[str, Any]) -> S:
        """Inverse of :meth:`_fields`."""

    def to_bytes(self, state: S) -> bytes:
        """The versioned, framed byte image of ``state``."""
        return frame(self.kind, self.config(), pack(self._fields(state)))

    def from_bytes(self, data: bytes) -> S:
        """Read a state written by :meth:`to_bytes` of an equally configured aggregator."""
        fields = unpack(unframe(data, self.kind, self.config()), self.kind)
        try:
            return self._from_fields(fields)
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise CorruptStateError(
                f"possible corruption: {self.kind} state lacks or garbles a field ({exc!r})"
            ) from None

    def __repr__(self) -> str:
        return self.config()


class RowCount(Framed[int]):
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

    def _fields(self, state: int) -> dict[str, Field]:
        return {"rows": state}

    def _from_fields(self, fields: dict[str, Any]) -> int:
        return int(fields["rows"])


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


#: Runs one step (a call without arguments) and returns its result.
Stepper = Callable[[Callable[[], Any]], Any]

_STEPS: ContextVar[Stepper | None] = ContextVar("suture_steps", default=None)


@contextmanager
def in_steps(run: Stepper | None) -> Iterator[None]:
    """Let products (:class:`Joined`, :class:`Columns`) updated in this context hand
    the update of each part that is not itself a product to ``run``, one call each.

    The serving worker's drift window uses it to fold on the worker's event loop a
    column at a time, between requests, instead of on a thread that holds the GIL
    for milliseconds while requests wait.  ``run(step)`` must return ``step()``; the
    states and the results are the same whoever calls it.
    """
    token = _STEPS.set(run)
    try:
        yield
    finally:
        _STEPS.reset(token)


class _Product(Framed[dict[str, Any]]):
    """A named product of batch aggregators: states, results and bytes are dicts by name.

    The one implementation behind :class:`Joined` and :class:`Columns`.  Subclasses set
    ``kind``, ``_payload`` (the field that holds the parts' bytes) and ``config``.
    """

    _payload = "parts"
    concurrent_parts: tuple[str, ...] = ()

    def __init__(self, parts: Mapping[str, Aggregator[Any, Any]]) -> None:
        self._parts = dict(parts)

    def _inner_config(self) -> str:
        return ",".join(f"{n!r}:{a.config()}" for n, a in self._parts.items())

    def zero(self) -> dict[str, Any]:
        return {name: agg.zero() for name, agg in self._parts.items()}

    def update(self, state: dict[str, Any], batch: pa.RecordBatch) -> dict[str, Any]:
        executor = _HELPER.get()
        aside = [n for n in self.concurrent_parts if n in self._parts] if executor else []
        pending = {
            name: executor.submit(self._parts[name].update, state[name], batch)
            for name in aside
            if executor is not None
        }
        run = _STEPS.get()
        for name, agg in self._parts.items():
            if name in pending:
                continue
            if run is None or isinstance(agg, _Product):
                state[name] = agg.update(state[name], batch)
            else:
                state[name] = run(functools.partial(agg.update, state[name], batch))
        for name, future in pending.items():
            state[name] = future.result()
        return state

    def merge(self, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        for name, agg in self._parts.items():
            a[name] = agg.merge(a[name], b[name])
        return a

    def finalize_parts(self, state: dict[str, Any]) -> dict[str, Any]:
        """The result of every part, by name."""
        return {name: agg.finalize(state[name]) for name, agg in self._parts.items()}

    def finalize(self, state: dict[str, Any]) -> Any:
        return self.finalize_parts(state)

    def _fields(self, state: dict[str, Any]) -> dict[str, Field]:
        return {self._payload: {n: a.to_bytes(state[n]) for n, a in self._parts.items()}}

    def _from_fields(self, fields: dict[str, Any]) -> dict[str, Any]:
        parts = fields[self._payload]
        return {name: agg.from_bytes(parts[name]) for name, agg in self._parts.items()}


class Joined(_Product):
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

    Notes
    -----
    Laws hold part by part; ``finalize(zero())`` is each part's empty result.
    """

    kind = "joined"

    def __init__(self, parts: Mapping[str, Aggregator[Any, Any]]) -> None:
        super().__init__(parts)
        self.parts = self._parts

    def config(self) -> str:
        return f"joined({self._inner_config()})"


class _OnColumn(Generic[S]):
    """A column aggregator seen as a batch aggregator of one named column."""

    def __init__(self, name: str, inner: ColumnAggregator[S, Any]) -> None:
        self.name = name
        self.inner = inner
        self.kind = inner.kind

    def config(self) -> str:
        return self.inner.config()

    def zero(self) -> S:
        return self.inner.zero()

    def update(self, state: S, batch: pa.RecordBatch) -> S:
        try:
            column = batch.column(self.name)
        except KeyError:
            raise SchemaError(
                f"column {self.name!r} is missing from the batch (it has "
                f"{', '.join(batch.schema.names) or 'no columns'}); aggregate data that has "
                "it, or leave it out of the aggregator"
            ) from None
        return self.inner.update(state, column)

    def merge(self, a: S, b: S) -> S:
        return self.inner.merge(a, b)

    def finalize(self, state: S) -> Any:
        return self.inner.finalize(state)

    def to_bytes(self, state: S) -> bytes:
        return self.inner.to_bytes(state)

    def from_bytes(self, data: bytes) -> S:
        return self.inner.from_bytes(data)


class Columns(_Product):
    """Run one :class:`ColumnAggregator` per named column in a single pass.

    Parameters
    ----------
    aggregators : mapping of str to ColumnAggregator
        Column name to the aggregator that summarizes it.

    Notes
    -----
    The same product as :class:`Joined`, each part reading its own column.  The state is
    a ``dict`` of column name to column state; the result a ``dict`` of column name to
    column result.  Laws hold column by column.  A batch without one of the named columns
    is an error (:class:`~suture.errors.SchemaError`), not a silent gap.
    """

    kind = "columns"
    _payload = "columns"

    def __init__(self, aggregators: Mapping[str, ColumnAggregator[Any, Any]]) -> None:
        super().__init__({name: _OnColumn(name, agg) for name, agg in aggregators.items()})
        self.aggregators = dict(aggregators)

    def config(self) -> str:
        return f"columns({self._inner_config()})"


Level = str | int | bool | None


def _level_order(level: Level) -> tuple[int, Any]:
    """A total order over levels of any key type: null first, then by type and value."""
    if level is None:
        return (0, 0)
    if isinstance(level, bool):
        return (1, level)
    if isinstance(level, int):
        return (2, level)
    return (3, level)


class Grouped(Framed[dict[Level, Any]]):
    """Run ``aggregator`` once per level of a key column (a target class, a segment).

    Parameters
    ----------
    key : str
        The key column: string, boolean, integer, or a dictionary of those.
    aggregator : Aggregator
        Run on the rows of each level (whole batches restricted to those rows).
    max_levels : int, default 1000
        More levels than this raise :class:`~suture.errors.ConfigError` (a key of
        identifiers would otherwise build one state per row).

    Notes
    -----
    The state is a ``dict`` of level to inner state, the result a ``dict`` of level to
    inner result, both ordered by level (null first, then booleans, integers, strings).
    Null keys form a level of their own, ``None``.  ``merge`` unions the levels and
    merges the states of common ones: the laws hold level by level, with the inner
    aggregator's tolerance.  ``finalize(zero())`` is ``{}``.  Batches are split by key
    with one stable sort of the key's codes, not row by row.

    Examples
    --------
    >>> import pyarrow as pa
    >>> grouped = Grouped("churn", RowCount())
    >>> batch = pa.record_batch({"churn": ["yes", "no", None, "no"]})
    >>> grouped.finalize(grouped.update(grouped.zero(), batch))
    {None: 1, 'no': 2, 'yes': 1}
    """

    kind = "grouped"

    def __init__(self, key: str, aggregator: Aggregator[Any, Any], *, max_levels: int = 1000):
        if isinstance(max_levels, bool) or not isinstance(max_levels, int) or max_levels < 1:
            raise ConfigError(
                f"max_levels must be a whole number of at least 1, got {max_levels!r}"
            )
        self.key = key
        self.aggregator = aggregator
        self.max_levels = max_levels

    def config(self) -> str:
        return f"grouped(key={self.key!r},max_levels={self.max_levels},{self.aggregator.config()})"

    def zero(self) -> dict[Level, Any]:
        return {}

    def update(self, state: dict[Level, Any], batch: pa.RecordBatch) -> dict[Level, Any]:
        for level, part in self._split(batch):
            inner = state[level] if level in state else self.aggregator.zero()
            state[level] = self.aggregator.update(inner, part)
        self._check_levels(state)
        return state

    def _split(self, batch: pa.RecordBatch) -> list[tuple[Level, pa.RecordBatch]]:
        """The rows of each key level, with one stable sort of the key codes."""
        if batch.num_rows == 0:
            return []
        codes, values = self._codes(batch)
        counts = np.bincount(codes, minlength=len(values))
        used = np.flatnonzero(counts)
        if used.size == 1:
            return [(values[int(used[0])], batch)]
        order = np.argsort(codes, kind="stable")
        grouped = batch.take(pa.array(order))
        starts = np.concatenate([[0], np.cumsum(counts)])
        return [
            (values[int(i)], grouped.slice(int(starts[i]), int(counts[i]))) for i in used.tolist()
        ]

    def _codes(self, batch: pa.RecordBatch) -> tuple[np.ndarray, list[Level]]:
        """Each row's level number (nulls: the last), and the level of each number."""
        try:
            column = batch.column(self.key)
        except KeyError:
            raise SchemaError(
                f"Grouped key column {self.key!r} is missing from the batch (it has "
                f"{', '.join(batch.schema.names)}); group by a column of the data"
            ) from None
        encoded = column if pa.types.is_dictionary(column.type) else None
        value_type = column.type.value_type if encoded is not None else column.type
        if not (
            pa.types.is_string(value_type)
            or pa.types.is_large_string(value_type)
            or pa.types.is_boolean(value_type)
            or pa.types.is_integer(value_type)
        ):
            raise UnsupportedTypeError(
                f"cannot group by column {self.key!r} of type {column.type}: a key must be "
                "a string, boolean, integer or dictionary column; cast or bin it first"
            )
        if encoded is None:
            import pyarrow.compute as pc  # here: the profile's path never loads it

            encoded = pc.dictionary_encode(column)
        values: list[Level] = encoded.dictionary.to_pylist()
        indices = encoded.indices
        codes = indices.fill_null(len(values)).to_numpy(zero_copy_only=False)
        if indices.null_count:
            values.append(None)
        return codes.astype(np.intp, copy=False), values

    def _check_levels(self, state: dict[Level, Any]) -> None:
        if len(state) > self.max_levels:
            raise ConfigError(
                f"Grouped by {self.key!r}: {len(state):,} levels, more than "
                f"max_levels={self.max_levels:,}; group by a column with fewer levels or "
                "raise max_levels"
            )

    def merge(self, a: dict[Level, Any], b: dict[Level, Any]) -> dict[Level, Any]:
        for level, inner in b.items():
            # A level new to ``a`` gets a copy, so that later merges never reach into b.
            if level in a:
                a[level] = self.aggregator.merge(a[level], inner)
            else:
                a[level] = copy_state(self.aggregator, inner)
        self._check_levels(a)
        return a

    def finalize(self, state: dict[Level, Any]) -> dict[Level, Any]:
        return {
            level: self.aggregator.finalize(state[level])
            for level in sorted(state, key=_level_order)
        }

    def _fields(self, state: dict[Level, Any]) -> dict[str, Field]:
        levels = sorted(state, key=_level_order)
        return {
            "levels": list(levels),
            "states": [self.aggregator.to_bytes(state[level]) for level in levels],
        }

    def _from_fields(self, fields: dict[str, Any]) -> dict[Level, Any]:
        levels, states = fields["levels"], fields["states"]
        if len(levels) != len(states):
            raise CorruptStateError(
                f"possible corruption: grouped state has {len(levels)} levels and "
                f"{len(states)} states"
            )
        return {
            level: self.aggregator.from_bytes(data)
            for level, data in zip(levels, states, strict=True)
        }
