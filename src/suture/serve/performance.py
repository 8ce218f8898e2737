"""Realized performance: archived predictions judged by the outcomes that came later.

:func:`realized_performance` takes the archive's labelled rows
(:meth:`~suture.serve.archive.SqlArchive.labelled`), cuts them into time windows by the
time of the *prediction* (windows aligned on multiples of ``window_seconds`` since the
Unix epoch, so the same prediction always falls in the same window), and computes per
window and overall the metrics training reports, with the same functions
(:func:`suture.models.evaluate.evaluate`, no bootstrap):

- classes: ``auc`` (rank-based, ties counted half; macro one-vs-rest for multiclass),
  ``accuracy``, ``brier`` (Brier score) and ``ece`` (expected calibration error over ten
  equal-count bins);
- values: ``rmse`` and ``mae``.

A metric that is not defined on a window (AUC where one class is absent) is None.
Outcomes that are not a class of the model, or outputs without the probabilities, are
left out and counted in ``skipped``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from suture.errors import ConfigError
from suture.models.base import Task
from suture.models.evaluate import calibration_error, evaluate
from suture.serve.archive import LabelledRows, iso_time

__all__ = ["realized_performance"]

F64 = npt.NDArray[np.float64]


def _truth(task: Task, outcomes: list[Any]) -> F64:
    """Outcomes as ``evaluate`` takes them: class codes or values; NaN where unusable."""
    if task.kind == "regression":
        return np.fromiter((_number(v) for v in outcomes), dtype=np.float64, count=len(outcomes))
    code = {c: float(i) for i, c in enumerate(task.classes)}
    return np.fromiter(
        (code.get(_label(v), math.nan) for v in outcomes), dtype=np.float64, count=len(outcomes)
    )


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value)


def _label(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return str(int(value))
    return value if isinstance(value, str) else ""


def _predicted(task: Task, outputs: list[dict[str, Any]]) -> F64:
    """P(positive) ``(n,)``, class probabilities ``(n, k)`` or values ``(n,)``; NaN where
    an output lacks them."""
    n = len(outputs)
    if task.kind == "regression":
        return np.fromiter(
            (_number(o.get("value", o.get("prediction"))) for o in outputs), np.float64, count=n
        )
    if task.kind == "binary":
        return np.fromiter((_number(o.get("probability")) for o in outputs), np.float64, count=n)
    names = [f"probability_{c}" for c in task.classes]
    flat = np.fromiter(
        (
            _number(_class_probability(o, c, name))
            for o in outputs
            for c, name in zip(task.classes, names, strict=True)
        ),
        np.float64,
        count=n * len(names),
    )
    return flat.reshape(n, len(names))


def _class_probability(output: dict[str, Any], label: str, name: str) -> Any:
    if name in output:
        return output[name]
    probabilities = output.get("probabilities")
    return probabilities.get(label) if isinstance(probabilities, dict) else None


def _usable(task: Task, out: F64) -> npt.NDArray[np.bool_]:
    """Rows whose output ``evaluate`` can judge: finite, probabilities in [0, 1]."""
    fine = np.isfinite(out)
    if task.is_classification:
        fine &= (out >= 0.0) & (out <= 1.0)
    if out.ndim == 1:
        return fine
    rows: npt.NDArray[np.bool_] = fine.all(axis=1) & (np.where(fine, out, 0.0).sum(axis=1) > 0.0)
    return rows


def _metrics(task: Task, y: F64, out: F64) -> dict[str, float | None]:
    """The realized metrics of one set of rows (None where undefined)."""
    if task.kind == "multiclass":
        out = out / out.sum(axis=1, keepdims=True)
    evaluation = evaluate(task, y, out, n_boot=0)
    names = ("rmse", "mae") if task.kind == "regression" else ("auc", "accuracy", "brier")
    found: dict[str, float | None] = {name: evaluation.metrics[name].value for name in names}
    if task.is_classification:
        found["ece"] = calibration_error(evaluation)
    return {k: v if v is not None and math.isfinite(v) else None for k, v in found.items()}


def realized_performance(
    task: Task, rows: LabelledRows, *, window_seconds: float = 3600.0
) -> dict[str, Any]:
    """Realized performance per time window and overall.

    Parameters
    ----------
    task : Task
        The bundle's task (its kind and classes).
    rows : LabelledRows
        Predictions joined with their outcomes.
    window_seconds : float, default 3600
        The width of a window.

    Returns
    -------
    dict
        ``windows``: one dict per window holding labelled predictions, oldest first, with
        ``start``/``end`` (Unix seconds), ``start_time``/``end_time`` (ISO 8601 UTC),
        ``n`` and the metrics; ``overall``: ``n`` and the metrics over every row;
        ``skipped``: rows left out (an outcome that is not a class, an output without
        probabilities).

    Raises
    ------
    ConfigError
        For a window that is not a positive number of seconds.
    """
    if (
        not (isinstance(window_seconds, int | float) and math.isfinite(window_seconds))
        or window_seconds <= 0
    ):
        raise ConfigError(
            f"the performance window must be a positive number of seconds, got {window_seconds!r}"
        )
    y = _truth(task, rows.outcomes)
    out = _predicted(task, rows.outputs)
    usable = np.isfinite(y) & _usable(task, out)
    y, out, ts = y[usable], out[usable], np.asarray(rows.ts, dtype=np.float64)[usable]
    result: dict[str, Any] = {
        "windows": [],
        "overall": {"n": int(y.size)},
        "skipped": int((~usable).sum()),
    }
    if y.size == 0:
        return result
    result["overall"].update(_metrics(task, y, out))
    which = np.floor(ts / window_seconds).astype(np.int64)
    order = np.argsort(which, kind="stable")
    starts, first = np.unique(which[order], return_index=True)
    for index, lo, hi in zip(
        starts.tolist(), first.tolist(), [*first[1:].tolist(), y.size], strict=True
    ):
        part = order[lo:hi]
        start = index * window_seconds
        window: dict[str, Any] = {
            "start": start,
            "end": start + window_seconds,
            "start_time": iso_time(start),
            "end_time": iso_time(start + window_seconds),
            "n": int(part.size),
        }
        window.update(_metrics(task, y[part], out[part]))
        result["windows"].append(window)
    return result
