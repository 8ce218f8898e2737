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

:func:`estimated_performance` estimates, for a binary model, the expected ``auc`` and
``accuracy`` of every archived prediction of a window, labelled or not, from the
calibrated probabilities alone (:func:`suture.monitor.performance.estimate_performance`,
as ``suture compare --model`` does), with the interval of the realized value and the drop
against the bundle's holdout metrics; :func:`with_estimates` puts each window's estimate
beside its realized metrics.  The estimate assumes the probabilities stay calibrated: it
sees a shift of the inputs, never a change of how outcomes follow from them (concept
drift) -- only the realized values, once outcomes arrive, can show that.
"""

from __future__ import annotations

import collections
import hashlib
import math
import threading
from typing import Any

import numpy as np
import numpy.typing as npt

from suture.errors import ConfigError
from suture.models.base import Task
from suture.models.evaluate import calibration_error, evaluate
from suture.monitor.performance import DRAWS, PerformanceEstimate, estimate_performance
from suture.serve.archive import ArchivedProbabilities, LabelledRows, iso_time

__all__ = [
    "ESTIMATE_ROWS",
    "estimate_payload",
    "estimated_performance",
    "realized_performance",
    "with_estimates",
]

#: ``GET /v1/performance`` estimates from at most this many (the most recent) predictions.
ESTIMATE_ROWS = 200_000
#: Estimates kept per process, by the exact probabilities they were computed from.
CACHED_ESTIMATES = 512


class _EstimateCache:
    """The estimates of recent calls, keyed by a digest of the probabilities' bytes and
    the reference: a closed window's predictions do not change, so a dashboard polling
    ``GET /v1/performance`` recomputes only the current window and the overall one.
    The result is the one :func:`estimate_performance` gives, computed or not."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.hits = 0
        self._lock = threading.Lock()
        self._kept: collections.OrderedDict[bytes, dict[str, Any]] = collections.OrderedDict()

    def get(self, p: F64, reference: dict[str, float], draws: int) -> dict[str, Any]:
        digest = hashlib.blake2b(np.ascontiguousarray(p).tobytes(), digest_size=20)
        digest.update(repr((sorted(reference.items()), draws)).encode())
        key = digest.digest()
        with self._lock:
            found = self._kept.get(key)
            if found is not None:
                self._kept.move_to_end(key)
                self.hits += 1
                return _copied(found)
        computed = estimate_payload(estimate_performance(p, draws=draws, reference=reference))
        with self._lock:
            self._kept[key] = computed
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
        return _copied(computed)


def _copied(found: dict[str, Any]) -> dict[str, Any]:
    """A copy the caller may change without changing the kept one."""
    return {k: dict(v) if isinstance(v, dict) else v for k, v in found.items()}


_CACHE = _EstimateCache(CACHED_ESTIMATES)

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


def _check_window(window_seconds: float) -> None:
    if (
        not (isinstance(window_seconds, int | float) and math.isfinite(window_seconds))
        or window_seconds <= 0
    ):
        raise ConfigError(
            f"the performance window must be a positive number of seconds, got {window_seconds!r}"
        )


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
    _check_window(window_seconds)
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


def _number_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def estimate_payload(estimate: PerformanceEstimate) -> dict[str, Any]:
    """An estimate as ``GET /v1/performance`` shows it.

    Returns
    -------
    dict
        ``rows`` and ``threshold``, and for ``auc`` and ``accuracy``: ``value`` (the
        expectation), ``lower``/``upper`` (the interval of the realized value),
        ``confidence``, ``rows``, ``reference`` (the bundle's holdout value) and ``drop``
        (reference minus value); None where a number is undefined.
    """
    out: dict[str, Any] = {"rows": estimate.rows, "threshold": estimate.threshold}
    for metric in ("auc", "accuracy"):
        e = getattr(estimate, metric)
        out[metric] = {
            "value": _number_or_none(e.value),
            "lower": _number_or_none(e.lower),
            "upper": _number_or_none(e.upper),
            "confidence": e.confidence,
            "rows": estimate.rows,
            "reference": _number_or_none(estimate.reference.get(metric, math.nan)),
            "drop": _number_or_none(estimate.drop(metric)),
        }
    return out


def estimated_performance(
    archived: ArchivedProbabilities,
    *,
    window_seconds: float = 3600.0,
    reference: dict[str, float] | None = None,
    limit: int = ESTIMATE_ROWS,
    draws: int = DRAWS,
) -> dict[str, Any]:
    """The expected AUC and accuracy per time window and overall, before outcomes.

    Each window's estimate is :func:`~suture.monitor.performance.estimate_performance`
    (confidence 0.95, ``draws`` label draws, seed 0, threshold 0.5: the class the service
    answers) on the probabilities of that window's predictions.

    Parameters
    ----------
    archived : ArchivedProbabilities
        The probabilities of the span's predictions, oldest first (read with the cap
        ``limit``).
    window_seconds : float, default 3600
        The width of a window (aligned as :func:`realized_performance` aligns them).
    reference : dict, optional
        The bundle's holdout ``auc`` and ``accuracy``, for the drop.
    limit : int, default :data:`ESTIMATE_ROWS`
        The cap the probabilities were read with (reported, not applied again).
    draws : int, default :data:`~suture.monitor.performance.DRAWS`
        Label draws for the intervals.

    Returns
    -------
    dict
        ``windows``: window start (Unix seconds) to the estimate
        (:func:`estimate_payload`, with ``complete`` False for the oldest window when the
        cap cut it); ``overall``: the estimate over every row read, or None without one;
        ``estimation``: ``cap``, ``in_span`` (predictions of the span), ``read``,
        ``capped``, ``oldest_read`` (Unix seconds) and ``oldest_read_time``, ``skipped``
        (outputs without a probability between 0 and 1), ``confidence``, ``draws`` and
        ``reason`` (None, or why there is no estimate).

    Raises
    ------
    ConfigError
        For a window that is not a positive number of seconds.
    """
    _check_window(window_seconds)
    p, ts = archived.probability, archived.ts
    usable = np.isfinite(p) & (p >= 0.0) & (p <= 1.0)
    p, ts = p[usable], ts[usable]
    capped = archived.in_span > len(archived)
    oldest = float(archived.ts[0]) if len(archived) else None
    estimation: dict[str, Any] = {
        "cap": int(limit),
        "in_span": archived.in_span,
        "read": len(archived),
        "capped": capped,
        "oldest_read": oldest,
        "oldest_read_time": None if oldest is None else iso_time(oldest),
        "skipped": int((~usable).sum()),
        "confidence": 0.95,
        "draws": draws,
        "reason": None,
    }
    result: dict[str, Any] = {"windows": {}, "overall": None, "estimation": estimation}
    if p.size == 0:
        estimation["reason"] = "no prediction with a probability was archived in the span"
        return result
    holdout = dict(reference or {})

    def estimate(part: F64) -> dict[str, Any]:
        return _CACHE.get(part, holdout, draws)

    result["overall"] = {**estimate(p), "complete": not capped}
    which = np.floor(ts / window_seconds).astype(np.int64)  # ts ascending: windows in order
    starts, first = np.unique(which, return_index=True)
    bounds = [*first[1:].tolist(), p.size]
    for i, (index, lo, hi) in enumerate(zip(starts.tolist(), first.tolist(), bounds, strict=True)):
        found = estimate(p[lo:hi])
        found["complete"] = not (capped and i == 0)
        result["windows"][index * window_seconds] = found
    return result


def with_estimates(
    task: Task,
    realized: dict[str, Any],
    estimated: dict[str, Any] | None,
    *,
    window_seconds: float,
    reason: str = "",
) -> dict[str, Any]:
    """The realized windows and the estimated ones side by side.

    Every window with a labelled or an estimated prediction is listed, oldest first; each
    gets ``estimated`` (None without an estimate) beside its realized ``n`` and metrics
    (``n`` 0 and the metrics None in a window whose outcomes have not arrived).  Without
    ``estimated`` (a model that is not binary), every ``estimated`` is None and
    ``estimation`` holds only ``reason``.
    """
    if estimated is None:
        windows = [{**w, "estimated": None} for w in realized["windows"]]
        overall = {**realized["overall"], "estimated": None}
        estimation: dict[str, Any] = {"reason": reason}
        return {**realized, "windows": windows, "overall": overall, "estimation": estimation}
    names = ("rmse", "mae") if task.kind == "regression" else ("auc", "accuracy", "brier", "ece")
    by_start = {w["start"]: w for w in realized["windows"]}
    out: list[dict[str, Any]] = []
    for start in sorted({*by_start, *estimated["windows"]}):
        window = by_start.get(start)
        if window is None:
            window = {
                "start": start,
                "end": start + window_seconds,
                "start_time": iso_time(start),
                "end_time": iso_time(start + window_seconds),
                "n": 0,
                **dict.fromkeys(names),
            }
        out.append({**window, "estimated": estimated["windows"].get(start)})
    overall = {**realized["overall"], "estimated": estimated["overall"]}
    return {**realized, "windows": out, "overall": overall, "estimation": estimated["estimation"]}
