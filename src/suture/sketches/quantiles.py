"""Quantiles with a KLL sketch kept as NumPy levels, queried through Apache DataSketches.

The sketch (:class:`Kll`) holds KLL's levels as sorted NumPy arrays (level ``h`` holds
items of weight ``2**h``) and compacts them itself, by DataSketches' level capacities.
Its byte image is DataSketches' own ``kll_doubles_sketch`` serialization, so images
written before load unchanged, and queries (quantiles, ranks, PMF, the rank error) are
answered by DataSketches reading that image.

Compaction is *reproducible*: a KLL compaction keeps every other value of a sorted level
from a random offset, and the offsets here are drawn from a counter-based generator keyed
by ``k`` and the counts of the operands (never from a clock or an unseeded generator).
The same inputs folded and merged in the same order give the same bytes in any process;
``merge(a, b)`` and ``merge(b, a)`` give the same bytes too.  Offsets are independent of
the values, which is what KLL's error guarantee needs.
"""

from __future__ import annotations

import functools
import itertools
import struct
from dataclasses import dataclass

import datasketches as dsk
import numpy as np
import numpy.typing as npt

from suture.errors import ConfigError, CorruptStateError, IncompatibleMergeError
from suture.sketches.estimate import Estimate
from suture.sketches.sizes import DEFAULT_K, MAX_K, MIN_K, check_k

__all__ = [
    "DEFAULT_K",
    "Histogram",
    "Kll",
    "kll_merge",
    "kll_quantile",
    "kll_rank_error",
    "kll_zero",
]

KLL_CONFIDENCE = 0.99

_F = npt.NDArray[np.float64]
_KLL_PREAMBLE = struct.Struct("<BBBBHBBQHBB")
_KLL_SHORT = struct.Struct("<BBBBHBB")
_KLL_M = 8
_KLL_FAMILY = 15
_EMPTY, _LEVEL_ZERO_SORTED, _SINGLE_ITEM = 1, 2, 4
_MASK = (1 << 64) - 1
_SEED = 0x5375747572654B4C  # "SutureKL"


def _level_capacity(k: int, num_levels: int, height: int) -> int:
    """KLL's capacity of a level, computed exactly as DataSketches does."""
    depth = num_levels - height - 1
    scaled: int = (((2 * k) << depth) // pow(3, depth) + 1) >> 1
    return max(_KLL_M, scaled)


@functools.lru_cache(maxsize=256)
def _capacity(k: int, num_levels: int) -> int:
    """Total capacity of a KLL sketch with ``num_levels`` levels."""
    return sum(_level_capacity(k, num_levels, h) for h in range(num_levels))


def _mix(x: int) -> int:
    """SplitMix64's finalizer: a well-spread 64-bit function of ``x``."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


class _Coins:
    """Deterministic fair coin flips for one operation, keyed by integers."""

    def __init__(self, *key: int) -> None:
        state = _SEED
        for part in key:
            state = _mix(state ^ (part & _MASK))
        self._state = state
        self._word = 0
        self._left = 0

    def __call__(self) -> int:
        if self._left == 0:
            self._state = _mix(self._state)
            self._word, self._left = self._state, 64
        bit = self._word & 1
        self._word >>= 1
        self._left -= 1
        return bit


def _merge_sorted(a: _F, b: _F) -> _F:
    """The sorted union (with repeats) of two sorted arrays (one of them if the other is
    empty: levels are never modified in place, so they may be shared)."""
    if a.size == 0:
        return b
    if b.size == 0:
        return a
    # Timsort finds the two runs: linear time.
    return np.sort(np.concatenate([a, b]), kind="stable")


def _compress(levels: list[_F], k: int, coins: _Coins) -> list[_F]:
    """Compact the lowest full level until the items fit the capacity, as KLL does."""
    while True:
        num = len(levels)
        if sum(level.size for level in levels) <= _capacity(k, num):
            return [level if level.base is None else level.copy() for level in levels]
        # More items than the total capacity: some level holds at least its own.
        h = next(h for h in range(num) if levels[h].size >= _level_capacity(k, num, h))
        current = levels[h]
        odd = current.size % 2
        up = current[coins() : current.size - odd : 2]
        levels[h] = current[current.size - odd :]
        if h + 1 == num:
            levels.append(up)
        else:
            levels[h + 1] = _merge_sorted(levels[h + 1], up)


def _halve_sorted(values: _F, k: int, coins: _Coins) -> list[_F]:
    """KLL levels of one sorted batch: halve it until it fits (a bulk compaction).

    Pushing values one at a time through level 0 would compact it again and again; a
    sorted batch is compacted in bulk with the same rule (keep every other value of a
    sorted level, from a random offset; an odd value out stays one level down).  Every
    value keeps its weight exactly; the rank error added by a halving is at most the
    weight of the halved level, as in KLL's own compactions.
    """
    levels: list[_F] = []
    held = 0
    current = values
    while held + current.size > _capacity(k, len(levels) + 1):
        odd = current.size % 2
        levels.append(current[current.size - odd :])
        held += odd
        current = current[coins() : current.size - odd : 2]
    levels.append(current)
    return levels


class Kll:
    """A KLL quantile sketch of doubles with reproducible compaction.

    Parameters
    ----------
    k : int, default 1024
        Accuracy parameter: normalized rank error 0.27% at k=1024, 1.33% at k=200
        (99% confidence, single-sided).

    Notes
    -----
    Levels are sorted NumPy arrays and are never modified in place, so a state can share
    them with a copy safely.  ``merge`` returns this sketch and never modifies its
    argument.  Queries go through DataSketches (a view cached until the next change).
    """

    __slots__ = ("_view", "k", "levels", "max", "min", "n")

    def __init__(self, k: int = DEFAULT_K) -> None:
        self.k = k
        self.n = 0
        self.min = float("nan")
        self.max = float("nan")
        self.levels: list[_F] = [np.zeros(0)]
        self._view: dsk.kll_doubles_sketch | None = None

    # -- building --------------------------------------------------------------------

    def update_sorted(self, values: _F) -> Kll:
        """Fold a sorted array of finite values in and return this sketch."""
        if values.size == 0:
            return self
        coins = _Coins(self.k, self.n, values.size)
        # Own copies of what is kept: the caller's array may change after this call.
        incoming = [
            np.array(level, dtype=np.float64) for level in _halve_sorted(values, self.k, coins)
        ]
        self._absorb(incoming, float(values[0]), float(values[-1]), int(values.size), coins)
        return self

    def update(self, values: npt.ArrayLike) -> Kll:
        """Fold any finite values in (sorted first) and return this sketch."""
        return self.update_sorted(np.sort(np.asarray(values, dtype=np.float64).ravel()))

    def merge(self, other: Kll) -> Kll:
        """Merge ``other`` into this sketch (``other`` is not modified) and return it."""
        if other.k != self.k:
            raise IncompatibleMergeError(
                f"cannot merge quantiles(k={self.k}) with quantiles(k={other.k}): k must "
                "match; re-profile with the same k"
            )
        if other.n == 0:
            return self
        coins = _Coins(self.k, min(self.n, other.n), max(self.n, other.n))
        self._absorb(list(other.levels), other.min, other.max, other.n, coins)
        return self

    def _absorb(self, levels: list[_F], low: float, high: float, n: int, coins: _Coins) -> None:
        merged = [
            _merge_sorted(
                self.levels[h] if h < len(self.levels) else levels[h][:0],
                levels[h] if h < len(levels) else self.levels[h][:0],
            )
            for h in range(max(len(self.levels), len(levels)))
        ]
        self.levels = _compress(merged, self.k, coins)
        self.min = low if self.n == 0 else min(self.min, low)
        self.max = high if self.n == 0 else max(self.max, high)
        self.n += n
        self._view = None

    def copy(self) -> Kll:
        """An independent copy (levels are shared: they are never modified in place)."""
        twin = Kll(self.k)
        twin.n, twin.min, twin.max, twin.levels = self.n, self.min, self.max, list(self.levels)
        return twin

    # -- bytes -----------------------------------------------------------------------

    def serialize(self) -> bytes:
        """DataSketches' ``kll_doubles_sketch`` image of this sketch."""
        if self.n == 0:
            return _KLL_SHORT.pack(2, 1, _KLL_FAMILY, _EMPTY, self.k, _KLL_M, 0)
        if self.n == 1:
            head = _KLL_SHORT.pack(2, 2, _KLL_FAMILY, _SINGLE_ITEM, self.k, _KLL_M, 0)
            return head + np.asarray([self.min], dtype="<f8").tobytes()
        capacity = _capacity(self.k, len(self.levels))
        items = np.concatenate(self.levels)
        sizes = [level.size for level in self.levels[:-1]]
        offsets = capacity - items.size + np.cumsum([0, *sizes])
        header = _KLL_PREAMBLE.pack(
            5, 1, _KLL_FAMILY, _LEVEL_ZERO_SORTED, self.k, _KLL_M, 0, self.n, self.k,
            len(self.levels), 0,
        )  # fmt: skip
        return b"".join(
            [
                header,
                offsets.astype("<u4").tobytes(),
                np.array([self.min, self.max], dtype="<f8").tobytes(),
                items.astype("<f8").tobytes(),
            ]
        )

    @classmethod
    def deserialize(cls, data: bytes) -> Kll:
        """Read a DataSketches ``kll_doubles_sketch`` image (ours or DataSketches' own)."""
        try:
            return cls._read(bytes(data))
        except (struct.error, ValueError, IndexError) as exc:
            raise CorruptStateError(
                f"possible corruption: cannot read the quantile sketch ({exc})"
            ) from None

    @classmethod
    def _read(cls, data: bytes) -> Kll:
        preamble, version, family, flags, k, m, _ = _KLL_SHORT.unpack_from(data)
        if family != _KLL_FAMILY or m != _KLL_M or not MIN_K <= k <= MAX_K:
            raise ValueError(f"family {family}, m {m}, k {k}: not a KLL sketch of doubles")
        sketch = cls(k)
        if flags & _EMPTY:
            return sketch
        if flags & _SINGLE_ITEM:
            (value,) = struct.unpack_from("<d", data, _KLL_SHORT.size)
            sketch.n, sketch.min, sketch.max = 1, value, value
            sketch.levels = [np.array([value])]
            return sketch
        if preamble != 5 or version != 1:
            raise ValueError(f"preamble {preamble}, serial version {version}")
        (*_, n, _min_k, num_levels, _) = _KLL_PREAMBLE.unpack_from(data)
        at = _KLL_PREAMBLE.size
        offsets = np.frombuffer(data, "<u4", num_levels, at).astype(np.int64)
        at += 4 * num_levels
        low, high = np.frombuffer(data, "<f8", 2, at).tolist()
        capacity = _capacity(k, num_levels)
        items = np.frombuffer(data, "<f8", capacity - int(offsets[0]), at + 16).astype(np.float64)
        bounds = np.append(offsets - offsets[0], items.size)
        if np.any(np.diff(bounds) < 0):
            raise ValueError("level offsets decrease")
        levels = [items[a:b] for a, b in itertools.pairwise(bounds)]
        levels[0] = np.sort(levels[0])  # DataSketches keeps level 0 unsorted
        sketch.n, sketch.min, sketch.max = int(n), float(low), float(high)
        sketch.levels = [level.copy() for level in levels]
        return sketch

    # -- queries (DataSketches) ------------------------------------------------------

    @property
    def sketch(self) -> dsk.kll_doubles_sketch:
        """The DataSketches sketch of the same levels (cached until the next change)."""
        if self._view is None:
            self._view = dsk.kll_doubles_sketch.deserialize(self.serialize())
        return self._view

    def is_empty(self) -> bool:
        """Whether no value was seen."""
        return self.n == 0

    @property
    def num_retained(self) -> int:
        """How many items the levels hold."""
        return sum(level.size for level in self.levels)

    def get_min_value(self) -> float:
        """The smallest value seen."""
        return self.min

    def get_max_value(self) -> float:
        """The largest value seen."""
        return self.max

    def normalized_rank_error(self, pmf: bool) -> float:
        """The rank error at 99% confidence (``pmf``: of PMF/CDF values, double-sided)."""
        return float(dsk.kll_doubles_sketch.get_normalized_rank_error(self.k, pmf))

    def get_quantile(self, rank: float) -> float:
        """The value at normalized ``rank``."""
        return float(self.sketch.get_quantile(rank))

    def get_quantiles(self, ranks: list[float]) -> list[float]:
        """The values at the normalized ``ranks``."""
        return [float(v) for v in self.sketch.get_quantiles(ranks)]

    def get_rank(self, value: float, inclusive: bool = False) -> float:
        """The normalized rank of ``value``."""
        return float(self.sketch.get_rank(value, inclusive))

    def get_pmf(self, split_points: list[float]) -> list[float]:
        """Fractions of the values between consecutive split points."""
        return [float(v) for v in self.sketch.get_pmf(split_points)]

    def __repr__(self) -> str:
        return f"<Kll k={self.k} n={self.n} retained={self.num_retained}>"


def kll_zero(k: int = DEFAULT_K) -> Kll:
    """An empty KLL sketch of doubles."""
    return Kll(check_k(k))


def kll_merge(a: Kll, b: Kll) -> Kll:
    """Merge ``b`` into ``a`` (refusing sketches of different ``k``) and return ``a``."""
    return a.merge(b)


def kll_rank_error(sketch: Kll) -> float:
    """The sketch's normalized rank error at 99% confidence (single-sided)."""
    return sketch.normalized_rank_error(False)


def kll_quantile(sketch: Kll, q: float) -> Estimate[float]:
    """The ``q``-quantile with the values at ranks ``q ± rank error`` as its bounds."""
    if not 0.0 <= q <= 1.0:  # also refuses nan
        raise ConfigError(f"quantile rank q must be between 0 and 1, got {q!r}")
    if sketch.is_empty():
        nan = float("nan")
        return Estimate(nan, nan, nan, KLL_CONFIDENCE)
    eps = kll_rank_error(sketch)
    value, lower, upper = sketch.get_quantiles([q, max(0.0, q - eps), min(1.0, q + eps)])
    return Estimate(value, lower, upper, KLL_CONFIDENCE)


@dataclass(frozen=True)
class Histogram:
    """Counts of values between bin edges, derived from a quantile sketch.

    Parameters
    ----------
    edges : ndarray
        ``bins + 1`` increasing edges from the minimum to the maximum.
    counts : ndarray
        Estimated count of values in each bin; each is within ``rank_error * total`` of
        the truth at 99% confidence.
    rank_error : float
    """

    edges: npt.NDArray[np.float64]
    counts: npt.NDArray[np.float64]
    rank_error: float


def kll_histogram(sketch: Kll, lo: float, hi: float, bins: int = 20) -> Histogram:
    """An equal-width histogram between ``lo`` and ``hi``."""
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ConfigError(f"bins must be a whole number of at least 1, got {bins!r}")
    if sketch.is_empty() or not np.isfinite(lo) or not np.isfinite(hi):
        return Histogram(np.array([], float), np.array([], float), 0.0)
    if hi <= lo:
        return Histogram(np.array([lo, hi], float), np.array([float(sketch.n)]), 0.0)
    edges = np.linspace(lo, hi, bins + 1)
    pmf = np.asarray(sketch.get_pmf(edges[1:-1].tolist()), dtype=np.float64)
    return Histogram(edges, pmf * sketch.n, kll_rank_error(sketch))


def kll_of_sorted(values: _F, k: int = DEFAULT_K) -> Kll:
    """A KLL sketch of one sorted batch of finite values."""
    return Kll(k).update_sorted(values)


def kll_update_runs(
    sketch: Kll, distinct: npt.NDArray[np.float64], counts: npt.NDArray[np.int64]
) -> Kll:
    """Fold sorted finite ``distinct`` values seen ``counts`` times into ``sketch``.

    The repeats are written out: halving a sorted array by strided slicing is cheaper than
    halving the runs by count, which was tried (it takes more NumPy calls per level).
    """
    return sketch.update_sorted(np.repeat(distinct, counts))


def kll_update_sorted(sketch: Kll, values: npt.NDArray[np.float64]) -> Kll:
    """Fold a sorted array of finite values into ``sketch`` and return it."""
    return sketch.update_sorted(values)
