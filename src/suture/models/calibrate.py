"""Calibrators: link scores to class probabilities that mean what they say.

A model's link scores rank rows well but their probabilities can be too sure or too
timid.  A calibrator is fitted on out-of-fold link scores (rows the model did not learn
from) and maps scores to probabilities:

- :class:`PlattCalibrator` (binary): a logistic regression on the score, ``sigmoid(a * s +
  b)``, with Platt's smoothed targets;
- :class:`IsotonicCalibrator` (binary): the non-decreasing step function closest to the
  outcomes (pool adjacent violators), compiled to threshold arrays and interpolated
  linearly between them;
- :class:`TemperatureCalibrator` (multiclass, or binary log-odds): one temperature,
  ``softmax(s / T)``, which changes confidence but never the ranking or the predicted class.

Each has ``transform(scores) -> (n, k)`` probabilities, ``transform_one(row)`` equal to
the matching row of ``transform`` bit for bit (the scoring service's path: both run the
same NumPy code on a two-dimensional array), and a JSON image (``to_dict``,
:func:`calibrator_from_dict`) with floats in exact hex.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal, Self

import numpy as np
import numpy.typing as npt

from suture.errors import ConfigError, CorruptStateError, NotFittedError
from suture.models.base import Task, hex_array, unhex_array
from suture.models.result import Calibrator

__all__ = [
    "ISOTONIC_MIN_ROWS",
    "IsotonicCalibrator",
    "PlattCalibrator",
    "TemperatureCalibrator",
    "calibrator_from_dict",
    "fit_calibrator",
]

F64 = npt.NDArray[np.float64]
Method = Literal["auto", "platt", "isotonic", "temperature", "none"]

#: The name and version of a calibrator's JSON image.
FORMAT = "suture.calibrator"
FORMAT_VERSION = 1
#: ``method="auto"`` picks isotonic calibration when each class has at least this many rows
#: (a step function needs many rows per step), else Platt's two parameters.
ISOTONIC_MIN_ROWS = 1000
_MAX_ITER = 100


def _sigmoid(z: F64) -> F64:
    return np.asarray(np.exp(-np.logaddexp(0.0, -z)), dtype=np.float64)


def _two_columns(positive: F64) -> F64:
    return np.column_stack([1.0 - positive, positive])


def _scores(scores: npt.ArrayLike, width: int | None, owner: str) -> F64:
    """Link scores as a C-contiguous ``(n, width)`` array (width 1 for binary log-odds)."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim == 1:
        s = s.reshape(-1, 1)
    if s.ndim != 2 or (width is not None and s.shape[1] != width):
        want = "(rows,)" if width == 1 else f"(rows, {width})"
        raise ConfigError(f"{owner}: scores must have shape {want}, got {np.shape(scores)}")
    return np.ascontiguousarray(s)


def _check_fit(
    scores: npt.ArrayLike, y: npt.ArrayLike, width: int | None, owner: str
) -> tuple[F64, npt.NDArray[np.int64]]:
    s = _scores(scores, width, owner)
    target = np.asarray(y, dtype=np.float64).ravel()
    if target.size != s.shape[0]:
        raise ConfigError(f"{owner}: {s.shape[0]} scores but {target.size} targets")
    if s.shape[0] == 0:
        raise ConfigError(f"{owner}: cannot fit on zero rows")
    if not np.all(np.isfinite(s)):
        bad = int(np.count_nonzero(~np.isfinite(s).all(axis=1)))
        raise ConfigError(
            f"{owner}: {bad} row(s) have NaN or infinite scores; fit on rows every fold "
            "scored (np.isfinite)"
        )
    k = max(2, s.shape[1])
    if np.any((target < 0) | (target >= k) | (target != np.round(target))):
        raise ConfigError(f"{owner}: y must hold class codes 0..{k - 1}, got other values")
    codes = target.astype(np.int64)
    present = np.bincount(codes, minlength=k)
    if np.count_nonzero(present) < 2:
        raise ConfigError(f"{owner}: y holds one class only; calibration needs at least two")
    return s, codes


class _Base:
    """Shared plumbing: fitted check, ``transform_one`` and the JSON image."""

    kind: str = "calibrator"
    _fields: ClassVar[tuple[str, ...]] = ()

    def _fitted(self) -> None:
        if not all(hasattr(self, name) for name in self._fields):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit before using it"
            )

    def fit(self, scores: npt.ArrayLike, y: npt.ArrayLike) -> Self:
        """Fit on out-of-fold link scores and encoded targets; returns ``self``."""
        raise NotImplementedError

    def transform(self, scores: npt.ArrayLike) -> F64:
        """Probabilities ``(n, k)`` for link scores ``(n,)`` or ``(n, k)``."""
        self._fitted()
        return self._apply(_scores(scores, self._width(), type(self).__name__))

    def transform_one(self, scores: npt.ArrayLike) -> F64:
        """Probabilities ``(k,)`` for one row's link scores, equal to ``transform``'s row."""
        self._fitted()
        row = np.asarray(scores, dtype=np.float64).reshape(1, -1)
        out: F64 = self._apply(_scores(row, self._width(), type(self).__name__))[0]
        return out

    def _width(self) -> int | None:
        return 1

    def _apply(self, s: F64) -> F64:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """The JSON image: format, version, kind and the fitted arrays in exact hex."""
        self._fitted()
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "kind": self.kind,
            **{name.rstrip("_"): hex_array(getattr(self, name)) for name in self._fields},
        }

    def _load(self, data: Mapping[str, Any]) -> None:
        for name in self._fields:
            values = unhex_array(data[name.rstrip("_")], f"{self.kind} calibrator")
            setattr(self, name, values)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class PlattCalibrator(_Base):
    """Binary: ``P(positive) = sigmoid(a * score + b)``, fitted by Newton's method.

    The targets are Platt's smoothed ones, ``(N+ + 1) / (N+ + 2)`` for positives and
    ``1 / (N- + 2)`` for negatives, so two parameters never overfit to certainty.

    Attributes
    ----------
    coef_ : array of shape (2,)
        ``[a, b]``.
    """

    kind = "platt"
    _fields = ("coef_",)
    coef_: F64

    def fit(self, scores: npt.ArrayLike, y: npt.ArrayLike) -> PlattCalibrator:
        """Fit on binary log-odds ``(n,)`` and 0/1 targets; returns ``self``."""
        s, codes = _check_fit(scores, y, 1, "PlattCalibrator")
        x = s[:, 0]
        positives = int(codes.sum())
        negatives = codes.size - positives
        t = np.where(codes == 1, (positives + 1.0) / (positives + 2.0), 1.0 / (negatives + 2.0))
        coef = np.array([0.0, np.log((positives + 1.0) / (negatives + 1.0))])

        def loss(c: F64) -> float:
            z = c[0] * x + c[1]
            return float(np.sum(np.logaddexp(0.0, z) - t * z))

        current = loss(coef)
        for _ in range(_MAX_ITER):
            p = _sigmoid(coef[0] * x + coef[1])
            r = p - t
            grad = np.array([r @ x, r.sum()])
            v = p * (1.0 - p)
            hess = np.array([[v @ (x * x), v @ x], [v @ x, v.sum()]]) + 1e-12 * np.eye(2)
            step = np.linalg.solve(hess, grad)
            scale = 1.0
            while scale > 1e-10:
                trial = coef - scale * step
                value = loss(trial)
                if value <= current:
                    break
                scale *= 0.5
            else:
                break
            coef, improvement, current = trial, current - value, value
            if improvement <= 1e-14 * max(1.0, abs(current)):
                break
        self.coef_ = coef
        return self

    def _apply(self, s: F64) -> F64:
        return _two_columns(_sigmoid(self.coef_[0] * s[:, 0] + self.coef_[1]))


class TemperatureCalibrator(_Base):
    """Multiclass: ``softmax(scores / T)`` with one temperature ``T`` fitted by log loss.

    Binary log-odds ``(n,)`` work too (as the logits ``[0, s]``).  The log loss is convex
    in ``1 / T``, which Newton's method finds (kept within ``[1e-4, 1e4]``).

    Attributes
    ----------
    temperature_ : array of shape (1,)
    """

    kind = "temperature"
    _fields = ("temperature_",)
    temperature_: F64

    def fit(self, scores: npt.ArrayLike, y: npt.ArrayLike) -> TemperatureCalibrator:
        """Fit on logits ``(n, k)`` (or binary log-odds ``(n,)``) and class codes."""
        s, codes = _check_fit(scores, y, None, "TemperatureCalibrator")
        logits = _logits(s)
        own = logits[np.arange(codes.size), codes]

        def loss(beta: float) -> float:
            z = beta * logits
            top = z.max(axis=1)
            lse = top + np.log(np.exp(z - top[:, None]).sum(axis=1))
            return float(np.mean(lse - beta * own))

        beta, current = 1.0, loss(1.0)
        for _ in range(_MAX_ITER):
            z = beta * logits
            e = np.exp(z - z.max(axis=1, keepdims=True))
            p = e / e.sum(axis=1, keepdims=True)
            mean = (p * logits).sum(axis=1)
            grad = float(np.mean(mean - own))
            curve = float(np.mean((p * logits**2).sum(axis=1) - mean**2))
            if curve <= 0.0:
                break
            step, scale = grad / curve, 1.0
            while scale > 1e-10:
                trial = float(np.clip(beta - scale * step, 1e-4, 1e4))
                value = loss(trial)
                if value <= current:
                    break
                scale *= 0.5
            else:
                break
            improvement = current - value
            beta, current = trial, value
            if improvement <= 1e-14 * max(1.0, abs(current)):
                break
        self.temperature_ = np.array([1.0 / beta])
        return self

    @property
    def temperature(self) -> float:
        """The fitted temperature (above 1: the model was too sure)."""
        self._fitted()
        return float(self.temperature_[0])

    def _width(self) -> int | None:
        return None

    def _apply(self, s: F64) -> F64:
        z = _logits(s) / self.temperature_[0]
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)


def _logits(s: F64) -> F64:
    """Binary log-odds ``(n, 1)`` as the logits ``[0, s]``; wider scores unchanged."""
    if s.shape[1] == 1:
        return np.column_stack([np.zeros(s.shape[0]), s[:, 0]])
    return s


class IsotonicCalibrator(_Base):
    """Binary: the best non-decreasing map from score to probability, interpolated.

    Pool adjacent violators on the distinct scores (outcomes of equal scores pooled first)
    gives one probability per block of scores; the fit keeps each block's first and last
    score (``thresholds_``) with its probability (``values_``) and interpolates linearly
    between them, constant beyond the ends (``np.interp``), as scikit-learn's
    ``IsotonicRegression(out_of_bounds="clip")``.

    Notes
    -----
    The pooling runs as vectorized passes that merge every run of adjacent violating
    blocks at once (pooling adjacent violators in any order reaches the same unique
    solution); when a pass shrinks the blocks by less than a tenth, the few that remain
    are finished by the classic one-stack sweep.  Probabilities can reach 0 or 1 at the
    ends, where every training row agreed.
    """

    kind = "isotonic"
    _fields = ("thresholds_", "values_")
    thresholds_: F64
    values_: F64

    def fit(self, scores: npt.ArrayLike, y: npt.ArrayLike) -> IsotonicCalibrator:
        """Fit on binary log-odds (or any scores) ``(n,)`` and 0/1 targets."""
        s, codes = _check_fit(scores, y, 1, "IsotonicCalibrator")
        distinct, inverse = np.unique(s[:, 0], return_inverse=True)
        weight = np.bincount(inverse).astype(np.float64)
        total = np.asarray(np.bincount(inverse, weights=codes), dtype=np.float64)
        fitted = _pool(total, weight)
        keep = np.ones(fitted.size, dtype=bool)
        keep[1:-1] = (fitted[1:-1] != fitted[:-2]) | (fitted[1:-1] != fitted[2:])
        self.thresholds_ = distinct[keep]
        self.values_ = fitted[keep]
        return self

    def _apply(self, s: F64) -> F64:
        return _two_columns(np.interp(s[:, 0], self.thresholds_, self.values_))


def _pool(total: F64, weight: F64) -> F64:
    """Pool adjacent violators: the non-decreasing weighted means closest to ``total/weight``.

    Returns the fitted value of each input point.
    """
    size = total.size
    block = np.arange(size)  # each point's block
    sums, weights = total.copy(), weight.copy()
    while sums.size > 1:
        means = sums / weights
        violates = means[:-1] > means[1:]
        if not violates.any():
            break
        starts = np.concatenate([[True], ~violates])
        ids = np.cumsum(starts) - 1
        sums = np.asarray(np.bincount(ids, weights=sums), dtype=np.float64)
        weights = np.asarray(np.bincount(ids, weights=weights), dtype=np.float64)
        block = ids[block]
        if sums.size > 0.9 * ids.size:
            sums, weights, block = _sweep(sums, weights, block)
            break
    return np.asarray((sums / weights)[block], dtype=np.float64)


def _sweep(sums: F64, weights: F64, block: npt.NDArray[np.int64]) -> tuple[F64, F64, Any]:
    """The classic stack sweep over the remaining blocks (each pushed and popped once)."""
    stack_sum: list[float] = []
    stack_weight: list[float] = []
    first: list[int] = []
    for i, (s, w) in enumerate(zip(sums.tolist(), weights.tolist(), strict=True)):
        start = i
        while stack_sum and stack_sum[-1] * w > s * stack_weight[-1]:
            s += stack_sum.pop()
            w += stack_weight.pop()
            start = first.pop()
        stack_sum.append(s)
        stack_weight.append(w)
        first.append(start)
    merged = np.zeros(sums.size, dtype=np.int64)
    merged[np.array(first[1:], dtype=np.int64)] = 1
    ids = np.cumsum(merged)
    return np.array(stack_sum), np.array(stack_weight), ids[block]


_KINDS: dict[str, type[_Base]] = {
    "platt": PlattCalibrator,
    "isotonic": IsotonicCalibrator,
    "temperature": TemperatureCalibrator,
}


def calibrator_from_dict(data: Mapping[str, Any]) -> Calibrator:
    """Rebuild a fitted calibrator from its ``to_dict`` image (no code is executed).

    Raises
    ------
    CorruptStateError
        For another format, a newer version, an unknown kind or malformed arrays.
    """
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        raise CorruptStateError("not a suture calibrator image (possible corruption)")
    version = data.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CorruptStateError(
            f"calibrator image version {version!r} is newer than this suture reads "
            f"({FORMAT_VERSION}); upgrade suture"
        )
    cls = _KINDS.get(str(data.get("kind")))
    if cls is None:
        raise CorruptStateError(
            f"unknown calibrator kind {data.get('kind')!r} (known: {', '.join(sorted(_KINDS))})"
        )
    calibrator = cls()
    try:
        calibrator._load(data)
    except KeyError as exc:
        raise CorruptStateError(f"{cls.kind} calibrator: missing field {exc}") from None
    _check_loaded(calibrator)
    return calibrator


def _check_loaded(calibrator: _Base) -> None:
    if isinstance(calibrator, PlattCalibrator):
        ok = calibrator.coef_.shape == (2,) and bool(np.all(np.isfinite(calibrator.coef_)))
    elif isinstance(calibrator, TemperatureCalibrator):
        t = calibrator.temperature_
        ok = t.shape == (1,) and bool(np.isfinite(t[0]) and t[0] > 0)
    elif isinstance(calibrator, IsotonicCalibrator):
        x, v = calibrator.thresholds_, calibrator.values_
        ok = (
            x.size == v.size > 0
            and bool(np.all(np.diff(x) > 0) and np.all(np.diff(v) >= 0))
            and bool(np.all((v >= 0) & (v <= 1)))
        )
    else:
        ok = False
    if not ok:
        raise CorruptStateError(
            f"{calibrator.kind} calibrator: fitted arrays of the wrong shape or range "
            "(possible corruption)"
        )


def fit_calibrator(
    task: Task, scores: npt.ArrayLike, y: npt.ArrayLike, *, method: Method = "auto"
) -> Calibrator | None:
    """The calibrator for a task, fitted on out-of-fold link scores and encoded targets.

    ``method="auto"``: isotonic for a binary task when each class has at least
    :data:`ISOTONIC_MIN_ROWS` rows, else Platt; temperature for multiclass; None for
    regression (values need no calibration).  ``"none"`` gives None for any task.

    Rows whose scores are all NaN are left out: :func:`~suture.models.evaluate.oof_scores`
    marks so the rows no fold validated (the first block of forward-chaining folds).
    Infinite scores, or NaN in only some of a row's scores, are refused.

    Raises
    ------
    ConfigError
        For an unknown method, one that does not fit the task (Platt or isotonic for
        multiclass, any for regression), or scores and targets the calibrator refuses.
    """
    if method not in ("auto", "platt", "isotonic", "temperature", "none"):
        raise ConfigError(
            f"calibration method must be auto, platt, isotonic, temperature or none, got {method!r}"
        )
    if method == "none":
        return None
    if task.kind == "regression":
        if method == "auto":
            return None
        raise ConfigError(
            f"a regression task has no calibration; use method 'auto' or 'none', not {method!r}"
        )
    if task.kind == "multiclass" and method in ("platt", "isotonic"):
        raise ConfigError(
            f"{method} calibration is for binary tasks; target {task.target!r} has "
            f"{len(task.classes)} classes: use 'temperature' or 'auto'"
        )
    s = np.asarray(scores, dtype=np.float64)
    codes = np.asarray(y, dtype=np.float64).ravel()
    if s.ndim in (1, 2) and s.shape[0] == codes.size:
        unscored = np.isnan(s) if s.ndim == 1 else np.isnan(s).all(axis=1)
        if unscored.any():
            s, codes = s[~unscored], codes[~unscored]
    if method == "auto":
        if task.kind == "multiclass":
            method = "temperature"
        else:
            smaller = min(int(np.count_nonzero(codes == 1)), int(np.count_nonzero(codes == 0)))
            method = "isotonic" if smaller >= ISOTONIC_MIN_ROWS else "platt"
    return _KINDS[method]().fit(s, codes)
