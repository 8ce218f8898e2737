"""The audit archive against a real SQLite file (and, through test_postgres.py, a real
PostgreSQL server): group commit, the whole decision, outcomes, the window's state,
interactions, export, retention and the schema version.

Every test takes the ``archive_url`` fixture; ``test_postgres.py`` imports these tests and
gives the fixture a PostgreSQL database instead, so both backends pass the same tests.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import suture.serve.archive as archive_module
from suture.errors import ConfigError, CorruptStateError, OutputError
from suture.serve.archive import (
    ArchiveError,
    Outcome,
    PredictionRecord,
    SqlArchive,
    new_prediction_id,
    open_archive,
)


@pytest.fixture
def archive_url(tmp_path: Path) -> str:
    """A fresh SQLite archive (test_postgres.py overrides it with a PostgreSQL one)."""
    return f"sqlite:///{tmp_path / 'archive.db'}"


@pytest.fixture
def archive(archive_url: str) -> Iterator[SqlArchive]:
    a = open_archive(archive_url)
    yield a
    a.close()


def record(
    i: int, *, ts: float | None = None, key: str | None = None, worker: str = "w1"
) -> PredictionRecord:
    return PredictionRecord(
        id=new_prediction_id(),
        ts=time.time() if ts is None else ts,
        model_version="v1",
        worker=worker,
        key=key if key is not None else f"c{i}",
        received={"balance": str(i), "student": "No"},
        coerced={"balance": float(i), "student": "No"},
        features=[float(i), 0.0],
        output={"prediction": "Yes" if i % 2 else "No", "probability": i / (i + 1)},
        explanation=[{"column": "balance", "value": float(i), "unit": "USD", "contribution": 0.25}],
    )


def test_get_returns_the_whole_decision(archive: SqlArchive) -> None:
    r = record(7, ts=1_796_184_189.5)
    archive.set_feature_names("v1", ["balance", "student=Yes"])
    archive.write_now([r])
    got = archive.get(r.id)
    assert got is not None
    assert got["time"] == "2026-12-02T04:03:09.500000Z"
    assert {k: got[k] for k in ("id", "ts", "model_version", "worker", "key")} == {
        "id": r.id,
        "ts": 1_796_184_189.5,
        "model_version": "v1",
        "worker": "w1",
        "key": "c7",
    }
    assert got["received"] == {"balance": "7", "student": "No"}
    assert got["coerced"] == {"balance": 7.0, "student": "No"}
    assert got["features"] == [7.0, 0.0]
    assert got["feature_names"] == ["balance", "student=Yes"]
    assert got["output"] == {"prediction": "Yes", "probability": 7 / 8}
    assert got["explanation"] == r.explanation
    assert got["outcome"] is None
    assert archive.get("0" * 32) is None


def test_a_mostly_zero_feature_row_is_stored_sparse_and_read_back_whole(
    archive: SqlArchive, archive_url: str, tmp_path: Path
) -> None:
    features: list[float | None] = [0.0] * 140
    features[3], features[77], features[139] = 1.0, -0.1 + 0.2, None
    one = dataclasses.replace(record(1), features=features)
    archive.write_now([one, record(2)])
    got = archive.get(one.id)
    assert got is not None and got["features"] == features
    stored = sqlite3.connect(archive_url.removeprefix("sqlite:///")).execute(
        "SELECT features FROM predictions WHERE id = ?", (one.id,)
    )
    assert len(stored.fetchone()[0]) < 60  # the dense list is over 560 characters
    assert archive.export_parquet(tmp_path / "out.parquet") == 2
    exported = pq.read_table(tmp_path / "out.parquet").column("features").to_pylist()
    assert [json.loads(text) for text in exported] == [features, [2.0, 0.0]]


def test_prediction_ids_are_unique_and_time_ordered() -> None:
    first = new_prediction_id()
    time.sleep(0.002)
    ids = [new_prediction_id() for _ in range(10_000)]
    assert len(set(ids)) == 10_000
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    assert all(first < i for i in ids)


def test_recent_lists_the_newest_first(archive: SqlArchive) -> None:
    records = [record(i, ts=1000.0 + i) for i in range(5)]
    archive.write_now(records)
    recent = archive.recent(3)
    assert [r["id"] for r in recent] == [records[4].id, records[3].id, records[2].id]
    assert recent[0]["output"] == records[4].output
    assert recent[0]["time"] == "1970-01-01T00:16:44.000000Z"
    assert archive.recent(0) == []


def test_concurrent_writers_are_group_committed_and_all_archived(archive: SqlArchive) -> None:
    records = [record(i) for i in range(2000)]

    async def main() -> None:
        await asyncio.gather(*(archive.write([r]) for r in records))

    asyncio.run(main())
    assert archive.stats()["predictions"] == 2000
    # 2,000 callers, far fewer transactions: each commit took many callers' records.
    assert archive.commits < 200
    assert all(archive.get(r.id) is not None for r in records[::97])


def test_a_write_returns_only_after_the_commit(archive_url: str, archive: SqlArchive) -> None:
    r = record(1)

    async def main() -> None:
        await archive.write([r])

    asyncio.run(main())
    # Another connection (another process would see the same) already sees it.
    with open_archive(archive_url) as other:
        assert other.get(r.id) is not None


def test_a_failed_commit_raises_to_every_waiting_caller(archive: SqlArchive) -> None:
    archive._call(lambda c: c.execute("DROP TABLE predictions"))
    records = [record(i) for i in range(50)]

    async def main() -> list[Any]:
        return await asyncio.gather(*(archive.write([r]) for r in records), return_exceptions=True)

    results = asyncio.run(main())
    assert all(isinstance(e, ArchiveError) for e in results)
    assert "the write was not committed" in str(results[0])
    assert archive.url in str(results[0])


def test_close_waits_for_pending_commits(archive_url: str) -> None:
    a = open_archive(archive_url)
    records = [record(i) for i in range(500)]

    async def main() -> None:
        tasks = [asyncio.ensure_future(a.write([r])) for r in records]
        await asyncio.sleep(0)  # every task has queued its record
        a.close()
        await asyncio.gather(*tasks)

    asyncio.run(main())
    with open_archive(archive_url) as b:
        assert b.stats()["predictions"] == 500
    with pytest.raises(ArchiveError, match="is closed; nothing more can be written"):
        a.write_now([record(1)])


def test_outcomes_join_by_id_and_by_key_and_replace(archive: SqlArchive) -> None:
    old = record(1, ts=100.0, key="alice")
    new = record(2, ts=200.0, key="alice")
    bob = record(3, ts=150.0, key="bob")
    archive.write_now([old, new, bob])
    report = archive.add_outcomes(
        [
            Outcome(value="Yes", key="alice", ts=300.0),
            Outcome(value="No", prediction_id=bob.id, ts=301.0),
            Outcome(value="No", prediction_id="f" * 32),
            Outcome(value="No", key="carol"),
        ]
    )
    assert report.matched == (new.id, bob.id)  # the latest prediction for alice
    assert report.unknown == (2, 3)
    got = archive.get(new.id)
    assert got is not None
    assert got["outcome"] == {"value": "Yes", "ts": 300.0, "time": "1970-01-01T00:05:00.000000Z"}
    assert archive.get(old.id)["outcome"] is None  # type: ignore[index]
    # Sent again with another value: replaced, not duplicated.
    assert archive.add_outcomes([Outcome(value="No", prediction_id=new.id, ts=400.0)]).matched == (
        new.id,
    )
    assert archive.get(new.id)["outcome"]["value"] == "No"  # type: ignore[index]
    rows = archive.labelled()
    assert rows.ids == [bob.id, new.id]
    assert rows.ts.tolist() == [150.0, 200.0]
    assert rows.outcomes == ["No", "No"]
    assert rows.outputs[1] == new.output
    assert len(archive.labelled(since=160.0)) == 1
    assert archive.stats()["outcomes"] == 2


def test_window_states_are_replaced_per_bucket(archive: SqlArchive) -> None:
    archive.save_window("w1", 60.0, b"one", 10, 5)
    archive.save_window("w1", 60.0, b"two", 20, 9, closed=True)
    archive.save_window("w2", 120.0, b"\x00\xff", 3, 4)
    states = archive.window_states(None)
    assert [(s.worker, s.bucket, s.state, s.rows, s.last_seq, s.closed) for s in states] == [
        ("w1", 60.0, b"two", 20, 9, True),
        ("w2", 120.0, b"\x00\xff", 3, 4, False),
    ]
    assert [s.worker for s in archive.window_states(100.0)] == ["w2"]


def test_unfolded_streams_a_workers_predictions_after_a_sequence(
    archive: SqlArchive, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archive_module, "CHUNK", 3)  # several chunks
    archive.write_now([record(i, worker="w1" if i % 2 else "w2") for i in range(20)])
    w1 = list(archive.unfolded("w1", 0))
    assert [c["balance"] for _, _, c in w1] == [float(i) for i in range(1, 20, 2)]
    after = w1[3][0]
    assert [s for s, _, _ in archive.unfolded("w1", after)] == [s for s, _, _ in w1[4:]]
    assert archive.last_seq("w1") == w1[-1][0]
    assert archive.last_seq("nobody") == 0
    assert archive.workers() == ["w1", "w2"]


def test_committed_lists_a_workers_sequence_ids_and_times_in_order(archive: SqlArchive) -> None:
    written = [record(i, ts=1000.0 + i, worker="w1" if i % 2 else "w2") for i in range(10)]
    archive.write_now(written)
    w1 = archive.committed("w1", 0, 100)
    assert [ident for _, ident, _ in w1] == [r.id for r in written if r.worker == "w1"]
    assert [ts for _, _, ts in w1] == [1000.0 + i for i in range(1, 10, 2)]
    assert [s for s, _, _ in w1] == [s for s, _, _ in archive.unfolded("w1", 0)]
    assert archive.committed("w1", w1[1][0], 2) == w1[2:4]
    assert archive.committed("nobody", 0, 10) == []


def test_prune_window_deletes_old_buckets_and_keeps_predictions(archive: SqlArchive) -> None:
    archive.write_now([record(i, ts=10.0) for i in range(3)])
    for bucket in (60.0, 120.0, 180.0):
        archive.save_window("w1", bucket, b"state", 1, 1)
    assert archive.prune_window(150.0) == 2
    assert [s.bucket for s in archive.window_states(None)] == [180.0]
    assert archive.stats()["predictions"] == 3
    assert archive.prune_window(150.0) == 0


def test_interactions_come_back_in_order_after_a_sequence(archive: SqlArchive) -> None:
    assert archive.write_interactions([]) == 0
    first = archive.write_interactions([(1.0, 42, 318), (2.0, "u7", "i9")])
    last = archive.write_interactions([(3.0, 42, 7)])
    assert last == first + 1
    assert archive.interactions_after(0) == [
        (first - 1, 42, 318),
        (first, "u7", "i9"),
        (last, 42, 7),
    ]
    assert archive.interactions_after(first) == [(last, 42, 7)]
    assert archive.write_interactions([]) == last


def test_export_writes_every_prediction_to_parquet(
    archive: SqlArchive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archive_module, "CHUNK", 4)  # streamed in several chunks
    records = [record(i, ts=1000.0 + i) for i in range(10)]
    archive.write_now(records)
    archive.add_outcomes([Outcome(value="Yes", prediction_id=records[2].id, ts=2000.0)])
    out = tmp_path / "archive.parquet"
    assert archive.export_parquet(out) == 10
    table = pq.read_table(out)
    assert table.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("probability").type == pa.float64()
    assert table.schema.field("prediction").type == pa.string()
    assert table.column_names == [
        "id", "ts", "model_version", "worker", "key", "prediction", "probability",
        "received", "coerced", "features", "explanation", "outcome", "outcome_ts",
    ]  # fmt: skip
    assert table.column("id").to_pylist() == [r.id for r in records]
    assert table.column("probability").to_pylist() == [r.output["probability"] for r in records]
    assert table.column("outcome").to_pylist()[:3] == [None, None, '"Yes"']
    assert table.column("received").to_pylist()[0] == '{"balance":"0","student":"No"}'
    assert table.column("ts").to_pylist()[0].timestamp() == 1000.0
    assert archive.export_parquet(out, since=1005.0) == 5
    assert pq.read_table(out).num_rows == 5


def test_a_failed_export_leaves_the_old_file_as_it_was(archive: SqlArchive, tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="does not exist; create it first"):
        archive.export_parquet(tmp_path / "missing" / "a.parquet")
    out = tmp_path / "a.parquet"
    out.write_bytes(b"old")
    archive._call(lambda c: c.execute("DROP TABLE outcomes"))
    with pytest.raises(ArchiveError, match="cannot read"):
        archive.export_parquet(out)
    assert out.read_bytes() == b"old"
    assert [
        p.name for p in tmp_path.iterdir() if p.name != "archive.db" and "archive.db" not in p.name
    ] == ["a.parquet"]


def test_prune_deletes_old_predictions_and_their_outcomes(archive: SqlArchive) -> None:
    records = [record(i, ts=1000.0 * (i + 1)) for i in range(4)]
    archive.write_now(records)
    archive.add_outcomes([Outcome(value="No", prediction_id=r.id) for r in records])
    archive.save_window("w1", 500.0, b"old", 1, 1)
    archive.save_window("w1", 3000.0, b"new", 1, 1)
    assert archive.prune(2500.0) == 2
    assert archive.get(records[1].id) is None
    assert archive.get(records[2].id) is not None
    stats = archive.stats()
    assert (stats["predictions"], stats["outcomes"], stats["window_buckets"]) == (2, 2, 1)
    assert archive.prune(2500.0) == 0


def test_stats_count_what_the_archive_holds(archive: SqlArchive) -> None:
    empty = archive.stats()
    assert (empty["predictions"], empty["first"], empty["model_versions"]) == (0, None, [])
    archive.write_now([record(1, ts=0.0), record(2, ts=60.0, worker="w2")])
    stats = archive.stats()
    assert stats["predictions"] == 2
    assert stats["workers"] == 2
    assert stats["model_versions"] == ["v1"]
    assert (stats["first"], stats["last"]) == (
        "1970-01-01T00:00:00.000000Z",
        "1970-01-01T00:01:00.000000Z",
    )


def test_an_archive_from_a_newer_suture_is_refused(archive_url: str, archive: SqlArchive) -> None:
    archive._call(lambda c: c.execute("UPDATE meta SET value = '99' WHERE name = 'schema_version'"))
    with pytest.raises(CorruptStateError) as info:
        open_archive(archive_url)
    assert str(info.value) == (
        f"archive {archive.url} has schema version 99, written by a newer suture; this suture "
        "reads versions up to 1: upgrade suture to use it"
    )


# -- SQLite only -----------------------------------------------------------------------


def test_bad_archive_urls_get_one_clear_message(tmp_path: Path) -> None:
    cases = {
        "mysql://h/db": "expected sqlite:///path.db or postgresql://user@host:port/database",
        "sqlite://relative.db": "three slashes before a relative path",
        "sqlite:///:memory:": "an in-memory archive would not survive a restart",
        f"sqlite:///{tmp_path}/nope/a.db": f"the folder {tmp_path}/nope does not exist",
        f"sqlite:///{tmp_path}": "is a folder; give a file",
    }
    for url, message in cases.items():
        with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
            open_archive(url)
    with pytest.raises(ConfigError, match="--synchronous 'off': expected full or normal"):
        open_archive(f"sqlite:///{tmp_path}/a.db", synchronous="off")


def test_sqlite_runs_in_wal_mode_with_the_asked_durability(tmp_path: Path) -> None:
    for synchronous, level in (("full", 2), ("normal", 1)):
        path = tmp_path / f"{synchronous}.db"
        with open_archive(str(path), synchronous=synchronous) as a:
            assert a.url == f"sqlite:///{path}"
            mode = a._call(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0])
            sync = a._call(lambda c: c.execute("PRAGMA synchronous").fetchone()[0])
            assert (mode, sync) == ("wal", level)
    assert sqlite3.connect(tmp_path / "full.db").execute("PRAGMA journal_mode").fetchone() == (
        "wal",
    )


def test_a_new_sqlite_archive_has_16_kb_pages_and_indexes_only_keyed_predictions(
    tmp_path: Path,
) -> None:
    path = tmp_path / "new.db"
    with open_archive(str(path)) as a:
        a.write_now([record(1, key="alice"), dataclasses.replace(record(2), key=None)])
        assert a._fetch("PRAGMA page_size") == [(archive_module.SQLITE_PAGE_SIZE,)]
        plan = a._fetch(
            "EXPLAIN QUERY PLAN SELECT id FROM predictions WHERE key = ? "
            "ORDER BY ts DESC, seq DESC LIMIT 1",
            ("alice",),
        )
        assert any("USING INDEX predictions_key" in str(row[-1]) for row in plan)
        assert a.add_outcomes([Outcome(value="Yes", key="alice")]).unknown == ()
        ((sql,),) = a._fetch("SELECT sql FROM sqlite_master WHERE name = 'predictions_key'")
        assert sql.endswith("WHERE key IS NOT NULL")


# The predictions table and key index as suture wrote them before 2026-12-03: a full index
# of key, in a file of 4 KB pages.
_OLD_KEY_INDEX = "CREATE INDEX IF NOT EXISTS predictions_key ON predictions (key)"


def test_an_archive_of_4_kb_pages_and_a_full_key_index_keeps_both_and_works(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("PRAGMA page_size = 4096")
    raw.execute("PRAGMA journal_mode = WAL")
    for statement in archive_module._SQLITE.ddl():
        raw.execute(_OLD_KEY_INDEX if "predictions_key" in statement else statement)
    raw.execute("INSERT INTO meta (name, value) VALUES ('schema_version', '1')")
    raw.close()
    old, unkeyed = record(1, key="alice"), dataclasses.replace(record(2), key=None)
    with open_archive(str(path)) as a:
        a.write_now([old, unkeyed])
        assert a._fetch("PRAGMA page_size") == [(4096,)]
        assert a._fetch("SELECT sql FROM sqlite_master WHERE name = 'predictions_key'") == [
            (_OLD_KEY_INDEX.replace(" IF NOT EXISTS", ""),)
        ]
        assert a.add_outcomes([Outcome(value="Yes", key="alice")]).matched == (old.id,)
        got = a.get(unkeyed.id)
        assert got is not None and got["key"] is None and got["received"] == unkeyed.received


_WRITER = """
import asyncio, sys, time
from suture.serve.archive import PredictionRecord, new_prediction_id, open_archive
a = open_archive(sys.argv[1])
def rec(i):
    return PredictionRecord(new_prediction_id(), time.time(), "v1", sys.argv[2], None,
                            {"i": i}, {"i": i}, [], {"prediction": i}, [])
async def main():
    for start in range(0, 600, 50):
        await asyncio.gather(*(a.write([rec(i)]) for i in range(start, start + 50)))
asyncio.run(main())
a.close()
"""


def test_two_processes_write_one_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, url, f"w{n}"], stderr=subprocess.PIPE)
        for n in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    with open_archive(url) as a:
        assert a.stats()["predictions"] == 1200
        assert [a.last_seq(w) > 0 for w in ("w0", "w1")] == [True, True]


def test_writers_of_one_sqlite_file_take_turns_and_the_waiter_commits_its_queue_at_once(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    with open_archive(url) as first, open_archive(url) as second:
        turn = first._writer.turn
        turn.__enter__()  # the first archive's turn, held here
        try:
            futures = [second._submit(records=[record(i, worker="w2")]) for i in range(50)]
            time.sleep(0.3)
            assert not any(f.done() for f in futures)  # waiting for the turn, not spinning
        finally:
            turn.__exit__(None, None, None)
        for f in futures:
            f.result(timeout=30)
        # The writer took the first record, waited for its turn, then took the 49 queued
        # meanwhile into the same transaction.
        assert second.commits == 1
        assert second.stats()["predictions"] == 50
    assert (tmp_path / "shared.db-writer").exists()


_TURN_HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(600)
"""


def test_a_writer_killed_during_its_turn_does_not_block_the_others(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    holder = subprocess.Popen(
        [sys.executable, "-c", _TURN_HOLDER, f"{path}-writer"], stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        with open_archive(f"sqlite:///{path}") as a:
            pending = a._submit(records=[record(1)])
            time.sleep(0.3)
            assert not pending.done()
            holder.kill()  # SIGKILL: the kernel drops the dead process's lock
            pending.result(timeout=30)
            assert a.stats()["predictions"] == 1
    finally:
        holder.kill()
        holder.wait()
