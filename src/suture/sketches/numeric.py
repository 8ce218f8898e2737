"""Summary of a numeric column: counts, extremes, exact moments, quantiles, distinct."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from suture._arrow import numpy_values
from suture._codec import Field
from suture.errors import CorruptStateError
from suture.sketches import _kernels
from suture.sketches._base import ColumnSketch, ColumnSummary
from suture.sketches.distinct import (
    DEFAULT_LG_K,
    HllRegisters,
    SmallKeys,
    distinct_estimate,
    hll_merge,
    hll_update,
    hll_zero,
    small_keys_union,
    small_keys_zero,
)
from suture.sketches.estimate import Estimate
from suture.sketches.hashing import float_keys, int_keys
from suture.sketches.moments import Moments, moments_of, weighted_moments_of
from suture.sketches.quantiles import (
    DEFAULT_K,
    Histogram,
    Kll,
    kll_histogram,
    kll_merge,
    kll_quantile,
    kll_rank_error,
    kll_update_runs,
    kll_update_sorted,
    kll_zero,
)
from suture.sketches.sizes import check_k, check_lg_k

__all__ = ["Exact", "NumericSketch", "NumericState", "NumericSummary"]

Exact = int | Decimal
"""An exact extreme: a Python ``int`` for integer columns, a ``Decimal`` for decimals."""

_EXACT_FLOAT_INT = 2.0**53
_INT64_MAX = 2**63 - 1
_RUNS_WORTH_IT = 4  # weighted moments when values repeat 4 times on average
_COUNTING_MIN_VALUES = 512  # below this, sorting is as cheap as counting
_COUNTING_SPAN = 4  # count (bincount) when max - min < 4 x the number of values


@dataclass
class NumericState:
    """Mergeable state of :class:`NumericSketch` (exact counters plus two sketches)."""

    count: int = 0
    nulls: int = 0
    nans: int = 0
    pos_inf: int = 0
    neg_inf: int = 0
    zeros: int = 0
    negatives: int = 0
    integers: int = 0
    min: float = math.inf
    max: float = -math.inf
    moments: Moments = field(default_factory=Moments)
    quantiles: Kll = None  # type: ignore[assignment]
    distinct: HllRegisters = None  # type: ignore[assignment]
    # The exact (min, max) of integer and decimal values; None for floats, for a state
    # without values, and for a state read from a file written before it was kept.
    exact: tuple[Exact, Exact] | None = None
    # The sorted distinct keys while there are few (see distinct.SMALL_KEYS), else None.
    keys: SmallKeys | None = field(default_factory=small_keys_zero)


class NumericSketch(ColumnSketch[NumericState]):
    """Summarize a numeric column (integers, floats, decimals) in one pass.

    Parameters
    ----------
    k : int, default 1024
        KLL accuracy parameter: normalized rank error 0.27% at k=1024, 1.33% at k=200
        (99% confidence).
    lg_k : int, default 12
        HyperLogLog size of the distinct estimate: a 95% interval of ±3.3% at lg_k=12
        (see :func:`~suture.sketches.distinct.hll_bound`), used once a column has more
        than :data:`~suture.sketches.distinct.SMALL_KEYS` distinct values; below that the
        count is exact.

    Notes
    -----
    Nulls are counted and skipped.  NaN and ±inf are counted separately and kept out of
    the extremes, moments and quantiles; they count as values for the distinct count.
    Counters, extremes, the few distinct keys and the distinct registers merge exactly;
    moments exactly up to floating-point rounding; quantiles within the KLL rank error.
    The extremes of integers (every width; uint64 as unsigned, up to 2**64 - 1) and
    decimals are kept exact, as ``int`` and ``Decimal``.  Moments and quantiles are
    computed on float64, so beyond 2**53 they carry float rounding.
    ``finalize(zero())`` is a summary of no values (``nan`` mean, empty quantiles).
    """

    kind = "numeric"

    def __init__(self, *, k: int = DEFAULT_K, lg_k: int = DEFAULT_LG_K) -> None:
        self.k = check_k(k)
        self.lg_k = check_lg_k(lg_k)

    def config(self) -> str:
        return f"numeric(k={self.k},lg_k={self.lg_k})"

    def zero(self) -> NumericState:
        return NumericState(quantiles=kll_zero(self.k), distinct=hll_zero(self.lg_k))

    def update(self, state: NumericState, array: pa.Array) -> NumericState:
        state.count += len(array)
        state.nulls += array.null_count
        if pa.types.is_dictionary(array.type):
            array = array.dictionary_decode()
        present = _kernels.call("drop_null", array) if array.null_count else array
        if len(present) == 0:
            return state
        exact: tuple[Exact, Exact] | None = None
        if pa.types.is_integer(present.type):
            batch, keys, exact = _int_runs(numpy_values(present))
            state.integers += batch.size
        else:
            if pa.types.is_decimal(present.type):
                exact = _decimal_extremes(present)
            if pa.types.is_duration(present.type):
                present = _kernels.cast(present, pa.int64())
            if not pa.types.is_floating(present.type):
                present = _kernels.cast(present, pa.float64())
            values = numpy_values(present).astype(np.float64, copy=False)
            ok = np.isfinite(values)
            finite = values if ok.all() else self._count_special(state, values, ok)
            batch = _float_runs(finite)
            keys = float_keys(np.concatenate([batch.distinct, _special(values, ok)]))
            state.integers += batch.whole_numbers()
        state.distinct = hll_update(state.distinct, keys)
        state.keys = small_keys_union(state.keys, keys)
        if batch.size == 0:
            return state
        state.exact = _join_exact(state.moments.n, state.exact, exact)
        negatives, non_positive = batch.below(0.0, "left"), batch.below(0.0, "right")
        state.zeros += non_positive - negatives
        state.negatives += negatives
        state.min = min(state.min, float(batch.distinct[0]))
        state.max = max(state.max, float(batch.distinct[-1]))
        state.moments = state.moments.merge(batch.moments())
        state.quantiles = batch.fold_quantiles(state.quantiles)
        return state

    @staticmethod
    def _count_special(
        state: NumericState, values: npt.NDArray[np.float64], ok: npt.NDArray[np.bool_]
    ) -> npt.NDArray[np.float64]:
        state.nans += int(np.isnan(values).sum())
        state.pos_inf += int(np.count_nonzero(values == math.inf))
        state.neg_inf += int(np.count_nonzero(values == -math.inf))
        return values[ok]

    def merge(self, a: NumericState, b: NumericState) -> NumericState:
        a.count += b.count
        a.nulls += b.nulls
        a.nans += b.nans
        a.pos_inf += b.pos_inf
        a.neg_inf += b.neg_inf
        a.zeros += b.zeros
        a.negatives += b.negatives
        a.integers += b.integers
        a.min = min(a.min, b.min)
        a.max = max(a.max, b.max)
        a.exact = b.exact if b.moments.n == 0 else _join_exact(a.moments.n, a.exact, b.exact)
        a.keys = small_keys_union(a.keys, b.keys)
        a.moments = a.moments.merge(b.moments)
        a.quantiles = kll_merge(a.quantiles, b.quantiles)
        a.distinct = hll_merge(a.distinct, b.distinct)
        return a

    def finalize(self, state: NumericState) -> NumericSummary:
        return NumericSummary(state)

    def _fields(self, state: NumericState) -> dict[str, Field]:
        return {
            "counts": np.array(
                [
                    state.count,
                    state.nulls,
                    state.nans,
                    state.pos_inf,
                    state.neg_inf,
                    state.zeros,
                    state.negatives,
                    state.integers,
                ],
                dtype=np.int64,
            ),
            "min": state.min,
            "max": state.max,
            "moments": state.moments.to_list(),
            "quantiles": state.quantiles.serialize(),
            "distinct": state.distinct,
            **_exact_fields(state),
        }

    def _from_fields(self, fields: dict[str, Any]) -> NumericState:
        count, nulls, nans, pos_inf, neg_inf, zeros, negatives, integers = (
            int(c) for c in fields["counts"]
        )
        return NumericState(
            count,
            nulls,
            nans,
            pos_inf,
            neg_inf,
            zeros,
            negatives,
            integers,
            min=fields["min"],
            max=fields["max"],
            moments=Moments.from_list(fields["moments"]),
            quantiles=Kll.deserialize(fields["quantiles"]),
            distinct=fields["distinct"].astype(np.uint8),
            exact=_exact_from(fields),
            keys=fields["keys"].astype(np.uint64) if "keys" in fields else None,
        )


def _exact_fields(state: NumericState) -> dict[str, Field]:
    """The fields of the exact extremes and the few distinct keys, where they are known.

    Left out when unknown, so a state read from an older file writes the same bytes.
    """
    fields: dict[str, Field] = {}
    if state.exact is not None:
        kind = "decimal" if isinstance(state.exact[0], Decimal) else "int"
        fields["exact"] = [kind, str(state.exact[0]), str(state.exact[1])]
    if state.keys is not None:
        fields["keys"] = state.keys
    return fields


def _exact_from(fields: dict[str, Any]) -> tuple[Exact, Exact] | None:
    """Inverse of the ``exact`` field of :func:`_exact_fields` (``None`` without one)."""
    if "exact" not in fields:
        return None
    kind, low, high = fields["exact"]
    if kind not in ("int", "decimal"):
        raise CorruptStateError(
            f"possible corruption: numeric state has exact extremes of kind {kind!r}, "
            "expected 'int' or 'decimal'"
        )
    parse = int if kind == "int" else Decimal
    try:
        return parse(low), parse(high)
    except (ValueError, ArithmeticError):
        raise CorruptStateError(
            f"possible corruption: numeric state has exact extremes {low!r} and {high!r}, "
            f"which do not read as {kind} values"
        ) from None


def _distinct_sorted(ordered: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """The distinct values of a sorted array (one pass, no hashing)."""
    if ordered.size < 2:
        return ordered
    keep = np.empty(ordered.size, dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


_F64 = npt.NDArray[np.float64]
_I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class _Sorted:
    """A batch's finite values in order: written out (``ordered``), as distinct values
    with counts, or both.  ``distinct`` is always there; so is one of the other two."""

    distinct: _F64
    counts: _I64 | None = None
    ordered: _F64 | None = None

    @property
    def size(self) -> int:
        if self.ordered is not None:
            return int(self.ordered.size)
        assert self.counts is not None
        return int(self.counts.sum())

    def below(self, x: float, side: Literal["left", "right"]) -> int:
        """How many values are below ``x`` (``"right"``: at most ``x``)."""
        if self.ordered is not None:
            return int(np.searchsorted(self.ordered, x, side))
        assert self.counts is not None
        return int(self.counts[: int(np.searchsorted(self.distinct, x, side))].sum())

    def whole_numbers(self) -> int:
        """How many values are whole numbers."""
        if self.counts is not None:
            return int(self.counts[self.distinct == np.trunc(self.distinct)].sum())
        assert self.ordered is not None
        return int(np.count_nonzero(self.ordered == np.trunc(self.ordered)))

    def moments(self) -> Moments:
        if self.counts is not None:
            return weighted_moments_of(self.distinct, self.counts.astype(np.float64))
        assert self.ordered is not None
        return moments_of(self.ordered)

    def fold_quantiles(self, sketch: Kll) -> Kll:
        if self.ordered is not None:
            return kll_update_sorted(sketch, self.ordered)
        assert self.counts is not None
        return kll_update_runs(sketch, self.distinct, self.counts)


_IntRuns = tuple[_Sorted, npt.NDArray[np.uint64], tuple[int, int]]


def _int_runs(ints: npt.NDArray[Any]) -> _IntRuns:
    """The sorted batch of integers, the keys of its distinct values and its exact extremes.

    The extremes come from the integers themselves (the counted range, or the first and
    last distinct value, which floats hold exactly below 2**53), never from a rounding.
    """
    if ints.dtype == np.uint64 and int(ints.max()) > _INT64_MAX:
        return _uint64_runs(ints)
    ints = ints.astype(np.int64, copy=False)
    counted = _count_small_range(ints)
    if counted is not None:
        distinct_ints, counts = counted
        extremes = (int(distinct_ints[0]), int(distinct_ints[-1]))
        return _Sorted(distinct_ints.astype(np.float64), counts), int_keys(distinct_ints), extremes
    batch = _sorted_runs(ints.astype(np.float64))
    top = max(-batch.distinct[0], batch.distinct[-1])
    if top >= _EXACT_FLOAT_INT:
        # From 2**53 on floats merge neighbours: sort the integers for exact keys and extremes.
        exact = _distinct_sorted(np.sort(ints))
        return batch, int_keys(exact), (int(exact[0]), int(exact[-1]))
    extremes = (int(batch.distinct[0]), int(batch.distinct[-1]))
    return batch, int_keys(batch.distinct.astype(np.int64)), extremes


def _uint64_runs(ints: npt.NDArray[np.uint64]) -> _IntRuns:
    """:func:`_int_runs` of unsigned integers of which some are 2**63 or more.

    They have no int64 image, so they are summarized as the floats nearest them and keyed
    by their own 64 bits (the same key as an int64 image for every value below 2**63).
    """
    exact = _distinct_sorted(np.sort(ints))
    return _sorted_runs(ints.astype(np.float64)), exact, (int(exact[0]), int(exact[-1]))


def _decimal_extremes(present: pa.Array) -> tuple[Decimal, Decimal]:
    """The exact smallest and largest value of a null-free decimal array."""
    extremes = _kernels.call("min_max", present)
    return extremes["min"].as_py(), extremes["max"].as_py()


def _join_exact(
    seen: int, old: tuple[Exact, Exact] | None, new: tuple[Exact, Exact] | None
) -> tuple[Exact, Exact] | None:
    """The exact extremes of ``seen`` finite values (``old``) and a batch's (``new``).

    Exact only while every part is: one float batch, or a state read from a file that did
    not keep them, leaves ``None`` (the float ``min``/``max`` then stand).
    """
    if seen == 0:
        return new
    if old is None or new is None:
        return None
    return min(old[0], new[0]), max(old[1], new[1])


def _float_runs(finite: _F64) -> _Sorted:
    """The sorted batch of finite floats."""
    whole = _whole_numbers(finite)
    counted = _count_small_range(whole) if whole is not None else None
    if counted is None:
        return _sorted_runs(finite)
    return _Sorted(counted[0].astype(np.float64), counted[1])


def _sorted_runs(values: _F64) -> _Sorted:
    """Sort ``values``; count the distinct values too when they are few enough to pay.

    Business columns repeat values a lot (codes, hours, amounts): their moments are then
    computed once per distinct value, weighted by its count.
    """
    ordered = np.sort(values)
    if ordered.size < 2:
        return _Sorted(ordered, None, ordered)
    keep = np.empty(ordered.size, dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    starts = np.flatnonzero(keep)
    if starts.size * _RUNS_WORTH_IT > ordered.size:
        return _Sorted(ordered[starts], None, ordered)
    return _Sorted(ordered[starts], np.diff(starts, append=ordered.size), ordered)


def _count_small_range(ints: _I64) -> tuple[_I64, _I64] | None:
    """Distinct integers and their counts by counting, not sorting, when their range is
    narrow (codes, hours, delays in minutes); ``None`` otherwise."""
    if ints.size < _COUNTING_MIN_VALUES:
        return None
    lo, hi = int(ints.min()), int(ints.max())
    span = _COUNTING_SPAN * ints.size
    if hi - lo >= span:
        return None
    # Counting from zero spares a subtraction when the values are small and non-negative.
    base = 0 if lo >= 0 and hi < span else lo
    counts = np.bincount(ints - base if base else ints, minlength=hi - base + 1)
    used = np.flatnonzero(counts)
    return used + base, counts[used]


def _whole_numbers(values: _F64) -> _I64 | None:
    """``values`` as integers when every one is a whole number below 2**53, else ``None``."""
    if values.size < _COUNTING_MIN_VALUES:
        return None
    lo, hi = float(values.min()), float(values.max())
    if max(-lo, hi) >= _EXACT_FLOAT_INT:
        return None
    ints = values.astype(np.int64)
    return ints if np.array_equal(ints, values) else None


def _special(values: npt.NDArray[np.float64], ok: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    """One of each non-finite value present (NaN, +inf, -inf), for the distinct count."""
    if ok.all():
        return values[:0]
    odd = values[~ok]
    found = [
        v
        for v, hit in (
            (np.nan, np.isnan(odd).any()),
            (np.inf, (odd == np.inf).any()),
            (-np.inf, (odd == -np.inf).any()),
        )
        if hit
    ]
    return np.array(found, dtype=np.float64)


class NumericSummary(ColumnSummary):
    """What a profile knows about a numeric column.

    Exact: ``count`` (rows, nulls included), ``nulls``, ``nans``, ``pos_inf``,
    ``neg_inf``, ``zeros``, ``negatives``, ``min``, ``max``, ``mean``, ``std``,
    ``variance``, ``skewness``, ``kurtosis``.  Approximate, with bounds:
    :meth:`quantile`, :meth:`distinct`, :meth:`histogram`.
    """

    kind = "numeric"
    state: NumericState

    def __init__(self, state: NumericState) -> None:
        self.state = state

    nans = property(lambda self: self.state.nans)
    pos_inf = property(lambda self: self.state.pos_inf)
    neg_inf = property(lambda self: self.state.neg_inf)
    zeros = property(lambda self: self.state.zeros)
    negatives = property(lambda self: self.state.negatives)

    @property
    def finite(self) -> int:
        """How many values are finite numbers."""
        return self.state.moments.n

    @property
    def min(self) -> float | Decimal:
        """Smallest finite value, exact: an ``int`` for integer columns, a ``Decimal``
        for decimal columns, a ``float`` for floats (``nan`` when there is no value).

        A profile read from a file written before suture kept exact extremes gives the
        float it kept.
        """
        if not self.finite:
            return math.nan
        return self.state.min if self.state.exact is None else self.state.exact[0]

    @property
    def max(self) -> float | Decimal:
        """Largest finite value, exact as :attr:`min` is (``nan`` when there is none)."""
        if not self.finite:
            return math.nan
        return self.state.max if self.state.exact is None else self.state.exact[1]

    @property
    def all_integers(self) -> bool:
        """Whether every finite value is a whole number."""
        return self.finite > 0 and self.state.integers == self.finite

    mean = property(lambda self: self.state.moments.mean_or_nan)
    variance = property(lambda self: self.state.moments.variance)
    std = property(lambda self: self.state.moments.std)
    skewness = property(lambda self: self.state.moments.skewness)
    kurtosis = property(lambda self: self.state.moments.kurtosis)

    @property
    def rank_error(self) -> float:
        """Normalized rank error of :meth:`quantile` at 99% confidence."""
        return kll_rank_error(self.state.quantiles)

    def quantile(self, q: float) -> Estimate[float]:
        """The ``q``-quantile of the finite values, bounded by the values at ``q ± rank_error``."""
        return kll_quantile(self.state.quantiles, q)

    def distinct(self) -> Estimate[float]:
        """Number of distinct non-null values (NaN and ±inf count as values).

        Exact (lower = upper, confidence 1) while the column has at most
        :data:`~suture.sketches.distinct.SMALL_KEYS` distinct values; beyond that the
        HyperLogLog estimate with its 95% bounds.
        """
        known = None if self.state.keys is None else int(self.state.keys.size)
        return distinct_estimate(self.state.distinct, known)

    def histogram(self, bins: int = 20) -> Histogram:
        """Equal-width histogram of the finite values between min and max."""
        lo, hi = (self.state.min, self.state.max) if self.finite else (math.nan, math.nan)
        return kll_histogram(self.state.quantiles, lo, hi, bins)
