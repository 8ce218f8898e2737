"""How good predictions are: metrics with bootstrap intervals, calibration, cross-validation.

:func:`evaluate` judges one set of predictions against the truth: ROC AUC, log loss,
accuracy and Brier score for classes, RMSE, MAE and R² for values, each with a seeded
bootstrap 95% interval, and a calibration table.  :func:`oof_scores` and
:func:`cross_validate` fit a fresh clone of a model per fold and judge it on the rows it
did not see.

Every metric is computed from per-row quantities weighted by how often each row is drawn,
so the point value (every weight 1) and each bootstrap resample (multinomial counts) run
the same vectorized code; AUC uses the ranks of the scores with ties counted half, as
scikit-learn does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from suture.errors import ConfigError, EmptyInputError
from suture.models.base import Design, Model, Task
from suture.models.result import CalibrationBin, Evaluation, Metric

__all__ = [
    "CALIBRATION_BINS",
    "HIGHER_IS_BETTER",
    "PRIMARY",
    "calibration_error",
    "calibration_table",
    "cross_validate",
    "evaluate",
    "lift",
    "link_to_output",
    "oof_scores",
    "summarize_folds",
]

F64 = npt.NDArray[np.float64]
Folds = Sequence[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]
Kernel = Callable[[F64], dict[str, F64]]

#: The metric selection uses, per task kind.
PRIMARY = {"binary": "auc", "multiclass": "auc", "regression": "rmse"}
#: Which way each metric is good.
HIGHER_IS_BETTER = {
    "auc": True,
    "log_loss": False,
    "accuracy": True,
    "brier": False,
    "rmse": False,
    "mae": False,
    "r2": True,
    "lift": True,
}
#: The number of equal-count bins of the calibration table.
CALIBRATION_BINS = 10
#: Bootstrap resamples are drawn in blocks of about this many row weights (bounded memory).
_BLOCK = 1 << 20


# -- checking what is judged -----------------------------------------------------------
def _target(task: Task, y: npt.ArrayLike) -> F64:
    target = np.asarray(y, dtype=np.float64).ravel()
    if target.size == 0:
        raise EmptyInputError("there are no rows to evaluate")
    if not np.all(np.isfinite(target)):
        bad = int(np.count_nonzero(~np.isfinite(target)))
        raise ConfigError(f"y has {bad} NaN or infinite value(s); evaluate finite targets only")
    if task.is_classification:
        k = len(task.classes)
        if np.any((target < 0) | (target >= k) | (target != np.round(target))):
            raise ConfigError(
                f"y must hold class codes 0..{k - 1} for the classes {list(task.classes)!r} "
                "(see encode_target), got other values"
            )
    return target


def _output(task: Task, n: int, output: npt.ArrayLike, what: str) -> F64:
    out = np.asarray(output, dtype=np.float64)
    if task.kind == "binary" and out.ndim == 2 and out.shape[1] == 2:
        out = out[:, 1]
    k = len(task.classes)
    shape = (n, k) if task.kind == "multiclass" else (n,)
    if out.shape != shape:
        expected = {
            "binary": "P(positive) of shape (rows,)",
            "multiclass": f"probabilities of shape (rows, {k})",
            "regression": "values of shape (rows,)",
        }[task.kind]
        raise ConfigError(f"{what} must be {expected}, got shape {out.shape} for {n} rows")
    if not np.all(np.isfinite(out)):
        bad = int(np.count_nonzero(~np.isfinite(out)))
        raise ConfigError(f"{what} has {bad} NaN or infinite value(s)")
    if task.is_classification:
        if out.min() < 0.0 or out.max() > 1.0:
            raise ConfigError(
                f"{what} must be probabilities in [0, 1], got values from {out.min():.6g} to "
                f"{out.max():.6g}; turn link scores into probabilities first (link_to_output "
                "or a calibrator)"
            )
        if task.kind == "multiclass":
            sums = out.sum(axis=1)
            worst = float(np.max(np.abs(sums - 1.0)))
            if worst > 1e-6:
                raise ConfigError(
                    f"{what}: each row of class probabilities must sum to 1, one sums to "
                    f"{float(sums[np.argmax(np.abs(sums - 1.0))]):.6g}"
                )
    return out


def _check_boot(n_boot: object, seed: object) -> tuple[int, int]:
    whole = (int, np.integer)
    if not isinstance(n_boot, whole) or isinstance(n_boot, bool) or n_boot < 0:
        raise ConfigError(f"n_boot must be a whole number >= 0 (0: no intervals), got {n_boot!r}")
    if not isinstance(seed, whole) or isinstance(seed, bool):
        raise ConfigError(f"seed must be a whole number, got {seed!r}")
    return int(n_boot), int(seed)


def link_to_output(task: Task, scores: npt.ArrayLike) -> F64:
    """What :func:`evaluate` judges, from a model's link scores (uncalibrated).

    The logistic of the log-odds for binary tasks (``(n,)``), the softmax of the logits
    for multiclass (``(n, k)``), the values themselves for regression.
    """
    s = np.asarray(scores, dtype=np.float64)
    if task.kind == "binary":
        return np.asarray(np.exp(-np.logaddexp(0.0, -s)), dtype=np.float64)
    if task.kind == "multiclass":
        shifted = s - s.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)
    return s


# -- metric kernels: per-row quantities, weighted -------------------------------------
@dataclass(frozen=True)
class _Ranks:
    """One score column sorted once, for weighted Mann–Whitney AUCs with ties as halves.

    Rows are sorted by score and, among equal scores, negatives first (``order``, None
    when they already are), so a positive row's running sum of negative weight counts
    every negative below it and every tied one; the tied ones are then halved through
    the groups of equal scores that hold both classes (``mixed`` rows, ``mixed_starts``).
    """

    order: npt.NDArray[np.int64] | None
    positive: F64
    mixed: npt.NDArray[np.int64]
    mixed_starts: npt.NDArray[np.int64]

    @classmethod
    def of(cls, score: F64, positive: npt.NDArray[np.bool_]) -> _Ranks:
        order: npt.NDArray[np.int64] | None = None
        if not _sorted(score, positive):
            order = np.lexsort((positive, score))
            score, positive = score[order], positive[order]
        new = np.empty(score.size, dtype=bool)
        new[0] = True
        np.not_equal(score[1:], score[:-1], out=new[1:])
        starts = np.flatnonzero(new)
        group = np.cumsum(new) - 1
        size = np.diff(np.append(starts, score.size))
        hits = np.bincount(group, weights=positive, minlength=starts.size)
        mixed = np.flatnonzero(((hits > 0) & (hits < size))[group])
        first = np.flatnonzero(np.diff(group[mixed], prepend=-1)) if mixed.size else mixed
        return cls(order, positive.astype(np.float64), mixed, first)

    def auc(self, weights: F64) -> F64:
        # np.take is several times faster than fancy indexing along the second axis.
        w = weights if self.order is None else np.take(weights, self.order, axis=1)
        pos = w * self.positive
        negatives = np.cumsum(w - pos, axis=1)
        num = np.einsum("bi,bi->b", pos, negatives)
        if self.mixed.size:
            tied = np.take(w, self.mixed, axis=1)
            tied_pos = np.add.reduceat(tied * self.positive[self.mixed], self.mixed_starts, axis=1)
            tied_all = np.add.reduceat(tied, self.mixed_starts, axis=1)
            num -= 0.5 * np.einsum("bg,bg->b", tied_pos, tied_all - tied_pos)
        den = pos.sum(axis=1) * negatives[:, -1]
        out = np.full(den.shape, math.nan)
        np.divide(num, den, out=out, where=den > 0)
        return out


def _sorted(score: F64, positive: npt.NDArray[np.bool_]) -> bool:
    """Whether rows are in score order with negatives first among equal scores."""
    step = np.diff(score)
    return bool(np.all(step >= 0) and np.all(positive[:-1][step == 0] <= positive[1:][step == 0]))


def _kernel(task: Task, y: F64, out: F64) -> Kernel:
    """A function from row weights ``(b, n)`` (each row summing to n) to metric values."""
    eps = float(np.finfo(np.float64).eps)
    n = y.size
    if task.kind == "regression":
        residual = y - out
        centred = y - y.mean()
        parts = np.column_stack([residual**2, np.abs(residual), centred, centred**2])

        def regression(w: F64) -> dict[str, F64]:
            sse, ae, c, c2 = (w @ parts).T
            sst = c2 - c**2 / n
            r2 = np.full(sse.shape, math.nan)
            np.divide(sse, sst, out=r2, where=sst > 0)
            return {"rmse": np.sqrt(sse / n), "mae": ae / n, "r2": 1.0 - r2}

        return regression
    codes = y.astype(np.int64)
    if task.kind == "binary":
        truth = np.where(codes == 1, out, 1.0 - out)
        hit = (out > 0.5) == (codes == 1)
        brier = (out - y) ** 2
        ranks = [_Ranks.of(out, codes == 1)]
    else:
        truth = out[np.arange(n), codes]
        hit = np.argmax(out, axis=1) == codes
        brier = ((out - np.eye(out.shape[1])[codes]) ** 2).sum(axis=1)
        ranks = [_Ranks.of(out[:, c], codes == c) for c in range(out.shape[1])]
    loss = -np.log(np.clip(truth, eps, 1.0 - eps))
    parts = np.column_stack([loss, hit.astype(np.float64), brier])

    def classification(w: F64) -> dict[str, F64]:
        log_loss, accuracy, brier = (w @ parts).T / n
        auc = np.mean([r.auc(w) for r in ranks], axis=0)
        return {"auc": auc, "log_loss": log_loss, "accuracy": accuracy, "brier": brier}

    return classification


def _resamples(n: int, n_boot: int, seed: int) -> Iterator[F64]:
    """Bootstrap row counts ``(b, n)`` in blocks of bounded size, the same for a seed."""
    rng = np.random.default_rng(seed)
    per = max(1, _BLOCK // n)
    for first in range(0, n_boot, per):
        b = min(per, n_boot - first)
        drawn = rng.integers(0, n, size=(b, n)) + (np.arange(b) * n)[:, None]
        yield np.bincount(drawn.ravel(), minlength=b * n).reshape(b, n).astype(np.float64)


def _lift(primary: str, model: F64, base: F64) -> F64:
    """AUC gained (absolute), or the share of the baseline's RMSE removed."""
    if HIGHER_IS_BETTER[primary]:
        return model - base
    out = np.full(model.shape, math.nan)
    np.divide(model, base, out=out, where=base > 0)
    return 1.0 - out


def _interval(values: F64) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return math.nan, math.nan
    low, high = np.percentile(finite, [2.5, 97.5])
    return float(low), float(high)


def evaluate(
    task: Task,
    y: npt.ArrayLike,
    output: npt.ArrayLike,
    *,
    n_boot: int = 200,
    seed: int = 0,
    baseline: npt.ArrayLike | Evaluation | None = None,
) -> Evaluation:
    """Metrics of ``output`` against the encoded target ``y``, with bootstrap intervals.

    Parameters
    ----------
    task : Task
    y : array of shape (n,)
        The encoded target (:func:`~suture.models.base.encode_target`): values, 0/1, or
        class codes.
    output : array
        P(positive) ``(n,)`` for binary tasks (an ``(n, 2)`` array's second column is
        taken), class probabilities ``(n, k)`` for multiclass, values ``(n,)`` for
        regression.
    n_boot : int, default 200
        Bootstrap resamples for the 95% intervals (percentile method); 0 for none.
    seed : int, default 0
        Seeds the resamples: the same inputs and seed give the same intervals.
    baseline : array or Evaluation, optional
        The baseline's output on the same rows (then ``lift`` gets a paired bootstrap
        interval), or its evaluation (``lift`` without interval).  See :func:`lift`.

    Returns
    -------
    Evaluation
        ``auc`` (macro one-vs-rest for multiclass), ``log_loss``, ``accuracy``, ``brier``
        for classes; ``rmse``, ``mae``, ``r2`` for values; ``lift`` with a baseline.  The
        primary metric is ``auc`` or ``rmse``.  Classification gets a calibration table
        (:func:`calibration_table`).

    Notes
    -----
    Accuracy predicts the positive class above probability 0.5 and the most probable class
    for multiclass (the first on ties); log loss clips probabilities to
    ``[eps, 1 - eps]``; the multiclass Brier score sums over classes (the binary one does
    not, as scikit-learn).  AUC is NaN when a class is absent (one-vs-rest: any class), R²
    when the target is constant; resamples where a metric is NaN are left out of its
    interval.  The bootstrap costs ``n_boot`` weighted passes over the rows, drawn in
    blocks of about a million weights.

    Raises
    ------
    ConfigError
        For outputs of the wrong shape, non-finite values, probabilities outside [0, 1],
        class codes outside the task's classes, or a negative ``n_boot``.
    EmptyInputError
        For zero rows.
    """
    n_boot, seed = _check_boot(n_boot, seed)
    target = _target(task, y)
    n = target.size
    out = _output(task, n, output, "output")
    primary = PRIMARY[task.kind]
    table = calibration_table(task, target, out)
    given, base = None, None
    if isinstance(baseline, Evaluation):
        given = baseline
    elif baseline is not None:
        base = _output(task, n, baseline, "baseline")
    if task.kind == "binary":
        # Every metric ignores row order: sorting the rows by score once spares the AUC
        # a gather per resample (the baseline, if any, keeps its pairing row by row).
        order = np.lexsort((target, out))
        target, out = target[order], out[order]
        base = None if base is None else base[order]
    kernels = [_kernel(task, target, out)]
    if base is not None:
        kernels.append(_kernel(task, target, base))
    ones = np.ones((1, n))
    points = [k(ones) for k in kernels]
    if len(points) == 2:
        points[0]["lift"] = _lift(primary, points[0][primary], points[1][primary])
    draws: dict[str, list[F64]] = {name: [] for name in points[0]}
    for counts in _resamples(n, n_boot, seed):
        parts = [k(counts) for k in kernels]
        if len(parts) == 2:
            parts[0]["lift"] = _lift(primary, parts[0][primary], parts[1][primary])
        for name, values in parts[0].items():
            draws[name].append(values)
    metrics = {}
    for name, value in points[0].items():
        low, high = _interval(np.concatenate(draws[name])) if n_boot else (math.nan, math.nan)
        metrics[name] = Metric(name, float(value[0]), low, high, HIGHER_IS_BETTER[name])
    evaluation = Evaluation(metrics, primary, n, table)
    if given is None:
        return evaluation
    return Evaluation(
        {**metrics, "lift": lift(evaluation, given)}, primary, n, evaluation.calibration
    )


def lift(evaluation: Evaluation, baseline: Evaluation) -> Metric:
    """How much better than the baseline, on the primary metric (higher is better).

    The AUC gained (absolute) for classification; the share of the baseline's RMSE
    removed (``1 - rmse / baseline_rmse``) for regression.  No interval: two separate
    evaluations do not give one; pass the baseline's output to :func:`evaluate` for a
    paired bootstrap interval.

    Raises
    ------
    ConfigError
        When the two evaluations have different primary metrics.
    """
    if evaluation.primary != baseline.primary:
        raise ConfigError(
            f"cannot compare a {evaluation.primary} evaluation with a {baseline.primary} "
            "baseline; evaluate both on the same task"
        )
    value = _lift(
        evaluation.primary,
        np.array([evaluation.score]),
        np.array([baseline.score]),
    )
    return Metric("lift", float(value[0]), higher_is_better=True)


# -- calibration ----------------------------------------------------------------------
def calibration_table(
    task: Task, y: npt.ArrayLike, output: npt.ArrayLike, *, bins: int = CALIBRATION_BINS
) -> tuple[CalibrationBin, ...]:
    """Predicted against observed, in up to ``bins`` equal-count bins of the prediction.

    Binary tasks bin P(positive) and observe the positive rate; multiclass tasks bin the
    top-label confidence (the largest probability) and observe how often that class is
    right.  Bin edges are quantiles of the predictions (ties can merge bins, empty bins are
    left out); the first bin starts at 0 and the last ends at 1 and includes it.
    Regression has no table (an empty tuple).
    """
    if not isinstance(bins, int) or isinstance(bins, bool) or bins < 1:
        raise ConfigError(f"bins must be a whole number >= 1, got {bins!r}")
    if not task.is_classification:
        return ()
    target = _target(task, y)
    out = _output(task, target.size, output, "output")
    if task.kind == "binary":
        predicted, observed = out, target
    else:
        predicted = out.max(axis=1)
        observed = (np.argmax(out, axis=1) == target).astype(np.float64)
    inner = np.quantile(predicted, np.linspace(0.0, 1.0, bins + 1)[1:-1])
    edges = np.unique(np.concatenate([[0.0], inner, [1.0]]))
    which = np.clip(np.searchsorted(edges, predicted, side="right") - 1, 0, edges.size - 2)
    count = np.bincount(which, minlength=edges.size - 1)
    pred_sum = np.bincount(which, weights=predicted, minlength=edges.size - 1)
    obs_sum = np.bincount(which, weights=observed, minlength=edges.size - 1)
    return tuple(
        CalibrationBin(
            float(edges[i]),
            float(edges[i + 1]),
            int(count[i]),
            float(pred_sum[i] / count[i]),
            float(obs_sum[i] / count[i]),
        )
        for i in np.flatnonzero(count)
    )


def calibration_error(table: Sequence[CalibrationBin] | Evaluation) -> float:
    """The expected calibration error: the count-weighted mean gap of predicted and observed.

    NaN for an empty table (regression).
    """
    rows = table.calibration if isinstance(table, Evaluation) else tuple(table)
    total = sum(b.count for b in rows)
    if total == 0:
        return math.nan
    return float(sum(b.count * abs(b.predicted - b.observed) for b in rows) / total)


# -- cross-validation -----------------------------------------------------------------
def _check_folds(folds: Folds, n: int) -> None:
    if len(folds) == 0:
        raise ConfigError("folds is empty; give at least one (train, validation) pair")
    seen = np.zeros(n, dtype=np.int64)
    for i, (train, val) in enumerate(folds):
        for name, idx in (("train", train), ("validation", val)):
            arr = np.asarray(idx)
            if arr.size == 0 or arr.dtype.kind not in "iu" or arr.min() < 0 or arr.max() >= n:
                raise ConfigError(
                    f"fold {i}: the {name} rows must be a non-empty array of row numbers 0..{n - 1}"
                )
        seen += np.bincount(np.asarray(val), minlength=n)
    if seen.max() > 1:
        raise ConfigError(
            f"{int(np.count_nonzero(seen > 1))} row(s) are in more than one validation fold; "
            "each row is validated at most once"
        )


def oof_scores(
    model: Model,
    X: npt.ArrayLike,
    y: npt.ArrayLike,
    design: Design,
    folds: Folds,
    *,
    sample_weight: npt.ArrayLike | None = None,
) -> tuple[F64, list[Evaluation]]:
    """Out-of-fold link scores, and each fold's evaluation.

    For each ``(train, validation)`` pair of ``folds`` (see :func:`suture.models.split.kfold`)
    a fresh ``model.clone()`` is fitted on the training rows and scores the validation
    rows.  ``model`` itself is not fitted.

    Returns
    -------
    scores : array
        Link scores ``(n,)``, or ``(n, k)`` for multiclass; NaN on rows no fold validates
        (the earliest block of forward-chaining folds).
    evaluations : list of Evaluation
        One per fold, of :func:`link_to_output` of the scores (uncalibrated), without
        bootstrap intervals.

    Raises
    ------
    ConfigError
        For malformed folds or a row validated by two folds (and whatever ``fit`` raises).
    """
    task = design.task
    x = np.asarray(X, dtype=np.float64)
    target = _target(task, y)
    if x.ndim != 2 or x.shape[0] != target.size:
        raise ConfigError(
            f"X must have shape (rows, features) with {target.size} rows, got {x.shape}"
        )
    weight = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    _check_folds(folds, target.size)
    shape = (target.size, task.n_outputs) if task.kind == "multiclass" else (target.size,)
    scores = np.full(shape, math.nan)
    evaluations = []
    for train, val in folds:
        fitted = model.clone().fit(
            x[train],
            target[train],
            design=design,
            sample_weight=None if weight is None else weight[train],
        )
        fold = np.asarray(fitted.decision_function(x[val]), dtype=np.float64)
        scores[val] = fold
        evaluations.append(evaluate(task, target[val], link_to_output(task, fold), n_boot=0))
    return scores, evaluations


def summarize_folds(
    evaluations: Sequence[Evaluation], *, calibration: Sequence[CalibrationBin] = ()
) -> Evaluation:
    """One evaluation from per-fold ones: each metric's mean, with the folds' range.

    ``low`` and ``high`` are the smallest and largest fold values (the spread of the folds,
    not a confidence interval of the mean); ``n`` counts every validated row.  A metric
    NaN in any fold is NaN.
    """
    if not evaluations:
        raise ConfigError("there are no fold evaluations to summarize")
    first = evaluations[0]
    metrics = {}
    for name, metric in first.metrics.items():
        values = np.array([e.metrics[name].value for e in evaluations])
        if np.all(np.isfinite(values)):
            mean, low, high = float(values.mean()), float(values.min()), float(values.max())
        else:
            mean = low = high = math.nan
        metrics[name] = Metric(name, mean, low, high, metric.higher_is_better)
    return Evaluation(metrics, first.primary, sum(e.n for e in evaluations), tuple(calibration))


def cross_validate(
    model: Model,
    X: npt.ArrayLike,
    y: npt.ArrayLike,
    design: Design,
    folds: Folds,
    *,
    sample_weight: npt.ArrayLike | None = None,
) -> Evaluation:
    """The cross-validated evaluation of ``model``: the mean over folds, the folds' range.

    Each metric's value is the mean of the fold values and its ``low``/``high`` the
    smallest and largest fold value (the folds' spread, not a bootstrap interval; see
    :func:`summarize_folds`).  The calibration table pools the out-of-fold predictions.
    """
    task = design.task
    scores, evaluations = oof_scores(model, X, y, design, folds, sample_weight=sample_weight)
    target = _target(task, y)
    seen = np.isfinite(scores) if scores.ndim == 1 else np.isfinite(scores).all(axis=1)
    table = calibration_table(task, target[seen], link_to_output(task, scores[seen]))
    return summarize_folds(evaluations, calibration=table)
