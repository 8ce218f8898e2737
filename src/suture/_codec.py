"""Versioned, portable byte format for aggregator states (no pickle).

A state is framed as (format version 2)::

    b"SUTR" | u16 format version | u16 len(kind) | kind | 8-byte config fingerprint
            | u32 len(config) | config (UTF-8) | payload

Version 1 (still read) has no config text: the fingerprint alone says *that* the
configuration differs, version 2 also says *which* configuration wrote the state.  A
payload made by :func:`pack` is a JSON header (field names, types, offsets) followed by
raw little-endian buffers.  Readers check every field and say what is wrong ("possible
corruption: ...") instead of failing somewhere deeper.
"""

from __future__ import annotations

import hashlib
import json
import struct
from typing import Any

import numpy as np

from suture.errors import CorruptStateError

__all__ = ["FORMAT_VERSION", "MAGIC", "Field", "fingerprint", "frame", "pack", "unframe", "unpack"]

MAGIC = b"SUTR"
FORMAT_VERSION = 2
_FRAME = struct.Struct("<4sHH")
_CONFIG_LEN = struct.Struct("<I")
_SHOWN = 160  # configurations longer than this are shown around their difference

Field = bytes | int | float | str | bool | None | np.ndarray | list[Any] | dict[str, Any]


def fingerprint(config: str) -> bytes:
    """An 8-byte digest of an aggregator's configuration string."""
    return hashlib.blake2b(config.encode(), digest_size=8).digest()


def frame(kind: str, config: str, payload: bytes) -> bytes:
    """Prefix ``payload`` with the magic, format version, kind, config fingerprint and
    config text."""
    encoded, text = kind.encode(), config.encode()
    return b"".join(
        [
            _FRAME.pack(MAGIC, FORMAT_VERSION, len(encoded)),
            encoded,
            fingerprint(config),
            _CONFIG_LEN.pack(len(text)),
            text,
            payload,
        ]
    )


def unframe(data: bytes, kind: str, config: str) -> bytes:
    """Check the frame written by :func:`frame` (version 1 or 2) and return the payload.

    Raises
    ------
    CorruptStateError
        For a damaged or too new frame, a state of another kind, or a state written under
        another configuration (naming the writer's configuration and the reader's).
    """
    if len(data) < _FRAME.size:
        raise CorruptStateError(
            f"possible corruption: {kind} state is {len(data)} bytes, shorter than its header"
        )
    magic, version, kind_len = _FRAME.unpack_from(data)
    if magic != MAGIC:
        raise CorruptStateError(f"possible corruption: {kind} state does not start with {MAGIC!r}")
    if version > FORMAT_VERSION or version < 1:
        raise CorruptStateError(
            f"{kind} state has format version {version}, newer than this suture "
            f"understands ({FORMAT_VERSION}); upgrade suture to read it"
        )
    start = _FRAME.size
    if len(data) < start + kind_len + 8:
        raise CorruptStateError(f"possible corruption: {kind} state ends inside its header")
    got_kind = data[start : start + kind_len].decode(errors="replace")
    if got_kind != kind:
        raise CorruptStateError(f"expected a {kind} state, got a {got_kind!r} state")
    at = start + kind_len + 8
    digest = data[start + kind_len : at]
    written: str | None = None
    if version >= 2:
        written, at = _config_text(data, at, kind)
    if digest != fingerprint(config) or (written is not None and written != config):
        raise CorruptStateError(_mismatch(kind, written, digest, config))
    return data[at:]


def _config_text(data: bytes, at: int, kind: str) -> tuple[str, int]:
    """The config text of a version 2 frame at ``at``, and where the payload starts."""
    if len(data) < at + _CONFIG_LEN.size:
        raise CorruptStateError(f"possible corruption: {kind} state ends inside its header")
    (size,) = _CONFIG_LEN.unpack_from(data, at)
    at += _CONFIG_LEN.size
    if len(data) < at + size:
        raise CorruptStateError(f"possible corruption: {kind} state ends inside its header")
    try:
        return data[at : at + size].decode(), at + size
    except UnicodeDecodeError:
        raise CorruptStateError(
            f"possible corruption: {kind} state has an unreadable configuration"
        ) from None


def _mismatch(kind: str, written: str | None, digest: bytes, reading: str) -> str:
    """The message for a state loaded under another configuration."""
    if written is None:
        writer = f"a different configuration (fingerprint {digest.hex()})"
    else:
        writer, reading = _around_difference(written, reading)
    return (
        f"cannot load {kind} state: written by {writer}, read by {reading}; "
        "load it with the aggregator that wrote it"
    )


def _around_difference(a: str, b: str) -> tuple[str, str]:
    """Both strings whole when short, else the part where they differ with some context."""
    if max(len(a), len(b)) <= _SHOWN:
        return a, b
    prefix = 0
    while prefix < min(len(a), len(b)) and a[prefix] == b[prefix]:
        prefix += 1
    suffix = 0
    while suffix < min(len(a), len(b)) - prefix and a[-1 - suffix] == b[-1 - suffix]:
        suffix += 1
    context = 40
    begin = max(0, prefix - context)

    def cut(text: str) -> str:
        end = min(len(text), len(text) - suffix + context)
        return ("…" if begin else "") + text[begin:end] + ("…" if end < len(text) else "")

    return cut(a), cut(b)


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
