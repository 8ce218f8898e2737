"""Naive Bayes from mergeable per-class sums: scikit-learn's CategoricalNB and GaussianNB."""

from __future__ import annotations

import numpy as np
import pytest

from suture.errors import ConfigError
from suture.models import Baseline, Design, NaiveBayes, NaiveBayesStats
from tests.models.test_baseline import auc, check_paths, check_refusals, default, iris, real

naive_bayes = pytest.importorskip("sklearn.naive_bayes")


def churn(style: str = "binned") -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, Design]:
    return real("modeldata", "mlc_churn", "churn", "binary", style)


def _without(column: str, data: tuple) -> tuple:  # type: ignore[type-arg]
    x, y, xt, yt, design = data
    keep = [j for j, c in enumerate(design.columns) if c != column]
    sub = Design(
        design.task,
        tuple(design.features[j] for j in keep),
        tuple(design.columns[j] for j in keep),
    )
    return x[:, keep], y, xt[:, keep], yt, sub


def test_binned_design_is_categorical_naive_bayes() -> None:
    """Every block one-hot: equal to CategoricalNB on the bin codes (Laplace, 1e-9)."""
    x, y, xt, yt, design = _without("state", churn())
    blocks = list(design.blocks().values())
    model = NaiveBayes(smoothing=1.0).fit(x, y, design=design)
    codes = np.column_stack([np.argmax(x[:, b], axis=1) for b in blocks])
    codes_t = np.column_stack([np.argmax(xt[:, b], axis=1) for b in blocks])
    assert (
        x[:, [j for b in blocks for j in b]].reshape(len(x), -1).sum(axis=1) == len(blocks)
    ).all()
    peer = naive_bayes.CategoricalNB(alpha=1.0, min_categories=[len(b) for b in blocks])
    peer.fit(codes, y)
    joint = peer.predict_joint_log_proba(codes_t)
    np.testing.assert_allclose(model.decision_function(xt), joint[:, 1] - joint[:, 0], atol=1e-9)
    assert auc(yt, model.decision_function(xt)) > 0.8  # the baseline's is 0.5
    check_paths(model, xt)
    check_refusals(model, x, y, design)


def test_numeric_design_is_gaussian_naive_bayes() -> None:
    x, y, xt, yt, design = iris()
    model = NaiveBayes().fit(x, y, design=design)
    peer = naive_bayes.GaussianNB(var_smoothing=1e-9).fit(x, y)
    np.testing.assert_allclose(
        model.decision_function(xt), peer.predict_joint_log_proba(xt), atol=1e-9
    )
    assert float(np.mean(model.decision_function(xt).argmax(axis=1) == yt)) > 0.85
    check_paths(model, xt)


def test_signed_hashing_features_count_their_three_values() -> None:
    """Regression: signed hash buckets (-1, 0, 1) read as Gaussian had near-zero variances
    per class and swamped every other column (holdout AUC 0.73 on churn against 0.85
    without the hashed column)."""
    data = churn()
    x, y, xt, yt, design = data
    assert ((x == -1.0).any(axis=0)).any()
    with_state = auc(yt, NaiveBayes().fit(x, y, design=design).decision_function(xt))
    xs, ys, xts, yts, sub = _without("state", data)
    without = auc(yts, NaiveBayes().fit(xs, ys, design=sub).decision_function(xts))
    assert with_state > without - 0.02
    model = NaiveBayes().fit(x, y, design=design)
    check_paths(model, xt)


def test_discrete_terms_give_each_values_log_probability() -> None:
    """A {-1, 0, 1} feature's term is log P(value | class) for each of the three values."""
    x = np.array([[-1.0], [0.0], [1.0], [1.0], [0.0], [1.0]])
    y = np.array([0.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    from suture.models import Task

    design = Design(Task("binary", "t", ("a", "b")), ("h",), ("h",))
    model = NaiveBayes(smoothing=1.0).fit(x, y, design=design)
    # class a: one each of -1, 0, 1; class b: 0 once, 1 twice; smoothing 1 over 3 values.
    p_a = np.array([2, 2, 2]) / 6
    p_b = np.array([1, 2, 3]) / 6
    terms, base = model.contributions(np.array([[-1.0], [0.0], [1.0]]))
    np.testing.assert_allclose(terms[:, 0], np.log(p_b / p_a), rtol=1e-12)
    assert base[0] == 0.0


def test_statistics_merge_in_any_order() -> None:
    x, y, xt, _, design = default()
    k = len(design.task.classes)
    parts = np.array_split(np.arange(len(y)), [1000, 4000])
    a, b, c = (NaiveBayesStats.of(x[i], y[i], k) for i in parts)
    whole = NaiveBayesStats.of(x, y, k)
    zero = NaiveBayesStats.zero(k, design.n_features)
    for merged in (a.merge(b).merge(c), c.merge(a.merge(b)), zero.merge(b).merge(c).merge(a)):
        np.testing.assert_allclose(merged.sums, whole.sums, rtol=1e-12)
        np.testing.assert_allclose(merged.squares, whole.squares, rtol=1e-12)
        assert np.array_equal(merged.weights, whole.weights)
        assert np.array_equal(merged.binary, whole.binary)
        assert np.array_equal(merged.signed, whole.signed)
        fitted = NaiveBayes().fit_stats(merged, design=design)
        np.testing.assert_allclose(
            fitted.decision_function(xt),
            NaiveBayes().fit(x, y, design=design).decision_function(xt),
            rtol=1e-9,
            atol=1e-9,
        )
    with pytest.raises(ConfigError, match=r"cannot merge naive Bayes statistics of shape \(2, 5\)"):
        a.merge(NaiveBayesStats.zero(3, 5))


def test_weights_count_as_rows() -> None:
    x, y, xt, _, design = default()
    twice = NaiveBayes().fit(np.vstack([x, x[:100]]), np.concatenate([y, y[:100]]), design=design)
    w = np.ones(len(y))
    w[:100] = 2.0
    weighted = NaiveBayes().fit(x, y, design=design, sample_weight=w)
    np.testing.assert_allclose(
        weighted.decision_function(xt), twice.decision_function(xt), rtol=1e-9
    )


def test_naive_bayes_beats_the_baseline_on_default() -> None:
    x, y, xt, yt, design = default("binned")
    model = NaiveBayes().fit(x, y, design=design)
    base = Baseline().fit(x, y, design=design)
    assert auc(yt, model.decision_function(xt)) > auc(yt, base.decision_function(xt)) + 0.3
    described = model.describe()
    assert set(described["class_weights"]) == {"No", "Yes"}


def test_naive_bayes_refusals() -> None:
    x, y, _, _, design = default()
    with pytest.raises(
        ConfigError, match="NaiveBayes: smoothing must be a finite number greater than 0, got 0"
    ):
        NaiveBayes(smoothing=0).fit(x, y, design=design)
    with pytest.raises(ConfigError, match="var_smoothing must be a finite number at least 0"):
        NaiveBayes(var_smoothing=-1.0).fit(x, y, design=design)
    from suture.models import Task

    regression = Design(Task("regression", "y"), design.features, design.columns)
    with pytest.raises(
        ConfigError, match="NaiveBayes fits binary, multiclass tasks, not regression"
    ):
        NaiveBayes().fit(x, y, design=regression)
    with pytest.raises(
        ConfigError, match=r"statistics of shape \(2, 5\) do not fit a design of 3 classes"
    ):
        three = Design(Task("multiclass", "y", ("a", "b", "c")), design.features, design.columns)
        NaiveBayes().fit_stats(NaiveBayesStats.of(x, y, 2), design=three)
