"""A worker process of the local engine: ``python -m suture.engines._worker``.

It speaks a length-prefixed protocol on stdin/stdout, so it never re-imports the user's
``__main__`` (which ``multiprocessing``'s spawn does, and which breaks scripts without an
``if __name__ == "__main__"`` guard)::

    A <pickled aggregator>    configure (aggregators are configuration only); reply K
                              once ready
    B <Arrow IPC stream>      fold one record batch into the state of the current piece
    S                         the piece is complete: reply S <its state bytes> and start
                              the next piece from zero
    E                         end: exit without a reply

The engine sends one piece (B messages, then S) at a time and waits for its state,
so each worker is handed its next piece only when it is free.  An error is replied as
X, encoded by :func:`suture.errors.to_wire` (a :class:`~suture.errors.SutureError` as its
class, message and attributes; anything else as an :class:`~suture.errors.InternalError`
whose message carries this process's traceback), and the worker exits.
"""

from __future__ import annotations

import pickle
import sys
import traceback
from typing import IO, Any

from suture.engines._pipes import read_message, write_message
from suture.errors import InternalError, SutureError, to_wire
from suture.sources import batch_from_ipc


def serve(inbox: IO[bytes], outbox: IO[bytes]) -> None:
    """Fold pieces until the end message; reply with each piece's state, or the error."""
    aggregator: Any = None
    state: Any = None
    try:
        while True:
            tag, payload = read_message(inbox)
            if tag == b"A":
                aggregator = pickle.loads(payload)
                state = aggregator.zero()
                write_message(outbox, b"K")
            elif tag == b"B":
                state = aggregator.update(state, batch_from_ipc(payload))
            elif tag == b"S":
                write_message(outbox, b"S", aggregator.to_bytes(state))
                state = aggregator.zero()
            else:  # E, or the engine went away
                return
    except SutureError as exc:
        write_message(outbox, b"X", to_wire(exc))
    except Exception:
        failure = InternalError(f"a suture worker process failed:\n{traceback.format_exc()}")
        write_message(outbox, b"X", to_wire(failure))


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
