"""Start the service: check what can be checked in this process, then hand over to uvicorn.

:func:`run` loads the bundle and opens the archive once here, so that a damaged bundle,
an unreachable archive or a taken port is one clear line before any worker starts;
replays what a killed worker had archived but not folded into its persisted drift
window (:func:`suture.serve.window.recover_window`); then runs uvicorn with the app
factory :func:`suture.serve.app.create_app_from_env`, every worker reading the same
:class:`~suture.serve.config.ServeConfig` from :data:`~suture.serve.config.CONFIG_ENV`.

With more than one worker the Prometheus metrics are kept in a private folder
(``PROMETHEUS_MULTIPROC_DIR``, set before any worker imports prometheus_client) and
``/metrics`` adds up every worker's; the folder is removed when the service stops.

SIGTERM and SIGINT stop it gracefully: uvicorn stops accepting, finishes the requests in
flight (up to :data:`GRACEFUL_SECONDS`), then each worker's lifespan shutdown flushes its
drift window and closes its archive after the last pending commit.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator

from suture.errors import EXIT_OK, ConfigError
from suture.serve.config import CONFIG_ENV, ServeConfig

__all__ = ["GRACEFUL_SECONDS", "MULTIPROC_ENV", "check_port", "run", "startup_line"]

#: How long in-flight requests may take to finish after SIGTERM.
GRACEFUL_SECONDS = 30
#: prometheus_client's folder for the metrics of several processes.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def check_port(host: str, port: int) -> None:
    """Refuse, in one sentence, an address this process cannot listen on.

    Raises
    ------
    ConfigError
        When the port is taken or the host is not an address of this machine.
    """
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"port {port} on {host} is already in use; stop what listens there or "
                    "pass another --port"
                ) from None
            raise ConfigError(
                f"cannot listen on {host}:{port} ({exc.strerror or exc}); pass --host with "
                "an address of this machine, e.g. 127.0.0.1"
            ) from None


def startup_line(config: ServeConfig, kind: str, version: str) -> str:
    """``serving BUNDLE (model VERSION) on http://HOST:PORT; archive URL; N workers``."""
    from suture.serve.app import safe_url

    host = f"[{config.host}]" if ":" in config.host else config.host
    workers = f"{config.workers} worker{'s' if config.workers != 1 else ''}"
    auth = "; bearer token required" if config.token else ""
    return (
        f"serving {config.bundle} ({kind} {version}) on http://{host}:{config.port}; "
        f"archive {safe_url(config.archive)}; {workers}{auth}"
    )


@contextlib.contextmanager
def _multiprocess_metrics(workers: int) -> Iterator[None]:
    if workers <= 1:
        os.environ.pop(MULTIPROC_ENV, None)
        yield
        return
    folder = tempfile.mkdtemp(prefix="suture-metrics-")
    os.environ[MULTIPROC_ENV] = folder
    try:
        yield
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(folder, ignore_errors=True)


def run(config: ServeConfig) -> int:
    """Serve until SIGTERM or SIGINT; return the exit code.

    Raises
    ------
    SutureError
        Before any worker starts: a bundle that cannot be loaded, an archive that cannot
        be opened, an address that cannot be listened on (one sentence each).
    """
    import uvicorn

    from suture.serve.app import preflight

    check_port(config.host, config.port)
    config, kind, version = preflight(config)
    if kind == "model":
        from suture.serve.window import recover_window

        recover_window(config)
    os.environ[CONFIG_ENV] = config.to_json()
    with _multiprocess_metrics(config.workers):
        sys.stderr.write(startup_line(config, kind, version) + "\n")
        sys.stderr.flush()
        uvicorn.run(
            "suture.serve.app:create_app_from_env",
            factory=True,
            host=config.host,
            port=config.port,
            workers=config.workers if config.workers > 1 else None,
            http="httptools",
            loop="uvloop",
            access_log=False,
            log_level="warning",
            timeout_graceful_shutdown=GRACEFUL_SECONDS,
            server_header=False,
        )
    return EXIT_OK
