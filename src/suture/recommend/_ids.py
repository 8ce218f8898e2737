"""User and item identifiers: canonical Arrow types, 64-bit keys, keyed unions.

Identifiers may be integers or strings.  Each is reduced to a 64-bit key by the hashing
that the sketches use (MurmurHash3 of the integer, or the byte hash of the string), so
that every set operation on identifiers is a NumPy operation on ``uint64`` arrays.  The
original values travel beside their keys, in key order, so answers can name them.

Two distinct identifiers share a key with probability about ``n**2 / 2**65`` (3e-8 for a
million items); they would then be treated as one.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from suture.errors import UnsupportedTypeError
from suture.sketches.hashing import int_keys, murmur3_64bit_keys, string_keys

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]

__all__ = ["canonical_ids", "id_keys", "ids_from_bytes", "ids_to_bytes", "union_keys"]


def canonical_ids(array: pa.Array | pa.ChunkedArray, column: str) -> pa.Array:
    """Cast an identifier column to ``int64`` (integers) or ``large_string`` (text).

    Parameters
    ----------
    array : pyarrow.Array or ChunkedArray
        Identifier values without nulls.
    column : str
        The column name, for error messages.

    Raises
    ------
    UnsupportedTypeError
        When the column is neither integer nor text.
    """
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    kind = array.type
    if pa.types.is_dictionary(kind):
        array = array.dictionary_decode()
        kind = array.type
    if pa.types.is_integer(kind):
        return array.cast(pa.int64())
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return array.cast(pa.large_string())
    raise UnsupportedTypeError(
        f"column {column!r} has type {kind}; user and item identifiers must be integers "
        "or strings. Cast the column before building signatures"
    )


def id_keys(ids: pa.Array) -> U64:
    """The 64-bit key of each canonical identifier (see :func:`canonical_ids`)."""
    if pa.types.is_int64(ids.type):
        values = ids.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
        return murmur3_64bit_keys(int_keys(values))[0]
    return string_keys(ids)


def union_keys(
    keys_a: U64, ids_a: pa.Array, keys_b: U64, ids_b: pa.Array
) -> tuple[U64, pa.Array, I64, I64]:
    """Union two sorted, unique key sets with their identifiers.

    Returns
    -------
    keys : ndarray of uint64
        The sorted union.
    ids : pyarrow.Array
        The identifier of each key.
    pos_a, pos_b : ndarray of int64
        Where each key of ``a`` and of ``b`` sits in the union.
    """
    both = np.concatenate([keys_a, keys_b])
    keys, first, inverse = np.unique(both, return_index=True, return_inverse=True)
    ids = pa.concat_arrays([ids_a, ids_b]).take(pa.array(first, pa.int64()))
    inverse = inverse.astype(np.int64, copy=False)
    return keys, ids, inverse[: len(keys_a)], inverse[len(keys_a) :]


def empty_ids(kind: pa.DataType | None) -> pa.Array:
    """An empty identifier array of ``kind`` (``int64`` when unknown)."""
    return pa.array([], kind or pa.int64())


def ids_to_bytes(ids: pa.Array) -> bytes:
    """Arrow IPC bytes of an identifier array (portable, no pickle)."""
    table = pa.table({"id": ids})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def ids_from_bytes(data: bytes) -> pa.Array:
    """Inverse of :func:`ids_to_bytes`."""
    table = pa.ipc.open_stream(pa.py_buffer(data)).read_all()
    return table.column("id").combine_chunks()


def lookup(keys: U64, wanted: U64) -> I64:
    """Positions of ``wanted`` keys in sorted ``keys``; -1 where absent."""
    if len(keys) == 0:
        return np.full(len(wanted), -1, dtype=np.int64)
    pos = np.searchsorted(keys, wanted).astype(np.int64)
    clipped = np.minimum(pos, len(keys) - 1)
    return np.where(keys[clipped] == wanted, clipped, -1)


def is_null_mask(array: pa.Array) -> npt.NDArray[np.bool_]:
    """A NumPy mask of the nulls (and float NaNs) of an Arrow array."""
    mask = pc.is_null(array, nan_is_null=True)
    return np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)
