"""Realized performance from archived predictions and their late outcomes, against
scikit-learn's metrics on the same rows."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    mean_absolute_error,
    mean_squared_error,
    roc_auc_score,
)

from suture.errors import ConfigError
from suture.models.base import Task
from suture.serve.archive import LabelledRows, Outcome, PredictionRecord, open_archive
from suture.serve.performance import realized_performance

BINARY = Task("binary", "default", ("No", "Yes"))


def rows(
    ts: Sequence[float], outputs: Sequence[dict[str, Any]], outcomes: Sequence[Any]
) -> LabelledRows:
    return LabelledRows(
        [f"{i:032x}" for i in range(len(ts))],
        np.array(ts, dtype=np.float64),
        list(outputs),
        list(outcomes),
    )


def test_binary_windows_match_scikit_learn() -> None:
    rng = np.random.default_rng(3)
    n = 600
    ts = np.sort(rng.uniform(0, 3 * 3600, n))
    p = np.round(rng.uniform(0, 1, n), 2)  # rounded: many ties for the AUC
    y = (rng.uniform(0, 1, n) < p).astype(int)
    found = realized_performance(
        BINARY,
        rows(
            ts.tolist(),
            [{"prediction": "x", "probability": float(v)} for v in p],
            [("Yes" if v else "No") for v in y],
        ),
        window_seconds=3600,
    )
    assert [w["start"] for w in found["windows"]] == [0.0, 3600.0, 7200.0]
    assert found["windows"][1]["start_time"] == "1970-01-01T01:00:00.000000Z"
    assert found["skipped"] == 0
    for w in [*found["windows"], found["overall"]]:
        inside = (ts >= w.get("start", 0)) & (ts < w.get("end", math.inf))
        assert w["n"] == int(inside.sum())
        assert w["auc"] == pytest.approx(roc_auc_score(y[inside], p[inside]), abs=1e-12)
        assert w["accuracy"] == pytest.approx(accuracy_score(y[inside], p[inside] > 0.5), abs=1e-12)
        assert w["brier"] == pytest.approx(brier_score_loss(y[inside], p[inside]), abs=1e-12)
        assert 0.0 <= w["ece"] < 0.2


def test_regression_gives_rmse_and_mae() -> None:
    task = Task("regression", "price")
    truth = [1.0, 2.0, 4.0, 8.0]
    predicted = [1.5, 2.0, 3.0, 10.0]
    found = realized_performance(
        task, rows([0, 1, 2, 3], [{"prediction": v} for v in predicted], truth)
    )
    overall = found["overall"]
    assert overall == {
        "n": 4,
        "rmse": pytest.approx(math.sqrt(mean_squared_error(truth, predicted))),
        "mae": pytest.approx(mean_absolute_error(truth, predicted)),
    }


def test_multiclass_auc_is_macro_one_vs_rest() -> None:
    task = Task("multiclass", "species", ("a", "b", "c"))
    rng = np.random.default_rng(5)
    probs = rng.dirichlet([1, 1, 1], size=300)
    labels = np.array([rng.choice(3, p=q) for q in probs])
    outputs = [{f"probability_{c}": float(q[i]) for i, c in enumerate("abc")} for q in probs]
    found = realized_performance(task, rows(list(range(300)), outputs, ["abc"[k] for k in labels]))
    expected = roc_auc_score(labels, probs, multi_class="ovr", average="macro")
    assert found["overall"]["auc"] == pytest.approx(expected, abs=1e-12)
    assert found["overall"]["accuracy"] == pytest.approx(float(np.mean(probs.argmax(1) == labels)))


def test_unusable_rows_are_skipped_and_undefined_metrics_are_none() -> None:
    outputs: list[dict[str, Any]] = [
        {"probability": 0.9},
        {"probability": 0.2},
        {"prediction": "Yes"},
        {"probability": 0.4},
    ]
    found = realized_performance(BINARY, rows([0, 1, 2, 3], outputs, ["Yes", "Yes", "No", "maybe"]))
    assert found["skipped"] == 2
    assert found["overall"]["n"] == 2
    assert found["overall"]["auc"] is None  # only one class among the labelled rows
    assert found["overall"]["accuracy"] == 0.5
    empty = realized_performance(BINARY, rows([], [], []))
    assert empty == {"windows": [], "overall": {"n": 0}, "skipped": 0}
    with pytest.raises(ConfigError, match="positive number of seconds, got 0"):
        realized_performance(BINARY, rows([], [], []), window_seconds=0)


def test_outcomes_joined_in_the_archive_give_the_realized_auc(tmp_path: Path) -> None:
    now = time.time()
    p = [0.9, 0.8, 0.3, 0.1, 0.6]
    truth = ["Yes", "No", "Yes", "No", "Yes"]
    records = [
        PredictionRecord(
            f"{i:032x}",
            now + i,
            "v1",
            "w",
            f"c{i}",
            {},
            {},
            [],
            {"prediction": "Yes" if v > 0.5 else "No", "probability": v},
            [],
        )
        for i, v in enumerate(p)
    ]
    with open_archive(f"sqlite:///{tmp_path / 'a.db'}") as archive:
        archive.write_now(records)
        archive.add_outcomes([Outcome(value=t, key=f"c{i}") for i, t in enumerate(truth)])
        found = realized_performance(BINARY, archive.labelled(), window_seconds=86_400)
    y = [t == "Yes" for t in truth]
    assert found["overall"]["n"] == 5
    assert found["overall"]["auc"] == pytest.approx(roc_auc_score(y, p))
    assert sum(w["n"] for w in found["windows"]) == 5
