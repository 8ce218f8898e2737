"""Streaming training on Spark (local mode) equals the local engine's streaming fit."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import suture
from suture.engines import LocalEngine, resolve_engine
from suture.features import FeaturePipeline
from suture.models.streaming import (
    STREAMING_CANDIDATES,
    HashSplit,
    evaluate_streaming,
    fit_streaming,
)
from suture.models.task import infer_task

pytestmark = pytest.mark.spark

COLUMNS = ["a", "b", "cat"]


def _table(n: int, seed: int, *, regression: bool) -> pa.Table:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    cat = rng.choice(["red", "green", "blue"], n)
    signal = x @ np.array([1.0, -0.5]) + (cat == "red") * 0.7
    target: Any = (
        signal + rng.normal(size=n) if regression else rng.random(n) < 1 / (1 + np.exp(-signal))
    )
    return pa.table({"a": x[:, 0], "b": x[:, 1], "cat": cat, "y": target})


def _coefficients(model: Any) -> np.ndarray:
    return np.concatenate([np.ravel(model.intercept_), np.ravel(model.coef_)])


@pytest.mark.parametrize("regression", [False, True])
def test_the_spark_streaming_fit_equals_the_local_one(spark: Any, regression: bool) -> None:
    table = _table(6000, 2, regression=regression)
    profile = suture.profile(table)
    task = infer_task(profile["y"])
    styles = ("linear",) if regression else ("linear", "binned")
    pipes = {s: FeaturePipeline(style=s).fit(profile, COLUMNS) for s in styles}
    split = HashSplit(("a", "b", "cat", "y"), seed=1)
    frame = spark.createDataFrame(table).repartition(3)
    engine = resolve_engine("spark", frame)
    assert engine.name == "spark"
    remote = fit_streaming(engine, frame, task, pipes, split)
    local = fit_streaming(LocalEngine(), table, task, pipes, split)
    assert list(remote) == list(local)
    fitted = "linear" if regression else "logistic"
    want = _coefficients(local[fitted])
    np.testing.assert_allclose(_coefficients(remote[fitted]), want, rtol=1e-6, atol=1e-9)
    if not regression:
        assert remote["logistic"].n_iter_ == local["logistic"].n_iter_  # type: ignore[attr-defined]
    chosen = {n: pipes[STREAMING_CANDIDATES[n]] for n in local}
    on_spark = evaluate_streaming(engine, frame, remote, chosen, split)
    at_home = evaluate_streaming(LocalEngine(), table, local, chosen, split)
    for name in local:
        assert on_spark[name].n == at_home[name].n
        for key, metric in at_home[name].metrics.items():
            assert on_spark[name].metrics[key].value == pytest.approx(metric.value, rel=1e-6)


def test_train_on_spark_streams_and_equals_the_local_streaming_run(spark: Any) -> None:
    # Few enough rows that every quantile sketch still holds all its values: the profile,
    # hence the pipeline, is then the same on both engines (a larger table's pipelines
    # differ within the sketches' rank error, and so do the coefficients).
    table = _table(900, 3, regression=False)
    names = ["baseline", "naive_bayes", "logistic", "tree"]
    local = suture.train(table, "y", candidates=names, streaming=True)
    frame = spark.createDataFrame(table).repartition(4)
    remote = suture.train(frame, "y", candidates=names)
    assert remote.lineage["parameters"]["engine"] == "spark"
    assert remote.lineage["rows"] == local.lineage["rows"]
    assert remote.lineage["data_fingerprint"] == local.lineage["data_fingerprint"]
    assert remote.pipeline.to_dict() == local.pipeline.to_dict()  # type: ignore[union-attr]
    assert remote.winner == local.winner
    assert "not fitted: tree" in " ".join(remote.warnings)
    np.testing.assert_allclose(
        remote.model.decision_function(np.eye(local.pipeline.n_features_)),  # type: ignore[union-attr]
        local.model.decision_function(np.eye(local.pipeline.n_features_)),  # type: ignore[union-attr]
        rtol=1e-6,
        atol=1e-9,
    )
