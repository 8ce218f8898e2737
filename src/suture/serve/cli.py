"""``suture serve BUNDLE``: the command that starts the scoring service.

Only typer and the standard library load at import time (``suture --help`` stays light);
the bundle, NumPy and uvicorn load when the command runs.  Option texts that are
numbers with units (``--window 1h``, ``--max-body 1MiB``, ``--retention 30d``) are read
by the small parsers here, each refusing a malformed text with one sentence.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer

from suture.errors import ConfigError
from suture.serve.config import ServeConfig, WindowSpec

__all__ = [
    "TOKEN_ENV",
    "parse_bytes",
    "parse_duration",
    "parse_window",
    "read_secret",
    "serve",
]

#: The environment variable a bearer token may come from (instead of ``--token``).
TOKEN_ENV = "SUTURE_SERVE_TOKEN"
#: The environment variable the archive's hash key may come from.
HASH_KEY_ENV = "SUTURE_ARCHIVE_KEY"

_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_BYTES = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1 << 10,
    "mib": 1 << 20,
    "gib": 1 << 30,
    "k": 1 << 10,
    "m": 1 << 20,
    "g": 1 << 30,
}
_NUMBER_UNIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def _number_unit(text: str, units: Mapping[str, float]) -> tuple[float, str] | None:
    """``"30d"`` as ``(30.0, "d")`` when the unit is one of ``units`` (any case)."""
    found = _NUMBER_UNIT.match(text)
    if found is None or found.group(2).lower() not in units:
        return None
    return float(found.group(1)), found.group(2).lower()


def parse_duration(option: str, text: str) -> float:
    """Seconds in ``"90s"``, ``"30m"``, ``"1h"``, ``"30d"`` or ``"2w"``.

    Raises
    ------
    ConfigError
        ``"--retention '3 months': expected a time span such as 30d, 12h or 90m"``.
    """
    found = _number_unit(text, _SECONDS)
    if found is None or found[0] <= 0:
        raise ConfigError(
            f"{option} {text!r}: expected a positive time span such as 30d, 12h, 90m or 3600s"
        )
    return found[0] * _SECONDS[found[1]]


def parse_window(text: str) -> tuple[float | None, int | None]:
    """``--window``: a time span (``"1h"``) or a record count (``"10000"``).

    Returns
    -------
    (seconds, None) or (None, records)
    """
    stripped = text.strip().replace("_", "").replace(",", "")
    if stripped.isdigit():
        records = int(stripped)
        if records <= 0:
            raise ConfigError(f"--window {text}: expected a positive record count")
        return None, records
    try:
        return parse_duration("--window", text), None
    except ConfigError:
        raise ConfigError(
            f"--window {text!r}: expected a time span (1h, 30m, 3600s) or a record count (10000)"
        ) from None


def parse_bytes(option: str, text: str) -> int:
    """Bytes in ``"1MiB"``, ``"512KiB"``, ``"2MB"`` or ``"65536"``.

    Raises
    ------
    ConfigError
        ``"--max-body 'big': expected a size such as 1MiB, 512KiB or 65536"``.
    """
    found = _number_unit(text, _BYTES)
    if found is None:
        raise ConfigError(f"{option} {text!r}: expected a size such as 1MiB, 512KiB or 65536")
    size = int(found[0] * _BYTES[found[1]])
    if size < 1:
        raise ConfigError(f"{option} {text!r}: expected a size of at least 1 byte")
    return size


def read_secret(option: str, path: Path) -> str:
    """The first line of a secret file (a token or a hash key), stripped.

    Raises
    ------
    ConfigError
        When the file cannot be read or is empty.
    """
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            f"{option} {path}: cannot read it ({exc.strerror or exc}); give a readable file"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{option} {path}: expected UTF-8 text") from None
    if not text:
        raise ConfigError(f"{option} {path}: the file is empty; put the secret on its first line")
    return text.splitlines()[0].strip()


def _token(token: str | None, token_file: Path | None) -> str | None:
    if token is not None and token_file is not None:
        raise ConfigError("give --token or --token-file, not both")
    if token_file is not None:
        return read_secret("--token-file", token_file)
    if token is None:
        token = os.environ.get(TOKEN_ENV) or None
    if token is not None and not token.strip():
        raise ConfigError("--token is empty; give a non-empty token or leave it out")
    return token


def _hash_key(hash_key_file: Path | None) -> str:
    if hash_key_file is not None:
        return read_secret("--hash-key-file", hash_key_file)
    return os.environ.get(HASH_KEY_ENV, "")


def serve(
    bundle: Annotated[
        Path, typer.Argument(help="A model bundle (suture train) or recommender bundle folder.")
    ],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    token: Annotated[
        str | None,
        typer.Option(
            help="Require 'Authorization: Bearer TOKEN' on every route but /healthz and "
            f"/readyz (also {TOKEN_ENV}; prefer --token-file)."
        ),
    ] = None,
    token_file: Annotated[
        Path | None, typer.Option(help="Read the bearer token from this file's first line.")
    ] = None,
    archive: Annotated[
        str,
        typer.Option(help="Where decisions are archived: sqlite:///PATH.db or postgresql://..."),
    ] = "sqlite:///suture-archive.db",
    synchronous: Annotated[
        str, typer.Option(help="SQLite durability: full (sync every commit) or normal.")
    ] = "full",
    sensitive: Annotated[
        str,
        typer.Option(help="Sensitive columns in the archive: hash (keyed HMAC) or omit."),
    ] = "hash",
    hash_key_file: Annotated[
        Path | None,
        typer.Option(
            help=f"The key of the keyed hash, first line of this file (also {HASH_KEY_ENV})."
        ),
    ] = None,
    window: Annotated[
        str, typer.Option(help="The live drift window: a time span (1h, 30m) or a record count.")
    ] = "1h",
    max_body: Annotated[
        str, typer.Option(help="Largest request body (bigger gets 413), e.g. 1MiB.")
    ] = "1MiB",
    max_batch: Annotated[int, typer.Option(help="Most records in one request.")] = 1000,
    explain: Annotated[
        int, typer.Option(help="Top contributions each prediction carries (0: none).")
    ] = 3,
    retention: Annotated[
        str | None,
        typer.Option(help="Prune archived decisions older than this, e.g. 30d (default: keep)."),
    ] = None,
) -> None:
    """Serve a bundle over HTTP: validated, explained, archived, monitored predictions."""
    from suture.serve.run import run

    config = build_config(
        bundle=bundle,
        host=host,
        port=port,
        workers=workers,
        token=_token(token, token_file),
        archive=archive,
        synchronous=synchronous,
        sensitive=sensitive,
        hash_key=_hash_key(hash_key_file),
        window=window,
        max_body=max_body,
        max_batch=max_batch,
        explain=explain,
        retention=retention,
    )
    raise typer.Exit(run(config))


def build_config(
    *,
    bundle: Path,
    host: str,
    port: int,
    workers: int,
    token: str | None,
    archive: str,
    synchronous: str,
    sensitive: str,
    hash_key: str,
    window: str,
    max_body: str,
    max_batch: int,
    explain: int,
    retention: str | None,
) -> ServeConfig:
    """The :class:`~suture.serve.config.ServeConfig` the options describe, checked.

    Raises
    ------
    ConfigError
        One sentence naming the option, what came and what is expected.
    """
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port must be between 0 and 65535, got {port}")
    if workers < 1:
        raise ConfigError(f"--workers must be 1 or more (worker processes), got {workers}")
    if port == 0 and workers > 1:
        raise ConfigError(
            "--port 0 lets the system pick a port, which would differ per worker with "
            f"--workers {workers}; give a port number"
        )
    if max_batch < 1:
        raise ConfigError(f"--max-batch must be 1 or more (records per request), got {max_batch}")
    if explain < 0:
        raise ConfigError(f"--explain must be 0 or more (input columns per row), got {explain}")
    if synchronous not in ("full", "normal"):
        raise ConfigError(f"--synchronous must be full or normal, got {synchronous!r}")
    if sensitive not in ("hash", "omit"):
        raise ConfigError(f"--sensitive must be hash or omit, got {sensitive!r}")
    if not bundle.is_dir():
        what = "is a file, not a bundle folder" if bundle.exists() else "does not exist"
        raise ConfigError(
            f"{bundle} {what}; give the folder suture train or suture recommend fit wrote"
        )
    seconds, records = parse_window(window)
    retention_days = None if retention is None else parse_duration("--retention", retention) / 86400
    return ServeConfig(
        bundle=str(bundle.resolve()),
        host=host,
        port=port,
        workers=workers,
        token=token,
        archive=archive,
        synchronous=synchronous,  # type: ignore[arg-type]
        sensitive=sensitive,  # type: ignore[arg-type]
        hash_key=hash_key,
        max_body_bytes=parse_bytes("--max-body", max_body),
        max_batch=max_batch,
        explain=explain,
        window=WindowSpec(seconds=seconds, records=records),
        retention_days=retention_days,
    )
