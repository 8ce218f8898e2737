"""What ``suture serve`` is told: one frozen :class:`ServeConfig` for every worker.

The command line builds it; each uvicorn worker process reads it back from the
``SUTURE_SERVE_CONFIG`` environment variable (JSON), so that ``--workers 2`` starts two
identical services.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from suture.errors import ConfigError

#: The environment variable a worker process reads its configuration from.
CONFIG_ENV = "SUTURE_SERVE_CONFIG"

SensitiveMode = Literal["hash", "omit"]
Synchronous = Literal["full", "normal"]


@dataclass(frozen=True)
class WindowSpec:
    """The live drift window: the last ``seconds`` of requests, or the last ``records``.

    The window is kept in time buckets of ``bucket_seconds``; a window by records takes
    whole buckets from the newest back until it holds at least ``records`` rows.
    """

    seconds: float | None = 3600.0
    records: int | None = None
    bucket_seconds: float = 60.0
    #: Records buffered on the request path before they are folded into the profile (a
    #: fold's cost is mostly fixed: wa_churn's 17 columns cost ~17-22 ms for 512 to 7,000
    #: rows), so that a busy worker folds about every ``flush_seconds``, not several times
    #: as often; ``flush_seconds`` bounds the window's lag at any rate.
    flush_records: int = 8192
    #: ...or after this long, whichever comes first: the window's lag behind the archive.
    #: A fold's fixed cost is paid at every flush however few records came (2 s instead
    #: of 0.5 s: ~15% less CPU per single-record request at ~150 requests/s a worker).
    flush_seconds: float = 2.0

    def __post_init__(self) -> None:
        if (self.seconds is None) == (self.records is None):
            raise ConfigError(
                "the drift window takes a time span or a record count, not both nor neither; "
                "pass --window 1h or --window 10000"
            )
        if self.seconds is not None and self.seconds <= 0:
            raise ConfigError(f"--window {self.seconds:g}s: expected a positive time span")
        if self.records is not None and self.records <= 0:
            raise ConfigError(f"--window {self.records}: expected a positive record count")
        if self.bucket_seconds <= 0:
            raise ConfigError("the window's bucket must be a positive number of seconds")


@dataclass(frozen=True)
class ServeConfig:
    """Everything a serving worker needs, the same in every worker.

    Parameters
    ----------
    bundle : str
        A model bundle (``suture train``) or a recommender bundle (``suture recommend
        fit``) folder.
    host, port, workers
        Where to listen (loopback by default) and how many worker processes.
    token : str or None
        When set, every route but ``/healthz`` and ``/readyz`` needs
        ``Authorization: Bearer <token>``.
    archive : str
        ``sqlite:///path.db`` (WAL mode) or ``postgresql://...``.
    synchronous : {"full", "normal"}
        SQLite's durability: ``full`` syncs each group commit to disk (the default).
    sensitive : {"hash", "omit"}
        What the archive keeps of columns the contract marks ``sensitive = true``: a keyed
        hash (HMAC-SHA256 with ``hash_key``) or nothing.
    hash_key : str
        The key of the keyed hash (from ``--hash-key-file`` or ``SUTURE_ARCHIVE_KEY``).
    max_body_bytes, max_batch
        Larger bodies or batches get 413.
    explain : int
        How many top contributions each prediction carries.
    window : WindowSpec
        The live drift window.
    retention_days : float or None
        Archive records older than this are pruned (None keeps everything).
    """

    bundle: str
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    token: str | None = None
    archive: str = "sqlite:///suture-archive.db"
    synchronous: Synchronous = "full"
    sensitive: SensitiveMode = "hash"
    hash_key: str = ""
    max_body_bytes: int = 1 << 20
    max_batch: int = 1000
    explain: int = 3
    window: WindowSpec = field(default_factory=WindowSpec)
    retention_days: float | None = None

    def to_json(self) -> str:
        """The configuration as JSON (for :data:`CONFIG_ENV`)."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ServeConfig:
        """Read :meth:`to_json` back."""
        data: dict[str, Any] = json.loads(text)
        data["window"] = WindowSpec(**data.get("window", {}))
        return cls(**data)
