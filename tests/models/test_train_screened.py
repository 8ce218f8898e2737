"""Columns winnowing screens out as uninformative on their own, rechecked together by CV."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import suture
from suture.errors import SchemaError
from suture.train import SCREEN_JUDGE


def _suppressor(n: int = 3000, seed: int = 0) -> pa.Table:
    """``y`` depends on ``x - w``; ``w`` alone is independent of ``y``, with ``x`` decisive."""
    rng = np.random.default_rng(seed)
    t, w = rng.normal(size=n), 2.0 * rng.normal(size=n)
    y = rng.random(n) < 1.0 / (1.0 + np.exp(-3.0 * t))
    return pa.table({"x": t + w, "w": w, "y": np.where(y, "yes", "no")})


def test_screened_column_that_helps_with_the_others_is_kept() -> None:
    bundle = suture.train(_suppressor(), "y", positive="yes", seed=0)
    decision = next(d for d in bundle.decisions if d.column == "w")
    assert decision.reason == "no_information"
    assert decision.keep
    assert decision.message.startswith("kept: alone it looked uninformative")
    assert SCREEN_JUDGE in decision.message
    # with x - w known the classes separate far better than x alone can (AUC ~0.6)
    assert bundle.holdout.metrics["auc"].value > 0.85


def test_screened_column_stays_out_without_the_judge() -> None:
    bundle = suture.train(_suppressor(), "y", positive="yes", seed=0, candidates=["logistic"])
    decision = next(d for d in bundle.decisions if d.column == "w")
    assert decision.reason == "no_information"
    assert not decision.keep


def test_when_every_column_is_screened_out_training_still_stops_with_the_reasons() -> None:
    rng = np.random.default_rng(1)
    n = 2000
    table = pa.table(
        {"a": rng.normal(size=n), "b": rng.normal(size=n), "y": rng.choice(["no", "yes"], n)}
    )
    with pytest.raises(SchemaError, match="no column is left to train on after winnowing"):
        suture.train(table, "y", positive="yes", seed=0)
