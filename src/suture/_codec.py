"""Versioned, portable byte format for aggregator states (no pickle).

A state is framed as::

    b"SUTR" | u16 format version | u16 len(kind) | kind | 8-byte config fingerprint | payload

and a payload made by :func:`pack` is a JSON header (field names, types, offsets) followed
by raw little-endian buffers.  Readers check every field and say what is wrong
("possible corruption: ...") instead of failing somewhere deeper.
"""

from __future__ import annotations

import hashlib
import json
import struct
from typing import Any

import numpy as np

from suture.errors import CorruptStateError

MAGIC = b"SUTR"
FORMAT_VERSION = 1
_FRAME = struct.Struct("<4sHH")

Field = bytes | int | float | str | bool | None | np.ndarray | list[Any] | dict[str, Any]


def fingerprint(config: str) -> bytes:
    """An 8-byte digest of an aggregator's configuration string."""
    return hashlib.blake2b(config.encode(), digest_size=8).digest()


def frame(kind: str, config: str, payload: bytes) -> bytes:
    """Prefix ``payload`` with the magic, format version, kind and config fingerprint."""
    encoded = kind.encode()
    return (
        _FRAME.pack(MAGIC, FORMAT_VERSION, len(encoded)) + encoded + fingerprint(config) + payload
    )


def unframe(data: bytes, kind: str, config: str) -> bytes:
    """Check the frame written by :func:`frame` and return the payload."""
    if len(data) < _FRAME.size:
        raise CorruptStateError(
            f"possible corruption: {kind} state is {len(data)} bytes, shorter than its header"
        )
    magic, version, kind_len = _FRAME.unpack_from(data)
    if magic != MAGIC:
        raise CorruptStateError(f"possible corruption: {kind} state does not start with {MAGIC!r}")
    if version > FORMAT_VERSION:
        raise CorruptStateError(
            f"{kind} state has format version {version}, newer than this suture "
            f"understands ({FORMAT_VERSION}); upgrade suture to read it"
        )
    start = _FRAME.size
    got_kind = data[start : start + kind_len].decode(errors="replace")
    if got_kind != kind:
        raise CorruptStateError(f"expected a {kind} state, got a {got_kind!r} state")
    digest = data[start + kind_len : start + kind_len + 8]
    if digest != fingerprint(config):
        raise CorruptStateError(
            f"{kind} state was written with a different configuration than {config}; "
            "load it with the aggregator that wrote it"
        )
    return data[start + kind_len + 8 :]


def _encode(value: Field, blobs: list[bytes], offset: list[int]) -> Any:
    if isinstance(value, np.ndarray):
        raw = np.ascontiguousarray(value).astype(value.dtype.newbyteorder("<"), copy=False)
        buf = raw.tobytes()
        entry = {"nd": raw.dtype.str, "shape": list(raw.shape), "at": offset[0], "len": len(buf)}
        blobs.append(buf)
        offset[0] += len(buf)
        return entry
    if isinstance(value, bytes):
        entry = {"b": offset[0], "len": len(value)}
        blobs.append(value)
        offset[0] += len(value)
        return entry
    if isinstance(value, float):
        return {"f": value.hex()}
    if isinstance(value, dict):
        return {"d": {k: _encode(v, blobs, offset) for k, v in value.items()}}
    if isinstance(value, list):
        return {"l": [_encode(v, blobs, offset) for v in value]}
    return {"v": value}


def _decode(entry: Any, body: memoryview) -> Any:
    if "nd" in entry:
        raw = body[entry["at"] : entry["at"] + entry["len"]]
        return np.frombuffer(raw, dtype=np.dtype(entry["nd"])).reshape(entry["shape"]).copy()
    if "b" in entry:
        return bytes(body[entry["b"] : entry["b"] + entry["len"]])
    if "f" in entry:
        return float.fromhex(entry["f"])
    if "d" in entry:
        return {k: _decode(v, body) for k, v in entry["d"].items()}
    if "l" in entry:
        return [_decode(v, body) for v in entry["l"]]
    return entry["v"]


def pack(fields: dict[str, Field]) -> bytes:
    """Serialize named fields: numbers exactly (floats as hex), arrays and bytes raw."""
    blobs: list[bytes] = []
    header = json.dumps(_encode(fields, blobs, [0]), separators=(",", ":")).encode()
    return struct.pack("<I", len(header)) + header + b"".join(blobs)


def unpack(payload: bytes, what: str) -> dict[str, Any]:
    """Inverse of :func:`pack`; ``what`` names the state in error messages."""
    try:
        (size,) = struct.unpack_from("<I", payload)
        header = json.loads(payload[4 : 4 + size])
        fields = _decode(header, memoryview(payload)[4 + size :])
    except (struct.error, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise CorruptStateError(
            f"possible corruption: cannot decode {what} state ({exc})"
        ) from None
    if not isinstance(fields, dict):
        raise CorruptStateError(f"possible corruption: {what} state is not a record")
    return fields
