"""A worker process of the local engine: ``python -m suture.engines._worker``.

It speaks a length-prefixed protocol on stdin/stdout, so it never re-imports the user's
``__main__`` (which ``multiprocessing``'s spawn does, and which breaks scripts without an
``if __name__ == "__main__"`` guard)::

    A <pickled aggregator>    configure (aggregators are configuration only)
    B <Arrow IPC stream>      fold one record batch into the state
    P <JSON row group>        read one Parquet row group and fold its batches in
                              (B and P are acknowledged with K, so the engine hands
                              each worker its next piece only when it is free)
    E                         end: reply S <state bytes>, or X <error>

An error is sent as :func:`suture.errors.to_wire` encodes it: a
:class:`~suture.errors.SutureError` as its class, message and attributes; anything else
as an :class:`~suture.errors.InternalError` whose message carries this process's
traceback.
"""

from __future__ import annotations

import json
import pickle
import sys
import traceback
from typing import IO, Any

from suture.engines._pipes import read_message, write_message
from suture.errors import InternalError, SutureError, to_wire
from suture.sources import RowGroup, batch_from_ipc


def serve(inbox: IO[bytes], outbox: IO[bytes]) -> None:
    """Fold batches until the end message; reply with the state or the error."""
    aggregator: Any = None
    state: Any = None
    try:
        while True:
            tag, payload = read_message(inbox)
            if tag == b"A":
                aggregator = pickle.loads(payload)
                state = aggregator.zero()
            elif tag == b"B":
                state = aggregator.update(state, batch_from_ipc(payload))
            elif tag == b"P":
                fields = json.loads(payload)
                size = fields.pop("batch_size")
                piece = RowGroup(
                    **{**fields, "dictionary_columns": tuple(fields["dictionary_columns"])}
                )
                for batch in piece.batches(size):
                    state = aggregator.update(state, batch)
            elif tag == b"E":
                write_message(outbox, b"S", aggregator.to_bytes(state))
                return
            else:
                return
            if tag in (b"B", b"P"):
                write_message(outbox, b"K")
    except SutureError as exc:
        write_message(outbox, b"X", to_wire(exc))
    except Exception:
        failure = InternalError(f"a suture worker process failed:\n{traceback.format_exc()}")
        write_message(outbox, b"X", to_wire(failure))


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
