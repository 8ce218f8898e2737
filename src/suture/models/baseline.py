"""The trivial candidate: the prior log-odds, the class log-priors or the mean.

Every other candidate is judged by how far it beats this one; a model that does not is
not worth its complexity.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from suture.errors import ConfigError
from suture.models.base import F64, Design, Model, hex_array, register, unhex_array
from suture.models.linear import _check_target, _sample_weight

__all__ = ["Baseline", "class_log_priors"]

#: The weight an absent class is given, so its log-prior stays finite.
ABSENT_CLASS_WEIGHT = 0.5


def class_log_priors(y: F64, w: F64, k: int) -> F64:
    """``log`` of each class's share of the weight; an absent class counts as 0.5.

    Parameters
    ----------
    y : ndarray of class codes ``0..k-1``
    w : ndarray of row weights
    k : int
        The number of classes.
    """
    totals = np.bincount(y.astype(np.int64), weights=w, minlength=k).astype(np.float64)
    totals = np.where(totals > 0.0, totals, ABSENT_CLASS_WEIGHT)
    return np.asarray(np.log(totals) - np.log(totals.sum()), dtype=np.float64)


@register
class Baseline(Model):
    """A constant link score: the mean, the prior log-odds or the class log-priors.

    Binary: ``log(P(1) / P(0))`` of the (weighted) training rows; multiclass: one
    log-prior per class (a class absent from the rows counts as weight 0.5); regression:
    the weighted mean.  Contributions are all zero; the base is the score.

    Attributes
    ----------
    intercept_ : ndarray of shape (k_out,)
    """

    kind = "baseline"
    complexity = 0
    additive = True
    _params = ()
    intercept_: F64

    def fit(
        self,
        X: npt.ArrayLike,
        y: npt.ArrayLike,
        *,
        design: Design,
        sample_weight: npt.ArrayLike | None = None,
    ) -> Baseline:
        """Fit the constant; returns ``self``."""
        x, target = self._check_fit(X, y, design)
        _check_target("Baseline", target, design.task)
        w = _sample_weight("Baseline", sample_weight, x.shape[0])
        task = design.task
        if task.kind == "regression":
            self.intercept_ = np.array([float(w @ target) / float(w.sum())])
        else:
            priors = class_log_priors(target, w, len(task.classes))
            self.intercept_ = np.array([priors[1] - priors[0]]) if task.kind == "binary" else priors
        self.design_ = design
        return self

    def decision_function(self, X: npt.ArrayLike) -> F64:
        """The constant, once per row: ``(n,)`` or ``(n, k)``."""
        x = self._check_X(X)
        if self.intercept_.size == 1:
            return np.full(x.shape[0], self.intercept_[0])
        return np.tile(self.intercept_, (x.shape[0], 1))

    def score_one(self, x: Sequence[float] | F64) -> F64:
        """The constant, shape ``(k_out,)``."""
        self._fitted()
        p = self.design_.n_features
        if len(x) != p:
            raise ConfigError(f"Baseline: a record has {p} features, got {len(x)}")
        return self.intercept_.copy()

    def contributions(self, X: npt.ArrayLike) -> tuple[F64, F64]:
        """Zeros per feature; the base is the explained output's constant."""
        x = self._check_X(X)
        scores = self.decision_function(x)
        base = scores if scores.ndim == 1 else scores.max(axis=1)
        return np.zeros(x.shape), np.asarray(base, dtype=np.float64)

    def _state(self) -> dict[str, Any]:
        return {"intercept": hex_array(self.intercept_)}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.intercept_ = unhex_array(state["intercept"], "baseline intercept")

    def describe(self) -> dict[str, Any]:
        """The constant (per class for multiclass)."""
        self._fitted()
        task = self.design_.task
        if self.intercept_.size == 1:
            return {"intercept": float(self.intercept_[0])}
        return {"intercept": dict(zip(task.classes, self.intercept_.tolist(), strict=True))}
