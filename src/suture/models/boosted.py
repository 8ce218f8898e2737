"""The boosted scorecard: a GAM fitted by cyclic gradient boosting on fine bins.

The model of InterpretML's Explainable Boosting Machine, made fast: every input column is
a block of bin (or level) indicators, as for :class:`~suture.models.additive.Scorecard`,
and its points are grown by many small Newton steps, one column at a time in turn, each
step the per-bin sums of the loss's gradient and curvature (two ``bincount`` calls on
the column's bin codes).  A seeded inner validation split stops the rounds; outer bags
(other inner splits) are averaged.  Then a few pairs of columns are chosen as for
:class:`~suture.models.additive.ScorecardInteractions` (the pairs whose coarse cells
explain most of the residual) and boosted the same way on their cells, the main effects
held.  Averages of points are points, so the fitted model is one points table plus a
few pair tables, scored, explained, saved and bounded exactly as the scorecard with
interactions.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from suture.errors import ConfigError
from suture.models.additive import ScorecardInteractions, _codes, ordered_features
from suture.models.base import F64, Design, register
from suture.models.linear import _check_number, _check_whole

__all__ = ["BoostedScorecard"]

I64 = npt.NDArray[np.int64]


@dataclass
class _Term:
    """One boosted term: a block's bin codes (or a pair's cells) on the fit and stop rows.

    A code equal to ``size`` is a row with no active feature in the block: it carries no
    points.  A ``linear`` term is one non-indicator feature (``values``) with one slope.
    ``order`` lists the codes of an ordered column's bins, low to high: a step on them is
    piecewise constant (a few leaves); ``direction`` makes their points monotone.
    """

    fit: I64
    stop: I64
    size: int
    values: F64 | None = None
    stop_values: F64 | None = None
    order: I64 | None = None
    direction: int = 0
    pairs: bool = False

    @property
    def linear(self) -> bool:
        return self.values is not None


@dataclass
class _Main:
    """A main-effect term before the inner split: features, row codes or values, monotone."""

    index: list[int]
    codes: I64 | None
    values: F64 | None
    order: I64 | None = None
    direction: int = 0


def _best_cut(g: F64, h: F64, c: F64, lam: float, least: float) -> tuple[float, int]:
    """The gain and position of the best cut of one segment into two (``-1``: none)."""
    gl, hl, cl = np.cumsum(g)[:-1], np.cumsum(h)[:-1], np.cumsum(c)[:-1]
    if gl.size == 0:
        return 0.0, -1
    gt, ht, ct = float(g.sum()), float(h.sum()), float(c.sum())
    gain = gl * gl / (hl + lam) + (gt - gl) ** 2 / (ht - hl + lam) - gt * gt / (ht + lam)
    gain[(cl < least) | (ct - cl < least)] = -np.inf
    k = int(np.argmax(gain))
    return (float(gain[k]), k + 1) if np.isfinite(gain[k]) and gain[k] > 0.0 else (0.0, -1)


def _leaves(g: F64, h: F64, c: F64, lam: float, least: float, leaves: int) -> F64:
    """Newton values ``-G / (H + lam)`` per bin of an ordered run cut greedily into at
    most ``leaves`` segments of at least ``least`` rows' weight each."""
    cuts = [0, g.size]
    for _ in range(leaves - 1):
        best, where = 0.0, -1
        for a, b in itertools.pairwise(cuts):
            gain, k = _best_cut(g[a:b], h[a:b], c[a:b], lam, least)
            if k > 0 and gain > best:
                best, where = gain, a + k
        if where < 0:
            break
        cuts = sorted([*cuts, where])
    out = np.empty(g.size)
    for a, b in itertools.pairwise(cuts):
        out[a:b] = -float(g[a:b].sum()) / (float(h[a:b].sum()) + lam)
    return out


def _gradient(score: F64, y: F64, w: F64, kind: str) -> tuple[F64, F64]:
    """Gradient and curvature of the loss (log loss or half squared error) per row."""
    if kind == "regression":
        return w * (score - y), w
    p = np.exp(-np.logaddexp(0.0, -score))
    return w * (p - y), w * p * (1.0 - p)


def _loss(score: F64, y: F64, w: F64, kind: str) -> float:
    if kind == "regression":
        return float(np.dot(w, (score - y) ** 2))
    return float(np.dot(w, np.logaddexp(0.0, score) - y * score))


def _isotonic(points: F64, weight: F64, increasing: bool) -> F64:
    """The weighted least-squares monotone fit of ``points`` (pool adjacent violators)."""
    from sklearn.isotonic import isotonic_regression

    return np.asarray(
        isotonic_regression(points, sample_weight=weight + 1e-12, increasing=increasing),
        dtype=np.float64,
    )


class _Booster:
    """Cyclic boosting of a list of terms on fixed fit and stop rows (one bag)."""

    def __init__(
        self,
        model: BoostedScorecard,
        y: F64,
        w: F64,
        stop_y: F64,
        stop_w: F64,
        kind: str,
        *,
        l2: float,
    ) -> None:
        self.lr = float(model.learning_rate)
        self.l2 = l2
        self.rounds = int(model.max_rounds)
        self.patience = int(model.patience)
        self.leaves = int(model.max_leaves)
        self.least = float(model.min_leaf)
        self.y, self.w, self.stop_y, self.stop_w, self.kind = y, w, stop_y, stop_w, kind

    def _step(self, term: _Term, score: F64, counts: F64) -> F64:
        """The step of one term: ``-learning_rate * G / (H + l2)`` per bin, constant on at
        most ``max_leaves`` runs of an ordered column's bins (or of a category's levels
        sorted by their step); a pair's cells and the missing or other bins step alone."""
        g, h = _gradient(score, self.y, self.w, self.kind)
        if term.linear:
            assert term.values is not None
            big_g = np.array([np.dot(g, term.values)], dtype=np.float64)
            big_h = np.array([np.dot(h, term.values * term.values)])
            return -self.lr * big_g / (big_h + self.l2)
        big_g = np.asarray(np.bincount(term.fit, weights=g, minlength=term.size + 1), np.float64)
        big_h = np.asarray(np.bincount(term.fit, weights=h, minlength=term.size + 1), np.float64)
        big_g, big_h = big_g[: term.size], big_h[: term.size]
        delta = -big_g / (big_h + self.l2)
        o = term.order
        if o is None and term.pairs is False:
            # levels of a category in the order of their steps, as LightGBM cuts them
            o = np.argsort(delta, kind="stable")
        if o is not None and o.size > 1 and self.leaves > 0:
            delta[o] = _leaves(big_g[o], big_h[o], counts[o], self.l2, self.least, self.leaves)
        return self.lr * delta

    def _apply(self, term: _Term, delta: F64, score: F64, stop: F64) -> None:
        if term.linear:
            assert term.values is not None and term.stop_values is not None
            score += delta[0] * term.values
            stop += delta[0] * term.stop_values
            return
        padded = np.append(delta, 0.0)
        score += padded[term.fit]
        stop += padded[term.stop]

    def boost(self, terms: list[_Term], score: F64, stop: F64) -> tuple[list[F64], int]:
        """Grow every term's points from zero; the points of the best round and its number."""
        points = [np.zeros(1 if t.linear else t.size) for t in terms]
        counts = [
            np.zeros(0)
            if t.linear
            else np.bincount(t.fit, weights=self.w, minlength=t.size + 1).astype(np.float64)
            for t in terms
        ]
        best = _loss(stop, self.stop_y, self.stop_w, self.kind)
        best_points = [p.copy() for p in points]
        best_round = 0
        for number in range(1, self.rounds + 1):
            for term, p, c in zip(terms, points, counts, strict=True):
                delta = self._step(term, score, c)
                if term.direction and term.order is not None:
                    o = term.order
                    moved = p + delta
                    moved[o] = _isotonic(moved[o], c[o], term.direction > 0)
                    delta = moved - p
                p += delta
                self._apply(term, delta, score, stop)
            loss = _loss(stop, self.stop_y, self.stop_w, self.kind)
            if loss < best * (1.0 - 1e-9):
                best, best_round = loss, number
                best_points = [q.copy() for q in points]
            elif number - best_round >= self.patience:
                break
        return best_points, best_round


@register
class BoostedScorecard(ScorecardInteractions):
    """A scorecard grown by cyclic gradient boosting on fine bins, plus a few pair tables.

    Parameters
    ----------
    learning_rate : float, default 0.05
        The share of each Newton step taken.
    max_rounds : int, default 2000
        At most this many rounds (one step per column each).
    patience : int, default 50
        Stop when the loss on the inner validation rows has not improved for this many
        rounds, and keep the points of the best round.
    validation : float, default 0.15
        The share of the rows held out (seeded, per bag) to stop on.
    bags : int, default 2
        Fits on other inner splits, their points averaged.
    max_rows : int, default 20000
        Each bag boosts (and stops) on a seeded sample of at most this many rows, which
        bounds a fit's time on a large table (each bag draws its own sample).
    l2 : float, default 10.0
        Added to each bin's summed curvature: shrinks bins of few rows.
    max_leaves : int, default 3
        Each step on an ordered column is constant on at most this many runs of adjacent
        bins (cut where the gain ``G^2 / (H + l2)`` is largest), as EBM's three-leaf
        trees per feature: what keeps fine bins' shapes smooth.
    min_leaf : float, default 2.0
        Rows' weight each such run holds at least.
    max_interactions, cells, interaction_alpha, min_gain
        How the pairs are chosen (on ``cells`` coarse groups per column), as for
        :class:`~suture.models.additive.ScorecardInteractions`; 0 pairs is a pure GAM.
        ``interaction_alpha`` is also the ``l2`` of the pairs' per-cell steps.
    ordered : list of str, optional
        The ordered (numeric) columns (default: inferred from the bin labels).
    seed : int, default 0
        Seeds the inner splits.

    Notes
    -----
    Binary (log loss) and regression (squared error) tasks.  Each round takes one step
    per column in turn, ``-learning_rate * G / (H + l2)`` per bin from the gradient and
    curvature at the current scores, so a column's step sees the others' updates; it is
    constant on at most ``max_leaves`` runs of adjacent bins (a category's levels sorted
    by their step), the missing and other bins stepping alone.  A non-indicator feature
    gets one slope the same way.  After the main effects the pairs
    are chosen from the residuals and boosted on their coarse cells with the main
    effects held.  A column declared monotone (``Design.monotone``) has its ordered bins'
    points projected on the monotone cone (weighted isotonic regression) after every
    step, and takes part in no interaction.  Each column's points are centred (training
    rows' weighted mean moved into the intercept).

    Attributes
    ----------
    rounds_ : list of int
        The best round of each bag's main effects.
    interactions_ : list of dict
        As for :class:`~suture.models.additive.ScorecardInteractions`.
    """

    kind = "boosted_scorecard"
    complexity = 5
    additive = False
    tasks = frozenset({"binary", "regression"})
    _params: ClassVar[tuple[str, ...]] = (  # type: ignore[assignment]
        "learning_rate",
        "max_rounds",
        "patience",
        "validation",
        "bags",
        "max_rows",
        "l2",
        "max_leaves",
        "min_leaf",
        "max_interactions",
        "cells",
        "interaction_alpha",
        "min_gain",
        "ordered",
        "seed",
    )

    def __init__(
        self,
        *,
        learning_rate: float = 0.05,
        max_rounds: int = 2000,
        patience: int = 50,
        validation: float = 0.15,
        bags: int = 2,
        max_rows: int = 20_000,
        l2: float = 10.0,
        max_leaves: int = 3,
        min_leaf: float = 2.0,
        max_interactions: int = 8,
        cells: int = 8,
        interaction_alpha: float = 3.0,
        min_gain: float = 1.0,
        ordered: Sequence[str] | None = None,
        seed: int = 0,
    ) -> None:
        self.learning_rate = learning_rate
        self.max_rounds = max_rounds
        self.patience = patience
        self.validation = validation
        self.bags = bags
        self.max_rows = max_rows
        self.l2 = l2
        self.max_leaves = max_leaves
        self.min_leaf = min_leaf
        self.max_interactions = max_interactions
        self.cells = cells
        self.interaction_alpha = interaction_alpha
        self.min_gain = min_gain
        self.ordered = ordered
        self.seed = seed

    def _check_params(self) -> None:
        name = "BoostedScorecard"
        _check_number(name, "learning_rate", self.learning_rate, low=0.0, strict=True)
        if self.learning_rate > 1.0:
            raise ConfigError(
                f"{name}: learning_rate must be at most 1, got {self.learning_rate!r}"
            )
        _check_whole(name, "max_rounds", self.max_rounds)
        _check_whole(name, "patience", self.patience)
        _check_whole(name, "bags", self.bags)
        _check_whole(name, "max_rows", self.max_rows)
        if self.max_rows < 2:
            raise ConfigError(f"{name}: max_rows must be at least 2, got {self.max_rows!r}")
        _check_number(name, "l2", self.l2, low=0.0, strict=False)
        _check_whole(name, "max_leaves", self.max_leaves)
        _check_number(name, "min_leaf", self.min_leaf, low=0.0, strict=False)
        if not (isinstance(self.validation, float) and 0.0 < self.validation < 0.5):
            raise ConfigError(
                f"{name}: validation must be a share between 0 and 0.5, got {self.validation!r}"
            )
        if isinstance(self.max_interactions, bool) or not (
            isinstance(self.max_interactions, int) and self.max_interactions >= 0
        ):
            raise ConfigError(
                f"{name}: max_interactions must be a whole number of at least 0, "
                f"got {self.max_interactions!r}"
            )
        _check_whole(name, "cells", self.cells)
        if self.cells < 2:
            raise ConfigError(f"{name}: cells must be at least 2, got {self.cells!r}")
        _check_number(name, "interaction_alpha", self.interaction_alpha, low=0.0, strict=True)
        _check_number(name, "min_gain", self.min_gain, low=0.0, strict=False)
        if isinstance(self.seed, bool) or not (isinstance(self.seed, int) and self.seed >= 0):
            raise ConfigError(
                f"{name}: seed must be a whole number of at least 0, got {self.seed!r}"
            )
        if self.ordered is not None and (
            isinstance(self.ordered, str) or not all(isinstance(c, str) for c in self.ordered)
        ):
            raise ConfigError(
                f"{name}: ordered must be a list of column names, got {self.ordered!r}"
            )

    # -- fitting ----------------------------------------------------------------------
    def fit(
        self,
        X: npt.ArrayLike,
        y: npt.ArrayLike,
        *,
        design: Design,
        sample_weight: npt.ArrayLike | None = None,
    ) -> BoostedScorecard:
        """Boost the main effects, choose and boost the pairs; returns ``self``."""
        x, target, w = self._prepare(X, y, design, sample_weight)
        kind = design.task.kind
        n = x.shape[0]
        intercept = self._start(target, w, kind)
        mains = self._main_terms(x, design)
        splits = [self._split(n, bag) for bag in range(int(self.bags))]
        coef = np.zeros(design.n_features)
        self.rounds_: list[int] = []
        for rows in splits:
            points, rounds = self._boost_bag(mains, rows, np.full(n, intercept), target, w, kind)
            self.rounds_.append(rounds)
            coef += self._scatter(mains, points, design.n_features)
        coef /= len(splits)
        intercept = self._centre(x, coef, design, intercept, w)
        score = intercept + self._main_score(x, coef)
        self.interactions_ = []
        if int(self.max_interactions) > 0:
            self._fit_pairs(x, design, score, target, w, splits)
        self._set_fit(np.concatenate([[intercept], coef]), design)
        return self

    def _start(self, target: F64, w: F64, kind: str) -> float:
        mean = float(np.dot(w, target) / max(float(w.sum()), 1e-300))
        if kind == "regression":
            return mean
        mean = min(max(mean, 1e-12), 1.0 - 1e-12)
        return float(np.log(mean / (1.0 - mean)))

    def _split(self, n: int, bag: int) -> tuple[I64, I64]:
        """A seeded inner split: the rows boosted on and the rows stopped on (sorted), at
        most ``max_rows`` of them together."""
        rng = np.random.default_rng([int(self.seed), bag])
        order = rng.permutation(n)[: int(self.max_rows)]
        held = max(1, round(float(self.validation) * order.size))
        if order.size - held < 1:
            raise ConfigError(f"BoostedScorecard: cannot fit on {n} row(s); it needs at least 2")
        return np.sort(order[held:]).astype(np.int64), np.sort(order[:held]).astype(np.int64)

    def _main_terms(self, x: F64, design: Design) -> list[_Main]:
        """Per block of indicators: its features, row codes and monotone run; per other
        feature: its values (one slope)."""
        runs = ordered_features(design, self.ordered)
        out: list[_Main] = []
        for column, index in design.blocks().items():
            if not self.indicator_[index].all():
                out.extend(_Main([j], None, x[:, j]) for j in index)
                continue
            order = None
            if column in runs:
                position = {j: i for i, j in enumerate(index)}
                order = np.array([position[j] for j in runs[column]], dtype=np.int64)
            direction = int(design.monotone.get(column, 0)) if order is not None else 0
            out.append(_Main(index, _codes(x, index), None, order, direction))
        return out

    def _boost_bag(
        self,
        mains: list[_Main],
        rows: tuple[I64, I64],
        base: F64,
        target: F64,
        w: F64,
        kind: str,
    ) -> tuple[list[F64], int]:
        """One bag of the main effects: each term's points at the best round."""
        fit, stop = rows
        terms = []
        for main in mains:
            if main.values is not None:
                terms.append(
                    _Term(fit, stop, 1, values=main.values[fit], stop_values=main.values[stop])
                )
            else:
                assert main.codes is not None
                terms.append(
                    _Term(
                        main.codes[fit],
                        main.codes[stop],
                        len(main.index),
                        order=main.order,
                        direction=main.direction,
                    )
                )
        booster = _Booster(
            self, target[fit], w[fit], target[stop], w[stop], kind, l2=float(self.l2)
        )
        return booster.boost(terms, base[fit].copy(), base[stop].copy())

    @staticmethod
    def _scatter(mains: list[_Main], points: list[F64], p: int) -> F64:
        """The terms' points as one coefficient per feature."""
        coef = np.zeros(p)
        for main, values in zip(mains, points, strict=True):
            coef[main.index] = values
        return coef

    def _main_score(self, x: F64, coef: F64) -> F64:
        """``x @ coef`` summed feature by feature, as the scoring path adds them."""
        s = np.zeros(x.shape[0])
        for j in np.flatnonzero(coef).tolist():
            s += x[:, j] * coef[j]
        return s

    def _centre(self, x: F64, coef: F64, design: Design, intercept: float, w: F64) -> float:
        """Shift each indicator block's points to a weighted mean of zero over the training
        rows, into the intercept (when every row has one active feature in the block)."""
        total = float(w.sum())
        for index in design.blocks().values():
            if not self.indicator_[index].all():
                continue
            block = x[:, index]
            if total <= 0.0 or not np.all(block.sum(axis=1) == 1.0):
                continue
            mean = float(np.dot(w, block @ coef[index]) / total)
            coef[index] -= mean
            intercept += mean
        return intercept

    def _fit_pairs(
        self,
        x: F64,
        design: Design,
        score: F64,
        target: F64,
        w: F64,
        splits: list[tuple[I64, I64]],
    ) -> None:
        """Choose the pairs from the residuals at ``score`` and boost their cells (per bag,
        averaged), the main effects held."""
        kind = design.task.kind
        blocks = self._eligible(x, design)
        pairs = self._choose(blocks, score, target, w, kind)
        if not pairs:
            return
        cells = [self._cells(blocks[p], blocks[r]) for p, r in pairs]
        tables = [np.zeros(shape[0] * shape[1]) for _, shape in cells]
        for fit, stop in splits:
            terms = [_Term(cell[fit], cell[stop], shape[0] * shape[1]) for cell, shape in cells]
            booster = _Booster(
                self,
                target[fit],
                w[fit],
                target[stop],
                w[stop],
                kind,
                l2=float(self.interaction_alpha),
            )
            points, _ = booster.boost(terms, score[fit].copy(), score[stop].copy())
            for table, values in zip(tables, points, strict=True):
                table += values
        for (p, r), (_, shape), table in zip(pairs, cells, tables, strict=True):
            self.interactions_.append(
                {
                    "columns": (p, r),
                    "maps": (blocks[p][1].tolist(), blocks[r][1].tolist()),
                    "table": (table / len(splits)).reshape(shape),
                }
            )

    # -- state ------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "rounds": [int(r) for r in self.rounds_]}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.rounds_ = [int(r) for r in state["rounds"]]
        super()._set_state(state)
