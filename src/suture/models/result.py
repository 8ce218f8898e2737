"""What training produces, shared by the trainer, the bundle writer and the model card.

These are plain data: :mod:`suture.train` fills them, :mod:`suture.models.bundle`
writes them and :mod:`suture.report.model_card` renders them.  Each has a JSON image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from suture.features import FeaturePipeline
    from suture.models.base import Model, Task
    from suture.profile import Profile
    from suture.schema.contract import Schema

__all__ = [
    "CalibrationBin",
    "Calibrator",
    "Candidate",
    "Decision",
    "Evaluation",
    "Metric",
    "Sensitivity",
    "TrainResult",
]


class Calibrator(Protocol):
    """Maps link scores to calibrated class probabilities (``suture.models.calibrate``).

    ``transform(scores)`` takes ``(n,)`` or ``(n, k)`` link scores and gives ``(n, k)``
    probabilities; ``transform_one`` does the same for one row's ``(k_out,)`` scores with
    equal results; ``to_dict`` is the JSON image.
    """

    kind: str

    def transform(self, scores: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...

    def transform_one(self, scores: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...

    def to_dict(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Metric:
    """One metric with its bootstrap 95% interval (``nan`` bounds when not computed).

    ``name`` is one of ``auc``, ``log_loss``, ``accuracy``, ``brier``, ``rmse``, ``mae``,
    ``r2``; ``higher_is_better`` says which way is good.
    """

    name: str
    value: float
    low: float = math.nan
    high: float = math.nan
    higher_is_better: bool = True

    def to_dict(self) -> dict[str, Any]:
        """A JSON image (``nan`` as ``None``)."""
        return {
            "name": self.name,
            "value": _num(self.value),
            "low": _num(self.low),
            "high": _num(self.high),
            "higher_is_better": self.higher_is_better,
        }


@dataclass(frozen=True)
class CalibrationBin:
    """Rows predicted in ``[lower, upper)``: their mean prediction and observed rate."""

    lower: float
    upper: float
    count: int
    predicted: float
    observed: float


@dataclass(frozen=True)
class Evaluation:
    """Metrics of one model on one set of rows.

    ``primary`` names the metric selection uses: ``auc`` for classification (macro
    one-vs-rest for multiclass), ``rmse`` for regression.
    """

    metrics: dict[str, Metric]
    primary: str
    n: int
    calibration: tuple[CalibrationBin, ...] = ()

    @property
    def score(self) -> float:
        """The primary metric's value."""
        return self.metrics[self.primary].value

    def to_dict(self) -> dict[str, Any]:
        """A JSON image."""
        return {
            "primary": self.primary,
            "n": self.n,
            "metrics": {k: m.to_dict() for k, m in self.metrics.items()},
            "calibration": [vars(b) for b in self.calibration],
        }


@dataclass(frozen=True)
class Decision:
    """One winnowing decision, with the number behind it.

    ``reason`` is a code: ``kept``, ``target``, ``identifier``, ``constant``,
    ``mostly_null``, ``redundant``, ``no_information``, ``leakage``, ``unsupported``,
    ``excluded`` (by the user), ``included`` (forced in by the user), ``contract``
    (``feature = false``).  ``message`` is one sentence for people.
    """

    column: str
    keep: bool
    reason: str
    value: float | None = None
    threshold: float | None = None
    message: str = ""
    related: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON image."""
        return {
            "column": self.column,
            "keep": self.keep,
            "reason": self.reason,
            "value": _num(self.value),
            "threshold": _num(self.threshold),
            "message": self.message,
            "related": self.related,
        }


@dataclass(frozen=True)
class Sensitivity:
    """How far one input column can move the score (in link units, or probability).

    ``largest`` is the largest change any value the contract allows can cause;
    ``perturbation`` the largest change from a move of 1% of the column's interquartile
    range; ``method`` is ``exact`` (linear and additive models) or ``search``.
    """

    column: str
    largest: float
    perturbation: float
    method: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON image."""
        return {
            "column": self.column,
            "largest": _num(self.largest),
            "perturbation": _num(self.perturbation),
            "method": self.method,
        }


@dataclass
class Candidate:
    """One candidate model: its features, fit and scores."""

    name: str
    model: Model
    pipeline: FeaturePipeline | None
    cv: Evaluation | None = None
    holdout: Evaluation | None = None
    fit_seconds: float = math.nan
    params: dict[str, Any] = field(default_factory=dict)
    calibrator: Calibrator | None = None

    @property
    def complexity(self) -> int:
        """The model's complexity rank (lower is simpler)."""
        return self.model.complexity

    def summary(self) -> dict[str, Any]:
        """A JSON image without the fitted objects (for metrics and the card).

        The fit time is left out: written files must be the same on every run.
        """
        return {
            "name": self.name,
            "kind": self.model.kind,
            "complexity": self.complexity,
            "cv": None if self.cv is None else self.cv.to_dict(),
            "holdout": None if self.holdout is None else self.holdout.to_dict(),
            "params": self.params,
        }


def _num(value: float | None) -> float | None:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return float(value)


@dataclass
class TrainResult:
    """Everything a training run decided, before it is written as a bundle.

    Attributes
    ----------
    task : Task
    contract : Schema
        The contract the rows were checked against (given or inferred).
    profile : Profile
        The profile of the training rows (the bundle's reference for drift).
    decisions : list of Decision
        One per input column.
    candidates : list of Candidate
        Every candidate fitted, simplest first.
    winner : str
        The chosen candidate's name.
    calibrator : Calibrator or None
        Maps the winner's link scores to calibrated probabilities (classification).
    sensitivity : list of Sensitivity
        Per input column of the winner.
    tolerance : float
        The selection tolerance used.
    given_up : str
        One sentence: what the winner gives up against the best candidate.
    quarantined : int
        Rows that broke the contract and were not trained on.
    warnings : list of str
        Train/test gap, class imbalance, leakage and similar, one sentence each.
    lineage : dict
        Data fingerprint, row counts, parameters, seed, library versions, time.
    """

    task: Task
    contract: Schema
    profile: Profile
    decisions: list[Decision]
    candidates: list[Candidate]
    winner: str
    calibrator: Calibrator | None
    sensitivity: list[Sensitivity]
    tolerance: float
    given_up: str
    quarantined: int
    warnings: list[str]
    lineage: dict[str, Any]

    @property
    def chosen(self) -> Candidate:
        """The winning candidate."""
        return next(c for c in self.candidates if c.name == self.winner)
