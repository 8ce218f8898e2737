"""A Spark standalone cluster on loopback, started from PySpark's own ``spark-class``.

One master and one worker (1 core, 1 GiB), no download: the jars ship with PySpark.  The
processes run in their own process groups and log to files in a folder of the caller's
choice; :meth:`Cluster.stop` ends both groups (and the executors the worker started).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyspark

SPARK_HOME = Path(pyspark.__file__).parent
SPARK_CLASS = SPARK_HOME / "bin" / "spark-class"
_STARTUP_SECONDS = 120.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cluster_env() -> dict[str, str]:
    """The environment of the cluster and of a driver that uses it: loopback, this Python."""
    return {
        **os.environ,
        "SPARK_HOME": str(SPARK_HOME),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }


@dataclass
class Cluster:
    """A running master and worker; ``url`` is the master URL for ``--spark-master``."""

    url: str
    folder: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def stop(self) -> None:
        """End the master's and the worker's process groups (TERM, then KILL)."""
        for process in reversed(self.processes):
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def _start(folder: Path, name: str, *args: str) -> subprocess.Popen[bytes]:
    log = (folder / f"{name}.log").open("wb")
    try:
        return subprocess.Popen(
            [str(SPARK_CLASS), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=cluster_env(),
            start_new_session=True,
        )
    finally:
        log.close()


def start_cluster(folder: Path) -> Cluster:
    """Start a master and a worker; return when the worker has registered.

    Raises
    ------
    RuntimeError
        When either process ends early or the worker has not registered within two
        minutes; the message holds the end of both logs.
    """
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cluster = Cluster(f"spark://127.0.0.1:{port}", folder)
    try:
        cluster.processes.append(
            _start(
                folder, "master", "org.apache.spark.deploy.master.Master",
                "--host", "127.0.0.1", "--port", str(port), "--webui-port", str(free_port()),
            )
        )  # fmt: skip
        cluster.processes.append(
            _start(
                folder, "worker", "org.apache.spark.deploy.worker.Worker", cluster.url,
                "--host", "127.0.0.1", "--cores", "1", "--memory", "1g",
                "--webui-port", str(free_port()), "--work-dir", str(folder / "work"),
            )
        )  # fmt: skip
        _wait_registered(cluster)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _wait_registered(cluster: Cluster) -> None:
    deadline = time.monotonic() + _STARTUP_SECONDS
    master_log = cluster.folder / "master.log"
    while time.monotonic() < deadline:
        if "Registering worker" in master_log.read_text(errors="replace"):
            return
        if any(p.poll() is not None for p in cluster.processes):
            break
        time.sleep(0.25)
    logs = "\n".join(
        f"--- {name}.log ---\n"
        + (cluster.folder / f"{name}.log").read_text(errors="replace")[-3000:]
        for name in ("master", "worker")
    )
    raise RuntimeError(f"the Spark standalone cluster did not come up:\n{logs}")
