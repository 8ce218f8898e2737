"""Summaries of strings, categories and booleans."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from suture._arrow import arrow_indices, numpy_values
from suture._codec import Field
from suture.parsing import LOOKS as _LOOKS
from suture.sketches import _kernels
from suture.sketches._base import ColumnSketch, ColumnSummary
from suture.sketches.distinct import (
    HllRegisters,
    distinct_estimate,
    hll_merge,
    hll_update,
    hll_zero,
)
from suture.sketches.estimate import Estimate
from suture.sketches.frequent import FrequentItem, FrequentItems, check_top
from suture.sketches.hashing import string_keys
from suture.sketches.moments import Moments, weighted_moments_of
from suture.sketches.sizes import DEFAULT_LG_K, DEFAULT_LG_MAX_MAP, check_lg_k, check_lg_max_map

__all__ = ["BooleanSketch", "BooleanSummary", "StringSketch", "StringSummary"]

# What a string "looks like", tested on each batch's distinct values only.  The rules
# are the contracts' own (suture.parsing), so what looks like a timestamp validates as one.
LOOKS = _LOOKS


@dataclass
class StringState:
    """Mergeable state of :class:`StringSketch`."""

    count: int = 0
    nulls: int = 0
    empty: int = 0
    min_length: float = math.inf
    max_length: float = -math.inf
    lengths: Moments = field(default_factory=Moments)
    looks: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LOOKS, 0))
    distinct: HllRegisters = None  # type: ignore[assignment]
    frequent: FrequentItems = None  # type: ignore[assignment]
    # Counts per entry of a dictionary not yet folded in: the batches of one Parquet row
    # group share its dictionary, so each distinct value is hashed and matched once.
    pending: pa.Array | None = field(default=None, repr=False)
    pending_counts: npt.NDArray[np.int64] | None = field(default=None, repr=False)


class StringSketch(ColumnSketch[StringState]):
    """Summarize a string or categorical (dictionary) column in one pass.

    Parameters
    ----------
    lg_k : int, default 12
        HyperLogLog size of the distinct estimate.
    lg_max_map : int, default 11
        Frequent-items map size: counts are exact while there are at most
        ``0.75 * 2**lg_max_map`` distinct values (1,536 at the default).

    Notes
    -----
    Each batch is counted with Arrow first; the sketches then see each distinct value of
    the batch once, with its count.  Nulls are counted and skipped.  Counters merge
    exactly, the distinct registers exactly, frequent-item counts within their bounds.
    """

    kind = "string"

    def __init__(self, *, lg_k: int = DEFAULT_LG_K, lg_max_map: int = DEFAULT_LG_MAX_MAP) -> None:
        self.lg_k = check_lg_k(lg_k)
        self.lg_max_map = check_lg_max_map(lg_max_map)

    def config(self) -> str:
        return f"string(lg_k={self.lg_k},lg_max_map={self.lg_max_map})"

    def zero(self) -> StringState:
        return StringState(distinct=hll_zero(self.lg_k), frequent=FrequentItems(self.lg_max_map))

    def update(self, state: StringState, array: pa.Array) -> StringState:
        state.count += len(array)
        state.nulls += array.null_count
        if array.null_count == len(array):
            return state
        present = _kernels.call("drop_null", array) if array.null_count else array
        if pa.types.is_dictionary(present.type):
            dictionary = present.dictionary
            counts = np.bincount(numpy_values(present.indices), minlength=len(dictionary))
            if state.pending is not None and state.pending.equals(dictionary):
                state.pending_counts += counts  # type: ignore[operator]
            else:
                _flush(state)
                state.pending, state.pending_counts = dictionary, counts
            return state
        _absorb(state, *_count_values(present))
        return state

    def merge(self, a: StringState, b: StringState) -> StringState:
        _flush(a)
        a.count += b.count
        a.nulls += b.nulls
        a.empty += b.empty
        a.min_length = min(a.min_length, b.min_length)
        a.max_length = max(a.max_length, b.max_length)
        a.lengths = a.lengths.merge(b.lengths)
        for name in LOOKS:
            a.looks[name] += b.looks[name]
        a.distinct = hll_merge(a.distinct, b.distinct)
        a.frequent = a.frequent.merge(b.frequent)
        if b.pending is not None and b.pending_counts is not None:
            # b's dictionary counts go into a; b itself is left as it was.
            _fold_counts(a, b.pending, b.pending_counts)
        return a

    def finalize(self, state: StringState) -> StringSummary:
        return StringSummary(state)

    def _fields(self, state: StringState) -> dict[str, Field]:
        if state.pending is not None:
            state = self.merge(self.zero(), state)  # folded into a copy: state unchanged
        return {
            "counts": [state.count, state.nulls, state.empty],
            "min_length": state.min_length,
            "max_length": state.max_length,
            "lengths": state.lengths.to_list(),
            "looks": dict(state.looks),
            "distinct": state.distinct,
            "frequent": state.frequent.to_bytes(),
            "frequent_offset": state.frequent.offset,
        }

    def _from_fields(self, fields: dict[str, Any]) -> StringState:
        count, nulls, empty = fields["counts"]
        return StringState(
            count=count,
            nulls=nulls,
            empty=empty,
            min_length=fields["min_length"],
            max_length=fields["max_length"],
            lengths=Moments.from_list(fields["lengths"]),
            looks={name: int(fields["looks"].get(name, 0)) for name in LOOKS},
            distinct=fields["distinct"].astype(np.uint8),
            frequent=FrequentItems.from_bytes(
                self.lg_max_map, fields["frequent"], int(fields["frequent_offset"])
            ),
        )


def _flush(state: StringState) -> None:
    """Fold the pending dictionary counts into the sketches."""
    if state.pending is None or state.pending_counts is None:
        return
    dictionary, counts = state.pending, state.pending_counts
    state.pending = state.pending_counts = None
    _fold_counts(state, dictionary, counts)


def _fold_counts(state: StringState, dictionary: pa.Array, counts: npt.NDArray[np.int64]) -> None:
    """Fold the values of ``dictionary`` seen ``counts`` times into the sketches (the
    rows themselves were counted already)."""
    if not pa.types.is_string(dictionary.type):
        dictionary = _kernels.cast(dictionary, pa.string())
    used = np.flatnonzero(counts)
    if used.size:
        _absorb(
            state,
            _kernels.call("take", dictionary, arrow_indices(used)),
            counts[used].astype(np.int64),
        )


def _absorb(state: StringState, values: pa.Array, counts: npt.NDArray[np.int64]) -> None:
    """Fold distinct ``values`` seen ``counts`` times each into the sketches."""
    weights = counts.astype(np.float64)
    lengths = numpy_values(_kernels.call("utf8_length", values)).astype(np.float64)
    state.empty += int(counts[lengths == 0].sum())
    state.min_length = min(state.min_length, float(lengths.min()))
    state.max_length = max(state.max_length, float(lengths.max()))
    state.lengths = state.lengths.merge(weighted_moments_of(lengths, weights))
    for name, pattern in LOOKS.items():
        hit = numpy_values(_kernels.match_regex(values, pattern))
        state.looks[name] += int(counts[hit].sum())
    state.distinct = hll_update(state.distinct, string_keys(values))
    state.frequent.update_counts(values.to_pylist(), counts)


def _count_values(array: pa.Array) -> tuple[pa.Array, npt.NDArray[np.int64]]:
    """Distinct values of a null-free, non-dictionary array and how often each occurs."""
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        array = _kernels.cast(array, pa.string())
    counted = _kernels.call("value_counts", array)
    return counted.field(0), numpy_values(counted.field(1)).astype(np.int64)


class StringSummary(ColumnSummary):
    """What a profile knows about a string or categorical column.

    Exact: ``count`` (rows, nulls included), ``nulls``, ``empty``, length statistics
    (``min_length``, ``max_length``, ``mean_length``), and :meth:`looks_like` counts.
    Approximate with bounds: :meth:`distinct`, :meth:`top`.
    """

    kind = "string"
    state: StringState

    def __init__(self, state: StringState) -> None:
        _flush(state)
        self.state = state

    empty = property(lambda self: self.state.empty)

    @property
    def min_length(self) -> float:
        """Shortest value in characters (``nan`` when there is no value)."""
        return self.state.min_length if self.state.lengths.n else math.nan

    @property
    def max_length(self) -> float:
        """Longest value in characters (``nan`` when there is no value)."""
        return self.state.max_length if self.state.lengths.n else math.nan

    mean_length = property(lambda self: self.state.lengths.mean_or_nan)

    def looks_like(self, what: str) -> int:
        """How many values look like ``what``: numeric, boolean, timestamp or spaced."""
        return self.state.looks[what]

    def distinct(self) -> Estimate[float]:
        """Number of distinct non-null values: exact (confidence 1) while the frequent-items
        sketch holds every value, else the HyperLogLog estimate with its 95% bounds."""
        return distinct_estimate(self.state.distinct, self.state.frequent.distinct)

    def top(self, k: int = 10) -> list[FrequentItem]:
        """The ``k`` most frequent values with deterministic count bounds."""
        return self.state.frequent.top(k)

    @property
    def top_error(self) -> int:
        """The most any count from :meth:`top` can be off by."""
        return self.state.frequent.max_error


@dataclass
class BooleanState:
    """Exact counts of a boolean column."""

    count: int = 0
    nulls: int = 0
    true: int = 0


class BooleanSketch(ColumnSketch[BooleanState]):
    """Count true, false and null values exactly."""

    kind = "boolean"

    def config(self) -> str:
        return "boolean()"

    def zero(self) -> BooleanState:
        return BooleanState()

    def update(self, state: BooleanState, array: pa.Array) -> BooleanState:
        state.count += len(array)
        state.nulls += array.null_count
        state.true += int(_kernels.call("sum", array).as_py() or 0)
        return state

    def merge(self, a: BooleanState, b: BooleanState) -> BooleanState:
        return BooleanState(a.count + b.count, a.nulls + b.nulls, a.true + b.true)

    def finalize(self, state: BooleanState) -> BooleanSummary:
        return BooleanSummary(state)

    def _fields(self, state: BooleanState) -> dict[str, Field]:
        return {"counts": [state.count, state.nulls, state.true]}

    def _from_fields(self, fields: dict[str, Any]) -> BooleanState:
        return BooleanState(*fields["counts"])


class BooleanSummary(ColumnSummary):
    """Exact counts of a boolean column: ``count``, ``nulls``, ``true``, ``false``."""

    kind = "boolean"
    state: BooleanState

    def __init__(self, state: BooleanState) -> None:
        self.state = state

    true = property(lambda self: self.state.true)

    @property
    def false(self) -> int:
        """How many values are false."""
        return self.state.count - self.state.nulls - self.state.true

    def distinct(self) -> Estimate[float]:
        """The exact number of distinct non-null values (0, 1 or 2)."""
        n = float((self.true > 0) + (self.false > 0))
        return Estimate(n, n, n, 1.0)

    def top(self, k: int = 10) -> list[FrequentItem]:
        """``true`` and ``false`` with their exact counts, most frequent first."""
        check_top(k)
        pairs = [("true", self.true), ("false", self.false)]
        pairs = sorted((p for p in pairs if p[1] > 0), key=lambda p: -p[1])
        return [FrequentItem(v, Estimate(float(c), float(c), float(c), 1.0)) for v, c in pairs[:k]]
