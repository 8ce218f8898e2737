"""A recommender on disk: a :mod:`suture.bundle` folder of NumPy and Parquet parts.

Layout (format version 2; version 1, written before :mod:`suture.bundle`, has the same
parts and a manifest of its own keys, and still loads)::

    recs/
      manifest.json          format, versions, created, metadata (parameters, LSH, counts),
                             each part's size and SHA-256
      item_ids.parquet       one column "id": the item identifiers, in key order
      user_ids.parquet       one column "id": the user identifiers, in key order
      *.npy                  keys, signatures, counts, history pairs, neighbour lists

No part is a pickle (``np.load(..., allow_pickle=False)``).  This module turns plain
parts (parameters, a :class:`SignatureState`, :class:`LSHParams`, :class:`Neighbours`)
into bytes and back; it knows nothing of the :class:`Recommender` class.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.lib import format as npy_format

from suture.bundle import RECOMMENDER, Bundle, LazyParts
from suture.errors import CorruptStateError
from suture.recommend._lsh import LSHParams, Neighbours
from suture.recommend._signatures import SignatureState, check_state

__all__ = ["FORMAT", "FORMAT_VERSION", "RecommenderParts", "read_parts", "write_parts"]

FORMAT = RECOMMENDER.format
FORMAT_VERSION = 2
_STATE_ARRAYS = ("item_keys", "signatures", "counts", "user_keys", "pair_users", "pair_items")
_NEIGHBOUR_ARRAYS = ("indptr", "items", "similarity", "weight")
_IDS = ("item_ids", "user_ids")
PART_NAMES = (
    *(f"{n}.npy" for n in _STATE_ARRAYS),
    *(f"neighbours_{n}.npy" for n in _NEIGHBOUR_ARRAYS),
    *(f"{n}.parquet" for n in _IDS),
)


@dataclass(frozen=True)
class RecommenderParts:
    """What a saved recommender consists of: its parameters and fitted state."""

    params: dict[str, Any]
    state: SignatureState
    lsh: LSHParams
    neighbours: Neighbours


def _npy(array: np.ndarray[Any, Any]) -> memoryview:
    sink = io.BytesIO()
    np.save(sink, np.ascontiguousarray(array), allow_pickle=False)
    return sink.getbuffer()  # no copy


def _parquet(ids: pa.Array) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({"id": ids}), sink)
    data: bytes = sink.getvalue().to_pybytes()
    return data


def write_parts(path: Path, fitted: RecommenderParts) -> Path:
    """Write a fitted recommender to the folder ``path`` atomically (a bundle there is
    replaced; a folder holding anything else is refused)."""
    state, nb = fitted.state, fitted.neighbours
    # Each part is made when it is written, so the model is never twice in memory.
    makers: dict[str, Callable[[], bytes | memoryview]] = {
        f"{n}.npy": partial(_npy, getattr(state, n)) for n in _STATE_ARRAYS
    }
    makers.update({f"neighbours_{n}.npy": partial(_npy, getattr(nb, n)) for n in _NEIGHBOUR_ARRAYS})
    makers.update({f"{n}.parquet": partial(_parquet, getattr(state, n)) for n in _IDS})
    metadata = {
        "params": fitted.params,
        "lsh": {"bands": fitted.lsh.bands, "rows": fitted.lsh.rows},
        "items": state.num_items,
        "users": len(state.user_keys),
        "interactions": len(state.pair_users),
        "dropped_rows": state.dropped,
    }
    return Bundle.write(path, RECOMMENDER, FORMAT_VERSION, LazyParts(makers), metadata)


def read_parts(path: Path) -> RecommenderParts:
    """Read and verify a recommender bundle (format 1 or 2)."""
    bundle = Bundle.read(path, RECOMMENDER, FORMAT_VERSION)
    bundle.expect(PART_NAMES)
    meta = bundle.metadata
    try:
        params = dict(meta["params"])
        lsh = LSHParams(int(meta["lsh"]["bands"]), int(meta["lsh"]["rows"]), params["threshold"])
        dropped = int(meta.get("dropped_rows", 0))
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptStateError(
            f"{path}: the manifest's metadata lacks {exc}; re-create the bundle with "
            f"{RECOMMENDER.command}"
        ) from None
    arrays = {n: _load_array(bundle, f"{n}.npy") for n in _STATE_ARRAYS}
    state = SignatureState(
        item_keys=arrays["item_keys"],
        item_ids=_load_ids(bundle, "item_ids.parquet"),
        signatures=arrays["signatures"],
        counts=arrays["counts"],
        user_keys=arrays["user_keys"],
        user_ids=_load_ids(bundle, "user_ids.parquet"),
        pair_users=arrays["pair_users"],
        pair_items=arrays["pair_items"],
        dropped=dropped,
    )
    check_state(state, int(params.get("num_perm", 128)))
    nb = Neighbours(*(_load_array(bundle, f"neighbours_{n}.npy") for n in _NEIGHBOUR_ARRAYS))
    return RecommenderParts(params, state, lsh, nb)


def _load_array(bundle: Bundle, name: str) -> np.ndarray[Any, Any]:
    """The array of a ``.npy`` part: a read-only view of the part's verified bytes (no
    copy, so a loaded recommender is in memory once); never an object array."""
    data = bundle.part(name)
    try:
        return _npy_view(data)
    except ValueError as exc:
        raise CorruptStateError(
            f"{Path(bundle.path) / name}: not a NumPy array ({exc}); re-create the bundle "
            f"with {RECOMMENDER.command}"
        ) from None


def _npy_view(data: bytes) -> np.ndarray[Any, Any]:
    header = io.BytesIO(data)
    version = npy_format.read_magic(header)
    if version == (1, 0):
        shape, fortran, dtype = npy_format.read_array_header_1_0(header)
    elif version == (2, 0):
        shape, fortran, dtype = npy_format.read_array_header_2_0(header)
    else:
        loaded: np.ndarray[Any, Any] = np.load(io.BytesIO(data), allow_pickle=False)
        return loaded
    if dtype.hasobject:
        raise ValueError("object arrays are not allowed")
    count = int(np.prod(shape, dtype=np.int64))
    flat = np.frombuffer(data, dtype=dtype, count=count, offset=header.tell())
    if header.tell() + flat.nbytes != len(data):
        raise ValueError(f"{len(data) - header.tell() - flat.nbytes} bytes after the array")
    return flat.reshape(shape, order="F" if fortran else "C")


def _load_ids(bundle: Bundle, name: str) -> pa.Array:
    try:
        return pq.read_table(pa.BufferReader(bundle.part(name))).column("id").combine_chunks()
    except (pa.ArrowInvalid, KeyError, OSError) as exc:
        raise CorruptStateError(
            f"{Path(bundle.path) / name}: not an identifier table ({exc}); re-create the "
            f"bundle with {RECOMMENDER.command}"
        ) from None
