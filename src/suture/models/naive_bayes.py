"""Naive Bayes from per-class sums of the feature matrix: sufficient, mergeable statistics.

A binned design (blocks of 0/1 indicators per input column) is read as categorical naive
Bayes with Laplace smoothing; a feature that is not an indicator is Gaussian per class.
Everything the fit needs is :class:`NaiveBayesStats`, per-class weight totals, sums and
sums of squares of ``X``: computed in one pass, merged by addition, so a fit from merged
partial statistics equals the fit on all rows.

Each feature's term in a class's log-likelihood is ``c0 + (c1 + c2 x) x``; the model keeps
the constants summed (with the prior) and scores ``K + sum_j (c1_j + c2_j x_j) x_j``, so
the one-record path skips zero features and still equals the matrix path bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from suture.errors import ConfigError
from suture.models.base import F64, Design, Model, hex_array, register, unhex_array
from suture.models.baseline import ABSENT_CLASS_WEIGHT
from suture.models.linear import _check_number, _check_target, _sample_weight

__all__ = ["NaiveBayes", "NaiveBayesStats"]


@dataclass(frozen=True)
class NaiveBayesStats:
    """Per-class sufficient statistics of a feature matrix.

    Attributes
    ----------
    weights : ndarray of shape (k,)
        The total row weight of each class.
    sums : ndarray of shape (k, p)
        ``sum w x`` per class and feature.
    squares : ndarray of shape (k, p)
        ``sum w x^2`` per class and feature.
    binary : ndarray of bool, shape (p,)
        Whether every value seen of the feature is 0 or 1.
    signed : ndarray of bool, shape (p,)
        Whether every value seen is -1, 0 or 1 (signed hashing): then the sums and
        squares count each of the three values exactly.

    Notes
    -----
    :meth:`merge` adds the sums and ands the flags, so it is associative and commutative
    (up to floating rounding of the sums), and :meth:`zero` is its identity.
    """

    weights: F64
    sums: F64
    squares: F64
    binary: npt.NDArray[np.bool_]
    signed: npt.NDArray[np.bool_]

    @classmethod
    def zero(cls, k: int, p: int) -> NaiveBayesStats:
        """No rows: zero sums, every feature still binary."""
        ones = np.ones(p, dtype=bool)
        return cls(np.zeros(k), np.zeros((k, p)), np.zeros((k, p)), ones, ones.copy())

    @classmethod
    def of(
        cls, X: npt.ArrayLike, y: npt.ArrayLike, k: int, sample_weight: Any = None
    ) -> NaiveBayesStats:
        """The statistics of ``X`` with class codes ``y`` (``0..k-1``) and row weights."""
        x = np.asarray(X, dtype=np.float64)
        codes = np.asarray(y, dtype=np.float64).ravel().astype(np.int64)
        w = _sample_weight("NaiveBayesStats", sample_weight, x.shape[0])
        onehot = np.zeros((x.shape[0], k))
        onehot[np.arange(x.shape[0]), codes] = w
        return cls(
            onehot.sum(axis=0),
            onehot.T @ x,
            onehot.T @ (x * x),
            np.all((x == 0.0) | (x == 1.0), axis=0),
            np.all((x == 0.0) | (x == 1.0) | (x == -1.0), axis=0),
        )

    def merge(self, other: NaiveBayesStats) -> NaiveBayesStats:
        """The statistics of both row sets together."""
        if self.sums.shape != other.sums.shape:
            raise ConfigError(
                f"cannot merge naive Bayes statistics of shape {self.sums.shape} with "
                f"{other.sums.shape}: the classes and features must match"
            )
        return NaiveBayesStats(
            self.weights + other.weights,
            self.sums + other.sums,
            self.squares + other.squares,
            self.binary & other.binary,
            self.signed & other.signed,
        )


def _categorical_block(stats: NaiveBayesStats, index: list[int]) -> bool:
    """A block of indicators at most one of which is set per row (as far as sums tell)."""
    if not stats.binary[index].all():
        return False
    totals = stats.sums[:, index].sum(axis=1)
    return bool(np.all(totals <= stats.weights * (1.0 + 1e-9) + 1e-9))


def _discrete(stats: NaiveBayesStats, j: int, alpha: float) -> tuple[F64, F64, F64]:
    """``c0, c1, c2`` of a feature valued in {0, 1} (Bernoulli) or {-1, 0, 1} per class.

    The count of each value follows from the sums and squares: ``n(1) = (q + s) / 2``,
    ``n(-1) = (q - s) / 2`` and ``n(0) = w - q``; ``c0 + c1 x + c2 x^2`` takes the log
    probability of each value (the value -1 only counted when the feature is signed).
    """
    s, q, w = stats.sums[:, j], stats.squares[:, j], stats.weights
    levels = 2.0 if stats.binary[j] else 3.0
    denominator = np.log(w + levels * alpha)
    log_zero = np.log(np.maximum(w - q, 0.0) + alpha) - denominator
    log_one = np.log(np.maximum((q + s) / 2.0, 0.0) + alpha) - denominator
    if stats.binary[j]:
        return log_zero, log_one - log_zero, np.zeros_like(w)
    log_minus = np.log(np.maximum((q - s) / 2.0, 0.0) + alpha) - denominator
    return log_zero, (log_one - log_minus) / 2.0, (log_one + log_minus) / 2.0 - log_zero


@register
class NaiveBayes(Model):
    """Naive Bayes for binary and multiclass tasks over a binned (or any) design.

    Parameters
    ----------
    smoothing : float, default 1.0
        Laplace smoothing: pseudo-weight added to every category of every class.
    var_smoothing : float, default 1e-9
        Added to every Gaussian variance, as a share of the largest variance of a
        Gaussian feature over all rows (scikit-learn's ``GaussianNB`` rule).

    Notes
    -----
    A block of 0/1 features of one input column, at most one set per row, is one
    categorical variable whose categories are its features plus "none set" when some
    rows have none.  Other 0/1 features are Bernoulli, features valued in {-1, 0, 1}
    (signed hashing) categorical with those three values, the rest Gaussian per class.
    Binary: the score is the posterior log-odds, each feature contributing its
    log-likelihood ratio ``log P(x | 1) / P(x | 0)`` and the base the prior log-odds; a
    categorical block's "none set" term is shared equally by its features.  Multiclass:
    one log joint likelihood per class.

    Attributes
    ----------
    stats_ : NaiveBayesStats
    """

    kind = "naive_bayes"
    complexity = 1
    additive = True
    tasks = frozenset({"binary", "multiclass"})
    _params = ("smoothing", "var_smoothing")

    def __init__(self, *, smoothing: float = 1.0, var_smoothing: float = 1e-9) -> None:
        self.smoothing = smoothing
        self.var_smoothing = var_smoothing

    def fit(
        self,
        X: npt.ArrayLike,
        y: npt.ArrayLike,
        *,
        design: Design,
        sample_weight: npt.ArrayLike | None = None,
    ) -> NaiveBayes:
        """Fit from the per-class sums of ``X``; returns ``self``."""
        self._check_params()
        x, target = self._check_fit(X, y, design)
        _check_target("NaiveBayes", target, design.task)
        stats = NaiveBayesStats.of(x, target, len(design.task.classes), sample_weight)
        return self.fit_stats(stats, design=design)

    def _check_params(self) -> None:
        _check_number("NaiveBayes", "smoothing", self.smoothing, low=0.0, strict=True)
        _check_number("NaiveBayes", "var_smoothing", self.var_smoothing, low=0.0, strict=False)

    def fit_stats(self, stats: NaiveBayesStats, *, design: Design) -> NaiveBayes:
        """Fit from statistics already computed (for instance merged); returns ``self``."""
        self._check_params()
        if design.task.kind not in self.tasks:
            raise ConfigError(
                f"NaiveBayes fits binary and multiclass tasks, not {design.task.kind}"
            )
        k = len(design.task.classes)
        if stats.sums.shape != (k, design.n_features):
            raise ConfigError(
                f"NaiveBayes: statistics of shape {stats.sums.shape} do not fit a design of "
                f"{k} classes and {design.n_features} features"
            )
        c0, c1, c2 = self._terms(stats, design)
        weights = np.where(stats.weights > 0.0, stats.weights, ABSENT_CLASS_WEIGHT)
        prior = np.log(weights) - np.log(weights.sum())
        if design.task.kind == "binary":
            c0, c1, c2 = (t[:, 1:] - t[:, :1] for t in (c0, c1, c2))
            prior = prior[1:] - prior[:1]
        self.stats_ = stats
        self.prior_ = prior
        self.c0_, self.c1_, self.c2_ = c0, c1, c2
        self.design_ = design
        self._compile()
        return self

    def _terms(self, stats: NaiveBayesStats, design: Design) -> tuple[F64, F64, F64]:
        """Per-feature, per-class ``c0, c1, c2`` of ``c0 + (c1 + c2 x) x``, shape (p, k)."""
        alpha = float(self.smoothing)
        k, p = stats.sums.shape
        c0, c1, c2 = np.zeros((p, k)), np.zeros((p, k)), np.zeros((p, k))
        gaussian = np.ones(p, dtype=bool)
        for index in design.blocks().values():
            if _categorical_block(stats, index):
                counts = stats.sums[:, index].T  # (m, k)
                none = np.maximum(stats.weights - counts.sum(axis=0), 0.0)
                has_none = bool(none.sum() > 0.0)
                denominator = stats.weights + alpha * (len(index) + has_none)
                logs = np.log(counts + alpha) - np.log(denominator)
                if has_none:
                    log_none = np.log(none + alpha) - np.log(denominator)
                    c0[index] = log_none / len(index)
                    logs = logs - log_none
                c1[index] = logs
                gaussian[index] = False
            else:
                for j in index:
                    if stats.signed[j]:
                        c0[j], c1[j], c2[j] = _discrete(stats, j, alpha)
                        gaussian[j] = False
        if gaussian.any():
            weights = np.maximum(stats.weights, 1e-300)[:, None]
            mean = stats.sums / weights
            var = np.maximum(stats.squares / weights - mean * mean, 0.0)
            total = max(float(stats.weights.sum()), 1e-300)
            overall = stats.squares.sum(axis=0) / total - (stats.sums.sum(axis=0) / total) ** 2
            largest = max(float(overall[gaussian].max()), 1e-12)
            epsilon = float(self.var_smoothing) * largest
            var = (var + epsilon).T  # (p, k)
            mean = mean.T
            g = gaussian
            c2[g] = -0.5 / var[g]
            c1[g] = mean[g] / var[g]
            c0[g] = -0.5 * np.log(2.0 * math.pi * var[g]) - 0.5 * mean[g] ** 2 / var[g]
        return c0, c1, c2

    def _compile(self) -> None:
        self._constant: F64 = self._sum_c0()
        self._p = self.c1_.shape[0]
        self._single = self.c1_.shape[1] == 1
        if self._single:
            self._k0: Any = float(self._constant[0])
            self._l1: Any = self.c1_[:, 0].tolist()
            self._l2: Any = self.c2_[:, 0].tolist()
            self._a1, self._a2 = self.c1_[:, 0].copy(), self.c2_[:, 0].copy()
        else:
            self._k0 = self._constant
            self._l1 = [row.copy() for row in self.c1_]
            self._l2 = [row.copy() for row in self.c2_]

    def _sum_c0(self) -> F64:
        """The prior plus every feature's constant, added in feature order."""
        total = self.prior_.copy()
        for row in self.c0_:
            total = total + row
        return np.asarray(total, dtype=np.float64)

    def _scores(self, x: F64) -> F64:
        n = x.shape[0]
        if self._single:
            s = np.full(n, self._k0)
            for j in range(self._p):
                v = x[:, j]
                s += (self._l1[j] + self._l2[j] * v) * v
            return s
        out = np.tile(self._k0, (n, 1))
        for j in range(self._p):
            v = x[:, j, None]
            out += (self._l1[j] + self._l2[j] * v) * v
        return out

    def decision_function(self, X: npt.ArrayLike) -> F64:
        """Posterior log-odds ``(n,)`` (binary) or log joint likelihoods ``(n, k)``."""
        return self._scores(self._check_X(X))

    def score_one(self, x: Sequence[float] | F64) -> F64:
        """One record's score, equal to :meth:`decision_function`'s."""
        self._fitted()
        v = np.asarray(x, dtype=np.float64).ravel()
        if v.size != self._p:
            raise ConfigError(f"NaiveBayes: a record has {self._p} features, got {v.size}")
        nonzero = v.nonzero()[0]
        if self._single:
            t = v.take(nonzero)
            s = self._k0
            for term in ((self._a1.take(nonzero) + self._a2.take(nonzero) * t) * t).tolist():
                s += term
            return np.array([s])
        t = v.take(nonzero)[:, None]
        out = self._k0.copy()
        for term in (self.c1_.take(nonzero, axis=0) + self.c2_.take(nonzero, axis=0) * t) * t:
            out += term
        return np.asarray(out, dtype=np.float64)

    def contributions(self, X: npt.ArrayLike) -> tuple[F64, F64]:
        """Each feature's log-likelihood (ratio) term; the base is the prior (log-odds)."""
        x = self._check_X(X)
        if self._single:
            terms = self.c0_[:, 0] + (self.c1_[:, 0] + self.c2_[:, 0] * x) * x
            return terms, np.full(x.shape[0], float(self.prior_[0]))
        explained = np.argmax(self._scores(x), axis=1)
        c0, c1, c2 = (t[:, explained].T for t in (self.c0_, self.c1_, self.c2_))
        return c0 + (c1 + c2 * x) * x, self.prior_[explained]

    def _state(self) -> dict[str, Any]:
        s = self.stats_
        return {
            "k": int(s.sums.shape[0]),
            "weights": hex_array(s.weights),
            "sums": hex_array(s.sums),
            "squares": hex_array(s.squares),
            "binary": [bool(b) for b in s.binary.tolist()],
            "signed": [bool(b) for b in s.signed.tolist()],
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        k, p = int(state["k"]), self.design_.n_features
        stats = NaiveBayesStats(
            unhex_array(state["weights"], "naive Bayes weights", (k,)),
            unhex_array(state["sums"], "naive Bayes sums", (k, p)),
            unhex_array(state["squares"], "naive Bayes squares", (k, p)),
            np.array([bool(b) for b in state["binary"]], dtype=bool).reshape(p),
            np.array([bool(b) for b in state["signed"]], dtype=bool).reshape(p),
        )
        self.fit_stats(stats, design=self.design_)

    def describe(self) -> dict[str, Any]:
        """The class priors and, per feature, its mean per class."""
        self._fitted()
        s, classes = self.stats_, self.design_.task.classes
        means = s.sums / np.maximum(s.weights, 1e-300)[:, None]
        return {
            "class_weights": dict(zip(classes, s.weights.tolist(), strict=True)),
            "means": [
                {"feature": f, "column": c, **dict(zip(classes, means[:, j].tolist(), strict=True))}
                for j, (f, c) in enumerate(
                    zip(self.design_.features, self.design_.columns, strict=True)
                )
            ],
        }
