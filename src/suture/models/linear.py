"""Linear and logistic regression fitted from aggregators, never from collected rows.

Least squares needs only the Gram matrix: :class:`GramAggregator` folds ``n``,
``X'WX``, ``X'Wy`` and ``y'Wy`` (with an intercept column) in one pass, and
:class:`LinearRegression` solves the ridge normal equations from them.  Logistic
regression is fitted by Newton's method (IRLS): every iteration is one pass of
:class:`NewtonStep`, which folds the Hessian ``X'WX``, the gradient ``X'(y - p)`` and the
log-likelihood at the current coefficients.  Both states are sums, so any engine (local,
Spark, the shuffling test engine) gives the same fit up to floating rounding.

The candidates the trainer fits on a feature matrix follow :class:`~suture.models.base.Model`
and share the same math: :class:`Ridge` (penalized normal equations) and :class:`Logistic`
(Newton/IRLS for two classes, softmax by L-BFGS for more), both scored by
:class:`LinearScores`, whose one-record path equals the matrix path bit for bit.
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
from suture.models.base import Design, Model, Task, hex_array, register, unhex_array

__all__ = [
    "GramAggregator",
    "GramState",
    "LinearRegression",
    "LinearScores",
    "Logistic",
    "LogisticRegression",
    "NewtonState",
    "NewtonStep",
    "Ridge",
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


def _check_alphas(owner: str, alphas: object, *, strict: bool) -> list[float]:
    """The distinct penalties of ``alphas`` to choose among, largest first (none: [])."""
    if alphas is None:
        return []
    if isinstance(alphas, str | bytes) or not isinstance(alphas, Sequence):
        raise ConfigError(f"{owner}: alphas must be a list of numbers, got {alphas!r}")
    for value in alphas:
        _check_number(owner, "alphas", value, low=0.0, strict=strict)
    return sorted({float(v) for v in alphas}, reverse=True)


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


# -- matrix-fitted models conforming to suture.models.base.Model ------------------------
#
# The trainer fits these on a feature matrix it already holds (cross-validation folds of a
# sample).  They share the penalized solvers below with the scorecard (additive.py): every
# solver takes the design with a leading column of ones and a full penalty matrix, so a
# ridge, a smoothness penalty or pooled (monotone) bins are only a different matrix.


def _sample_weight(owner: str, sample_weight: npt.ArrayLike | None, n: int) -> Matrix:
    """The row weights as float64 (ones when ``None``), refused unless finite and >= 0."""
    if sample_weight is None:
        return np.ones(n)
    w = np.asarray(sample_weight, dtype=np.float64).ravel()
    if w.size != n:
        raise ConfigError(f"{owner}: sample_weight has {w.size} values but X has {n} rows")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ConfigError(f"{owner}: sample_weight must be finite and at least 0")
    if not w.sum() > 0:
        raise ConfigError(f"{owner}: sample_weight sums to 0; give some row a positive weight")
    return w


def _check_target(owner: str, y: Matrix, task: Task) -> None:
    """``y`` as :func:`~suture.models.base.encode_target` gives it for ``task``."""
    if task.kind == "regression":
        if not np.isfinite(y).all():
            raise ConfigError(f"{owner}: the target has NaN or infinite values")
        return
    k = len(task.classes)
    bad = (y != np.floor(y)) | (y < 0) | (y >= k)
    if bad.any():
        raise ConfigError(
            f"{owner}: a {task.kind} target must be class codes 0..{k - 1}, got "
            f"{float(y[bad][0])!r}; encode it with encode_target"
        )


def _with_ones(x: Matrix) -> Matrix:
    return np.column_stack([np.ones(x.shape[0]), x])


#: A design at least this large (cells) and at most this dense is held sparse.
SPARSE_CELLS = 2_000_000
SPARSE_DENSITY = 0.15
#: Up to this many rows, a binary or regression score is one product matrix accumulated
#: (the service's requests); above it, a pass a feature (measured crossover ~300-500).
_FEW_ROWS = 256


def _augmented(x: Matrix) -> Any:
    """``[1, x]``: a NumPy array, or a SciPy CSR matrix for a large, mostly-zero design.

    A binned design has one set indicator per column in each row, so its Gram matrix
    costs ``rows * nonzeros^2`` sparse instead of ``rows * features^2`` dense.
    """
    if x.size >= SPARSE_CELLS and np.count_nonzero(x) <= SPARSE_DENSITY * x.size:
        try:
            from scipy import sparse
        except ImportError:  # pragma: no cover - scipy comes with the train extra
            return _with_ones(x)
        ones = sparse.csr_matrix(np.ones((x.shape[0], 1)))
        return sparse.hstack([ones, sparse.csr_matrix(x)], format="csr")
    return _with_ones(x)


def _gram(a: Any, weights: Matrix) -> Matrix:
    """``a' diag(weights) a`` as a dense array, for a dense or sparse ``a``."""
    if isinstance(a, np.ndarray):
        return np.asarray((a * weights[:, None]).T @ a, dtype=np.float64)
    from scipy import sparse

    return np.asarray((a.T @ (sparse.diags(weights) @ a)).toarray(), dtype=np.float64)


def _least_squares(a: Any, y: Matrix, w: Matrix, penalty: Matrix) -> Matrix:
    """``argmin sum w (y - a b)^2 + b' P b``: the penalized normal equations."""
    return _solve(_gram(a, w) + penalty, np.asarray(a.T @ (w * y), dtype=np.float64))


def _penalized_loglik(a: Any, y: Matrix, w: Matrix, penalty: Matrix, beta: Matrix) -> float:
    eta = a @ beta
    return float(w @ (y * eta - np.logaddexp(0.0, eta)) - 0.5 * beta @ penalty @ beta)


def _newton_binary(
    a: Any,
    y: Matrix,
    w: Matrix,
    penalty: Matrix,
    *,
    max_iter: int,
    tol: float,
    start: Matrix | None = None,
) -> tuple[Matrix, int, bool]:
    """Penalized logistic regression by Newton's method with step halving.

    Maximizes ``sum w (y eta - log(1 + e^eta)) - b' P b / 2`` from ``start`` (default:
    the prior log-odds); returns the coefficients, the number of steps and whether the
    largest step fell below ``tol``.
    """
    if start is not None:
        beta = np.asarray(start, dtype=np.float64).copy()
    else:
        beta = np.zeros(a.shape[1])
        rate = float(np.clip((w @ y) / w.sum(), 1e-12, 1 - 1e-12))
        beta[0] = np.log(rate / (1.0 - rate))
    current = _penalized_loglik(a, y, w, penalty, beta)
    for iteration in range(1, max_iter + 1):
        prob = np.exp(-np.logaddexp(0.0, -(a @ beta)))
        gradient = a.T @ (w * (y - prob)) - penalty @ beta
        hessian = _gram(a, w * prob * (1.0 - prob)) + penalty
        step = _solve(hessian, gradient)
        size = 1.0
        for _ in range(40):
            candidate = beta + size * step
            value = _penalized_loglik(a, y, w, penalty, candidate)
            if value >= current - 1e-12 * abs(current):
                break
            size /= 2.0
        beta, current = candidate, value
        if float(np.max(np.abs(size * step))) < tol:
            return beta, iteration, True
    return beta, max_iter, False


def _softmax_fit(
    a: Any,
    y: Matrix,
    w: Matrix,
    penalty: Matrix,
    k: int,
    *,
    max_iter: int,
    tol: float,
    start: Matrix | None = None,
) -> tuple[Matrix, int, bool]:
    """Penalized multinomial logistic regression (one coefficient vector per class), L-BFGS.

    Minimizes ``-sum w log softmax(a B)_y + sum_c B_c' P B_c / 2`` (scaled by the weight
    total); the intercepts are centred to sum to zero (softmax is unchanged by a shift).
    """
    try:
        from scipy.optimize import minimize
    except ImportError:  # pragma: no cover - scipy comes with the train extra
        raise ConfigError("multiclass logistic models need SciPy; install suture[train]") from None
    q = a.shape[1]
    onehot = np.zeros((a.shape[0], k))
    onehot[np.arange(a.shape[0]), y.astype(np.int64)] = 1.0
    total = float(w.sum())

    def objective(flat: Matrix) -> tuple[float, Matrix]:
        b = flat.reshape(q, k)
        eta = a @ b
        top = eta.max(axis=1, keepdims=True)
        log_norm = top[:, 0] + np.log(np.exp(eta - top).sum(axis=1))
        value = float(w @ (log_norm - (eta * onehot).sum(axis=1)))
        prob = np.exp(eta - log_norm[:, None])
        pb = penalty @ b
        value += 0.5 * float(np.sum(b * pb))
        gradient = a.T @ ((prob - onehot) * w[:, None]) + pb
        return value / total, (gradient / total).ravel()

    result = minimize(
        objective,
        np.zeros(q * k) if start is None else np.asarray(start, dtype=np.float64).ravel(),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter, "gtol": tol, "ftol": 1e-16, "maxcor": 30},
    )
    b = np.asarray(result.x, dtype=np.float64).reshape(q, k)
    b[0] -= b[0].mean()
    return b, int(result.nit), bool(result.success)


class LinearScores(Model):
    """A link score linear in the features: ``intercept_ + X @ coef_``, per output.

    The shared core of :class:`Ridge`, :class:`Logistic` and the scorecard.  The matrix
    path sums the terms feature by feature in column order, and :meth:`score_one` adds
    the same products in the same order skipping zero features (whose product is zero),
    so both give bit-identical scores.

    Attributes
    ----------
    intercept_ : ndarray of shape (k_out,)
    coef_ : ndarray of shape (p, k_out)
        One column per output (one for regression and binary tasks, one per class).
    """

    additive = True
    intercept_: Matrix
    coef_: Matrix

    def _compile(self) -> None:
        """Precompute plain-float arrays for the one-record path."""
        self._p = self.coef_.shape[0]
        if self.coef_.shape[1] == 1:
            self._b0: Any = float(self.intercept_[0])
            self._c: Any = self.coef_[:, 0].tolist()
            self._c_array = self.coef_[:, 0].copy()
        else:
            self._b0 = self.intercept_.copy()
            self._c = [row.copy() for row in self.coef_]
        self._used = np.flatnonzero(np.any(self.coef_ != 0.0, axis=1)).tolist()
        self._used_index = np.asarray(self._used, dtype=np.intp)

    def _linear(self, x: Matrix) -> Matrix:
        n = x.shape[0]
        if self.coef_.shape[1] == 1:
            if n <= _FEW_ROWS:
                return self._few_linear(x)
            s = np.full(n, self._b0)
            for j in self._used:
                s += x[:, j] * self._c[j]
            return s
        out = np.tile(self.intercept_, (n, 1))
        for j in self._used:
            out += x[:, j, None] * self._c[j]
        return out

    def _few_linear(self, x: Matrix) -> Matrix:
        """:meth:`_linear` of a few rows in three NumPy calls instead of three a feature.

        ``add.accumulate`` adds strictly left to right, as the column loop does, and the
        products are the same multiplications, so the scores are equal bit for bit; for
        many rows the loop's column passes are faster.
        """
        used = self._used_index
        terms = np.empty((x.shape[0], used.size + 1))
        terms[:, 0] = self._b0
        np.multiply(x[:, used], self._c_array[used], out=terms[:, 1:])
        return np.add.accumulate(terms, axis=1)[:, -1]

    def decision_function(self, X: npt.ArrayLike) -> Matrix:
        """Link scores: ``(n,)``, or ``(n, k)`` for a multiclass task."""
        return self._linear(self._check_X(X))

    def _record(self, x: Sequence[float] | Matrix) -> tuple[Matrix, npt.NDArray[np.intp]]:
        """One feature vector as float64 and the indices of its nonzero features."""
        self._fitted()
        v = np.asarray(x, dtype=np.float64).ravel()
        if v.size != self._p:
            raise ConfigError(
                f"{type(self).__name__}: a record has {self._p} features, got {v.size}"
            )
        return v, v.nonzero()[0]

    def _record_linear(self, v: Matrix, nonzero: npt.NDArray[np.intp]) -> Any:
        """The linear part of one record's score: a float, or an array per class.

        The products are NumPy's (the same rounding as the matrix path) and are added
        one by one in feature order, as the matrix path adds its columns.
        """
        if self.coef_.shape[1] == 1:
            s = self._b0
            for term in (v.take(nonzero) * self._c_array.take(nonzero)).tolist():
                s += term
            return s
        out = self._b0.copy()
        for term in v.take(nonzero)[:, None] * self.coef_.take(nonzero, axis=0):
            out += term
        return out

    def score_one(self, x: Sequence[float] | Matrix) -> Matrix:
        """The link score of one feature vector, equal to :meth:`decision_function`'s."""
        v, nonzero = self._record(x)
        return np.asarray(self._record_linear(v, nonzero), dtype=np.float64).reshape(-1)

    def contributions(self, X: npt.ArrayLike) -> tuple[Matrix, Matrix]:
        """``x_j * coef_j`` per feature and the intercept, for the output explained."""
        x = self._check_X(X)
        if self.coef_.shape[1] == 1:
            return x * self.coef_[:, 0], np.full(x.shape[0], float(self.intercept_[0]))
        explained = np.argmax(self.decision_function(x), axis=1)
        return x * self.coef_[:, explained].T, self.intercept_[explained]

    def _linear_state(self) -> dict[str, Any]:
        return {
            "intercept": hex_array(self.intercept_),
            "coef": hex_array(self.coef_),
            "shape": list(self.coef_.shape),
        }

    def _set_linear_state(self, state: dict[str, Any]) -> None:
        shape = [int(v) for v in state["shape"]]
        self.coef_ = unhex_array(state["coef"], f"{self.kind} coef", shape)
        self.intercept_ = unhex_array(state["intercept"], f"{self.kind} intercept", shape[1:])
        self._compile()

    def _state(self) -> dict[str, Any]:
        return self._linear_state()

    def _set_state(self, state: dict[str, Any]) -> None:
        self._set_linear_state(state)

    def _set_fit(self, beta: Matrix, design: Design) -> None:
        """Store ``beta`` (intercept first; ``(p + 1,)`` or ``(p + 1, k)``) and compile."""
        b = beta.reshape(beta.shape[0], -1)
        self.intercept_ = b[0].copy()
        self.coef_ = b[1:].copy()
        self.design_ = design
        self._compile()

    def describe(self) -> dict[str, Any]:
        """The intercept and each feature's coefficient (a list per class if multiclass)."""
        self._fitted()
        task = self.design_.task
        multi = self.coef_.shape[1] > 1

        def value(row: Matrix) -> Any:
            return dict(zip(task.classes, row.tolist(), strict=True)) if multi else row[0]

        return {
            "intercept": value(self.intercept_),
            "coefficients": [
                {"feature": f, "column": c, "coefficient": value(self.coef_[j])}
                for j, (f, c) in enumerate(
                    zip(self.design_.features, self.design_.columns, strict=True)
                )
            ],
        }


@register
class Ridge(LinearScores):
    """Least squares with an L2 penalty on a feature matrix (a regression candidate).

    Minimizes ``sum w (y - b0 - X b)^2 + alpha ||b||^2``; the intercept is not
    penalized (scikit-learn's ``Ridge(alpha)`` objective).

    Parameters
    ----------
    alpha : float, default 1.0
        The ridge penalty, at least 0.
    """

    kind = "linear"
    complexity = 2
    tasks = frozenset({"regression"})
    _params = ("alpha",)

    def __init__(self, *, alpha: float = 1.0) -> None:
        self.alpha = alpha

    def fit(
        self,
        X: npt.ArrayLike,
        y: npt.ArrayLike,
        *,
        design: Design,
        sample_weight: npt.ArrayLike | None = None,
    ) -> Ridge:
        """Fit by the penalized normal equations; returns ``self``."""
        _check_number("Ridge", "alpha", self.alpha, low=0.0, strict=False)
        x, target = self._check_fit(X, y, design)
        _check_target("Ridge", target, design.task)
        w = _sample_weight("Ridge", sample_weight, x.shape[0])
        penalty = _penalty(x.shape[1] + 1, float(self.alpha), intercept=True)
        self._set_fit(_least_squares(_augmented(x), target, w, penalty), design)
        return self


@register
class Logistic(LinearScores):
    """Logistic regression with an L2 penalty: binary (Newton/IRLS) or softmax multiclass.

    Maximizes ``sum w log P(y | x) - alpha / 2 ||b||^2`` (scikit-learn's
    ``LogisticRegression(C=1 / alpha)`` objective); intercepts are not penalized.  A
    binary model scores the positive log-odds; a multiclass one has one coefficient
    vector per class (L-BFGS, the intercepts centred to sum to zero).

    Parameters
    ----------
    alpha : float, default 1.0
        The L2 penalty, at least 0.
    max_iter : int, default 100
        At most this many Newton steps (binary) or L-BFGS iterations (multiclass).
    tol : float, default 1e-10
        Binary: converged when the largest step is below this; multiclass: the gradient
        tolerance of L-BFGS on the mean loss.
    alphas : sequence of float, optional
        Binary only: penalties to choose from on the rows ``fit`` is given, instead of
        ``alpha``.  Each is fitted (warm-started, strongest first) and the one with the
        lowest approximate leave-one-out log loss is kept (``alpha_``); the others are
        discarded.  A multiclass fit uses ``alpha``.

    Attributes
    ----------
    n_iter_ : int
    converged_ : bool
    alpha_ : float
        The penalty of the fitted coefficients.
    loo_log_loss_ : dict of float to float
        With ``alphas``: each penalty's approximate leave-one-out log loss (mean per row's
        weight).

    Notes
    -----
    The leave-one-out score of row ``i`` is one Newton step from the fit without it:
    ``eta_i - q_i g_i / (1 - h_i q_i)``, where ``g_i`` and ``h_i`` are the row's gradient
    ``w_i (p_i - y_i)`` and curvature ``w_i p_i (1 - p_i)`` and ``q_i = x_i' H^-1 x_i``
    (``H`` the penalized Hessian, Sherman-Morrison): one solve per penalty, no refits.
    """

    kind = "logistic"
    complexity = 2
    tasks = frozenset({"binary", "multiclass"})
    _params = ("alpha", "max_iter", "tol", "alphas")

    def __init__(
        self,
        *,
        alpha: float = 1.0,
        max_iter: int = 100,
        tol: float = 1e-10,
        alphas: Sequence[float] | None = None,
    ) -> None:
        self.alpha = alpha
        self.max_iter = max_iter
        self.tol = tol
        self.alphas = alphas

    def fit(
        self,
        X: npt.ArrayLike,
        y: npt.ArrayLike,
        *,
        design: Design,
        sample_weight: npt.ArrayLike | None = None,
    ) -> Logistic:
        """Fit the penalized likelihood; returns ``self``."""
        _check_number("Logistic", "alpha", self.alpha, low=0.0, strict=False)
        _check_whole("Logistic", "max_iter", self.max_iter)
        _check_number("Logistic", "tol", self.tol, low=0.0, strict=True)
        alphas = _check_alphas("Logistic", self.alphas, strict=False)
        x, target = self._check_fit(X, y, design)
        _check_target("Logistic", target, design.task)
        w = _sample_weight("Logistic", sample_weight, x.shape[0])
        a = _augmented(x)
        self.alpha_ = float(self.alpha)
        if alphas and design.task.kind == "binary":
            beta = self._choose_alpha(a, target, w, alphas)
        else:
            penalty = _penalty(x.shape[1] + 1, self.alpha_, intercept=True)
            beta, self.n_iter_, self.converged_ = _fit_link(
                a, target, w, penalty, design.task, max_iter=self.max_iter, tol=self.tol
            )
        self._set_fit(beta, design)
        return self

    def _choose_alpha(self, a: Any, y: Matrix, w: Matrix, alphas: list[float]) -> Matrix:
        """Fit every penalty (strongest first, warm-started); keep the lowest approximate
        leave-one-out log loss."""
        best: tuple[float, Matrix, int, bool] | None = None
        start: Matrix | None = None
        self.loo_log_loss_: dict[float, float] = {}
        for alpha in alphas:
            penalty = _penalty(a.shape[1], alpha, intercept=True)
            beta, n_iter, converged = _newton_binary(
                a, y, w, penalty, max_iter=int(self.max_iter), tol=float(self.tol), start=start
            )
            start = beta
            loss = _loo_log_loss(a, y, w, penalty, beta)
            self.loo_log_loss_[alpha] = loss
            if best is None or loss < best[0]:
                best, self.alpha_ = (loss, beta, n_iter, converged), alpha
        assert best is not None
        _, beta, self.n_iter_, self.converged_ = best
        return beta


#: Rows (evenly spaced) whose leave-one-out scores estimate a penalty's log loss.
LOO_ROWS = 4096


def _loo_log_loss(a: Any, y: Matrix, w: Matrix, penalty: Matrix, beta: Matrix) -> float:
    """Approximate leave-one-out log loss of a penalized binary logistic fit (one Newton
    step from the full fit per row, by Sherman-Morrison), averaged over at most
    :data:`LOO_ROWS` evenly spaced rows (the Hessian is of every row)."""
    eta = np.asarray(a @ beta, dtype=np.float64).ravel()
    prob = np.exp(-np.logaddexp(0.0, -eta))
    curvature = w * prob * (1.0 - prob)
    hessian = _gram(a, curvature) + penalty
    if eta.size > LOO_ROWS:
        rows = np.unique(np.linspace(0, eta.size - 1, LOO_ROWS).round().astype(np.int64))
        a, y, w, eta, prob, curvature = (
            a[rows],
            y[rows],
            w[rows],
            eta[rows],
            prob[rows],
            curvature[rows],
        )
    projected = np.asarray(a @ _solve(hessian, np.eye(hessian.shape[0])), dtype=np.float64)
    if isinstance(a, np.ndarray):
        q = np.einsum("ij,ij->i", projected, a)
    else:  # a SciPy CSR design
        q = np.asarray(a.multiply(projected).sum(axis=1), dtype=np.float64).ravel()
    gradient = w * (prob - y)
    loo = eta + q * gradient / np.maximum(1.0 - curvature * q, 1e-12)
    loss = np.logaddexp(0.0, loo) - y * loo
    return float(np.dot(w, loss) / w.sum())


def _fit_link(
    a: Any,
    y: Matrix,
    w: Matrix,
    penalty: Matrix,
    task: Task,
    *,
    max_iter: int,
    tol: float,
    start: Matrix | None = None,
) -> tuple[Matrix, int, bool]:
    """The penalized fit of ``task``'s link: least squares, logistic or softmax.

    ``start`` (coefficients of a nearby problem) warm-starts the iterative fits.
    """
    if task.kind == "regression":
        return _least_squares(a, y, w, penalty), 1, True
    if task.kind == "binary":
        return _newton_binary(a, y, w, penalty, max_iter=max_iter, tol=tol, start=start)
    return _softmax_fit(
        a, y, w, penalty, len(task.classes), max_iter=max_iter, tol=tol, start=start
    )
