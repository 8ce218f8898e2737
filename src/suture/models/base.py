"""The interface every candidate model follows, and the task and design it is fitted for.

A model is fitted on a float64 matrix ``X`` built by a
:class:`~suture.features.FeaturePipeline` and an encoded target ``y``
(:func:`encode_target`).  It answers in *link space*: the value for regression, the
log-odds of the positive class for binary classification, one logit per class for
multiclass.  Calibration (``suture.models.calibrate``) maps link scores to probabilities
afterwards, so every model is judged and served the same way.

Each model has three paths that agree:

- ``decision_function(X)``: a whole matrix, vectorized;
- ``score_one(x)``: one feature vector, plain floats and NumPy on small arrays, the
  scoring service's hot path (no scikit-learn or pandas per record);
- ``contributions(X)``: per-feature contributions in link space and a base value whose
  sum is the link score (exact for additive models, TreeSHAP for boosted trees).

and one JSON image (``to_dict`` / :func:`model_from_dict`): no pickle, no code is
executed when a model is loaded.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from suture.errors import ConfigError, CorruptStateError, NotFittedError, SchemaError

__all__ = [
    "Design",
    "Model",
    "Task",
    "TaskKind",
    "encode_target",
    "hex_array",
    "model_from_dict",
    "register",
    "unhex_array",
]

F64 = npt.NDArray[np.float64]
TaskKind = Literal["binary", "multiclass", "regression"]
TASK_KINDS: tuple[TaskKind, ...] = ("binary", "multiclass", "regression")
MODEL_FORMAT = "suture.model"
MODEL_FORMAT_VERSION = 1

M = TypeVar("M", bound="Model")


@dataclass(frozen=True)
class Task:
    """What is predicted: the target column, the kind of task and, for classes, the labels.

    Parameters
    ----------
    kind : {"binary", "multiclass", "regression"}
    target : str
        The target column.
    classes : tuple of str
        The class labels as text, in code order (``y == i`` means ``classes[i]``).  For a
        binary task ``classes[1]`` is the positive class.  Empty for regression.
    """

    kind: TaskKind
    target: str
    classes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in TASK_KINDS:
            raise ConfigError(f"the task must be one of {', '.join(TASK_KINDS)}, got {self.kind!r}")
        if self.kind == "regression" and self.classes:
            raise ConfigError("a regression task has no classes")
        if self.kind == "binary" and len(self.classes) != 2:
            raise ConfigError(
                f"a binary task has two classes, got {len(self.classes)}: {self.classes!r}"
            )
        if self.kind == "multiclass" and len(self.classes) < 3:
            raise ConfigError(f"a multiclass task has at least three classes, got {self.classes!r}")

    @property
    def is_classification(self) -> bool:
        """Whether the target is a class (binary or multiclass)."""
        return self.kind != "regression"

    @property
    def n_outputs(self) -> int:
        """The width of the link score: one, or one per class for multiclass."""
        return len(self.classes) if self.kind == "multiclass" else 1

    @property
    def positive(self) -> str | None:
        """The positive class of a binary task."""
        return self.classes[1] if self.kind == "binary" else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON image."""
        return {"kind": self.kind, "target": self.target, "classes": list(self.classes)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Task:
        """Read :meth:`to_dict`'s image."""
        try:
            return cls(str(data["kind"]), str(data["target"]), tuple(map(str, data["classes"])))  # type: ignore[arg-type]
        except (KeyError, TypeError) as exc:
            raise CorruptStateError(f"task: missing or malformed field {exc}") from None


@dataclass(frozen=True)
class Design:
    """The columns of a feature matrix: each feature's name and the input column it encodes.

    Parameters
    ----------
    task : Task
    features : tuple of str
        Feature names, one per column of ``X``.
    columns : tuple of str
        The input column of each feature (same length as ``features``); the features of
        one input column are adjacent and in their natural order (bins low to high).
    monotone : mapping of str to int
        Declared monotone direction per input column: ``1`` rising, ``-1`` falling.
    """

    task: Task
    features: tuple[str, ...]
    columns: tuple[str, ...]
    monotone: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.features) != len(self.columns):
            raise ConfigError(
                f"a design needs one input column per feature: {len(self.features)} features, "
                f"{len(self.columns)} columns"
            )
        bad = {c: d for c, d in self.monotone.items() if d not in (-1, 1)}
        if bad:
            raise ConfigError(f"monotone directions must be 1 or -1, got {bad!r}")

    @property
    def n_features(self) -> int:
        """The number of columns of ``X``."""
        return len(self.features)

    def blocks(self) -> dict[str, list[int]]:
        """Input column to the indices of its features, in order of first appearance."""
        out: dict[str, list[int]] = {}
        for i, column in enumerate(self.columns):
            out.setdefault(column, []).append(i)
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON image."""
        return {
            "task": self.task.to_dict(),
            "features": list(self.features),
            "columns": list(self.columns),
            "monotone": dict(sorted(self.monotone.items())),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Design:
        """Read :meth:`to_dict`'s image."""
        try:
            return cls(
                Task.from_dict(data["task"]),
                tuple(map(str, data["features"])),
                tuple(map(str, data["columns"])),
                {str(k): int(v) for k, v in data.get("monotone", {}).items()},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptStateError(f"design: missing or malformed field {exc}") from None


def encode_target(array: pa.Array | pa.ChunkedArray, task: Task) -> F64:
    """The target as floats: the value, 0/1 (positive is 1), or the class code ``0..k-1``.

    Raises
    ------
    SchemaError
        For a null target, or a class not in ``task.classes`` (with the label and count).
    """
    nulls = array.null_count
    if nulls:
        raise SchemaError(
            f"target {task.target!r} has {nulls} null value(s); drop or fill them before training"
        )
    if task.kind == "regression":
        values = np.asarray(pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False))
        bad = int(np.count_nonzero(~np.isfinite(values)))
        if bad:
            raise SchemaError(f"target {task.target!r} has {bad} NaN or infinite value(s)")
        return values.astype(np.float64)
    text = pc.cast(array, pa.string()) if not pa.types.is_string(array.type) else array
    if pa.types.is_boolean(array.type):
        text = pc.if_else(array, "true", "false")
    codes = pc.index_in(text, value_set=pa.array(list(task.classes), pa.string()))
    unknown = codes.null_count
    if unknown:
        seen = pc.unique(pc.filter(text, pc.is_null(codes))).to_pylist()[:5]
        raise SchemaError(
            f"target {task.target!r} has {unknown} value(s) outside the classes "
            f"{list(task.classes)!r}, such as {seen!r}"
        )
    return np.asarray(codes.to_numpy(zero_copy_only=False), dtype=np.float64)


def hex_array(values: npt.ArrayLike) -> list[str]:
    """Floats as exact hex strings, for JSON images that round-trip bit for bit."""
    return [float(v).hex() for v in np.asarray(values, dtype=np.float64).ravel()]


def unhex_array(values: Any, where: str, shape: Sequence[int] | None = None) -> F64:
    """Read :func:`hex_array`'s strings back (reshaped when ``shape`` is given)."""
    try:
        out = np.array([float.fromhex(v) for v in values], dtype=np.float64)
        return out.reshape(tuple(shape)) if shape is not None else out
    except (TypeError, ValueError) as exc:
        raise CorruptStateError(f"{where}: expected floats in hex notation ({exc})") from None


_REGISTRY: dict[str, type[Model]] = {}


def register(cls: type[M]) -> type[M]:
    """Class decorator: make ``cls`` loadable by :func:`model_from_dict` under ``cls.kind``."""
    if cls.kind in _REGISTRY and _REGISTRY[cls.kind] is not cls:
        raise ConfigError(f"two model classes claim the kind {cls.kind!r}")
    _REGISTRY[cls.kind] = cls
    return cls


class Model(ABC):
    """Base of the candidate models: parameters, fitted-state plumbing and the JSON image.

    Subclasses set ``kind`` (the registry name), ``complexity`` (lower is simpler: the
    selection rule prefers it), ``tasks`` (the task kinds supported) and ``_params`` (the
    keyword-only ``__init__`` parameters, stored unchanged), and implement ``fit``,
    ``decision_function``, ``score_one``, ``contributions``, ``_state`` and
    ``_set_state``.

    Attributes
    ----------
    design_ : Design
        The design it was fitted on.
    """

    kind: ClassVar[str] = "model"
    complexity: ClassVar[int] = 100
    #: Whether each input column's contribution is independent of the others (linear,
    #: naive Bayes, scorecard), which makes robustness bounds exact rather than searched.
    additive: ClassVar[bool] = False
    tasks: ClassVar[frozenset[str]] = frozenset(TASK_KINDS)
    _params: ClassVar[tuple[str, ...]] = ()
    design_: Design

    # -- parameters -------------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        """The parameters as given to ``__init__``."""
        return {name: getattr(self, name) for name in self._params}

    def clone(self: M, **changes: Any) -> M:
        """An unfitted copy with the same parameters, some replaced by ``changes``."""
        unknown = sorted(set(changes) - set(self._params))
        if unknown:
            raise ConfigError(f"{type(self).__name__} has no parameter {', '.join(unknown)}")
        return type(self)(**{**self.get_params(), **changes})

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _fitted(self) -> None:
        if not hasattr(self, "design_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit before using it"
            )

    def _check_fit(self, X: npt.ArrayLike, y: npt.ArrayLike, design: Design) -> tuple[F64, F64]:
        """Validate ``X``, ``y`` and the task; return them as float64 arrays."""
        if design.task.kind not in self.tasks:
            raise ConfigError(
                f"{type(self).__name__} fits {', '.join(sorted(self.tasks))} tasks, "
                f"not {design.task.kind}"
            )
        x = np.asarray(X, dtype=np.float64)
        target = np.asarray(y, dtype=np.float64).ravel()
        if x.ndim != 2 or x.shape[1] != design.n_features:
            raise ConfigError(
                f"{type(self).__name__}: X must have shape (rows, {design.n_features}), "
                f"got {x.shape}"
            )
        if x.shape[0] != target.size:
            raise ConfigError(
                f"{type(self).__name__}: X has {x.shape[0]} rows but y has {target.size}"
            )
        if x.shape[0] == 0:
            raise ConfigError(f"{type(self).__name__}: cannot fit on zero rows")
        return x, target

    def _check_X(self, X: npt.ArrayLike) -> F64:
        self._fitted()
        x = np.asarray(X, dtype=np.float64)
        if x.ndim == 1:
            x = x.reshape(1, -1)
        if x.ndim != 2 or x.shape[1] != self.design_.n_features:
            raise ConfigError(
                f"{type(self).__name__}: X must have {self.design_.n_features} columns "
                f"({', '.join(self.design_.features[:5])}...), got shape {x.shape}"
            )
        return x

    # -- what subclasses implement ----------------------------------------------------
    @abstractmethod
    def fit(
        self: M,
        X: npt.ArrayLike,
        y: npt.ArrayLike,
        *,
        design: Design,
        sample_weight: npt.ArrayLike | None = None,
    ) -> M:
        """Fit on the matrix ``X`` (columns ``design.features``) and encoded target ``y``."""

    @abstractmethod
    def decision_function(self, X: npt.ArrayLike) -> F64:
        """Link scores: shape ``(n,)``, or ``(n, k)`` for multiclass."""

    @abstractmethod
    def score_one(self, x: Sequence[float] | F64) -> F64:
        """The link score of one feature vector, shape ``(task.n_outputs,)``."""

    @abstractmethod
    def contributions(self, X: npt.ArrayLike) -> tuple[F64, F64]:
        """Per-feature contributions ``(n, p)`` and base values ``(n,)`` in link space.

        They sum to the link score of the output explained: the value (regression), the
        positive log-odds (binary), or the predicted class's logit (multiclass).
        """

    @abstractmethod
    def _state(self) -> dict[str, Any]:
        """The fitted attributes as JSON values (floats as :func:`hex_array`)."""

    @abstractmethod
    def _set_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`_state`'s image."""

    def describe(self) -> dict[str, Any]:
        """What the model card shows: coefficients, points or structure (JSON values)."""
        return {}

    # -- shared answers ---------------------------------------------------------------
    def predict_proba(self, X: npt.ArrayLike) -> F64:
        """Uncalibrated class probabilities ``(n, k)`` from the link scores."""
        self._fitted()
        if not self.design_.task.is_classification:
            raise ConfigError(f"{type(self).__name__} predicts a value, not probabilities")
        scores = self.decision_function(X)
        if scores.ndim == 1:
            positive = np.exp(-np.logaddexp(0.0, -scores))
            return np.column_stack([1.0 - positive, positive])
        shifted = scores - scores.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        """The JSON image: kind, format version, parameters, design and fitted state."""
        self._fitted()
        return {
            "format": MODEL_FORMAT,
            "version": MODEL_FORMAT_VERSION,
            "kind": self.kind,
            "params": self.get_params(),
            "design": self.design_.to_dict(),
            "state": self._state(),
        }


def model_from_dict(data: Mapping[str, Any]) -> Model:
    """Rebuild a fitted model from :meth:`Model.to_dict`'s image (no code is executed).

    Raises
    ------
    CorruptStateError
        For an image of another format, a newer version or an unknown kind.
    """
    import suture.models  # noqa: F401  (registers the built-in kinds)

    if not isinstance(data, Mapping) or data.get("format") != MODEL_FORMAT:
        raise CorruptStateError("not a suture model image (possible corruption)")
    version = data.get("version")
    if not isinstance(version, int) or version > MODEL_FORMAT_VERSION:
        raise CorruptStateError(
            f"model image version {version!r} is newer than this suture reads "
            f"({MODEL_FORMAT_VERSION}); upgrade suture"
        )
    kind = data.get("kind")
    cls = _REGISTRY.get(str(kind))
    if cls is None:
        raise CorruptStateError(
            f"unknown model kind {kind!r} (known: {', '.join(sorted(_REGISTRY))}); "
            "the bundle may come from a newer suture"
        )
    try:
        model = cls(**dict(data["params"]))
        model.design_ = Design.from_dict(data["design"])
        model._set_state(dict(data["state"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptStateError(f"model {kind!r}: malformed image ({exc})") from None
    return model


def is_finite_number(value: object) -> bool:
    """A real number that is neither NaN nor infinite (``bool`` is not a number here)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
