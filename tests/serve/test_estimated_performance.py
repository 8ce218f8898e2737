"""Performance before outcomes in the service: ``GET /v1/performance`` estimates the
expected AUC and accuracy of every archived prediction (labelled or not) from its
calibrated probability, with :func:`suture.monitor.performance.estimate_performance`,
and shows the realized values beside it once outcomes arrive."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import numpy as np
import psycopg
import pytest

from suture.models.base import Task
from suture.models.bundle import ModelBundle
from suture.monitor.performance import estimate_performance
from suture.serve.archive import (
    ArchivedProbabilities,
    PredictionRecord,
    SqlArchive,
    new_prediction_id,
    open_archive,
)
from suture.serve.openapi import performance_schema
from suture.serve.performance import (
    estimate_payload,
    estimated_performance,
    realized_performance,
    with_estimates,
)
from tests.serve.conftest import MODEL_BUNDLE, ServeFn, Server
from tests.serve.test_app import metric
from tests.serve.test_postgres import postgres_server

__all__ = ["postgres_server"]

HOLDOUT = {
    m: ModelBundle.read(MODEL_BUNDLE).holdout.metrics[m].value  # type: ignore[union-attr]
    for m in ("auc", "accuracy")
}


def _records(n: int, seed: int = 0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    return [
        {"student": "No", "balance": float(b), "income": 30000.0}
        for b in np.round(rng.uniform(0, 2800, n), 1)
    ]


def _archived(server: Server) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Times, probabilities and ids of every archived prediction, oldest first, read
    through the archive's public ``recent`` (each output parsed in Python)."""
    with open_archive(server.archive) as archive:
        rows = archive.recent(limit=100_000)[::-1]
    ts = np.array([r["ts"] for r in rows])
    p = np.array([r["output"]["probability"] for r in rows])
    return ts, p, [r["id"] for r in rows]


def _expected(p: np.ndarray) -> dict[str, Any]:
    return estimate_payload(estimate_performance(p, reference=HOLDOUT))


def _schema_valid(body: dict[str, Any]) -> None:
    validator = jsonschema_rs.validator_for(performance_schema())
    errors = [str(e) for e in validator.iter_errors(body)]
    assert errors == []


def _check_estimates(body: dict[str, Any], ts: np.ndarray, p: np.ndarray) -> None:
    width = body["window_seconds"]
    overall = body["overall"]["estimated"]
    assert overall == {**_expected(p), "complete": True}
    starts = sorted({math.floor(t / width) * width for t in ts.tolist()})
    assert [w["start"] for w in body["windows"]] == starts
    for window in body["windows"]:
        inside = (ts >= window["start"]) & (ts < window["end"])
        assert window["estimated"] == {**_expected(p[inside]), "complete": True}


def test_the_estimate_equals_estimate_performance_on_the_archived_probabilities(
    serve: ServeFn,
) -> None:
    server = serve(MODEL_BUNDLE)
    with httpx.Client(base_url=server.url, timeout=60) as client:
        made = client.post("/v1/predict", json=_records(400)).json()["predictions"]
        body = client.get("/v1/performance").json()
    ts, p, ids = _archived(server)
    assert sorted(ids) == sorted(m["id"] for m in made)
    assert p.tolist() == [m["probability"] for m in sorted(made, key=lambda m: ids.index(m["id"]))]
    _schema_valid(body)
    assert body["labelled"] == 0
    assert body["overall"]["n"] == 0
    _check_estimates(body, ts, p)
    # No outcome yet: every window's realized metrics are None beside the estimate.
    for window in body["windows"]:
        assert window["n"] == 0
        assert [window[m] for m in ("auc", "accuracy", "brier", "ece")] == [None] * 4
    estimation = body["estimation"]
    assert estimation == {
        "cap": 200_000,
        "in_span": 400,
        "read": 400,
        "capped": False,
        "oldest_read": float(ts[0]),
        "oldest_read_time": estimation["oldest_read_time"],
        "skipped": 0,
        "confidence": 0.95,
        "draws": 500,
        "reason": None,
    }
    auc = body["overall"]["estimated"]["auc"]
    assert auc["reference"] == HOLDOUT["auc"]
    assert auc["drop"] == HOLDOUT["auc"] - auc["value"]
    assert auc["lower"] <= auc["value"] <= auc["upper"]


def test_the_realized_values_appear_beside_the_estimate_once_outcomes_arrive(
    serve: ServeFn,
) -> None:
    server = serve(MODEL_BUNDLE)
    with httpx.Client(base_url=server.url, timeout=60) as client:
        assert math.isnan(metric(client.get("/metrics").text, "suture_estimated_auc"))  # not 0
        made = client.post("/v1/predict", json=_records(300, seed=1)).json()["predictions"]
        rng = np.random.default_rng(2)
        labelled = made[:150]
        truth = [bool(rng.random() < m["probability"]) for m in labelled]
        answer = client.post(
            "/v1/outcomes",
            json=[{"id": m["id"], "outcome": t} for m, t in zip(labelled, truth, strict=True)],
        )
        assert answer.json()["matched"] == 150
        body = client.get("/v1/performance").json()
        text = client.get("/metrics").text
    ts, p, _ = _archived(server)
    _schema_valid(body)
    _check_estimates(body, ts, p)  # still every prediction, labelled or not
    assert body["labelled"] == 150
    # The realized values are those of the labelled rows alone, beside the estimate.
    task = ModelBundle.read(MODEL_BUNDLE).task
    with open_archive(server.archive) as archive:
        realized = realized_performance(task, archive.labelled(), window_seconds=3600.0)
    assert {k: v for k, v in body["overall"].items() if k != "estimated"} == realized["overall"]
    by_start = {w["start"]: w for w in realized["windows"]}
    for window in body["windows"]:
        if window["start"] in by_start:
            assert {k: v for k, v in window.items() if k != "estimated"} == by_start[
                window["start"]
            ]
    # The gauges, refreshed with the realized ones, over the last 7 days: every row.
    expected = _expected(p)
    assert metric(text, "suture_estimated_auc") == expected["auc"]["value"]
    assert metric(text, "suture_estimated_accuracy") == expected["accuracy"]["value"]
    assert metric(text, "suture_realized_outcomes") == 150


# ------------------------------------------------------------------- the archive's read


@pytest.fixture(params=["sqlite", "postgresql"])
def any_archive(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlArchive]:
    """A fresh archive in SQLite and in PostgreSQL (one schema)."""
    if request.param == "sqlite":
        with open_archive(f"sqlite:///{tmp_path / 'archive.db'}") as archive:
            yield archive
        return
    server: str = request.getfixturevalue("postgres_server")
    name = f"suture_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    base, _, _ = server.rpartition("/")
    try:
        with open_archive(f"{base}/{name}") as archive:
            yield archive
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _record(ts: float, output: dict[str, Any]) -> PredictionRecord:
    return PredictionRecord(
        id=new_prediction_id(),
        ts=ts,
        model_version="v1",
        worker="w1",
        key=None,
        received={},
        coerced={},
        features=[],
        output=output,
        explanation=[],
    )


def test_the_archive_reads_the_newest_probabilities_of_a_span(any_archive: SqlArchive) -> None:
    outputs: list[dict[str, Any]] = [
        {"prediction": "true", "probability": 0.25},
        {"prediction": "false", "probability": 0},  # an integer in JSON
        {"prediction": 3.5},  # a regression output: no probability
        {"prediction": "x", "probability": "high"},  # not a number
        {"prediction": "true", "probability": 0.875},
    ]
    any_archive.write_now([_record(100.0 + i, o) for i, o in enumerate(outputs)])
    every = any_archive.probabilities()
    assert every.ts.tolist() == [100.0, 101.0, 102.0, 103.0, 104.0]
    assert [None if math.isnan(v) else v for v in every.probability.tolist()] == [
        0.25, 0.0, None, None, 0.875,
    ]  # fmt: skip
    assert every.in_span == 5
    newest = any_archive.probabilities(since=101.0, limit=2)
    assert newest.ts.tolist() == [103.0, 104.0]  # the most recent two, oldest first
    assert newest.in_span == 4
    assert len(any_archive.probabilities(since=1e9)) == 0


# -------------------------------------------------------------------- the cap, the reason


def test_a_capped_read_says_so_and_marks_the_cut_window() -> None:
    ts = np.arange(0.0, 7200.0, 10.0)[-500:]  # the newest 500 of 720 predictions
    p = np.linspace(0.01, 0.99, ts.size)
    found = estimated_performance(
        ArchivedProbabilities(ts, p, in_span=720), window_seconds=3600.0, limit=500
    )
    estimation = found["estimation"]
    assert (estimation["capped"], estimation["read"], estimation["in_span"]) == (True, 500, 720)
    assert estimation["oldest_read"] == ts[0]
    assert [(s, w["complete"]) for s, w in found["windows"].items()] == [
        (0.0, False),
        (3600.0, True),
    ]
    assert found["overall"]["complete"] is False
    first = ts < 3600.0
    assert found["windows"][0.0]["auc"] == estimate_payload(estimate_performance(p[first]))["auc"]


def test_a_regression_model_has_no_estimate_and_says_why() -> None:
    task = Task("regression", "price")
    realized = {"windows": [], "overall": {"n": 0}, "skipped": 0}
    reason = "performance before outcomes is estimated for binary models only"
    merged = with_estimates(task, realized, None, window_seconds=3600.0, reason=reason)
    assert merged["overall"] == {"n": 0, "estimated": None}
    assert merged["estimation"] == {"reason": reason}


def test_probabilities_outside_zero_one_are_skipped_not_a_500() -> None:
    found = estimated_performance(
        ArchivedProbabilities(np.array([1.0, 2.0, 3.0]), np.array([0.2, math.nan, 1.5]), in_span=3)
    )
    assert found["estimation"]["skipped"] == 2
    assert found["overall"]["rows"] == 1


def test_no_prediction_gives_no_estimate_and_a_reason() -> None:
    found = estimated_performance(ArchivedProbabilities(np.zeros(0), np.zeros(0), in_span=0))
    assert found["overall"] is None
    assert found["estimation"]["reason"] == (
        "no prediction with a probability was archived in the span"
    )


def test_an_answer_without_predictions_still_fits_the_openapi_schema(served: Server) -> None:
    body = httpx.get(f"{served.url}/v1/performance", timeout=60).json()
    _schema_valid(body)
    assert body["overall"] == {"n": 0, "estimated": None}
    assert body["windows"] == []
    document = httpx.get(f"{served.url}/openapi.json", timeout=60).json()
    answer = document["paths"]["/v1/performance"]["get"]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"] == performance_schema()


# ----------------------------------------------------------------------------- dashboard


def test_the_dashboard_shows_the_estimate_beside_the_realized_values(
    serve: ServeFn, tmp_path: Path
) -> None:
    from tests.serve.test_dashboard import render

    server = serve(MODEL_BUNDLE)
    with httpx.Client(base_url=server.url, timeout=60) as client:
        made = client.post("/v1/predict", json=_records(200, seed=3)).json()["predictions"]
        client.post("/v1/outcomes", json=[{"id": m["id"], "outcome": True} for m in made[:20]])
        body = client.get("/v1/performance").json()
    section = render(server.url + "/", tmp_path).dom.one(id="performance-body")
    overall = body["overall"]["estimated"]

    def shown(e: dict[str, Any]) -> str:
        return f"{e['value']:.4f} [{e['lower']:.4f}, {e['upper']:.4f}]"

    def against(e: dict[str, Any]) -> str:
        side = "below" if e["drop"] >= 0 else "above"
        return f"{abs(e['drop']):.4f} {side} training"

    assert section.one(id="performance-estimated").text() == (
        "Estimated before outcomes, from 200 predictions (95% intervals): "
        f"AUC {shown(overall['auc'])}, {against(overall['auc'])} · "
        f"accuracy {shown(overall['accuracy'])}, {against(overall['accuracy'])}."
    )
    rows = section.one("table").one("tbody").all("tr")
    assert len(rows) == len(body["windows"])
    for row, window in zip(rows, body["windows"], strict=True):
        cells = {
            c.attrs["data-estimate"]: c.text() for c in row.all("td") if "data-estimate" in c.attrs
        }
        assert cells == {
            "rows": str(window["estimated"]["rows"]),
            "auc": shown(window["estimated"]["auc"]),
            "accuracy": shown(window["estimated"]["accuracy"]),
        }
        assert row.all("td")[1].text() == str(window["n"])  # the realized count beside


def test_a_served_regression_model_answers_estimated_null_with_the_reason(
    serve: ServeFn, tmp_path: Path
) -> None:
    import pyarrow as pa

    import suture

    rng = np.random.default_rng(0)
    balance = rng.uniform(0, 2500, 400)
    table = pa.table({"balance": balance, "spend": 10.0 + 0.2 * balance + rng.normal(0, 200, 400)})
    bundle = tmp_path / "regression"
    suture.train(table, "spend", candidates=["linear"], seed=0, output=bundle)
    server = serve(bundle)
    with httpx.Client(base_url=server.url, timeout=60) as client:
        made = client.post("/v1/predict", json=[{"balance": 100.0}, {"balance": 900.0}])
        assert made.status_code == 200
        ids = [m["id"] for m in made.json()["predictions"]]
        client.post("/v1/outcomes", json=[{"id": i, "outcome": 30.0} for i in ids])
        body = client.get("/v1/performance").json()
        text = client.get("/metrics").text
    _schema_valid(body)
    assert body["task"] == "regression"
    assert body["overall"]["estimated"] is None
    assert body["overall"]["n"] == 2
    assert all(w["estimated"] is None for w in body["windows"])
    assert body["estimation"] == {
        "reason": "performance before outcomes is estimated for binary models only; this "
        "model predicts 'spend' (regression): wait for the realized values"
    }
    assert math.isnan(metric(text, "suture_estimated_auc"))


def test_a_closed_windows_estimate_is_reused_and_a_changed_one_recomputed() -> None:
    from suture.serve import performance

    rng = np.random.default_rng(11)
    ts = np.sort(rng.uniform(0.0, 3 * 3600.0, 900))
    p = rng.uniform(0.0, 1.0, ts.size)
    first = estimated_performance(ArchivedProbabilities(ts, p, in_span=900))
    hits = performance._CACHE.hits
    again = estimated_performance(ArchivedProbabilities(ts, p, in_span=900))
    assert again == first
    assert performance._CACHE.hits == hits + 4  # three windows and the overall
    changed = p.copy()
    changed[-1] = 0.5  # a new prediction's probability: the last window and overall
    third = estimated_performance(ArchivedProbabilities(ts, changed, in_span=900))
    assert performance._CACHE.hits == hits + 4 + 2
    last = ts >= 7200.0
    assert third["windows"][7200.0] == {
        **_expected_without_reference(changed[last]),
        "complete": True,
    }
    assert third["overall"] == {**_expected_without_reference(changed), "complete": True}


def _expected_without_reference(p: np.ndarray) -> dict[str, Any]:
    return estimate_payload(estimate_performance(p))
