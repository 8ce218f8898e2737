"""The serving harness: a real ``suture serve`` process on a free loopback port.

Every serving test talks to a real uvicorn server over real sockets; nothing is mocked.
The process is always stopped (SIGTERM, then SIGKILL after a grace period) when the test
ends, so no server outlives its test.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
MODEL_BUNDLE = GOLDEN / "model_v1"
RECOMMENDER_BUNDLE = GOLDEN / "recommend_v2"
SUTURE = str(Path(sys.executable).with_name("suture"))
#: How long a server may take to answer /readyz (loading NumPy, Arrow and the bundle).
READY_TIMEOUT = 60.0


def free_port() -> int:
    """A TCP port nobody listens on (the kernel's choice) on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    """A running ``suture serve`` process."""

    process: subprocess.Popen[bytes]
    port: int
    archive: str
    log: Path
    argv: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        """What the server printed so far (stdout and stderr together)."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Block until ``/readyz`` answers 200, or fail with the server's output."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"suture serve exited with {self.process.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        self.stop()
        pytest.fail(f"suture serve was not ready in {timeout:.0f} s:\n{self.output()}")

    def stop(self, sig: int = signal.SIGTERM, grace: float = 20.0) -> int:
        """Send ``sig``; SIGKILL the process group if it has not exited after ``grace``."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL the whole process group at once (the crash test)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


def start_server(
    bundle: Path,
    tmp: Path,
    *args: str,
    archive: str | None = None,
    env: dict[str, str] | None = None,
    wait: bool = True,
) -> Server:
    """Start ``suture serve BUNDLE --port P --archive ... ARGS`` in its own process group.

    Parameters
    ----------
    bundle : Path
        The bundle folder to serve.
    tmp : Path
        A folder for the archive (unless ``archive`` is given) and the server's log.
    args : str
        More command-line options (``--workers 2``, ``--token ...``).
    archive : str, optional
        The archive URL; default ``sqlite:///<tmp>/archive.db``.
    env : dict, optional
        Extra environment variables.
    wait : bool
        Wait until ``/readyz`` answers.
    """
    port = free_port()
    archive = archive or f"sqlite:///{tmp / 'archive.db'}"
    log = tmp / f"serve-{port}.log"
    argv = [SUTURE, "serve", str(bundle), "--port", str(port), "--archive", archive, *args]
    full_env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", **(env or {})}
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=full_env,
            cwd=tmp,
            start_new_session=True,
        )
    server = Server(process, port, archive, log, argv)
    if wait:
        server.wait_ready()
    return server


ServeFn = Callable[..., Server]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeFn]:
    """``serve(bundle, *args, archive=..., env=..., wait=True)`` starts a server that is
    stopped when the test ends (see :func:`start_server`)."""
    started: list[Server] = []

    def start(bundle: Path = MODEL_BUNDLE, *args: str, **kw: Any) -> Server:
        server = start_server(bundle, tmp_path, *args, **kw)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def served(serve: ServeFn) -> Server:
    """The golden model bundle served with the defaults."""
    return serve(MODEL_BUNDLE)


def copy_bundle(bundle: Path, into: Path) -> Path:
    """A private copy of a golden bundle (tests must not write into tests/golden)."""
    target = into / bundle.name
    shutil.copytree(bundle, target)
    return target


def run_suture(
    *args: str, cwd: Path | None = None, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run the real ``suture`` command; return its result (text)."""
    return subprocess.run(
        [SUTURE, *args], capture_output=True, text=True, cwd=cwd, check=check, timeout=300
    )


__all__: Sequence[str] = [
    "MODEL_BUNDLE",
    "RECOMMENDER_BUNDLE",
    "ServeFn",
    "Server",
    "copy_bundle",
    "free_port",
    "run_suture",
    "start_server",
]
