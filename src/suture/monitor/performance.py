"""Performance before labels arrive: expected accuracy and ROC AUC from calibrated
probabilities alone (confidence-based performance estimation, as NannyML's CBPE does).

When a model's probabilities are calibrated, each row's label is a coin that lands
positive with its probability ``p``.  The expected performance on new data then follows
from the probabilities alone:

- **accuracy** at threshold ``t``: a row predicted positive (``p >= t``) is right with
  probability ``p``, a row predicted negative with ``1 - p``; the expectation is the mean
  of those, exactly;
- **ROC AUC**: the chance that a positive row scores above a negative one.  Over the
  coins, the expected count of (positive, negative) pairs in the right order is
  ``sum over i != j of p_i (1 - p_j) [s_i > s_j]`` (ties count a half) and the expected
  count of pairs ``sum over i != j of p_i (1 - p_j)``; their ratio is the estimate,
  computed exactly in one sort.

The interval is that of the realized value itself: labels are drawn from the
probabilities ``draws`` times (seeded, vectorized in blocks), each draw's accuracy and AUC
computed (the AUC from average ranks, Mann–Whitney), and the central ``confidence``
share of them kept.  If the probabilities are calibrated on the new data, the realized
value falls in the interval at the stated rate; when they are not (concept drift), no
estimate from probabilities alone can tell.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from suture.errors import ConfigError
from suture.sketches.estimate import Estimate

__all__ = [
    "DRAWS",
    "PerformanceEstimate",
    "estimate_accuracy",
    "estimate_auc",
    "estimate_performance",
    "model_performance",
    "realized_accuracy",
    "realized_auc",
    "recalibrate",
]

#: How many label draws give the interval by default.
DRAWS = 500
_BLOCK = 4_000_000  # random numbers drawn at once (32 MB)
_F = npt.NDArray[np.float64]


def _probabilities(p: object) -> _F:
    try:
        values = np.asarray(p, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ConfigError(
            f"probabilities must be a sequence of numbers, got {type(p).__name__}"
        ) from None
    if values.size == 0:
        raise ConfigError("no probabilities to estimate from: score at least one row")
    bad = ~((values >= 0.0) & (values <= 1.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ConfigError(
            f"probability {float(values[i])!r} at row {i} is not between 0 and 1; pass the "
            "calibrated probabilities of the positive class"
        )
    return values


def _check(confidence: float, draws: int, threshold: float) -> None:
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, int | float)
        or not (0.0 < confidence < 1.0)
    ):
        raise ConfigError(f"confidence must be between 0 and 1 (such as 0.95), got {confidence!r}")
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 20:
        raise ConfigError(f"draws must be a whole number of at least 20, got {draws!r}")
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not (0.0 < threshold < 1.0)
    ):
        raise ConfigError(f"threshold must be between 0 and 1, got {threshold!r}")


def _average_ranks(scores: _F) -> tuple[_F, npt.NDArray[np.intp], _F]:
    """1-based average ranks of ``scores`` (ties share their mean rank), the sort order,
    and each sorted row's tie-group index."""
    order = np.argsort(scores, kind="stable")
    ordered = scores[order]
    starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
    counts = np.diff(np.append(starts, ordered.size))
    mean_rank = starts + (counts + 1) / 2.0
    group = np.repeat(np.arange(starts.size), counts)
    ranks = np.empty(scores.size)
    ranks[order] = mean_rank[group]
    return ranks, order, group.astype(np.float64)


def _expected_auc(p: _F, scores: _F) -> float:
    """The ratio of expected ordered pairs to expected (positive, negative) pairs."""
    _, order, group = _average_ranks(scores)
    ps, qs = p[order], 1.0 - p[order]
    g = group.astype(np.intp)
    per_group_q = np.bincount(g, weights=qs)
    below = np.concatenate([[0.0], np.cumsum(per_group_q)[:-1]])  # q of lower groups
    tied = per_group_q[g] - qs  # q of the other rows of one's own group
    numerator = float(np.sum(ps * (below[g] + 0.5 * tied)))
    denominator = float(ps.sum() * qs.sum() - np.sum(ps * qs))
    return numerator / denominator if denominator > 0 else math.nan


def _draws(
    p: _F, scores: _F, threshold: float, draws: int, seed: int
) -> tuple[_F, _F]:  # fmt: skip
    """Accuracy and AUC of ``draws`` label sets drawn from ``p`` (NaN AUC for one class)."""
    rng = np.random.default_rng(seed)
    ranks, _, _ = _average_ranks(scores)
    predicted = scores >= threshold
    n = p.size
    accuracy, auc = np.empty(draws), np.empty(draws)
    block = max(1, _BLOCK // n)
    for start in range(0, draws, block):
        stop = min(draws, start + block)
        labels = rng.random((stop - start, n)) < p
        accuracy[start:stop] = (labels == predicted).mean(axis=1)
        positives = labels.sum(axis=1).astype(np.float64)
        rank_sum = labels.astype(np.float64) @ ranks
        pairs = positives * (n - positives)
        with np.errstate(invalid="ignore", divide="ignore"):
            auc[start:stop] = (rank_sum - positives * (positives + 1) / 2) / pairs
    return accuracy, auc


def _interval(values: _F, confidence: float) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return math.nan, math.nan
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(finite, [tail, 1.0 - tail])
    return float(low), float(high)


def estimate_auc(
    probabilities: Sequence[float] | _F,
    *,
    confidence: float = 0.95,
    draws: int = DRAWS,
    seed: int = 0,
) -> Estimate[float]:
    """The expected ROC AUC of calibrated probabilities, with the realized AUC's interval.

    Parameters
    ----------
    probabilities : array of float
        Calibrated probabilities of the positive class, one per row (also the scores
        ranked by the AUC).
    confidence : float, default 0.95
        The share of label draws inside the interval.
    draws : int, default :data:`DRAWS`
        Label sets drawn for the interval (seeded by ``seed``).

    Returns
    -------
    Estimate
        ``value`` the exact expectation (see the module notes), ``lower``/``upper`` the
        central ``confidence`` interval of the AUC over label draws.
    """
    return estimate_performance(
        probabilities, confidence=confidence, draws=draws, seed=seed
    ).auc  # fmt: skip


def estimate_accuracy(
    probabilities: Sequence[float] | _F,
    *,
    threshold: float = 0.5,
    confidence: float = 0.95,
    draws: int = DRAWS,
    seed: int = 0,
) -> Estimate[float]:
    """The expected accuracy at ``threshold`` of calibrated probabilities, with an interval.

    Parameters are those of :func:`estimate_auc`; rows with ``p >= threshold`` are
    predicted positive.
    """
    return estimate_performance(
        probabilities, threshold=threshold, confidence=confidence, draws=draws, seed=seed
    ).accuracy


@dataclass(frozen=True)
class PerformanceEstimate:
    """Expected accuracy and ROC AUC on new rows, from their probabilities alone.

    Attributes
    ----------
    rows : int
    accuracy, auc : Estimate
        The expectations with the realized values' intervals.
    threshold : float
        The decision threshold of the accuracy.
    reference : dict of str to float
        The values on the training (or reference) data, when given: ``accuracy``, ``auc``.
    realized : dict of str to float
        The values once labels arrived, when given.
    """

    rows: int
    accuracy: Estimate[float]
    auc: Estimate[float]
    threshold: float
    reference: dict[str, float]
    realized: dict[str, float]

    def drop(self, metric: str) -> float:
        """The reference value minus the expected one (``nan`` without a reference)."""
        estimate: Estimate[float] = getattr(self, metric)
        return self.reference.get(metric, math.nan) - estimate.value

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (``nan`` as ``None``)."""

        def num(x: float) -> float | None:
            return float(x) if math.isfinite(x) else None

        out: dict[str, Any] = {"rows": self.rows, "threshold": self.threshold}
        for metric in ("accuracy", "auc"):
            e: Estimate[float] = getattr(self, metric)
            out[metric] = {
                "expected": num(e.value), "lower": num(e.lower), "upper": num(e.upper),
                "confidence": e.confidence,
                "reference": num(self.reference.get(metric, math.nan)),
                "drop": num(self.drop(metric)),
                "realized": num(self.realized.get(metric, math.nan)),
            }  # fmt: skip
        return out


def realized_auc(probabilities: Sequence[float] | _F, labels: Sequence[int] | _F) -> float:
    """The ROC AUC of ``probabilities`` against 0/1 ``labels`` (Mann–Whitney, ties half)."""
    p = _probabilities(probabilities)
    y = np.asarray(labels, dtype=np.float64).reshape(-1)
    if y.size != p.size:
        raise ConfigError(f"{y.size} labels for {p.size} probabilities; give one per row")
    ranks, _, _ = _average_ranks(p)
    positives = float(y.sum())
    pairs = positives * (p.size - positives)
    if pairs == 0:
        return math.nan
    return float((ranks @ y - positives * (positives + 1) / 2) / pairs)


def realized_accuracy(
    probabilities: Sequence[float] | _F, labels: Sequence[int] | _F, threshold: float = 0.5
) -> float:
    """The accuracy at ``threshold`` against 0/1 ``labels``."""
    p = _probabilities(probabilities)
    y = np.asarray(labels, dtype=np.float64).reshape(-1)
    if y.size != p.size:
        raise ConfigError(f"{y.size} labels for {p.size} probabilities; give one per row")
    return float(np.mean((p >= threshold) == (y > 0.5)))


def estimate_performance(
    probabilities: Sequence[float] | _F,
    *,
    threshold: float = 0.5,
    confidence: float = 0.95,
    draws: int = DRAWS,
    seed: int = 0,
    reference: dict[str, float] | None = None,
    labels: Sequence[int] | _F | None = None,
    calibrate_on: tuple[Sequence[float] | _F, Sequence[int] | _F] | None = None,
) -> PerformanceEstimate:
    """Expected accuracy and ROC AUC from calibrated probabilities (see the module notes).

    Parameters
    ----------
    probabilities : array of float
        Calibrated probabilities of the positive class on the new rows.
    threshold, confidence, draws, seed
        See :func:`estimate_accuracy` and :func:`estimate_auc`.
    reference : dict, optional
        ``accuracy`` and ``auc`` on the training data, for the drop.
    labels : array of 0/1, optional
        The labels once they arrived: the realized values are shown beside the estimate.
    calibrate_on : (probabilities, labels), optional
        A labelled reference window after training (say last month, whose outcomes are
        known).  The probabilities are first recalibrated on it (:func:`recalibrate`), as
        CBPE fits its calibrator on a reference period: when the world moved since
        training, this calibration is the more recent one.  The rows are still ranked by
        their own probabilities.

    Raises
    ------
    ConfigError
        For a confidence, threshold or number of draws out of range, a probability
        outside [0, 1] or NaN, no rows, or labels of another length.
    """
    _check(confidence, draws, threshold)
    scores = _probabilities(probabilities)
    p = scores if calibrate_on is None else recalibrate(scores, *calibrate_on)
    accuracy_draws, auc_draws = _draws(p, scores, threshold, draws, seed)
    predicted = scores >= threshold
    expected_accuracy = float(np.mean(np.where(predicted, p, 1.0 - p)))
    a_low, a_high = _interval(accuracy_draws, confidence)
    u_low, u_high = _interval(auc_draws, confidence)
    realized: dict[str, float] = {}
    if labels is not None:
        realized = {"accuracy": realized_accuracy(scores, labels, threshold),
                    "auc": realized_auc(scores, labels)}  # fmt: skip
    return PerformanceEstimate(
        rows=int(p.size),
        accuracy=Estimate(expected_accuracy, a_low, a_high, confidence),
        auc=Estimate(_expected_auc(p, scores), u_low, u_high, confidence),
        threshold=float(threshold),
        reference=dict(reference or {}),
        realized=realized,
    )


def recalibrate(
    probabilities: Sequence[float] | _F,
    reference_probabilities: Sequence[float] | _F,
    reference_labels: Sequence[int] | _F,
) -> _F:
    """The probabilities mapped through a calibration fitted on a labelled reference window.

    Isotonic regression of the reference labels on the reference probabilities' log-odds
    (Platt scaling below 1,000 rows of either class), the calibrators training uses.

    Raises
    ------
    ConfigError
        For reference labels other than 0/1, of another length, or of one class only.
    """
    from suture.models.base import Task
    from suture.models.calibrate import fit_calibrator

    p, ref = _probabilities(probabilities), _probabilities(reference_probabilities)
    y = np.asarray(reference_labels, dtype=np.float64).ravel()
    if y.size != ref.size or not np.isin(y, (0.0, 1.0)).all():
        raise ConfigError(
            f"the reference labels must be 0 or 1, one per reference probability "
            f"({ref.size}); got {y.size} values"
        )
    if y.min() == y.max():
        raise ConfigError("the reference labels are all one class: nothing to calibrate on")
    calibrator = fit_calibrator(Task("binary", "label", ("0", "1")), _logit(ref), y)
    assert calibrator is not None  # a binary task always gets one
    out = np.asarray(calibrator.transform(_logit(p))[:, 1], dtype=np.float64)
    return np.clip(out, 0.0, 1.0)


def _logit(p: _F) -> _F:
    q = np.clip(p, 1e-15, 1.0 - 1e-15)
    return np.asarray(np.log(q) - np.log1p(-q), dtype=np.float64)


def model_performance(
    model: Any,
    data: Any,
    *,
    confidence: float = 0.95,
    draws: int = DRAWS,
    seed: int = 0,
    reference: Any = None,
) -> PerformanceEstimate:
    """Score ``data`` with a binary model bundle and estimate its performance there.

    Parameters
    ----------
    model : ModelBundle or path
        A bundle written by ``suture train`` (``suture.models.bundle.ModelBundle``) whose
        task is binary; its calibrated ``probability`` column is the input.
    data : path, table or DataFrame
        The new rows, read batch by batch; rows that break the bundle's contract are
        not scored (as :meth:`ModelBundle.score` does).  When every scored row has the
        target, the realized values are computed beside the estimate.
    reference : path, table or DataFrame, optional
        Rows after training whose outcomes are known (``suture compare``'s baseline side
        when it is data with the target).  The probabilities are recalibrated on them
        before the estimate (see :func:`recalibrate`); without the target they are not
        used.

    Returns
    -------
    PerformanceEstimate
        With the holdout's ``accuracy`` and ``auc`` as the reference (for the drop).

    Raises
    ------
    ConfigError
        When the bundle is not binary, or no row could be scored.
    """
    from suture.models.bundle import ModelBundle

    bundle = model if isinstance(model, ModelBundle) else ModelBundle.read(model)
    task = bundle.task
    if task.kind != "binary":
        name = f"the bundle {bundle.path}" if bundle.path else "the bundle"
        raise ConfigError(
            f"estimating performance before labels needs a binary model; {name} predicts "
            f"{task.target!r} ({task.kind}); compare without --model"
        )
    p, labels = _scored(bundle, data)
    calibrate_on = None
    if reference is not None:
        p_ref, y_ref = _scored(bundle, reference)
        calibrate_on = None if y_ref is None or p_ref.size == 0 else (p_ref, y_ref)
    if p.size == 0:
        raise ConfigError(
            "no row of the current side could be scored: every row breaks the model's "
            "contract (see suture score --quarantine)"
        )
    holdout: dict[str, float] = {}
    if bundle.holdout is not None:
        holdout = {m: bundle.holdout.metrics[m].value
                     for m in ("accuracy", "auc") if m in bundle.holdout.metrics}  # fmt: skip
    return estimate_performance(
        p, confidence=confidence, draws=draws, seed=seed, reference=holdout,
        labels=labels, calibrate_on=calibrate_on,
    )  # fmt: skip


def _scored(bundle: Any, data: Any) -> tuple[_F, _F | None]:
    """The bundle's calibrated probabilities of ``data``'s rows, and their labels if known."""
    from suture.models.base import encode_target
    from suture.sources import open_source

    parts: list[_F] = []
    labels: list[_F] | None = []
    for batch in open_source(data).batches():
        scored = bundle.score(batch)
        parts.append(scored.column("probability").to_numpy(zero_copy_only=False).astype(float))
        target = _typed_target(bundle, scored)
        if labels is not None and target is not None:
            labels.append(encode_target(target, bundle.task))
        else:
            labels = None
    p = np.concatenate(parts) if parts else np.zeros(0)
    return p, (np.concatenate(labels) if labels else None)


def _typed_target(bundle: Any, scored: Any) -> Any:
    """The target of the scored rows in the contract's type, or None when a row lacks it."""
    from suture.schema.checks import ColumnCheck

    name = bundle.task.target
    if name not in scored.column_names:
        return None
    raw = scored.column(name).combine_chunks()
    if name in bundle.contract.by_name:
        raw = ColumnCheck(bundle.contract[name], raw.type, "the current side").convert(raw).values
    return None if raw.null_count else raw
