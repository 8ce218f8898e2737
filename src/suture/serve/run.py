"""Start the service: check what can be checked in this process, then hand over to uvicorn.

:func:`run` loads the bundle and opens the archive once here, so that a damaged bundle,
an unreachable archive or a taken port is one clear line before any worker starts;
replays what a killed worker had archived but not folded into its persisted drift
window (:func:`suture.serve.window.recover_window`); then runs uvicorn with the app
factory :func:`suture.serve.app.create_app_from_env`, every worker reading the same
:class:`~suture.serve.config.ServeConfig` from :data:`~suture.serve.config.CONFIG_ENV`.

With ``--workers N`` this process supervises N worker processes, each listening on its
own ``SO_REUSEPORT`` socket, so that the kernel spreads connections over the workers
(with one shared socket, a burst of new connections lands on whichever worker wakes
first); a worker that dies is replaced.

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
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from suture.errors import EXIT_INTERNAL, EXIT_OK, ConfigError
from suture.serve.config import CONFIG_ENV, ServeConfig

if TYPE_CHECKING:
    import uvicorn

__all__ = [
    "GRACEFUL_SECONDS",
    "MULTIPROC_ENV",
    "check_port",
    "listening_socket",
    "run",
    "startup_line",
]

#: How long in-flight requests may take to finish after SIGTERM.
GRACEFUL_SECONDS = 30
#: How long a new worker must live before its death is not a startup failure: none now
#: (a worker is judged by whether it ever served); kept for callers that wait on it.
STARTUP_SECONDS = 0.0
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
        if config.workers == 1:
            server = _uvicorn(config.host, config.port)
            server.run()
            started = server.started
        else:
            started = _supervise(config)
    if not started:
        sys.stderr.write(
            "error: the service did not start (the worker's error is above); this is a bug "
            "in suture if the bundle and archive loaded above\n"
        )
        return EXIT_INTERNAL
    return EXIT_OK


def _uvicorn(host: str, port: int, ready: Any = None) -> uvicorn.Server:
    """The uvicorn server of one worker; ``ready`` (an event) is set once it serves."""
    import uvicorn

    settings = uvicorn.Config(
        "suture.serve.app:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        http="httptools",
        loop="uvloop",
        access_log=False,
        # nothing reads the client's address or scheme: no X-Forwarded-* parsing per request
        proxy_headers=False,
        log_level="warning",
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
        server_header=False,
    )
    return _quiet_server(uvicorn.Server, ready)(settings)


def _quiet_server(base: type[uvicorn.Server], ready: Any = None) -> type[uvicorn.Server]:
    """uvicorn's server, but a SIGTERM or SIGINT that stopped it gracefully is not
    raised again afterwards (uvicorn re-raises it, so the process would die by the signal
    instead of exiting 0 once the requests in flight were answered); it sets ``ready``
    once the app's startup is done and it listens."""
    import signal
    import threading

    class Server(base):  # type: ignore[valid-type,misc]
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if self.started and ready is not None:
                ready.set()

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            handled = (signal.SIGINT, signal.SIGTERM)
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    return Server


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port`` with ``SO_REUSEPORT``: every worker binds its
    own, and the kernel spreads new connections over them (a burst of clients does not
    all land on the worker that happened to wake first)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _worker(host: str, port: int, worker: str, ready: Any) -> None:
    """One worker process: its own listening socket, one uvicorn server; ``worker`` is
    its id (in its archived predictions and drift window)."""
    from suture.serve.app import WORKER_ENV

    os.environ[WORKER_ENV] = worker
    sock = listening_socket(host, port)
    _uvicorn(host, port, ready).run(sockets=[sock])


def recover_worker(config: ServeConfig, worker: str) -> int:
    """Fold what a dead worker archived but had not folded into its drift window, and
    close its window (the live workers' windows are left alone); returns the records.

    Run by the supervisor before it replaces the worker, so that the service's window
    counts every archived prediction while it keeps running.
    """
    from suture.models.bundle import ModelBundle
    from suture.serve.archive import open_archive
    from suture.serve.window import LiveWindow, recover_states

    bundle = ModelBundle.read(config.bundle)
    archive = open_archive(config.archive, synchronous=config.synchronous)
    try:
        states = [s for s in archive.window_states(None) if s.worker == worker]
        return recover_states(
            lambda w: LiveWindow.for_bundle(bundle, archive, worker=w, spec=config.window),
            states,
        )
    finally:
        archive.close()


@dataclass
class Worker:
    """A worker process of the supervisor: its id, its ready event, the process."""

    id: str
    ready: Any
    process: Any


def _supervise(config: ServeConfig) -> bool:
    """Run ``config.workers`` worker processes until SIGTERM or SIGINT.

    A worker that dies on its own (a crash, the OOM killer) is replaced; on SIGTERM or
    SIGINT every worker is asked to stop (SIGTERM: uvicorn drains its requests) and
    waited for.  A worker that dies before it ever served stops the service instead (it
    would fail again): returns False then.  Before a dead worker is replaced, what it
    archived but had not folded into its drift window is replayed
    (:func:`recover_worker`).
    """
    import multiprocessing
    import signal
    from multiprocessing.connection import wait

    from suture.serve.app import bundle_kind

    spawn = multiprocessing.get_context("spawn")
    model = bundle_kind(config.bundle) == "model"

    def start() -> Worker:
        ident, ready = uuid.uuid4().hex[:12], spawn.Event()
        process = spawn.Process(
            target=_worker, args=(config.host, config.port, ident, ready), daemon=False
        )
        process.start()
        return Worker(ident, ready, process)

    workers = [start() for _ in range(config.workers)]
    stopping = {"now": False}
    failed = False

    def stop(signum: int, frame: object) -> None:
        stopping["now"] = True
        for w in workers:
            if w.process.pid is not None and w.process.exitcode is None:
                os.kill(w.process.pid, signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not stopping["now"]:
            wait([w.process.sentinel for w in workers], timeout=1.0)
            for i, w in enumerate(workers):
                if w.process.exitcode is None or stopping["now"]:
                    continue
                _forget(w.process.pid)
                if not w.ready.is_set():  # it never served: it would fail again
                    stop(signal.SIGTERM, None)
                    failed = True
                    break
                sys.stderr.write(
                    f"worker {w.process.pid} exited with {w.process.exitcode}; starting another\n"
                )
                if model:
                    _recover(config, w.id)
                workers[i] = start()
        for w in workers:
            w.process.join(GRACEFUL_SECONDS + 10)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return not failed


def _recover(config: ServeConfig, worker: str) -> None:
    try:
        replayed = recover_worker(config, worker)
    except Exception as exc:  # the replacement must start even so; the next start replays
        sys.stderr.write(f"the drift window of worker {worker} was not replayed: {exc}\n")
    else:
        sys.stderr.write(f"replayed {replayed:,} records into worker {worker}'s drift window\n")


def _forget(pid: int | None) -> None:
    """Drop a dead worker's live gauges from the shared metrics."""
    if pid is not None and os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
