"""What the archive keeps of the columns a contract marks ``sensitive = true``.

Two modes (``suture serve --sensitive hash|omit``):

- ``hash`` (the default): the value becomes ``"hmac-sha256:" + hex``, the HMAC-SHA256 of
  its canonical text under a secret key.  The same value always gives the same text (so
  an auditor can still join, count or look up a customer by hashing a value with the
  key), but without the key the value cannot be recovered by hashing guesses.
- ``omit``: the field is left out of the archived record.

The canonical text makes equal numbers hash alike: ``42`` and ``42.0`` both hash as
``42``; ``true`` as ``true``; dates as ISO 8601; text as itself (``"042"`` is not
``42``, so identifiers with leading zeros stay distinct).  A null stays null (a missing
value reveals nothing more than the record's shape).

The key comes from ``--hash-key-file`` or ``SUTURE_ARCHIVE_KEY``; without either,
:func:`resolve_hash_key` makes a random one in ``<archive file>.key`` (mode 0600) beside
a SQLite archive, and reuses it on the next start.  Keep that file: without it the
archived hashes can no longer be matched to values.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from suture.errors import ConfigError
from suture.schema.contract import Schema

__all__ = ["HASH_PREFIX", "Redactor", "canonical_text", "resolve_hash_key"]

#: What a hashed value starts with.
HASH_PREFIX = "hmac-sha256:"
#: The shortest key accepted (bytes): shorter keys make the hash guessable.
MIN_KEY_BYTES = 16


def canonical_text(value: Any) -> str:
    """The text a value is hashed as: equal values of different JSON types agree."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return value
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    return str(value)


class Redactor:
    """Hashes or drops the sensitive fields of records before they are archived.

    Parameters
    ----------
    contract : Schema
        The bundle's full contract (``bundle.contract``): its ``sensitive`` columns.
    mode : {"hash", "omit"}
    key : bytes
        The secret of the keyed hash (at least 16 bytes); unused in ``omit`` mode.

    Raises
    ------
    ConfigError
        For another mode, or a missing or short key in ``hash`` mode while the contract
        has sensitive columns.
    """

    def __init__(self, contract: Schema, mode: str, key: bytes) -> None:
        if mode not in ("hash", "omit"):
            raise ConfigError(f"--sensitive {mode!r}: expected hash or omit")
        self.mode = mode
        self.sensitive = contract.sensitive
        self._key = key
        if mode == "hash" and self.sensitive and len(key) < MIN_KEY_BYTES:
            raise ConfigError(
                f"--sensitive hash needs a secret key of at least {MIN_KEY_BYTES} bytes to hash "
                f"{', '.join(sorted(self.sensitive))} (got {len(key)}); pass --hash-key-file or "
                "set SUTURE_ARCHIVE_KEY, or use --sensitive omit"
            )
        #: The business key's column, when it is sensitive (its archived value is hashed).
        self.key_column = contract.key if contract.key in self.sensitive else None

    def hash(self, value: Any) -> str | None:
        """The keyed hash of one value (None stays None)."""
        if value is None:
            return None
        digest = hmac.new(self._key, canonical_text(value).encode(), hashlib.sha256)
        return HASH_PREFIX + digest.hexdigest()

    def record(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of ``record`` with its sensitive fields hashed or left out."""
        if not self.sensitive or self.sensitive.isdisjoint(record):
            return dict(record)
        if self.mode == "omit":
            return {k: v for k, v in record.items() if k not in self.sensitive}
        return {k: self.hash(v) if k in self.sensitive else v for k, v in record.items()}

    def explanation(self, reasons: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Explanation entries with the ``value`` of sensitive columns hashed or left out
        (the column, its unit and its contribution stay)."""
        out = []
        for reason in reasons:
            entry = dict(reason)
            if entry.get("column") in self.sensitive:
                if self.mode == "omit":
                    entry.pop("value", None)
                else:
                    entry["value"] = self.hash(entry.get("value"))
            out.append(entry)
        return out

    def key(self, value: Any) -> str | None:
        """The business key as archived: hashed when its column is sensitive (also in
        ``omit`` mode, since outcomes are joined by it), else its text.

        Outcomes sent by key must go through this too, so that they find the prediction.
        """
        if value is None:
            return None
        if self.key_column is None:
            return str(value)
        if len(self._key) < MIN_KEY_BYTES:
            raise ConfigError(
                f"the business key {self.key_column!r} is sensitive: it is archived hashed, "
                "which needs --hash-key-file or SUTURE_ARCHIVE_KEY"
            )
        return self.hash(value)


def resolve_hash_key(archive: str, given: str, *, mode: str = "hash") -> str:
    """The secret of the keyed hash: ``given`` if set, else one kept beside the archive.

    Without a key in ``hash`` mode and with a SQLite archive ``path.db``, a random
    256-bit key is written to ``path.db.key`` (mode 0600) on the first start and read
    on every later one.  Call it once, in the parent process, before the workers start.

    Raises
    ------
    ConfigError
        For a PostgreSQL archive without a key (there is no file beside it to keep one).
    """
    if given or mode != "hash":
        return given
    if archive.startswith(("postgresql://", "postgres://")):
        raise ConfigError(
            "--sensitive hash with a PostgreSQL archive needs the key given: pass "
            "--hash-key-file FILE or set SUTURE_ARCHIVE_KEY (or use --sensitive omit)"
        )
    path = Path(archive.removeprefix("sqlite:///") + ".key")
    if not path.exists():
        _create_key(path)
    return _read_key(path)


def _create_key(path: Path) -> None:
    """Write a random key to ``path`` (0600), complete or not at all; a key another
    process made first is kept."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
        os.link(temporary, path)
    except FileExistsError:
        pass
    except OSError as exc:
        raise ConfigError(f"cannot create the hash key file {path} ({exc.strerror})") from None
    finally:
        temporary.unlink(missing_ok=True)


def _read_key(path: Path) -> str:
    text = path.read_text().strip()
    if len(text.encode()) < MIN_KEY_BYTES:
        raise ConfigError(
            f"the hash key file {path} holds {len(text.encode())} bytes, fewer than "
            f"{MIN_KEY_BYTES}: restore it from a backup (or remove it to start a new key, "
            "after which earlier hashes no longer match)"
        )
    return text
