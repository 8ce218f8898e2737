"""Vectorized 64-bit hashing shared by the distinct-count and set sketches.

The hash of a 64-bit key is MurmurHash3_x64_128 with seed 9001, the hash Apache
DataSketches applies to an ``int64`` or ``double`` update, so a register array built here
is the one DataSketches would build from the same values.  Strings and binaries are first
reduced to a 64-bit key by a vectorized polynomial hash of their bytes (see
:func:`string_keys`).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from suture.sketches import _kernels

DEFAULT_SEED = 9001
_C1 = np.uint64(0x87C37B91114253D5)
_C2 = np.uint64(0x4CF5AD432745937F)
_F1 = np.uint64(0xFF51AFD7ED558CCD)
_F2 = np.uint64(0xC4CEB9FE1A85EC53)
_U64 = npt.NDArray[np.uint64]


def _rotl(x: _U64, r: int) -> _U64:
    return (x << np.uint64(r)) | (x >> np.uint64(64 - r))


def _fmix(k: _U64) -> _U64:
    k = k ^ (k >> np.uint64(33))
    k = k * _F1
    k = k ^ (k >> np.uint64(33))
    k = k * _F2
    return k ^ (k >> np.uint64(33))


def murmur3_64bit_keys(keys: _U64, seed: int = DEFAULT_SEED) -> tuple[_U64, _U64]:
    """Hash 8-byte keys with MurmurHash3_x64_128 and return both 64-bit halves.

    Parameters
    ----------
    keys : ndarray of uint64
        The little-endian 8-byte image of each value.
    seed : int, default 9001
        The DataSketches default seed.

    Returns
    -------
    (h1, h2) : tuple of ndarray of uint64
    """
    with np.errstate(over="ignore"):
        k1 = keys.astype(np.uint64, copy=True)
        k1 *= _C1
        k1 = _rotl(k1, 31)
        k1 *= _C2
        h1 = np.full(keys.shape, np.uint64(seed), dtype=np.uint64) ^ k1
        h2 = np.full(keys.shape, np.uint64(seed), dtype=np.uint64)
        length = np.uint64(8)
        h1 ^= length
        h2 ^= length
        h1 += h2
        h2 += h1
        h1 = _fmix(h1)
        h2 = _fmix(h2)
        h1 += h2
        h2 += h1
    return h1, h2


def float_keys(values: npt.NDArray[np.float64]) -> _U64:
    """8-byte keys of doubles, canonicalized as DataSketches does (-0.0 is 0.0)."""
    canonical = np.where(values == 0.0, 0.0, values).astype(np.float64)
    return canonical.view(np.uint64)


def int_keys(values: npt.NDArray[np.int64]) -> _U64:
    """8-byte keys of signed integers (two's complement image)."""
    return values.astype(np.int64, copy=False).view(np.uint64)


_POLY = np.uint64(0x100000001B3)


def string_keys(array: pa.Array) -> _U64:
    """A 64-bit key per non-null string or binary value, computed over whole buffers.

    The key is a polynomial hash of the bytes, mixed with the length, then finalized by
    MurmurHash3's ``fmix64``.  It is stable across processes, machines and versions: the
    sketches that use it are mergeable wherever they were built.

    Parameters
    ----------
    array : pyarrow.Array
        A string, large_string, binary or large_binary array without nulls.
    """
    if (
        pa.types.is_string(array.type)
        or pa.types.is_binary(array.type)
        or pa.types.is_large_string(array.type)
    ):
        array = _kernels.cast(array, pa.large_binary())
    elif not pa.types.is_large_binary(array.type):
        array = _kernels.cast(_kernels.cast(array, pa.large_string()), pa.large_binary())
    n = len(array)
    if n == 0:
        return np.zeros(0, dtype=np.uint64)
    buffers = array.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64, count=n + 1, offset=array.offset * 8)
    start, stop = int(offsets[0]), int(offsets[-1])
    data = (
        np.frombuffer(buffers[2], dtype=np.uint8, count=stop - start, offset=start)
        if buffers[2] is not None and stop > start
        else np.zeros(0, dtype=np.uint8)
    )
    lengths = np.diff(offsets).astype(np.uint64)
    with np.errstate(over="ignore"):
        if data.size:
            owner = np.repeat(np.arange(n), lengths.astype(np.int64))
            position = np.arange(data.size, dtype=np.int64) - (offsets[:-1] - start)[owner]
            max_len = int(lengths.max())
            powers = np.cumprod(np.full(max_len, _POLY, dtype=np.uint64), dtype=np.uint64)
            terms = (data.astype(np.uint64) + np.uint64(1)) * powers[position]
            running = np.concatenate([np.zeros(1, np.uint64), np.cumsum(terms, dtype=np.uint64)])
            relative = offsets - start
            sums = running[relative[1:]] - running[relative[:-1]]
        else:
            sums = np.zeros(n, dtype=np.uint64)
        return _fmix(sums ^ (lengths * np.uint64(0x9E3779B97F4A7C15)))


def leading_zeros(x: _U64) -> npt.NDArray[np.int64]:
    """Exact count of leading zero bits of each 64-bit word (64 for zero).

    The float conversion gives the bit length except where rounding carries into the
    next power of two; the shift test corrects exactly those.
    """
    _, exponent = np.frexp(x.astype(np.float64))
    bits = np.minimum(exponent.astype(np.int64), 64)
    carried = (x >> np.clip(bits - 1, 0, 63).astype(np.uint64)) == 0
    bits -= carried & (bits > 0)
    return 64 - bits
