"""The archive tests of test_archive.py, against a real PostgreSQL server.

``scripts/test.sh`` (and ``.ci/run``) start a throwaway cluster with
``scripts/postgres.sh start`` and export ``SUTURE_TEST_POSTGRES_URL``.  Without that
variable the module starts its own cluster with the same script (so it never skips
here); in CI (``CI`` set) a missing variable fails the tests, since a CI run that did not
start PostgreSQL has not tested it.  Each test gets a database of its own.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from suture.serve.archive import ArchiveError, SqlArchive, open_archive
from tests.serve.test_archive import (
    archive,
    record,
    test_a_failed_commit_raises_to_every_waiting_caller,
    test_a_failed_export_leaves_the_old_file_as_it_was,
    test_a_write_returns_only_after_the_commit,
    test_an_archive_from_a_newer_suture_is_refused,
    test_close_waits_for_pending_commits,
    test_committed_lists_a_workers_sequence_ids_and_times_in_order,
    test_concurrent_writers_are_group_committed_and_all_archived,
    test_export_writes_every_prediction_to_parquet,
    test_get_returns_the_whole_decision,
    test_interactions_come_back_in_order_after_a_sequence,
    test_outcomes_join_by_id_and_by_key_and_replace,
    test_prune_deletes_old_predictions_and_their_outcomes,
    test_prune_window_deletes_old_buckets_and_keeps_predictions,
    test_recent_lists_the_newest_first,
    test_stats_count_what_the_archive_holds,
    test_unfolded_streams_a_workers_predictions_after_a_sequence,
    test_window_states_are_replaced_per_bucket,
)

__all__ = [
    "archive",
    "test_a_failed_commit_raises_to_every_waiting_caller",
    "test_a_failed_export_leaves_the_old_file_as_it_was",
    "test_a_write_returns_only_after_the_commit",
    "test_an_archive_from_a_newer_suture_is_refused",
    "test_close_waits_for_pending_commits",
    "test_committed_lists_a_workers_sequence_ids_and_times_in_order",
    "test_concurrent_writers_are_group_committed_and_all_archived",
    "test_export_writes_every_prediction_to_parquet",
    "test_get_returns_the_whole_decision",
    "test_interactions_come_back_in_order_after_a_sequence",
    "test_outcomes_join_by_id_and_by_key_and_replace",
    "test_prune_deletes_old_predictions_and_their_outcomes",
    "test_prune_window_deletes_old_buckets_and_keeps_predictions",
    "test_recent_lists_the_newest_first",
    "test_stats_count_what_the_archive_holds",
    "test_unfolded_streams_a_workers_predictions_after_a_sequence",
    "test_window_states_are_replaced_per_bucket",
]

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "postgres.sh"
ENV = "SUTURE_TEST_POSTGRES_URL"


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[str]:
    """The server's URL: from the environment, or a cluster this module starts and stops."""
    url = os.environ.get(ENV)
    if url:
        yield url
        return
    if os.environ.get("CI"):
        pytest.fail(f"{ENV} is not set: CI must start PostgreSQL (scripts/postgres.sh start)")
    # Not under pytest's private (0700, root's) temporary folder: the server runs as the
    # postgres user, who must reach its data folder.
    folder = Path("/tmp") / f"suture-pg-{uuid.uuid4().hex[:12]}"
    started = subprocess.run(
        ["bash", str(SCRIPT), "start", str(folder)], capture_output=True, text=True, timeout=300
    )
    assert started.returncode == 0, started.stderr
    try:
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(folder)], capture_output=True, timeout=120)


@pytest.fixture
def archive_url(postgres_server: str) -> Iterator[str]:
    """A fresh database on the server, dropped after the test."""
    name = f"suture_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    base, _, _ = postgres_server.rpartition("/")
    yield f"{base}/{name}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_two_workers_share_one_postgres_archive(archive_url: str) -> None:
    workers = [open_archive(archive_url) for _ in range(2)]

    async def main() -> None:
        await asyncio.gather(
            *(
                a.write([record(i, worker=f"w{n}")])
                for n, a in enumerate(workers)
                for i in range(300)
            )
        )

    asyncio.run(main())
    for a in workers:
        a.close()
    with open_archive(archive_url) as a:
        assert a.stats()["predictions"] == 600
        assert a.workers() == ["w0", "w1"]
        assert [len(list(a.unfolded(w, 0))) for w in ("w0", "w1")] == [300, 300]


def test_an_unreachable_server_is_one_line_without_the_password(postgres_server: str) -> None:
    with pytest.raises(ArchiveError) as info:
        open_archive("postgresql://suture:s3cret@127.0.0.1:1/nowhere")
    message = str(info.value)
    assert message.startswith("archive postgresql://suture@127.0.0.1:1/nowhere: cannot connect (")
    assert message.endswith(
        "check that the server runs and the URL names its host, port, user and database"
    )
    assert "s3cret" not in message and "\n" not in message


def test_the_archive_names_the_server_without_the_password(archive_url: str) -> None:
    scheme, _, rest = archive_url.partition("://")
    user, _, host = rest.partition("@")
    with open_archive(f"{scheme}://{user}:ignored@{host}") as a:
        assert isinstance(a, SqlArchive)
        assert a.url == archive_url


def test_a_dropped_connection_fails_one_group_and_the_next_reconnects(
    archive_url: str, postgres_server: str
) -> None:
    with open_archive(archive_url) as a:
        first = record(1)
        a.write_now([first])
        database = archive_url.rpartition("/")[2]
        with psycopg.connect(postgres_server, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (database,),
            )
        with pytest.raises(ArchiveError, match="the write was not committed"):
            a.write_now([record(2)])
        with pytest.raises(ArchiveError, match="cannot read"):
            a.get(first.id)
        second = record(3)
        a.write_now([second])  # a new connection
        assert a.get(first.id) is not None and a.get(second.id) is not None
        assert a.stats()["predictions"] == 2
