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


def test_alphas_leave_one_out_matches_refitting_without_each_row() -> None:
    """The approximate leave-one-out log loss that chooses the penalty, against the exact
    one (a refit without each row) on 1,000 rows of Default (36 defaults): within 0.5%
    (on 300 rows, with 2 defaults, the one-step approximation is 9% low)."""
    from suture.models.linear import _augmented, _loo_log_loss, _newton_binary, _penalty

    x, y, _, _, _ = default()
    x, y = x[:1000], y[:1000]
    a, w = _augmented(x), np.ones(1000)
    penalty = _penalty(a.shape[1], 0.3, intercept=True)

    def fit(rows: np.ndarray) -> np.ndarray:
        return _newton_binary(a[rows], y[rows], w[rows], penalty, max_iter=100, tol=1e-12)[0]

    beta = fit(np.arange(1000))
    exact = []
    for i in range(1000):
        eta = float(a[i] @ fit(np.delete(np.arange(1000), i)))
        exact.append(np.logaddexp(0.0, eta) - y[i] * eta)
    approximate = _loo_log_loss(a, y, w, penalty, beta)
    assert approximate == pytest.approx(float(np.mean(exact)), rel=0.005)


def test_alphas_keep_the_lowest_leave_one_out_loss() -> None:
    x, y, xt, _, design = default()
    grid = [100.0, 0.1, 1.0, 10.0]  # a list: as the JSON image gives it back
    model = Logistic(alphas=grid).fit(x, y, design=design)
    assert set(model.loo_log_loss_) == set(grid)
    assert model.alpha_ == min(model.loo_log_loss_, key=model.loo_log_loss_.__getitem__)
    fixed = Logistic(alpha=model.alpha_).fit(x, y, design=design)
    _close(model.coef_[:, 0], fixed.coef_[:, 0])  # the same fit as that penalty alone
    check_paths(model, xt)
    multiclass = iris()
    chosen = Logistic(alpha=1.0, alphas=grid).fit(
        multiclass[0], multiclass[1], design=multiclass[4]
    )
    assert chosen.alpha_ == 1.0  # a multiclass fit keeps alpha
    with pytest.raises(ConfigError, match="Logistic: alphas must be a list of numbers"):
        Logistic(alphas="1").fit(x, y, design=design)
    with pytest.raises(ConfigError, match="Logistic: alphas must be a finite number"):
        Logistic(alphas=(1.0, -1.0)).fit(x, y, design=design)


@pytest.mark.parametrize("rows", [1, 2, 7, 100, 256, 257, 1000])
@pytest.mark.parametrize("kind", ["logistic", "ridge"])
def test_scores_of_a_few_rows_equal_the_column_loop_bit_for_bit(kind: str, rows: int) -> None:
    """The service scores requests of a few rows by accumulating one product matrix; the
    scores must be the column loop's to the last bit (batch and HTTP scoring agree)."""
    x, y, xt, _, design = default() if kind == "logistic" else diamonds()
    model = (Logistic(alpha=0.5) if kind == "logistic" else Ridge()).fit(x, y, design=design)
    assert len(model._used) >= (3 if kind == "logistic" else 20)
    rng = np.random.default_rng(rows)
    xs = xt[rng.integers(0, len(xt), rows)] * rng.integers(0, 2, (rows, xt.shape[1]))
    loop = np.full(rows, model._b0)
    for j in model._used:
        loop += xs[:, j] * model._c[j]
    got = model.decision_function(xs)
    assert np.array_equal(got.view(np.int64), loop.view(np.int64))
