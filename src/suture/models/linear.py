"""Linear and logistic regression fitted from aggregators, never from collected rows.

Least squares needs only the Gram matrix: :class:`GramAggregator` folds ``n``,
``X'WX``, ``X'Wy`` and ``y'Wy`` (with an intercept column) in one pass, and
:class:`LinearRegression` solves the ridge normal equations from them.  Logistic
regression is fitted by Newton's method (IRLS): every iteration is one pass of
:class:`NewtonStep`, which folds the Hessian ``X'WX``, the gradient ``X'(y - p)`` and the
log-likelihood at the current coefficients.  Both states are sums, so any engine (local,
Spark, the shuffling test engine) gives the same fit up to floating rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from suture._arrow import numpy_values
from suture._codec import Field
from suture.aggregate import Framed
from suture.engines import Engine, resolve_engine
from suture.errors import (
    ConfigError,
    EmptyInputError,
    NotFittedError,
    SchemaError,
    UnsupportedTypeError,
)

__all__ = [
    "GramAggregator",
    "GramState",
    "LinearRegression",
    "LogisticRegression",
    "NewtonState",
    "NewtonStep",
]

Matrix = npt.NDArray[np.float64]


# -- reading a batch -------------------------------------------------------------------


def _column(batch: pa.RecordBatch, name: str) -> pa.Array:
    try:
        return batch.column(name)
    except KeyError:
        raise SchemaError(
            f"column {name!r} is missing from the batch (it has "
            f"{', '.join(batch.schema.names) or 'no columns'}); fit on data that has it"
        ) from None


def _numbers(batch: pa.RecordBatch, name: str) -> Matrix:
    """Column ``name`` as float64, NaN for nulls; booleans as 0/1."""
    array = _column(batch, name)
    t = array.type
    if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)):
        raise UnsupportedTypeError(
            f"column {name!r} of type {t} cannot enter a linear model: it must be a number "
            "or a boolean; encode it first (a FeaturePipeline does)"
        )
    values = np.asarray(numpy_values(array), dtype=np.float64)
    if pa.types.is_boolean(t) and array.null_count:
        values = values.copy()
        values[np.asarray(numpy_values(pc.is_null(array)), dtype=bool)] = np.nan
    return values


def _design(
    batch: pa.RecordBatch, features: Sequence[str], others: Sequence[str]
) -> tuple[Matrix, Matrix, npt.NDArray[np.bool_]]:
    """``X`` with a leading column of ones, the other columns, and the usable rows."""
    rows = batch.num_rows
    x = np.empty((rows, len(features) + 1), dtype=np.float64)
    x[:, 0] = 1.0
    for j, name in enumerate(features, start=1):
        x[:, j] = _numbers(batch, name)
    extra = np.empty((rows, len(others)), dtype=np.float64)
    for j, name in enumerate(others):
        extra[:, j] = _numbers(batch, name)
    keep = np.asarray(np.isfinite(x).all(axis=1) & np.isfinite(extra).all(axis=1), dtype=bool)
    return x[keep], extra[keep], keep


def _check_columns(features: Sequence[str], target: str, weight: str | None) -> list[str]:
    if isinstance(features, str) or not all(isinstance(f, str) for f in features):
        raise ConfigError(f"features must be a list of column names, got {features!r}")
    if not features:
        raise ConfigError("features is empty: name at least one feature column")
    if len(set(features)) != len(features):
        raise ConfigError(f"features lists a column twice: {list(features)!r}")
    if target in features:
        raise ConfigError(f"target {target!r} is also listed as a feature; drop it from features")
    if weight is not None and (weight in features or weight == target):
        raise ConfigError(f"weight {weight!r} is also the target or a feature; pick another")
    return list(features)


def _weights(extra: Matrix, column: int | None, name: str | None) -> Matrix | None:
    if column is None:
        return None
    w = extra[:, column]
    if (w < 0).any():
        raise SchemaError(
            f"weight column {name!r} has a negative value ({float(w.min())!r}); weights "
            "must be at least 0"
        )
    return w


# -- the Gram matrix -------------------------------------------------------------------


@dataclass
class GramState:
    """Sufficient statistics of least squares (``x[0]`` is the intercept's column of 1).

    Attributes
    ----------
    n : int
        Rows folded in.
    skipped : int
        Rows left out for a null, NaN or infinite value in a used column.
    xtx : ndarray of shape (p + 1, p + 1)
        ``X'WX``; ``xtx[0, 0]`` is the sum of the weights.
    xty : ndarray of shape (p + 1,)
        ``X'Wy``.
    yty : float
        ``y'Wy``.
    """

    n: int
    skipped: int
    xtx: Matrix
    xty: Matrix
    yty: float


class GramAggregator(Framed[GramState]):
    """Fold ``X'WX``, ``X'Wy`` and ``y'Wy`` of a least-squares problem, vectorized.

    Parameters
    ----------
    features : list of str
        Numeric or boolean columns; ``X`` is these with a leading column of ones.
    target : str
        The numeric response ``y``.
    weight : str, optional
        A column of non-negative row weights ``W`` (default: every row weighs 1).

    Notes
    -----
    A row with a null, NaN or infinite value in any used column (features, target,
    weight) is skipped and counted in ``skipped``.  ``merge`` adds the statistics, so the
    laws hold up to floating rounding and merge is commutative.  ``finalize`` returns the
    state itself; ``finalize(zero())`` has ``n == 0`` and zero matrices.

    Examples
    --------
    >>> import pyarrow as pa
    >>> agg = GramAggregator(["x"], "y")
    >>> state = agg.update(agg.zero(), pa.record_batch({"x": [1.0, 2.0, None], "y": [2, 4, 6]}))
    >>> state.n, state.skipped, state.xty.tolist()
    (2, 1, [6.0, 10.0])
    """

    kind = "gram"

    def __init__(self, features: list[str], target: str, *, weight: str | None = None) -> None:
        self.features = _check_columns(features, target, weight)
        self.target = target
        self.weight = weight

    def config(self) -> str:
        return f"gram(features={self.features!r},target={self.target!r},weight={self.weight!r})"

    def zero(self) -> GramState:
        p = len(self.features) + 1
        return GramState(0, 0, np.zeros((p, p)), np.zeros(p), 0.0)

    def update(self, state: GramState, batch: pa.RecordBatch) -> GramState:
        others = [self.target] + ([self.weight] if self.weight is not None else [])
        x, extra, keep = _design(batch, self.features, others)
        y = extra[:, 0]
        w = _weights(extra, 1 if self.weight is not None else None, self.weight)
        xw = x if w is None else x * w[:, None]
        state.xtx += xw.T @ x
        state.xty += xw.T @ y
        state.yty += float(y @ (y if w is None else w * y))
        state.n += int(keep.sum())
        state.skipped += int(keep.size - keep.sum())
        return state

    def merge(self, a: GramState, b: GramState) -> GramState:
        a.xtx += b.xtx
        a.xty += b.xty
        a.yty += b.yty
        a.n += b.n
        a.skipped += b.skipped
        return a

    def finalize(self, state: GramState) -> GramState:
        return state

    def _fields(self, state: GramState) -> dict[str, Field]:
        return {
            "n": state.n,
            "skipped": state.skipped,
            "xtx": state.xtx.copy(),
            "xty": state.xty.copy(),
            "yty": state.yty,
        }

    def _from_fields(self, fields: dict[str, Any]) -> GramState:
        p = len(self.features) + 1
        return GramState(
            int(fields["n"]),
            int(fields["skipped"]),
            np.array(fields["xtx"], dtype=np.float64).reshape(p, p),
            np.array(fields["xty"], dtype=np.float64).reshape(p),
            float(fields["yty"]),
        )


# -- one Newton step of logistic regression --------------------------------------------


@dataclass
class NewtonState:
    """Sums of one Newton (IRLS) step of logistic regression at fixed coefficients.

    Attributes
    ----------
    n, skipped : int
        Rows folded in, and rows left out for a null, NaN or infinite value.
    hessian : ndarray of shape (p + 1, p + 1)
        ``X'WX`` with ``W = diag(p (1 - p))``.
    gradient : ndarray of shape (p + 1,)
        ``X'(y - p)``, the gradient of the log-likelihood.
    loglik : float
        The log-likelihood at the coefficients.
    """

    n: int
    skipped: int
    hessian: Matrix
    gradient: Matrix
    loglik: float


def _binary(values: Matrix, target: str, array: pa.Array) -> None:
    """Refuse a target that is not boolean or 0/1."""
    if pa.types.is_boolean(array.type):
        return
    seen = values[np.isfinite(values)]
    bad = seen[(seen != 0.0) & (seen != 1.0)]
    if bad.size:
        shown = ", ".join(f"{v:g}" for v in np.unique(bad)[:5].tolist())
        raise SchemaError(
            f"target column {target!r} of a logistic regression must be boolean or 0/1, "
            f"got {shown}; recode it as 0/1 or booleans"
        )


class NewtonStep(Framed[NewtonState]):
    """Fold the Hessian, gradient and log-likelihood of logistic regression at ``beta``.

    Parameters
    ----------
    features : list of str
        Numeric or boolean columns; ``X`` is these with a leading column of ones.
    target : str
        A boolean column, or numbers that are all 0 or 1.
    beta : sequence of float
        The current coefficients, intercept first (``len(features) + 1`` values).

    Raises
    ------
    SchemaError
        From :meth:`update`, for a target other than boolean or 0/1; the message names
        the column and the values seen.

    Notes
    -----
    A row with a null, NaN or infinite value in a used column is skipped and counted.
    The log-likelihood is computed as ``y * eta - log(1 + exp(eta))`` with
    ``numpy.logaddexp``, so it stays finite for any ``eta``.  ``merge`` adds; the laws
    hold up to floating rounding.  ``finalize`` returns the state;
    ``finalize(zero())`` has ``n == 0`` and zero sums.
    """

    kind = "newton_step"

    def __init__(self, features: list[str], target: str, beta: Sequence[float] | Matrix) -> None:
        self.features = _check_columns(features, target, None)
        self.target = target
        self.beta = np.array(beta, dtype=np.float64).reshape(-1)
        if self.beta.size != len(self.features) + 1:
            raise ConfigError(
                f"beta has length {self.beta.size}; {len(self.features) + 1} values were "
                "expected (the intercept, then one per feature)"
            )

    def config(self) -> str:
        beta = ",".join(repr(float(b)) for b in self.beta.tolist())
        return f"newton_step(features={self.features!r},target={self.target!r},beta=[{beta}])"

    def zero(self) -> NewtonState:
        p = len(self.features) + 1
        return NewtonState(0, 0, np.zeros((p, p)), np.zeros(p), 0.0)

    def update(self, state: NewtonState, batch: pa.RecordBatch) -> NewtonState:
        array = _column(batch, self.target)
        if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
            levels = pc.unique(array.drop_null()).to_pylist()[:5]
            raise SchemaError(
                f"target column {self.target!r} of a logistic regression must be boolean "
                f"or 0/1, got strings {', '.join(map(repr, sorted(levels)))}; recode it as "
                "0/1 or booleans"
            )
        x, extra, keep = _design(batch, self.features, [self.target])
        y = extra[:, 0]
        _binary(y, self.target, array)
        eta = x @ self.beta
        prob = np.exp(-np.logaddexp(0.0, -eta))
        weight = prob * (1.0 - prob)
        state.hessian += (x * weight[:, None]).T @ x
        state.gradient += x.T @ (y - prob)
        state.loglik += float(np.sum(y * eta - np.logaddexp(0.0, eta)))
        state.n += int(keep.sum())
        state.skipped += int(keep.size - keep.sum())
        return state

    def merge(self, a: NewtonState, b: NewtonState) -> NewtonState:
        a.hessian += b.hessian
        a.gradient += b.gradient
        a.loglik += b.loglik
        a.n += b.n
        a.skipped += b.skipped
        return a

    def finalize(self, state: NewtonState) -> NewtonState:
        return state

    def _fields(self, state: NewtonState) -> dict[str, Field]:
        return {
            "n": state.n,
            "skipped": state.skipped,
            "hessian": state.hessian.copy(),
            "gradient": state.gradient.copy(),
            "loglik": state.loglik,
        }

    def _from_fields(self, fields: dict[str, Any]) -> NewtonState:
        p = len(self.features) + 1
        return NewtonState(
            int(fields["n"]),
            int(fields["skipped"]),
            np.array(fields["hessian"], dtype=np.float64).reshape(p, p),
            np.array(fields["gradient"], dtype=np.float64).reshape(p),
            float(fields["loglik"]),
        )


# -- estimators ------------------------------------------------------------------------


def _check_number(owner: str, name: str, value: object, *, low: float, strict: bool) -> None:
    ok = (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and np.isfinite(value)
        and (value > low if strict else value >= low)
    )
    if not ok:
        bound = f"greater than {low:g}" if strict else f"at least {low:g}"
        raise ConfigError(f"{owner}: {name} must be a finite number {bound}, got {value!r}")


def _check_whole(owner: str, name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{owner}: {name} must be a whole number of at least 1, got {value!r}")


def _solve(a: Matrix, b: Matrix) -> Matrix:
    """``a^-1 b``, or the least-norm solution when ``a`` is singular."""
    try:
        return np.asarray(np.linalg.solve(a, b), dtype=np.float64)
    except np.linalg.LinAlgError:
        return np.asarray(np.linalg.lstsq(a, b, rcond=None)[0], dtype=np.float64)


def _penalty(p: int, alpha: float, *, intercept: bool) -> Matrix:
    """``alpha`` on the diagonal of the coefficients, 0 for the intercept."""
    diagonal = np.full(p, alpha)
    if intercept:
        diagonal[0] = 0.0
    return np.diag(diagonal)


def _rows(owner: str, n: int, skipped: int) -> None:
    if n == 0:
        raise EmptyInputError(
            f"{owner}: no usable rows to fit on ({skipped:,} skipped for a null, NaN or "
            "infinite value); fit on data with complete rows"
        )


def _matrix(x: npt.ArrayLike, p: int, owner: str) -> Matrix:
    values = np.asarray(x, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != p:
        raise ConfigError(
            f"{owner}: X must have shape (rows, {p}) for the {p} features, got {values.shape}"
        )
    return values


class LinearRegression:
    """Least squares with an L2 (ridge) penalty, fitted from the Gram matrix.

    Minimizes ``||y - b0 - X b||^2 + alpha ||b||^2``; the intercept ``b0`` is not
    penalized.

    Parameters
    ----------
    alpha : float, default 1.0
        The ridge penalty, at least 0 (0 is ordinary least squares).
    fit_intercept : bool, default True
        Whether to fit ``b0`` (else it is 0).

    Attributes
    ----------
    coef_ : ndarray of shape (p,)
    intercept_ : float
    n_samples_ : int
        Rows fitted on.
    n_skipped_ : int
        Rows left out for a null, NaN or infinite value in a used column.
    features_ : list of str

    Notes
    -----
    One pass of :class:`GramAggregator` on the chosen engine; no row is collected.  The
    penalty acts on the features' own scale, so standardize them first (a
    ``FeaturePipeline`` does).  A singular system (``alpha=0`` with collinear features)
    gets the least-norm solution.
    """

    def __init__(self, *, alpha: float = 1.0, fit_intercept: bool = True) -> None:
        self.alpha = alpha
        self.fit_intercept = fit_intercept

    def _check_params(self) -> None:
        _check_number("LinearRegression", "alpha", self.alpha, low=0.0, strict=False)
        if not isinstance(self.fit_intercept, bool):
            raise ConfigError(
                f"LinearRegression: fit_intercept must be True or False, got {self.fit_intercept!r}"
            )

    def fit(
        self,
        source: Any,
        features: list[str],
        target: str,
        *,
        weight: str | None = None,
        engine: str | Engine | None = None,
    ) -> LinearRegression:
        """Fit on ``source`` (anything an engine reads) in one aggregator pass.

        Raises
        ------
        ConfigError
            For a bad parameter or column list.
        EmptyInputError
            When no row is usable.
        """
        self._check_params()
        aggregator = GramAggregator(features, target, weight=weight)
        columns = [*aggregator.features, target, *([weight] if weight else [])]
        state = resolve_engine(engine, source).aggregate(source, aggregator, columns=columns)
        return self.fit_gram(state, aggregator.features)

    def fit_gram(self, state: GramState, features: list[str]) -> LinearRegression:
        """Fit from a :class:`GramState` already aggregated (for instance merged)."""
        self._check_params()
        _rows("LinearRegression", state.n, state.skipped)
        p = state.xty.size
        a = state.xtx + _penalty(p, float(self.alpha), intercept=True)
        if self.fit_intercept:
            beta = _solve(a, state.xty)
        else:
            beta = np.concatenate([[0.0], _solve(a[1:, 1:], state.xty[1:])])
        self.intercept_ = float(beta[0])
        self.coef_ = beta[1:].copy()
        self.n_samples_ = state.n
        self.n_skipped_ = state.skipped
        self.features_ = list(features)
        return self

    def predict(self, X: npt.ArrayLike) -> Matrix:
        """``intercept_ + X @ coef_`` for a matrix whose columns are ``features_``."""
        if not hasattr(self, "coef_"):
            raise NotFittedError("this LinearRegression is not fitted yet; call fit first")
        return self.intercept_ + _matrix(X, self.coef_.size, "LinearRegression") @ self.coef_


class LogisticRegression:
    """Binary logistic regression with an L2 penalty, fitted by Newton's method (IRLS).

    Maximizes ``loglik(b0, b) - alpha / 2 * ||b||^2``; the intercept ``b0`` is not
    penalized.  ``alpha`` is ``1 / C`` of scikit-learn's ``LogisticRegression``.

    Parameters
    ----------
    alpha : float, default 1.0
        The L2 penalty, at least 0.
    max_iter : int, default 50
        At most this many Newton steps (aggregator passes).
    tol : float, default 1e-10
        Converged when the largest absolute change of a coefficient is below this.

    Attributes
    ----------
    coef_ : ndarray of shape (p,)
    intercept_ : float
    n_iter_ : int
        Newton steps taken, one aggregator pass each.
    converged_ : bool
        Whether the last step was below ``tol`` (no warning is raised either way).
    n_samples_, n_skipped_ : int
        Rows fitted on, and rows left out for a null, NaN or infinite value.
    log_likelihood_ : float
        The log-likelihood at the coefficients of the last pass (before its step).
    features_ : list of str

    Notes
    -----
    Every step is one pass of :class:`NewtonStep`, on any engine; no row is collected.
    The target is boolean or 0/1; ``predict_proba`` gives ``[P(0), P(1)]`` per row.
    Standardize the features first: the penalty acts on their own scale.
    """

    def __init__(self, *, alpha: float = 1.0, max_iter: int = 50, tol: float = 1e-10) -> None:
        self.alpha = alpha
        self.max_iter = max_iter
        self.tol = tol

    def _check_params(self) -> None:
        _check_number("LogisticRegression", "alpha", self.alpha, low=0.0, strict=False)
        _check_whole("LogisticRegression", "max_iter", self.max_iter)
        _check_number("LogisticRegression", "tol", self.tol, low=0.0, strict=True)

    def fit(
        self,
        source: Any,
        features: list[str],
        target: str,
        *,
        engine: str | Engine | None = None,
    ) -> LogisticRegression:
        """Fit on ``source`` with one :class:`NewtonStep` pass per iteration.

        Raises
        ------
        ConfigError
            For a bad parameter or column list.
        SchemaError
            For a target other than boolean or 0/1.
        EmptyInputError
            When no row is usable.
        """
        self._check_params()
        features = _check_columns(features, target, None)
        runner = resolve_engine(engine, source)
        p = len(features) + 1
        penalty = _penalty(p, float(self.alpha), intercept=True)
        beta = np.zeros(p)
        self.converged_ = False
        for iteration in range(1, int(self.max_iter) + 1):
            step_agg = NewtonStep(features, target, beta)
            state = runner.aggregate(source, step_agg, columns=[*features, target])
            _rows("LogisticRegression", state.n, state.skipped)
            gradient = state.gradient - penalty @ beta
            step = _solve(state.hessian + penalty, gradient)
            beta = beta + step
            self.n_iter_ = iteration
            self.n_samples_ = state.n
            self.n_skipped_ = state.skipped
            self.log_likelihood_ = state.loglik
            if float(np.max(np.abs(step))) < self.tol:
                self.converged_ = True
                break
        self.intercept_ = float(beta[0])
        self.coef_ = beta[1:].copy()
        self.features_ = list(features)
        return self

    def decision_function(self, X: npt.ArrayLike) -> Matrix:
        """The log-odds ``intercept_ + X @ coef_``."""
        if not hasattr(self, "coef_"):
            raise NotFittedError("this LogisticRegression is not fitted yet; call fit first")
        return self.intercept_ + _matrix(X, self.coef_.size, "LogisticRegression") @ self.coef_

    def predict_proba(self, X: npt.ArrayLike) -> Matrix:
        """``[P(0), P(1)]`` for each row of ``X`` (columns are ``features_``)."""
        positive = np.exp(-np.logaddexp(0.0, -self.decision_function(X)))
        return np.column_stack([1.0 - positive, positive])

    def predict(self, X: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """1 where ``P(1) > 0.5``, else 0."""
        return (self.decision_function(X) > 0.0).astype(np.int64)
