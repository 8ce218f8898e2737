"""Choosing the model: the simplest candidate within tolerance of the best, and warnings.

:func:`select` applies the rule suture is built on: among the candidates whose
cross-validated primary metric is within ``tolerance`` of the best, the simplest wins
(lowest ``model.complexity``, then name), and one sentence says what it gives up.
:func:`warnings` lists what a reader of the results must know, one sentence each: a large
gap between cross-validation and the holdout, a rare class, suspected leakage.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from suture.errors import ConfigError
from suture.models.base import Task
from suture.models.result import Candidate, Decision

__all__ = [
    "DEFAULT_AUC_TOLERANCE",
    "DEFAULT_RMSE_TOLERANCE",
    "GAP_AUC",
    "GAP_RMSE",
    "LEAKAGE_AUC",
    "MINORITY_SHARE",
    "default_tolerance",
    "select",
    "warnings",
]

#: Classification: AUC (absolute) a simpler candidate may trail the best by.
DEFAULT_AUC_TOLERANCE = 0.005
#: Regression: share of the best RMSE a simpler candidate may exceed it by.
DEFAULT_RMSE_TOLERANCE = 0.01
#: A CV/holdout gap larger than this AUC (absolute) is worth a warning...
GAP_AUC = 0.02
#: ...or than this share of the cross-validated RMSE.
GAP_RMSE = 0.10
#: A holdout AUC at least this high suggests a feature leaks the target.
LEAKAGE_AUC = 0.99
#: A class rarer than this share of the rows is called imbalanced.
MINORITY_SHARE = 0.05


def default_tolerance(task: Task) -> float:
    """0.005 AUC (absolute) for classification, 1% of the best RMSE for regression."""
    return DEFAULT_AUC_TOLERANCE if task.is_classification else DEFAULT_RMSE_TOLERANCE


def _tolerance(task: Task, tolerance: float | None) -> float:
    if tolerance is None:
        return default_tolerance(task)
    if (
        not isinstance(tolerance, int | float)
        or isinstance(tolerance, bool)
        or not math.isfinite(tolerance)
        or tolerance < 0
    ):
        unit = "AUC (absolute)" if task.is_classification else "share of the best RMSE"
        raise ConfigError(
            f"tolerance must be a number >= 0 ({unit}), got {tolerance!r}; "
            f"the default is {default_tolerance(task)}"
        )
    return float(tolerance)


def _cv(candidate: Candidate, primary: str) -> float:
    if candidate.cv is None:
        raise ConfigError(
            f"candidate {candidate.name!r} has no cross-validated evaluation; "
            "cross-validate every candidate before selecting"
        )
    metric = candidate.cv.metrics.get(primary)
    if metric is None:
        raise ConfigError(
            f"candidate {candidate.name!r} was evaluated by {candidate.cv.primary}, "
            f"not {primary}; evaluate it on the same task"
        )
    return metric.value


def _value(primary: str, value: float) -> str:
    return f"{value:.3f}" if primary == "auc" else f"{value:.4g}"


def select(
    candidates: Sequence[Candidate], *, task: Task, tolerance: float | None = None
) -> tuple[str, str]:
    """The winning candidate's name and one sentence on what it gives up against the best.

    Parameters
    ----------
    candidates : sequence of Candidate
        Each with a cross-validated evaluation (``cv``).
    task : Task
    tolerance : float, optional
        How far behind the best a simpler candidate may be and still win: AUC points
        (absolute) for classification, default 0.005; a share of the best RMSE for
        regression, default 0.01.

    Returns
    -------
    name, given_up : str

    Notes
    -----
    The best is the highest cross-validated AUC (lowest RMSE), ties to the simpler.
    Candidates whose cross-validated metric is NaN (a fold without both classes) cannot be
    judged and are passed over.

    Raises
    ------
    ConfigError
        For a negative or non-finite tolerance, no candidates, duplicate names, a
        candidate without a cross-validated evaluation of the task's primary metric, or
        none with a finite one.
    """
    primary = "auc" if task.is_classification else "rmse"
    tol = _tolerance(task, tolerance)
    if not candidates:
        raise ConfigError("there are no candidates to select from")
    names = [c.name for c in candidates]
    doubles = sorted({n for n in names if names.count(n) > 1})
    if doubles:
        raise ConfigError(f"candidate names must be unique; repeated: {', '.join(doubles)}")
    scores = {c.name: _cv(c, primary) for c in candidates}
    judged = [c for c in candidates if math.isfinite(scores[c.name])]
    if not judged:
        raise ConfigError(
            f"no candidate has a finite cross-validated {primary}; check that every fold "
            "holds every class"
        )
    simplest_first = sorted(judged, key=lambda c: (c.complexity, c.name))
    if primary == "auc":
        best = max(simplest_first, key=lambda c: scores[c.name])
        floor = scores[best.name] - tol
        eligible = [c for c in simplest_first if scores[c.name] >= floor - 1e-12]
    else:
        best = min(simplest_first, key=lambda c: scores[c.name])
        ceiling = scores[best.name] * (1.0 + tol)
        eligible = [c for c in simplest_first if scores[c.name] <= ceiling * (1 + 1e-12)]
    winner = eligible[0]
    return winner.name, _given_up(primary, winner, best, scores, tol, len(judged))


def _given_up(
    primary: str,
    winner: Candidate,
    best: Candidate,
    scores: Mapping[str, float],
    tol: float,
    judged: int,
) -> str:
    w, b = scores[winner.name], scores[best.name]
    if winner.name == best.name:
        if judged == 1:
            return f"{winner.name} is the only candidate ({primary.upper()} {_value(primary, w)})"
        return (
            f"{winner.name} has the best cross-validated {primary.upper()} "
            f"({_value(primary, w)}); nothing simpler came within the "
            f"{_tolerance_text(primary, tol)} tolerance"
        )
    if primary == "auc":
        gap = f"{b - w:.3f} AUC"
    else:
        gap = f"{(w / b - 1.0) * 100:.1f}% RMSE" if b > 0 else f"{w - b:.4g} RMSE"
    return (
        f"{winner.name} trails {best.name} by {gap} ({_value(primary, w)} vs "
        f"{_value(primary, b)}) in cross-validation; within the "
        f"{_tolerance_text(primary, tol)} tolerance"
    )


def _tolerance_text(primary: str, tol: float) -> str:
    return f"{tol:g} AUC" if primary == "auc" else f"{tol * 100:g}%"


def warnings(
    task: Task,
    candidates: Sequence[Candidate],
    winner: str,
    *,
    class_counts: Mapping[str, int] | Sequence[int] | npt.ArrayLike | None = None,
    decisions: Sequence[Decision] = (),
) -> list[str]:
    """What a reader of the results must know about them, one sentence each.

    - A large gap between the winner's cross-validated and holdout primary metric: the
      holdout outside the folds' range and further off than 0.02 AUC (10% of the RMSE),
      or, without a range, further off than that alone.
    - Class imbalance: a class below 5% of the rows (``class_counts``, by class label or
      in class-code order).
    - Suspected leakage: every decision with reason ``leakage``, and a winner whose holdout
      AUC is 0.99 or more.

    Raises
    ------
    ConfigError
        For a ``winner`` that is not a candidate, or class counts that do not match the
        task's classes.
    """
    chosen = next((c for c in candidates if c.name == winner), None)
    if chosen is None:
        raise ConfigError(
            f"winner {winner!r} is not one of the candidates "
            f"({', '.join(c.name for c in candidates)})"
        )
    out = []
    gap = _gap(task, chosen)
    if gap:
        out.append(gap)
    out.extend(_imbalance(task, class_counts))
    for d in decisions:
        if d.reason == "leakage":
            out.append(_leak(d))
    holdout = chosen.holdout
    if task.is_classification and holdout is not None and "auc" in holdout.metrics:
        auc = holdout.metrics["auc"].value
        if auc >= LEAKAGE_AUC:
            out.append(
                f"{chosen.name} scores a holdout AUC of {auc:.4f}: so close to perfect that a "
                "feature may carry the answer (leakage); check the features with the "
                "largest contributions and drop any recorded after the outcome"
            )
    return out


def _gap(task: Task, chosen: Candidate) -> str | None:
    cv, holdout = chosen.cv, chosen.holdout
    if cv is None or holdout is None:
        return None
    primary = cv.primary
    if primary not in holdout.metrics:
        return None
    metric = cv.metrics[primary]
    c, h = metric.value, holdout.metrics[primary].value
    if not (math.isfinite(c) and math.isfinite(h)):
        return None
    material = abs(h - c) > (GAP_AUC if primary == "auc" else GAP_RMSE * abs(c))
    ranged = math.isfinite(metric.low) and math.isfinite(metric.high)
    outside = not ranged or h < metric.low or h > metric.high
    if not (material and outside):
        return None
    worse = h < c if metric.higher_is_better else h > c
    if primary == "auc":
        size = f"{abs(h - c):.3f} AUC"
    else:
        size = f"{abs(h / c - 1) * 100:.0f}% RMSE" if c > 0 else f"{abs(h - c):.4g} RMSE"
    folds = f"cross-validation ({_value(primary, c)}"
    if ranged:
        folds += f"; folds {_value(primary, metric.low)} to {_value(primary, metric.high)}"
    folds += ")"
    if worse:
        return (
            f"{chosen.name} does {size} worse on the holdout ({_value(primary, h)}) than in "
            f"{folds}: it may be overfitted, or the holdout rows differ from the rest "
            "(later in time, another population); check before trusting the holdout figure"
        )
    return (
        f"{chosen.name} does {size} better on the holdout ({_value(primary, h)}) than in "
        f"{folds}: the holdout may be easier or small; expect the cross-validated figure "
        "in use"
    )


def _imbalance(
    task: Task, class_counts: Mapping[str, int] | Sequence[int] | npt.ArrayLike | None
) -> list[str]:
    if class_counts is None or not task.is_classification:
        return []
    if isinstance(class_counts, Mapping):
        unknown = sorted(set(map(str, class_counts)) - set(task.classes))
        if unknown:
            raise ConfigError(
                f"class_counts names {unknown!r}, not classes of target {task.target!r} "
                f"({list(task.classes)!r})"
            )
        counts = np.array([int(class_counts.get(c, 0)) for c in task.classes])
    else:
        counts = np.asarray(class_counts, dtype=np.int64).ravel()
        if counts.size != len(task.classes):
            raise ConfigError(
                f"class_counts has {counts.size} entries for {len(task.classes)} classes; "
                "give one count per class, in class-code order"
            )
    total = int(counts.sum())
    if total <= 0:
        return []
    out = []
    for label, count in zip(task.classes, counts.tolist(), strict=True):
        share = count / total
        if share < MINORITY_SHARE:
            out.append(
                f"class {label!r} of {task.target!r} is {share:.1%} of the rows ({count:,} of "
                f"{total:,}): accuracy says little here; judge by AUC and the calibrated "
                "probabilities, and expect wide intervals"
            )
    return out


def _leak(decision: Decision) -> str:
    fix = f"if it is known before the outcome, force it in with --include {decision.column}"
    if decision.message:
        why = decision.message.removeprefix("dropped: ").removeprefix("suspected leakage: ")
        return f"column {decision.column!r} was left out as suspected leakage ({why}); {fix}"
    value = "" if decision.value is None else f" (score {decision.value:.3g})"
    return (
        f"column {decision.column!r} was left out as suspected leakage (it predicts the "
        f"target almost perfectly on its own{value}); {fix}"
    )
