"""The Spark sessions suture starts itself: quiet, so suture's own lines show instead.

A session suture starts shows no console stage bars, logs at ERROR only, and keeps the
JVM's start-up lines ("WARNING: Using incubator modules", native-library warnings) off
the terminal: the JVM is launched with its stderr read by a thread into
:data:`JVM_STDERR`.  ``SUTURE_DEBUG=1`` leaves Spark as loud as it is by default.  A
session the user made, or one ``spark-submit`` set up, keeps its own settings.
"""

from __future__ import annotations

import collections
import contextlib
import os
import shutil
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from suture.errors import ConfigError

__all__ = ["JVM_STDERR", "quiet", "session"]

# PySpark warns about pandas 3 whenever it touches its Arrow path; suture uses no pandas.
_PANDAS_WARNING = "PySpark does not yet fully support pandas"

# Spark's log for sessions suture starts: errors only.  The repl logger must match the
# root level, or Spark resets the root to WARN and prints "Setting default log level".
_LOG4J2 = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex
logger.repl.name = org.apache.spark.repl.Main
logger.repl.level = error
"""

#: The last lines the JVM of a session suture started wrote to its stderr, kept off the
#: terminal (with SUTURE_DEBUG=1 the JVM writes to the terminal instead).
JVM_STDERR: collections.deque[str] = collections.deque(maxlen=200)


def session(master: str | None) -> Any:
    """The active session, or a new quiet one on ``master`` (see the module docstring)."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        return active
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ
    if master is None and not submitted and "--master" not in _submit_args():
        master = "local[*]"
    if master is not None and master.startswith("local"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName("suture")
    if master is not None:
        builder = builder.master(master)
    with quiet():
        if submitted or _running_context():  # spark-submit's or the user's: theirs rule
            return builder.getOrCreate()
        return _quiet_session(builder)


def _running_context() -> bool:
    from pyspark import SparkContext

    return SparkContext._active_spark_context is not None


def _submit_args() -> list[str]:
    return os.environ.get("PYSPARK_SUBMIT_ARGS", "").split()


def _quiet_session(builder: Any) -> Any:
    """Start a session whose JVM keeps its log and start-up lines off the terminal."""
    from pyspark import SparkConf, SparkContext

    builder = builder.config("spark.ui.showConsoleProgress", "false")
    debug = os.environ.get("SUTURE_DEBUG", "") not in ("", "0")
    if SparkContext._gateway is not None or debug:  # the JVM is already up, or wanted loud
        session = builder.getOrCreate()
        if not debug:
            session.sparkContext.setLogLevel("ERROR")
        return session
    folder = Path(tempfile.mkdtemp(prefix="suture-spark-"))
    try:
        config = folder / "log4j2.properties"
        config.write_text(_LOG4J2)
        option = f"-Dlog4j2.configurationFile={config.as_uri()}"
        builder = builder.config("spark.driver.extraJavaOptions", option)
        conf = SparkConf()
        for key, value in builder._options.items():
            conf.set(key, value)
        _start_gateway(conf)
        session = builder.getOrCreate()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    session.sparkContext.setLogLevel("ERROR")
    return session


def _start_gateway(conf: Any) -> None:
    """Launch the JVM with its stderr kept in :data:`JVM_STDERR` instead of the terminal.

    Raises
    ------
    ConfigError
        When the JVM exits before it is up (no Java, a bad option), with its last line.
    """
    from pyspark import SparkContext
    from pyspark.java_gateway import launch_gateway

    read, write = os.pipe()
    drain = threading.Thread(target=_drain, args=(read,), daemon=True, name="suture-spark-stderr")
    drain.start()
    try:
        gateway = launch_gateway(conf, popen_kwargs={"stderr": write})  # type: ignore[no-untyped-call]
    except Exception as exc:
        os.close(write)
        drain.join(5)
        said = [line for line in JVM_STDERR if line.strip() and not line.startswith("WARNING")]
        raise ConfigError(
            f"Spark could not start ({said[0] if said else exc}); check that Java 17 or "
            "later is installed (java on PATH or JAVA_HOME) and the Spark options"
        ) from None
    os.close(write)  # the JVM holds its own copy
    SparkContext._ensure_initialized(gateway=gateway, conf=conf)


def _drain(fd: int) -> None:
    with os.fdopen(fd, "rb") as stream:
        for line in iter(stream.readline, b""):
            JVM_STDERR.append(line.decode("utf-8", "replace").rstrip("\n"))


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence PySpark's warning about pandas versions (suture uses no pandas)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_PANDAS_WARNING, category=FutureWarning)
        yield
