"""The model bundle: everything a training run decided, as one verified folder.

:class:`ModelBundle` is what :func:`suture.train` returns and ``suture train -o MODEL``
saves: the contract, the training profile, the fitted feature pipeline, the model, its
calibrator, the metrics of every candidate, the winnowing decisions, the sensitivity
table, the lineage and a model card.  It is a :mod:`suture.bundle` folder of kind
``suture.model``::

    model/
      manifest.json        format, version, sizes and SHA-256 of every part
      contract.toml        the contract rows were checked against
      training.profile     the profile of the training rows (the drift reference)
      features.json        FeaturePipeline.to_dict (floats exact, in hex)
      model.json           Model.to_dict (floats exact, in hex)
      calibrator.json      the calibrator's image, or null (regression)
      metrics.json         candidates, holdout, tolerance, winner, what it gave up
      winnowing.json       one decision per input column, with its number
      sensitivity.json     per input column: largest change, 1%-IQR perturbation
      lineage.json         data fingerprint, row counts, parameters, seed, versions
      model_card.html      the model card (offline)

Loading verifies every checksum and reads JSON, TOML and the profile codec only: no
pickle, no code from the bundle runs.  JSON parts are written with sorted keys, so the
same training gives byte-identical parts apart from the manifest's ``created`` (pin it with
``SOURCE_DATE_EPOCH``).  Fit times are not saved, since they differ on every run.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from suture.bundle import MODEL, Bundle, created_now
from suture.errors import ConfigError, CorruptStateError, SutureError

if TYPE_CHECKING:
    import pyarrow as pa

    from suture.features import FeaturePipeline
    from suture.models.base import Model, Task
    from suture.models.result import (
        Calibrator,
        Decision,
        Evaluation,
        Sensitivity,
        TrainResult,
    )
    from suture.profile import Profile
    from suture.schema.contract import Schema

__all__ = ["FORMAT_VERSION", "PARTS", "ModelBundle", "dumps_json", "evaluation_from_dict"]

T = TypeVar("T")

#: The layout of the parts (``format_version`` in the manifest).
FORMAT_VERSION = 1
CONTRACT = "contract.toml"
PROFILE_PART = "training.profile"
FEATURES = "features.json"
MODEL_PART = "model.json"
CALIBRATOR = "calibrator.json"
METRICS = "metrics.json"
WINNOWING = "winnowing.json"
SENSITIVITY = "sensitivity.json"
LINEAGE = "lineage.json"
CARD = "model_card.html"
#: Every part of a format-1 bundle.
PARTS = (
    CALIBRATOR,
    CONTRACT,
    FEATURES,
    LINEAGE,
    METRICS,
    CARD,
    MODEL_PART,
    SENSITIVITY,
    PROFILE_PART,
    WINNOWING,
)


def dumps_json(value: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, two-space indent, no NaN (non-finite floats are null).

    Raises
    ------
    ConfigError
        For a value JSON cannot hold (the message names its type).
    """

    def other(obj: Any) -> Any:
        if hasattr(obj, "tolist"):  # NumPy scalars and arrays
            return obj.tolist()
        if isinstance(obj, tuple | set | frozenset):
            return list(obj)
        raise ConfigError(f"a model bundle holds JSON values only, got {type(obj).__name__}")

    text = json.dumps(_finite(value), sort_keys=True, indent=2, default=other, allow_nan=False)
    return (text + "\n").encode("utf-8")


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


@dataclass
class ModelBundle:
    """A trained model with everything it was trained with: score, explain, save, load.

    Build one with :meth:`from_result` (training does) or :meth:`read` (a saved folder).

    Attributes
    ----------
    task : Task
    contract : Schema
        The contract every scored row is checked against first.
    profile : Profile
        The profile of the training rows (the reference for drift).
    pipeline : FeaturePipeline
        The fitted features of the winner.
    model : Model
        The winner, fitted.
    calibrator : Calibrator or None
        Link scores to calibrated probabilities (None: regression, or the link's own
        sigmoid / softmax).
    decisions : list of Decision
        The winnowing decision for each input column.
    candidates : list of dict
        Every candidate's summary (name, kind, complexity, cv, holdout, params).
    winner : str
        The chosen candidate's name.
    holdout : Evaluation or None
        The winner's metrics on the holdout rows.
    sensitivity : list of Sensitivity
    lineage : dict
    warnings : list of str
    tolerance : float
    given_up : str
        What the winner gives up against the best candidate, one sentence.
    quarantined : int
        Training rows that broke the contract (not trained on).
    timings : dict of str to float
        Fit seconds per candidate (in memory only: not saved, so that two trainings
        write the same bytes).
    created : str
        When the bundle was made (ISO 8601), as its manifest records it.
    path : str
        Where it was read from ("" for a bundle not read from disk).
    """

    task: Task
    contract: Schema
    profile: Profile
    pipeline: FeaturePipeline
    model: Model
    calibrator: Calibrator | None
    decisions: list[Decision]
    candidates: list[dict[str, Any]]
    winner: str
    holdout: Evaluation | None
    sensitivity: list[Sensitivity]
    lineage: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    tolerance: float = math.nan
    given_up: str = ""
    quarantined: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    created: str = ""
    path: str = ""

    # -- building --------------------------------------------------------------------
    @classmethod
    def from_result(cls, result: TrainResult, *, created: str | None = None) -> ModelBundle:
        """The bundle of a training run.

        Parameters
        ----------
        result : TrainResult
        created : str, optional
            The creation time; default :func:`suture.bundle.created_now` (now, or
            ``SOURCE_DATE_EPOCH``).

        Raises
        ------
        ConfigError
            When the winner has no fitted feature pipeline, or its model was fitted on
            other features than the pipeline makes.
        """
        from suture.models.score import Scorer

        chosen = result.chosen
        if chosen.pipeline is None:
            raise ConfigError(f"the winning candidate {chosen.name!r} has no feature pipeline")
        calibrator = result.calibrator if result.calibrator is not None else chosen.calibrator
        Scorer(result.task, chosen.pipeline, chosen.model, calibrator)  # parts that agree
        return cls(
            task=result.task,
            contract=result.contract,
            profile=result.profile,
            pipeline=chosen.pipeline,
            model=chosen.model,
            calibrator=calibrator,
            decisions=list(result.decisions),
            candidates=[_summary(c.summary()) for c in result.candidates],
            winner=result.winner,
            holdout=chosen.holdout,
            sensitivity=list(result.sensitivity),
            lineage=dict(result.lineage),
            warnings=list(result.warnings),
            tolerance=float(result.tolerance),
            given_up=result.given_up,
            quarantined=int(result.quarantined),
            timings={c.name: float(c.fit_seconds) for c in result.candidates},
            created=created_now() if created is None else created,
        )

    # -- the parts ---------------------------------------------------------------------
    def metrics(self) -> dict[str, Any]:
        """The ``metrics.json`` image: candidates, the winner's holdout, selection."""
        return {
            "task": self.task.to_dict(),
            "candidates": self.candidates,
            "winner": self.winner,
            "holdout": None if self.holdout is None else self.holdout.to_dict(),
            "tolerance": self.tolerance,
            "given_up": self.given_up,
            "quarantined": self.quarantined,
            "warnings": list(self.warnings),
        }

    def parts(self) -> dict[str, bytes]:
        """Every part's bytes, as :meth:`write` saves them."""
        from suture.report.model_card import render_model_card

        calibrator = None if self.calibrator is None else self.calibrator.to_dict()
        return {
            CONTRACT: self.contract.dumps().encode("utf-8"),
            PROFILE_PART: self.profile.to_bytes(),
            FEATURES: dumps_json(self.pipeline.to_dict()),
            MODEL_PART: dumps_json(self.model.to_dict()),
            CALIBRATOR: dumps_json(calibrator),
            METRICS: dumps_json(self.metrics()),
            WINNOWING: dumps_json([d.to_dict() for d in self.decisions]),
            SENSITIVITY: dumps_json([s.to_dict() for s in self.sensitivity]),
            LINEAGE: dumps_json(self.lineage),
            CARD: render_model_card(self).encode("utf-8"),
        }

    def metadata(self) -> dict[str, Any]:
        """What the manifest says about the model (read without loading the parts)."""
        return {
            "task": self.task.to_dict(),
            "winner": self.winner,
            "model_kind": self.model.kind,
            "features": len(self.pipeline.feature_names_),
            "inputs": list(self.pipeline.columns_),
        }

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Save the bundle as a folder, atomically (complete or not at all).

        An existing model bundle of the same name is replaced; a folder holding anything
        else is refused.

        Raises
        ------
        OutputError, SourceError
            When the folder cannot be written or holds something else.
        """
        return Bundle.write(
            path, MODEL, FORMAT_VERSION, self.parts(), self.metadata(), created=self.created
        )

    # -- reading -----------------------------------------------------------------------
    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> ModelBundle:
        """Load and verify a saved bundle; no code from it runs.

        Raises
        ------
        SourceError
            When the path is missing or holds something else (a profile, a recommender).
        CorruptStateError
            When a part was altered, is missing, was added, cannot be read, or the bundle
            is newer than this suture reads (one sentence naming the file and the fix).
        """
        stored = Bundle.read(path, MODEL, max_version=FORMAT_VERSION)
        stored.expect(PARTS)
        return _Loader(stored).bundle()

    # -- scoring -----------------------------------------------------------------------
    @property
    def scoring_contract(self) -> Schema:
        """The contract restricted to what the features need: the columns they read and
        the columns their derived columns are computed from.

        The target and the columns winnowing left out are not required of scored data
        (if present they pass through unchecked).
        """
        found = self.__dict__.get("_scoring_contract")
        if found is None:
            found = self.__dict__["_scoring_contract"] = _restricted(
                self.contract, self.pipeline.columns_
            )
        return found

    @property
    def outputs(self) -> list[str]:
        """The prediction columns scoring adds: ``prediction`` and the probabilities."""
        from suture.models.score import prediction_names

        return prediction_names(self.task)

    def score(self, data: pa.Table | pa.RecordBatch, *, explain: int = 0) -> pa.Table:
        """Score a table: the rows that keep the contract, typed, with prediction columns.

        Rows that break the contract are not scored and not returned here; use
        :meth:`score_split` for them and their reasons.

        Parameters
        ----------
        data : pyarrow.Table or RecordBatch
        explain : int
            Add an ``explanation`` column with the top ``explain`` input columns per row.

        Returns
        -------
        pyarrow.Table
            The typed valid rows, then ``prediction`` and, for classes, ``probability``
            (binary: of the positive class) or ``probability_<class>`` (multiclass).
        """
        return self.score_split(data, explain=explain)[0]

    def score_split(
        self, data: pa.Table | pa.RecordBatch, *, explain: int = 0
    ) -> tuple[pa.Table, pa.Table]:
        """Score a table; return the scored rows and the quarantined ones with reasons.

        Returns
        -------
        scored : pyarrow.Table
            As :meth:`score` returns.
        quarantine : pyarrow.Table
            The rows that broke the contract as they came, with ``__row`` and the reasons
            (the layout of ``suture validate --quarantine``).
        """
        from suture.models.score import score_table

        return score_table(self, data, explain=explain)

    def score_record(self, record: Mapping[str, Any], *, explain: int = 0) -> dict[str, Any]:
        """Score one record (a dict) as the service does; equal to batch scoring.

        Parameters
        ----------
        record : mapping
            Field name to a Python value (numbers, text, booleans, None).
        explain : int
            Add ``explanation`` (the top ``explain`` input columns, each a dict of
            ``column``, ``value`` (coerced) and ``contribution``) and
            ``explanation_base``, with the contributions of batch scoring.

        Returns
        -------
        dict
            ``prediction`` and ``probability`` or ``probability_<class>`` (classes).

        Raises
        ------
        RecordError
            When the record breaks the contract (names the field and the fix).
        """
        scorer = self.__dict__.get("_record_scorer")
        if scorer is None:
            from suture.models.score import RecordScorer

            scorer = self.__dict__["_record_scorer"] = RecordScorer(self)
        result: dict[str, Any] = scorer(record, explain)
        return result


def _restricted(contract: Schema, inputs: list[str]) -> Schema:
    from suture.schema.contract import Schema

    needed = set(inputs)
    for d in reversed(contract.derived):
        if d.name in needed:
            needed |= set(contract.compiled[d.name].columns())
    columns = [c for c in contract.columns if c.name in needed]
    derived = [d for d in contract.derived if d.name in needed]
    if not columns:
        return contract
    return Schema(columns, derived, contract.meta, _origin=contract.origin)


def _summary(summary: dict[str, Any]) -> dict[str, Any]:
    """A candidate summary without a fit time (fit times differ on every run; not saved)."""
    return {k: v for k, v in summary.items() if k != "fit_seconds"}


class _Loader:
    """Turns a verified stored bundle into a :class:`ModelBundle`, part by part."""

    def __init__(self, stored: Bundle) -> None:
        self.stored = stored

    def where(self, part: str) -> str:
        return str(Path(self.stored.path) / part)

    def fail(self, part: str, exc: BaseException) -> CorruptStateError:
        detail = str(exc).rstrip(".")
        return CorruptStateError(
            f"{self.where(part)}: cannot be read ({detail}); the model bundle was altered or "
            f"written by another suture; re-create it with {MODEL.command}"
        )

    def load(self, part: str, read: Callable[[], T]) -> T:
        """``read()``, its failures reported as damage of ``part``."""
        try:
            return read()
        except CorruptStateError as exc:
            if self.where(part) in str(exc):
                raise
            raise self.fail(part, exc) from None
        except (SutureError, KeyError, TypeError, ValueError, UnicodeDecodeError) as exc:
            raise self.fail(part, exc) from None

    def json(self, part: str) -> Any:
        try:
            return json.loads(self.stored.part(part))
        except (ValueError, UnicodeDecodeError) as exc:
            raise self.fail(part, exc) from None

    def bundle(self) -> ModelBundle:
        from suture.features import FeaturePipeline
        from suture.models.base import Task, model_from_dict
        from suture.profile import Profile
        from suture.schema.contract import Schema

        metrics = self.json(METRICS)
        task = self.load(METRICS, lambda: Task.from_dict(metrics["task"]))
        contract = self.load(
            CONTRACT,
            lambda: Schema.loads(self.stored.part(CONTRACT).decode("utf-8"), self.where(CONTRACT)),
        )
        profile = self.load(
            PROFILE_PART,
            lambda: Profile.from_bytes(
                self.stored.part(PROFILE_PART), name=self.where(PROFILE_PART)
            ),
        )
        pipeline = self.load(FEATURES, lambda: FeaturePipeline.from_dict(self.json(FEATURES)))
        model = self.load(MODEL_PART, lambda: model_from_dict(self.json(MODEL_PART)))
        calibrator = self.load(CALIBRATOR, lambda: _calibrator(self.json(CALIBRATOR)))
        return ModelBundle(
            task=task,
            contract=contract,
            profile=profile,
            pipeline=pipeline,
            model=model,
            calibrator=calibrator,
            decisions=self.decisions(),
            candidates=self.listed(metrics, "candidates"),
            winner=str(metrics.get("winner", "")),
            holdout=self.evaluation(metrics.get("holdout")),
            sensitivity=self.sensitivity(),
            lineage=dict(self.json(LINEAGE) or {}),
            warnings=[str(w) for w in metrics.get("warnings") or []],
            tolerance=_float(metrics.get("tolerance")),
            given_up=str(metrics.get("given_up") or ""),
            quarantined=int(metrics.get("quarantined") or 0),
            created=self.stored.created or "",
            path=self.stored.path,
        )

    def listed(self, metrics: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
        items = metrics.get(key)
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise self.fail(METRICS, ValueError(f"{key!r} is not a list of objects"))
        return [dict(i) for i in items]

    def decisions(self) -> list[Decision]:
        from suture.models.result import Decision

        try:
            return [
                Decision(
                    column=str(d["column"]),
                    keep=bool(d["keep"]),
                    reason=str(d["reason"]),
                    value=d.get("value"),
                    threshold=d.get("threshold"),
                    message=str(d.get("message") or ""),
                    related=d.get("related"),
                )
                for d in self.json(WINNOWING)
            ]
        except (KeyError, TypeError) as exc:
            raise self.fail(WINNOWING, exc) from None

    def sensitivity(self) -> list[Sensitivity]:
        from suture.models.result import Sensitivity

        try:
            return [
                Sensitivity(
                    column=str(s["column"]),
                    largest=_float(s["largest"]),
                    perturbation=_float(s["perturbation"]),
                    method=str(s["method"]),
                )
                for s in self.json(SENSITIVITY)
            ]
        except (KeyError, TypeError) as exc:
            raise self.fail(SENSITIVITY, exc) from None

    def evaluation(self, data: Any) -> Evaluation | None:
        if data is None:
            return None
        try:
            return evaluation_from_dict(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise self.fail(METRICS, exc) from None


def _calibrator(data: Any) -> Calibrator | None:
    if data is None:
        return None
    from suture.models.calibrate import calibrator_from_dict

    found: Calibrator = calibrator_from_dict(data)
    return found


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


def evaluation_from_dict(data: Mapping[str, Any]) -> Evaluation:
    """Read :meth:`Evaluation.to_dict`'s image back (``None`` numbers as NaN)."""
    from suture.models.result import CalibrationBin, Evaluation, Metric

    metrics = {
        str(name): Metric(
            name=str(m["name"]),
            value=_float(m["value"]),
            low=_float(m.get("low")),
            high=_float(m.get("high")),
            higher_is_better=bool(m.get("higher_is_better", True)),
        )
        for name, m in dict(data["metrics"]).items()
    }
    bins = tuple(
        CalibrationBin(
            lower=_float(b["lower"]),
            upper=_float(b["upper"]),
            count=int(b["count"]),
            predicted=_float(b["predicted"]),
            observed=_float(b["observed"]),
        )
        for b in data.get("calibration") or ()
    )
    return Evaluation(metrics, str(data["primary"]), int(data["n"]), bins)
