"""Distinct counts: HyperLogLog registers built with NumPy, estimated by DataSketches.

The registers are exactly those Apache DataSketches' ``hll_sketch`` (HLL_8) fills for the
same values (same MurmurHash3 seed and coupon rule), computed for a whole array at once.
Merging is an element-wise maximum, so it is exact, associative and commutative: a split
table merges to the very registers of one pass.  The estimate and its bounds come from
DataSketches itself, reading the registers as a serialized HLL_8 sketch.
"""

from __future__ import annotations

import struct

import datasketches as dsk
import numpy as np
import numpy.typing as npt

from suture.errors import IncompatibleMergeError
from suture.sketches.estimate import Estimate
from suture.sketches.hashing import leading_zeros, murmur3_64bit_keys
from suture.sketches.sizes import DEFAULT_LG_K, check_lg_k

__all__ = [
    "DEFAULT_LG_K",
    "HLL_CONFIDENCE",
    "SMALL_KEYS",
    "HllRegisters",
    "SmallKeys",
    "distinct_estimate",
    "hll_bound",
    "hll_error",
    "hll_estimate",
    "hll_update",
    "small_keys_union",
    "small_keys_zero",
]

HllRegisters = npt.NDArray[np.uint8]
SmallKeys = npt.NDArray[np.uint64]
SMALL_KEYS = 1024
"""Up to this many distinct values a numeric or temporal column counts them exactly."""
_OUT_OF_ORDER = 16
_HLL8_MODE = 2 | (2 << 2)
_NUM_STD_DEV = 2
HLL_CONFIDENCE = 0.9545
"""Confidence of the distinct-count bounds: two standard deviations."""


def hll_zero(lg_k: int = DEFAULT_LG_K) -> HllRegisters:
    """Empty registers for ``2**lg_k`` buckets."""
    return np.zeros(1 << check_lg_k(lg_k), dtype=np.uint8)


def hll_update(registers: HllRegisters, keys: npt.NDArray[np.uint64]) -> HllRegisters:
    """Fold 64-bit keys into the registers in place and return them.

    A register keeps the largest ``leading_zeros(h2) + 1`` of its keys; leading zeros fall
    as ``h2`` grows, so that is the leading zeros of the *smallest* ``h2``: one minimum per
    slot, then 4,096 leading-zero counts instead of one per value.
    """
    if keys.size == 0:
        return registers
    h1, h2 = murmur3_64bit_keys(keys)
    slots = (h1 & np.uint64(registers.size - 1)).astype(np.intp)
    if keys.size < registers.size // 4:
        # Few keys (a batch of a low-cardinality column): no pass over every register.
        values = (np.minimum(leading_zeros(h2), 62) + 1).astype(np.uint8)
        np.maximum.at(registers, slots, values)
        return registers
    smallest = np.full(registers.size, np.iinfo(np.uint64).max, dtype=np.uint64)
    np.minimum.at(smallest, slots, h2)
    touched = np.bincount(slots, minlength=registers.size) > 0
    values = (np.minimum(leading_zeros(smallest), 62) + 1).astype(np.uint8)
    np.maximum(registers, np.where(touched, values, 0).astype(np.uint8), out=registers)
    return registers


def hll_merge(a: HllRegisters, b: HllRegisters) -> HllRegisters:
    """Element-wise maximum of two register arrays of the same size."""
    if a.size != b.size:
        raise IncompatibleMergeError(
            f"cannot merge distinct counts with lg_k={a.size.bit_length() - 1} and "
            f"lg_k={b.size.bit_length() - 1}: lg_k must match; re-profile with the same lg_k"
        )
    np.maximum(a, b, out=a)
    return a


def _as_datasketch(registers: HllRegisters) -> dsk.hll_sketch:
    lg_k = registers.size.bit_length() - 1
    r = registers.astype(np.float64)
    low = r < 32
    kxq0 = float(np.exp2(-r[low]).sum())
    kxq1 = float(np.exp2(-r[~low]).sum())
    at_min = int((registers == 0).sum())
    header = struct.pack(
        "<BBBBBBBBdddii",
        10,
        1,
        7,
        lg_k,
        0,
        _OUT_OF_ORDER,
        0,
        _HLL8_MODE,
        0.0,
        kxq0,
        kxq1,
        at_min,
        0,
    )
    return dsk.hll_sketch.deserialize(header + registers.tobytes())


def hll_estimate(registers: HllRegisters) -> Estimate[float]:
    """Distinct-count estimate with DataSketches' two-standard-deviation bounds."""
    if not registers.any():
        return Estimate(0.0, 0.0, 0.0, 1.0)
    sketch = _as_datasketch(registers)
    return Estimate(
        sketch.get_estimate(),
        sketch.get_lower_bound(_NUM_STD_DEV),
        sketch.get_upper_bound(_NUM_STD_DEV),
        HLL_CONFIDENCE,
    )


def hll_error(lg_k: int = DEFAULT_LG_K) -> float:
    """A-priori relative standard error of the distinct estimate (about 1.04/sqrt(2**lg_k))."""
    return abs(float(dsk.hll_sketch.get_rel_err(True, False, lg_k, 1)))


def hll_bound(lg_k: int = DEFAULT_LG_K) -> float:
    """The relative half-width of every estimated distinct count's 95% interval.

    The registers are read as a merged (out-of-order) sketch, whose bounds are those of a
    union: the upper bound is ``estimate / (1 - e)`` with ``e`` DataSketches' relative
    error of a union at two standard deviations, 3.3% at lg_k=12.  This is the figure
    :func:`hll_estimate` gives each column whose count is estimated (the lower side is a
    little closer).
    """
    e = abs(float(dsk.hll_sketch.get_rel_err(True, True, lg_k, _NUM_STD_DEV)))
    return 1.0 / (1.0 - e) - 1.0


def small_keys_zero() -> SmallKeys:
    """The distinct keys of no value: known, and empty."""
    return np.zeros(0, dtype=np.uint64)


def small_keys_union(known: SmallKeys | None, keys: SmallKeys | None) -> SmallKeys | None:
    """The sorted distinct keys of both sides while there are at most :data:`SMALL_KEYS`.

    ``None`` stands for "more than that" (or not kept) and absorbs: the union is then
    ``None`` for good, and costs nothing more.  Exact, associative and commutative.
    """
    if known is None or keys is None or keys.size > SMALL_KEYS:
        return None
    if keys.size == 0:
        return known
    if known.size:
        # Most batches of a column with few values bring no new one: look them up.
        found = known[np.minimum(np.searchsorted(known, keys), known.size - 1)] == keys
        if found.all():
            return known
        keys = keys[~found]
    # Sorted and de-duplicated by hand: np.unique imports numpy.ma (9 ms of every run).
    fresh = np.sort(keys)
    if fresh.size > 1:
        fresh = fresh[np.concatenate(([True], fresh[1:] != fresh[:-1]))]
    if known.size + fresh.size > SMALL_KEYS:
        return None
    union = np.concatenate([known, fresh])
    union.sort()
    return union


def distinct_estimate(registers: HllRegisters, known: int | None) -> Estimate[float]:
    """The exact distinct count when it is ``known``, else :func:`hll_estimate`.

    An exact count is an :class:`Estimate` whose bounds equal it, with confidence 1.
    """
    if known is None:
        return hll_estimate(registers)
    n = float(known)
    return Estimate(n, n, n, 1.0)
