"""Ridge and Logistic on a feature matrix: scikit-learn's objectives, met to 1e-6."""

from __future__ import annotations

import numpy as np
import pytest

from suture.errors import ConfigError
from suture.models import Logistic, Ridge
from tests.models.test_baseline import auc, check_paths, check_refusals, default, diamonds, iris

sklearn_linear = pytest.importorskip("sklearn.linear_model")


def _close(got: np.ndarray, want: np.ndarray, rtol: float = 1e-6) -> None:
    """Agree to ``rtol`` relative to the largest coefficient."""
    error = float(np.max(np.abs(np.asarray(got) - np.asarray(want))))
    assert error <= rtol * float(np.max(np.abs(want))), f"error {error:g}"


@pytest.mark.parametrize("weighted", [False, True])
def test_ridge_equals_scikit_learn_on_diamonds(weighted: bool) -> None:
    x, y, xt, yt, design = diamonds()
    w = np.linspace(0.5, 2.0, len(y)) if weighted else None
    model = Ridge(alpha=3.0).fit(x, y, design=design, sample_weight=w)
    peer = sklearn_linear.Ridge(alpha=3.0, solver="cholesky").fit(x, y, sample_weight=w)
    _close(model.coef_[:, 0], peer.coef_)
    assert model.intercept_[0] == pytest.approx(peer.intercept_, rel=1e-6)
    rmse = float(np.sqrt(np.mean((model.decision_function(xt) - yt) ** 2)))
    assert rmse < 0.5 * float(np.std(yt))  # far better than the mean
    check_paths(model, xt)
    check_refusals(model, x, y, design)
    described = model.describe()
    assert [c["feature"] for c in described["coefficients"]] == list(design.features)


def test_ridge_fits_regression_only() -> None:
    x, y, _, _, design = default()
    with pytest.raises(ConfigError, match="Ridge fits regression tasks, not binary"):
        Ridge().fit(x, y, design=design)
    with pytest.raises(
        ConfigError, match="Ridge: alpha must be a finite number at least 0, got -1"
    ):
        Ridge(alpha=-1).fit(x, y, design=design)


@pytest.mark.parametrize("weighted", [False, True])
def test_binary_logistic_equals_scikit_learn_on_default(weighted: bool) -> None:
    x, y, xt, yt, design = default()
    w = np.where(y == 1, 2.0, 1.0) if weighted else None
    model = Logistic(alpha=0.5).fit(x, y, design=design, sample_weight=w)
    peer = sklearn_linear.LogisticRegression(
        C=2.0, solver="newton-cholesky", tol=1e-12, max_iter=500
    )
    peer.fit(x, y, sample_weight=w)
    _close(model.coef_[:, 0], peer.coef_[0])
    assert model.intercept_[0] == pytest.approx(peer.intercept_[0], rel=1e-6)
    assert model.converged_
    assert auc(yt, model.decision_function(xt)) > 0.9  # the baseline's is 0.5
    check_paths(model, xt)


def test_multiclass_logistic_equals_scikit_learn_on_iris() -> None:
    x, y, xt, yt, design = iris()
    model = Logistic(alpha=1.0).fit(x, y, design=design)
    peer = sklearn_linear.LogisticRegression(
        C=1.0, solver="newton-cholesky", tol=1e-12, max_iter=500
    )
    peer.fit(x, y)
    _close(model.coef_, peer.coef_.T)
    _close(model.intercept_, peer.intercept_ - peer.intercept_.mean())
    assert model.decision_function(xt).shape == (len(yt), 3)
    accuracy = float(np.mean(model.decision_function(xt).argmax(axis=1) == yt))
    assert accuracy > 0.85  # the baseline's is about a third
    check_paths(model, xt)
    check_refusals(model, x, y, design)
    assert set(model.describe()["intercept"]) == set(design.task.classes)


def test_logistic_refusals() -> None:
    x, y, _, _, design = default()
    for params, message in [
        ({"alpha": float("nan")}, "Logistic: alpha must be a finite number at least 0, got nan"),
        ({"max_iter": 0}, "Logistic: max_iter must be a whole number of at least 1, got 0"),
        ({"tol": 0.0}, "Logistic: tol must be a finite number greater than 0, got 0.0"),
    ]:
        with pytest.raises(ConfigError, match=message):
            Logistic(**params).fit(x, y, design=design)
    _, yr, _, _, regression = diamonds()
    with pytest.raises(ConfigError, match="Logistic fits binary, multiclass tasks, not regression"):
        Logistic().fit(np.zeros((len(yr), regression.n_features)), yr, design=regression)


def test_separable_classes_stay_finite() -> None:
    """Step halving keeps a separable fit finite (the penalty bounds it)."""
    x, y, _, _, design = default()
    clean = x.copy()
    clean[:, -1] = y  # a copy of the target as a feature
    model = Logistic(alpha=1e-3).fit(clean, y, design=design)
    assert np.isfinite(model.coef_).all()
    assert auc(y, model.decision_function(clean)) == 1.0
