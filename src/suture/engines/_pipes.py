"""Length-prefixed, tagged messages between the local engine and its workers."""

from __future__ import annotations

import struct
from typing import IO

_LENGTH = struct.Struct("<Q")


def write_message(stream: IO[bytes], tag: bytes, payload: bytes = b"") -> None:
    """Send one tagged, length-prefixed message."""
    stream.write(tag + _LENGTH.pack(len(payload)))
    stream.write(payload)
    stream.flush()


def read_message(stream: IO[bytes]) -> tuple[bytes, bytes]:
    """Receive one message; ``(b"", b"")`` at end of stream."""
    head = stream.read(1 + _LENGTH.size)
    if len(head) < 1 + _LENGTH.size:
        return b"", b""
    (size,) = _LENGTH.unpack(head[1:])
    return head[:1], stream.read(size)
