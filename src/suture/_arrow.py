"""Arrow to NumPy and back without the detours.

pyarrow's generic conversions (``Array.to_numpy`` with nulls or booleans, ``pa.array`` of
anything) consult pandas and import it on first use, a third of a second in every
process; on arrays read from Parquet ``to_numpy`` also spends about 0.3 ms per 64k values
before returning a view.  These helpers read and build the buffers directly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

__all__ = ["arrow_indices", "numpy_values"]


def numpy_values(array: pa.Array) -> npt.NDArray[Any]:
    """The values of an Arrow array as NumPy, a zero-copy view where possible.

    Integers and floats come straight from the data buffer; with nulls they come as
    float64 with NaN in place of each null.  Booleans come as ``bool`` (nulls as False).
    Other types go through ``Array.to_numpy``.
    """
    t = array.type
    if pa.types.is_boolean(t):
        bits = _bits(array.buffers()[1], array.offset, len(array))
        if array.null_count:
            bits &= _bits(array.buffers()[0], array.offset, len(array))
        return bits
    if not (pa.types.is_integer(t) or pa.types.is_floating(t)):
        values: npt.NDArray[Any] = array.to_numpy(zero_copy_only=False)
        return values
    data = np.frombuffer(
        array.buffers()[1],
        dtype=np.dtype(t.to_pandas_dtype()),
        count=len(array),
        offset=array.offset * t.byte_width,
    )
    if not array.null_count:
        return data
    filled = data.astype(np.float64)
    filled[~_bits(array.buffers()[0], array.offset, len(array))] = np.nan
    return filled


def _bits(buffer: pa.Buffer, offset: int, length: int) -> npt.NDArray[np.bool_]:
    """``length`` bits of an Arrow bitmap from bit ``offset`` (least significant first)."""
    first, skip = divmod(offset, 8)
    size = (skip + length + 7) // 8
    raw = np.frombuffer(buffer, dtype=np.uint8, count=size, offset=first)
    return np.unpackbits(raw, bitorder="little")[skip : skip + length].view(np.bool_)


def arrow_indices(indices: npt.NDArray[np.integer[Any]]) -> pa.Array:
    """An Arrow int64 array of ``indices`` (for ``take``), without ``pa.array``."""
    data = np.ascontiguousarray(indices, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(data), [None, pa.py_buffer(data)])
