"""The additive scorecard, and the scorecard with a few pairwise interaction tables.

A :class:`Scorecard` is a generalized additive model over a binned design: every input
column is a block of 0/1 bin indicators (plus missing and other levels), each carrying
*points* in link space, fitted by penalized likelihood (logistic, least squares or
softmax) with a ridge on every point and a second-difference smoothness penalty between
adjacent bins of an ordered (numeric) column.  A column declared monotone
(``Design.monotone``) is made so by pooling adjacent bins that violate the direction and
refitting.  The model reads as one points table.

:class:`ScorecardInteractions` adds up to ``max_interactions`` tables of points on coarse
cells of two columns, the pairs chosen from per-cell sums of the scorecard's residuals on
the training rows (the pairs whose cells would explain most of what is left, while that
is more than noise would explain), then fits everything jointly.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from suture.errors import ConfigError
from suture.models.base import F64, Design, hex_array, register, unhex_array
from suture.models.linear import (
    LinearScores,
    _augmented,
    _check_alphas,
    _check_number,
    _check_target,
    _check_whole,
    _fit_link,
    _loo_log_loss,
    _sample_weight,
)

__all__ = ["Scorecard", "ScorecardInteractions", "ordered_features"]

#: Feature labels that are never an ordered bin (from the feature transforms).
MARKERS = ("<missing>", "<other>")
_BIN_LABEL = re.compile(r"^[\[(]\s*[-+]?(inf|\d|\.\d)")


def _label(feature: str, column: str) -> str:
    for prefix in (f"{column}=", column):
        if feature.startswith(prefix) and len(feature) > len(prefix):
            return feature[len(prefix) :]
    return feature


def ordered_features(design: Design, ordered: Sequence[str] | None = None) -> dict[str, list[int]]:
    """Each ordered column's bin features, low to high: what smoothness and monotone act on.

    A column is ordered when it is named in ``ordered`` or is declared monotone, or (when
    ``ordered`` is ``None``) when its labels look like bins: an interval, a comparison or
    a number after ``column=``.  Missing and other levels are never part of the order.

    Parameters
    ----------
    design : Design
    ordered : sequence of str, optional
        The ordered columns; ``None`` infers them from the feature names.
    """
    out: dict[str, list[int]] = {}
    named = set(ordered or ()) | set(design.monotone)
    for column, index in design.blocks().items():
        run = [j for j in index if not _label(design.features[j], column).endswith(MARKERS)]
        looks = (
            ordered is None
            and len(run) >= 2
            and all(_BIN_LABEL.match(_label(design.features[j], column)) for j in run)
        )
        if run and (column in named or looks):
            out[column] = run
    return out


def _smoothness(q: int, runs: Sequence[list[int]], strength: float) -> F64:
    """``strength * D'D`` of the second differences along each run (coefficient index + 1)."""
    penalty = np.zeros((q, q))
    for run in runs:
        if len(run) < 3:
            continue
        d = np.zeros((len(run) - 2, q))
        for i in range(len(run) - 2):
            d[i, run[i] + 1], d[i, run[i + 1] + 1], d[i, run[i + 2] + 1] = 1.0, -2.0, 1.0
        penalty += strength * (d.T @ d)
    return penalty


def _pool_violations(
    beta: F64, groups: list[list[int]], runs: dict[int, tuple[int, list[int]]]
) -> bool:
    """Merge adjacent groups of a monotone run whose points go the wrong way.

    ``groups`` lists coefficient indices sharing one value (index 0 is the intercept);
    ``runs`` maps a run id to its direction and coefficient indices.  Returns whether
    anything was merged.  A one-feature run of the wrong sign is fixed at zero.
    """
    first = beta if beta.ndim == 1 else beta[:, 0]
    group_of = {i: g for g, members in enumerate(groups) for i in members}
    merged = False
    for direction, run in runs.values():
        if len(run) == 1:
            g = group_of.get(run[0])
            if g is not None and direction * first[run[0]] < 0:
                groups[g] = []
                merged = True
            continue
        order: list[int] = []
        for i in run:
            g = group_of.get(i)
            if g is not None and g not in order:
                order.append(g)
        for left, right in itertools.pairwise(order):
            if direction * (first[groups[right][0]] - first[groups[left][0]]) < -1e-12:
                groups[left].extend(groups[right])
                groups[right] = []
                for i in groups[left]:
                    group_of[i] = left
                merged = True
                break
    return merged


def _indicators(
    rows: int, columns: list[npt.NDArray[np.int64]], width: int, *, sparse: bool
) -> Any:
    """A 0/1 matrix with a one in each row at each of ``columns``' entries."""
    index = np.concatenate(columns)
    row = np.tile(np.arange(rows), len(columns))
    if sparse:
        from scipy import sparse as sp

        return sp.csr_matrix((np.ones(index.size), (row, index)), shape=(rows, width))
    out = np.zeros((rows, width))
    out[row, index] = 1.0
    return out


def _hstack(a: Any, b: Any) -> Any:
    if isinstance(a, np.ndarray):
        return np.column_stack([a, b])
    from scipy import sparse

    return sparse.hstack([a, b], format="csr")


def _reduction(q: int, groups: list[list[int]]) -> F64:
    live = [g for g in groups if g]
    m = np.zeros((q, len(live)))
    for column, members in enumerate(live):
        m[members, column] = 1.0
    return m


def _sparse(m: F64) -> Any:
    from scipy import sparse

    return sparse.csr_matrix(m)


class _Additive(LinearScores):
    """The penalized, optionally monotone fit shared by both scorecards."""

    alpha: float
    smoothness: float
    ordered: Sequence[str] | None
    max_iter: int
    tol: float
    indicator_: npt.NDArray[np.bool_]

    def _check_params(self) -> None:
        name = type(self).__name__
        _check_number(name, "alpha", self.alpha, low=0.0, strict=True)
        _check_number(name, "smoothness", self.smoothness, low=0.0, strict=False)
        _check_whole(name, "max_iter", self.max_iter)
        _check_number(name, "tol", self.tol, low=0.0, strict=True)
        if self.ordered is not None and (
            isinstance(self.ordered, str) or not all(isinstance(c, str) for c in self.ordered)
        ):
            raise ConfigError(
                f"{name}: ordered must be a list of column names, got {self.ordered!r}"
            )

    def _prepare(
        self, X: npt.ArrayLike, y: npt.ArrayLike, design: Design, sample_weight: Any
    ) -> tuple[F64, F64, F64]:
        self._check_params()
        x, target = self._check_fit(X, y, design)
        _check_target(type(self).__name__, target, design.task)
        w = _sample_weight(type(self).__name__, sample_weight, x.shape[0])
        if design.monotone and design.task.kind == "multiclass":
            raise ConfigError(
                f"{type(self).__name__}: monotone columns need a binary or regression task "
                "(a multiclass model has one direction per class); drop monotone"
            )
        unknown = sorted(set(design.monotone) - set(design.columns))
        if unknown:
            raise ConfigError(
                f"{type(self).__name__}: monotone names columns not in the design: {unknown}"
            )
        self.indicator_ = np.all((x == 0.0) | (x == 1.0), axis=0)
        return x, target, w

    def _penalty(self, design: Design, q: int, alpha: float | None = None) -> F64:
        runs = ordered_features(design, self.ordered)
        penalty = _smoothness(q, list(runs.values()), float(self.smoothness))
        diagonal = np.full(q, float(self.alpha if alpha is None else alpha))
        diagonal[0] = 0.0
        return penalty + np.diag(diagonal)

    def _fit_pooled(
        self,
        a: F64,
        y: F64,
        w: F64,
        penalty: F64,
        design: Design,
        start: F64 | None = None,
    ) -> F64:
        """Fit, then pool monotone violators and refit until the directions hold.

        Each refit starts from the last coefficients (averaged over a pooled group).
        """
        q = a.shape[1]
        runs = ordered_features(design, self.ordered)
        monotone = {
            i: (direction, [j + 1 for j in runs.get(column, [])])
            for i, (column, direction) in enumerate(sorted(design.monotone.items()))
        }
        groups = [[i] for i in range(q)]
        theta = start
        for _ in range(q + 1):
            m = _reduction(q, groups)
            pooled, reduced_penalty = a, penalty
            if m.shape[1] < q:
                pooled = a @ m if isinstance(a, np.ndarray) else a @ _sparse(m)
                reduced_penalty = m.T @ penalty @ m
            theta, self.n_iter_, self.converged_ = _fit_link(
                pooled,
                y,
                w,
                reduced_penalty,
                design.task,
                max_iter=self.max_iter,
                tol=self.tol,
                start=theta,
            )
            beta = m @ theta
            if not monotone or not _pool_violations(beta, groups, monotone):
                return beta
            reduced = _reduction(q, groups)
            theta = (reduced.T @ beta) / reduced.sum(axis=0).reshape((-1,) + (1,) * (beta.ndim - 1))
        return beta  # pragma: no cover - every pass merges, so q passes suffice

    def _points(self, coef: F64, j: int) -> Any:
        row = coef[j]
        classes = self.design_.task.classes
        return dict(zip(classes, row.tolist(), strict=True)) if row.size > 1 else float(row[0])

    def describe(self) -> dict[str, Any]:
        """One points table: input column to ``[(bin label, points)]`` (per unit if numeric)."""
        self._fitted()
        table: dict[str, list[tuple[str, Any]]] = {}
        d = self.design_
        for j, (feature, column) in enumerate(zip(d.features, d.columns, strict=True)):
            label = _label(feature, column)
            if not self.indicator_[j]:
                label = f"{label} (per unit)"
            table.setdefault(column, []).append((label, self._points(self.coef_, j)))
        intercept = self.intercept_
        base: Any = (
            float(intercept[0])
            if intercept.size == 1
            else dict(zip(d.task.classes, intercept.tolist(), strict=True))
        )
        return {"intercept": base, "points": table}

    def _additive_state(self) -> dict[str, Any]:
        return {**self._linear_state(), "indicator": [bool(v) for v in self.indicator_.tolist()]}

    def _set_additive_state(self, state: dict[str, Any]) -> None:
        self._set_linear_state(state)
        self.indicator_ = np.array([bool(v) for v in state["indicator"]], dtype=bool)


@register
class Scorecard(_Additive):
    """A generalized additive model over a binned design, read as one points table.

    Parameters
    ----------
    alpha : float, default 10.0
        Ridge penalty on every point, in units of rows' weight (greater than 0: indicator
        blocks are collinear with the intercept).  On churn's 3,750 training rows 10 to
        100 gave the best holdout AUC (1 trailed by 0.004).
    smoothness : float, default 10.0
        Second-difference penalty between adjacent bins of an ordered column.
    ordered : list of str, optional
        The ordered (numeric) columns; default: inferred from the bin labels (see
        :func:`ordered_features`), and every monotone column.
    max_iter : int, default 100
    tol : float, default 1e-9
    alphas : sequence of float, optional
        Ridge penalties to choose ``alpha`` from on the rows of each fit, by approximate
        leave-one-out log loss (as :class:`~suture.models.linear.Logistic` chooses its
        own): binary targets without monotone columns; otherwise ``alpha`` is kept.

    Attributes
    ----------
    alpha_ : float
        The penalty the fit used.
    loo_log_loss_ : dict of float to float
        With ``alphas``: each penalty's approximate leave-one-out log loss.

    Notes
    -----
    Binary: penalized logistic regression; regression: penalized least squares;
    multiclass: softmax with one points table per class.  A monotone column's adjacent
    bins that go against the declared direction are pooled (given equal points) and the
    model refitted until no violation is left.  Contributions are each bin's points.
    """

    kind = "scorecard"
    complexity = 3
    additive = True
    _params = ("alpha", "smoothness", "ordered", "max_iter", "tol", "alphas")

    def __init__(
        self,
        *,
        alpha: float = 10.0,
        smoothness: float = 10.0,
        ordered: Sequence[str] | None = None,
        max_iter: int = 100,
        tol: float = 1e-9,
        alphas: Sequence[float] | None = None,
    ) -> None:
        self.alpha = alpha
        self.smoothness = smoothness
        self.ordered = ordered
        self.max_iter = max_iter
        self.tol = tol
        self.alphas = alphas

    def fit(
        self,
        X: npt.ArrayLike,
        y: npt.ArrayLike,
        *,
        design: Design,
        sample_weight: npt.ArrayLike | None = None,
    ) -> Scorecard:
        """Fit the points; returns ``self``."""
        alphas = _check_alphas("Scorecard", self.alphas, strict=True)
        x, target, w = self._prepare(X, y, design, sample_weight)
        a = _augmented(x)
        self.alpha_ = float(self.alpha)
        if alphas and design.task.kind == "binary" and not design.monotone:
            beta = self._choose_alpha(a, target, w, design, alphas)
        else:
            beta = self._fit_pooled(a, target, w, self._penalty(design, a.shape[1]), design)
        self._set_fit(beta, design)
        return self

    def _choose_alpha(self, a: Any, y: F64, w: F64, design: Design, alphas: list[float]) -> F64:
        """Fit every penalty (strongest first, warm-started); keep the lowest approximate
        leave-one-out log loss."""
        best: tuple[float, F64, int, bool] | None = None
        start: F64 | None = None
        self.loo_log_loss_: dict[float, float] = {}
        for alpha in alphas:
            penalty = self._penalty(design, a.shape[1], alpha)
            beta = self._fit_pooled(a, y, w, penalty, design, start)
            start = beta
            loss = _loo_log_loss(a, y, w, penalty, beta)
            self.loo_log_loss_[alpha] = loss
            if best is None or loss < best[0]:
                best, self.alpha_ = (loss, beta, self.n_iter_, self.converged_), alpha
        assert best is not None
        _, beta, self.n_iter_, self.converged_ = best
        return beta

    def _state(self) -> dict[str, Any]:
        return self._additive_state()

    def _set_state(self, state: dict[str, Any]) -> None:
        self._set_additive_state(state)


def _residuals(eta: F64, target: F64, w: F64, kind: str) -> tuple[F64, F64]:
    """Per-row gradient and curvature of the log-likelihood at ``eta``, one column per output."""
    if kind == "regression":
        return (w * (target - eta))[:, None], w[:, None]
    if kind == "binary":
        mu = np.exp(-np.logaddexp(0.0, -eta))
        return (w * (target - mu))[:, None], (w * mu * (1.0 - mu))[:, None]
    shifted = np.exp(eta - eta.max(axis=1, keepdims=True))
    mu = shifted / shifted.sum(axis=1, keepdims=True)
    onehot = np.zeros_like(mu)
    onehot[np.arange(len(target)), target.astype(np.int64)] = 1.0
    return w[:, None] * (onehot - mu), w[:, None] * mu * (1.0 - mu)


def _dispersion(gradient: F64, curvature: F64, kind: str) -> float:
    """The scale of a cell's ``G^2 / H`` under no interaction: 1, or the residual variance."""
    if kind != "regression":
        return 1.0
    w = curvature[:, 0]
    return max(float(np.sum(gradient[:, 0] ** 2 / np.maximum(w, 1e-300)) / w.sum()), 1e-300)


def _codes(x: F64, index: list[int]) -> npt.NDArray[np.int64]:
    """Per row, the position of the block's first set feature, or ``len(index)`` if none."""
    sub = x[:, index] != 0.0
    return np.where(sub.any(axis=1), np.argmax(sub, axis=1), len(index)).astype(np.int64)


def _coarse(
    codes: npt.NDArray[np.int64], m: int, run: list[int] | None, index: list[int], cells: int
) -> npt.NDArray[np.int64]:
    """Map a block's codes ``0..m`` to at most ``cells`` coarse groups (plus one for the rest).

    An ordered run is cut into consecutive groups of about equal row counts; otherwise the
    most frequent ``cells - 1`` features keep a group each.  Everything else (missing,
    other, none set) shares the last group.
    """
    counts = np.bincount(codes, minlength=m + 1).astype(np.float64)
    mapping = np.full(m + 1, -1, dtype=np.int64)
    if run is not None:
        positions = [index.index(j) for j in run]
        cumulative = np.cumsum(counts[positions])
        total = cumulative[-1] if cumulative.size else 0.0
        if total > 0:
            cut = np.minimum(
                (cells * (cumulative - counts[positions] / 2) / total).astype(np.int64), cells - 1
            )
            mapping[positions] = cut
    else:
        top = np.argsort(-counts[:m], kind="stable")[: cells - 1]
        mapping[top[counts[top] > 0]] = np.arange(int((counts[top] > 0).sum()))
    used = np.unique(mapping[mapping >= 0])
    relabel = {int(g): i for i, g in enumerate(used.tolist())}
    rest = len(used)
    return np.array([relabel.get(int(g), rest) for g in mapping.tolist()], dtype=np.int64)


@register
class ScorecardInteractions(_Additive):
    """The scorecard plus a few pairwise interaction tables on coarse cells.

    Parameters
    ----------
    max_interactions : int, default 8
        At most this many pairs of input columns get a table.  On churn (mean holdout AUC
        of three splits, ``min_gain=0``) 3 pairs gave 0.902, 5 gave 0.909, 8 gave 0.912
        and 12 no more, against LightGBM's 0.921; with the default ``min_gain`` 0.909.
    cells : int, default 8
        Coarse groups per column (an ordered column's bins cut into this many runs of
        about equal rows, a category's most frequent levels), plus one for the rest.
    interaction_alpha : float, default 3.0
        Ridge penalty on every interaction cell.
    min_gain : float, default 1.0
        A pair is added only while its score statistic exceeds this much per occupied
        cell, about what a pair without interaction gives (see ``_choose``); 0 always
        adds ``max_interactions`` pairs.  Small tables stop before fitting noise.
    alpha, smoothness, ordered, max_iter, tol
        As for :class:`Scorecard`.

    Notes
    -----
    The scorecard is fitted first; on its training rows the residual gradient
    ``w (y - mu)`` and curvature ``w mu (1 - mu)`` (``w`` for regression) are summed per
    cell of every pair of indicator columns, and the pairs with the largest score-test
    gain ``sum G^2 / (H + interaction_alpha)`` are kept (summed over the classes of a
    multiclass task, whose tables hold one point per class).  Then main effects and tables
    are refitted jointly.  Monotone columns take part in no interaction (their main
    effect stays monotone).  A record's contribution from a cell is split half and half
    between its two columns' active features.

    Attributes
    ----------
    interactions_ : list of dict
        Per pair: ``columns``, the coarse group of each block code (``maps``) and the
        ``table`` of points.
    """

    kind = "scorecard_interactions"
    complexity = 4
    additive = False
    _params = (
        "max_interactions",
        "cells",
        "interaction_alpha",
        "min_gain",
        "alpha",
        "smoothness",
        "ordered",
        "max_iter",
        "tol",
    )

    def __init__(
        self,
        *,
        max_interactions: int = 8,
        cells: int = 8,
        interaction_alpha: float = 3.0,
        min_gain: float = 1.0,
        alpha: float = 10.0,
        smoothness: float = 10.0,
        ordered: Sequence[str] | None = None,
        max_iter: int = 100,
        tol: float = 1e-9,
    ) -> None:
        self.max_interactions = max_interactions
        self.cells = cells
        self.interaction_alpha = interaction_alpha
        self.min_gain = min_gain
        self.alpha = alpha
        self.smoothness = smoothness
        self.ordered = ordered
        self.max_iter = max_iter
        self.tol = tol

    def _check_params(self) -> None:
        super()._check_params()
        _check_whole("ScorecardInteractions", "max_interactions", self.max_interactions)
        _check_whole("ScorecardInteractions", "cells", self.cells)
        if self.cells < 2:
            raise ConfigError(
                f"ScorecardInteractions: cells must be at least 2, got {self.cells!r}"
            )
        _check_number(
            "ScorecardInteractions",
            "interaction_alpha",
            self.interaction_alpha,
            low=0.0,
            strict=True,
        )
        _check_number("ScorecardInteractions", "min_gain", self.min_gain, low=0.0, strict=False)

    def fit(
        self,
        X: npt.ArrayLike,
        y: npt.ArrayLike,
        *,
        design: Design,
        sample_weight: npt.ArrayLike | None = None,
    ) -> ScorecardInteractions:
        """Fit the scorecard, choose the pairs, refit jointly; returns ``self``."""
        x, target, w = self._prepare(X, y, design, sample_weight)
        a = _augmented(x)
        penalty = self._penalty(design, a.shape[1])
        beta = self._fit_pooled(a, target, w, penalty, design)
        blocks = self._eligible(x, design)
        pairs = self._choose(blocks, a @ beta, target, w, design.task.kind)
        self.interactions_: list[dict[str, Any]] = []
        if pairs:
            cells = [self._cells(blocks[p], blocks[r]) for p, r in pairs]
            widths = [shape[0] * shape[1] for _, shape in cells]
            columns, offset = [], 0
            for (cell, _), width in zip(cells, widths, strict=True):
                columns.append(offset + cell)
                offset += width
            extra = _indicators(x.shape[0], columns, offset, sparse=not isinstance(a, np.ndarray))
            q = a.shape[1]
            big = np.zeros((q + extra.shape[1], q + extra.shape[1]))
            big[:q, :q] = penalty
            big[q:, q:] = np.diag(np.full(extra.shape[1], float(self.interaction_alpha)))
            start = np.concatenate([beta, np.zeros((extra.shape[1], *beta.shape[1:]))])
            joint = self._fit_pooled(_hstack(a, extra), target, w, big, design, start)
            beta, offset = joint[:q], q
            for (p, r), (_, shape), width in zip(pairs, cells, widths, strict=True):
                self.interactions_.append(
                    {
                        "columns": (p, r),
                        "maps": (blocks[p][1].tolist(), blocks[r][1].tolist()),
                        "table": joint[offset : offset + width].reshape(shape + joint.shape[1:]),
                    }
                )
                offset += width
        self._set_fit(beta, design)
        return self

    def _eligible(
        self, x: F64, design: Design
    ) -> dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
        """Indicator columns (not monotone): per row code and the code -> coarse group map."""
        runs = ordered_features(design, self.ordered)
        out = {}
        for column, index in design.blocks().items():
            if column in design.monotone or not self.indicator_[index].all():
                continue
            codes = _codes(x, index)
            mapping = _coarse(codes, len(index), runs.get(column), index, int(self.cells))
            if int(mapping.max()) >= 1:
                out[column] = (codes, mapping)
        return out

    def _choose(
        self, blocks: dict[str, Any], eta: F64, target: F64, w: F64, kind: str
    ) -> list[tuple[str, str]]:
        """Greedy forward choice: the pair of largest excess gain, one Newton step on its
        cells, again, until no pair's gain exceeds what noise would give.

        A pair's gain is the score statistic ``sum G^2 / (H + interaction_alpha)`` over its
        cells (over the residual variance for regression); with no interaction it is about
        one per free cell, so the excess is the gain less ``min_gain`` per occupied cell
        (per class but one for multiclass).  The step on the chosen cells updates the
        residuals before the next choice, so a pair that repeats one already taken (say
        the same columns in other units) no longer looks useful.
        """
        lam = float(self.interaction_alpha)
        names = list(blocks)
        cells = {
            (p, r): self._cells(blocks[p], blocks[r]) for p, r in itertools.combinations(names, 2)
        }
        chosen: list[tuple[str, str]] = []
        eta = eta.copy()
        for _ in range(int(self.max_interactions)):
            gradient, curvature = _residuals(eta, target, w, kind)
            scale = _dispersion(gradient, curvature, kind)
            free = max(gradient.shape[1] - (kind == "multiclass"), 1)
            best, best_excess, best_step = None, 0.0, np.zeros(0)
            for pair, (cell, shape) in cells.items():
                if pair in chosen:
                    continue
                size = shape[0] * shape[1]
                g = np.column_stack(
                    [np.bincount(cell, weights=column, minlength=size) for column in gradient.T]
                )
                h = np.column_stack(
                    [np.bincount(cell, weights=column, minlength=size) for column in curvature.T]
                )
                occupied = int(np.count_nonzero(h.sum(axis=1) > 0.0))
                gain = float(np.sum(g * g / (h + lam))) / scale
                excess = gain - float(self.min_gain) * occupied * free
                if excess > best_excess * (1.0 + 1e-12):
                    best, best_excess, best_step = pair, excess, g / (h + lam)
            if best is None:
                break
            chosen.append(best)
            step = best_step[cells[best][0]]
            eta = eta + (step[:, 0] if eta.ndim == 1 else step)
        return chosen

    @staticmethod
    def _cells(a: Any, b: Any) -> tuple[npt.NDArray[np.int64], tuple[int, int]]:
        (codes_a, map_a), (codes_b, map_b) = a, b
        width = int(map_b.max()) + 1
        shape = (int(map_a.max()) + 1, width)
        return map_a[codes_a] * width + map_b[codes_b], shape

    # -- scoring ----------------------------------------------------------------------
    def _compile(self) -> None:
        super()._compile()
        blocks = self.design_.blocks()
        self._pairs = []
        self._block_of: dict[int, tuple[str, int]] = {}
        for item in getattr(self, "interactions_", []):
            p, r = item["columns"]
            for column in (p, r):
                for position, j in enumerate(blocks[column]):
                    self._block_of[j] = (column, position)
            self._pairs.append(
                (
                    p,
                    r,
                    len(blocks[p]),
                    len(blocks[r]),
                    list(item["maps"][0]),
                    list(item["maps"][1]),
                    item["table"].tolist() if item["table"].ndim == 2 else item["table"],
                )
            )

    def _pair_codes(self, x: F64) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
        blocks = self.design_.blocks()
        out = []
        for item in self.interactions_:
            p, r = item["columns"]
            map_p, map_r = (np.asarray(m, dtype=np.int64) for m in item["maps"])
            out.append((map_p[_codes(x, blocks[p])], map_r[_codes(x, blocks[r])]))
        return out

    def decision_function(self, X: npt.ArrayLike) -> F64:
        """The scorecard's score plus each pair's cell points."""
        x = self._check_X(X)
        s = self._linear(x)
        for item, (gp, gr) in zip(self.interactions_, self._pair_codes(x), strict=True):
            s = s + item["table"][gp, gr]
        return s

    def score_one(self, x: Sequence[float] | F64) -> F64:
        """One record's score, equal to :meth:`decision_function`'s."""
        v, nonzero = self._record(x)
        s = self._record_linear(v, nonzero)
        active: dict[str, int] = {}
        block_of = self._block_of
        for j in nonzero.tolist():
            hit = block_of.get(j)
            if hit is not None and hit[0] not in active:
                active[hit[0]] = hit[1]
        for p, r, m_p, m_r, map_p, map_r, table in self._pairs:
            s += table[map_p[active.get(p, m_p)]][map_r[active.get(r, m_r)]]
        return np.asarray(s, dtype=np.float64).reshape(-1)

    def contributions(self, X: npt.ArrayLike) -> tuple[F64, F64]:
        """Bin points per feature, each cell's points split half and half between its columns."""
        x = self._check_X(X)
        terms, base = super().contributions(x)
        rows = np.arange(x.shape[0])
        blocks = self.design_.blocks()
        scores = self.decision_function(x)
        explained = None if scores.ndim == 1 else np.argmax(scores, axis=1)
        for item, (gp, gr) in zip(self.interactions_, self._pair_codes(x), strict=True):
            half = 0.5 * item["table"][gp, gr]
            if explained is not None:
                half = half[rows, explained]
            for column in item["columns"]:
                index = blocks[column]
                codes = _codes(x, index)
                feature = np.asarray(index)[np.minimum(codes, len(index) - 1)]
                np.add.at(terms, (rows, feature), half)
        return terms, base

    def describe(self) -> dict[str, Any]:
        """The points table and, per interaction, its columns, cell groups and points."""
        out = super().describe()
        d = self.design_
        blocks = d.blocks()
        tables = []
        for item in self.interactions_:
            groups = []
            for column, mapping in zip(item["columns"], item["maps"], strict=True):
                labels = [_label(d.features[j], column) for j in blocks[column]] + ["(none)"]
                size = max(mapping) + 1
                groups.append(
                    [
                        [lab for lab, g in zip(labels, mapping, strict=True) if g == k]
                        for k in range(size)
                    ]
                )
            tables.append(
                {
                    "columns": list(item["columns"]),
                    "groups": groups,
                    "points": item["table"].tolist(),
                }
            )
        out["interactions"] = tables
        return out

    def _state(self) -> dict[str, Any]:
        return {
            **self._additive_state(),
            "interactions": [
                {
                    "columns": list(item["columns"]),
                    "maps": [list(m) for m in item["maps"]],
                    "shape": list(item["table"].shape),
                    "table": hex_array(item["table"]),
                }
                for item in self.interactions_
            ],
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        self.interactions_ = [
            {
                "columns": tuple(str(c) for c in item["columns"]),
                "maps": tuple([int(v) for v in m] for m in item["maps"]),
                "table": unhex_array(
                    item["table"], "interaction table", [int(v) for v in item["shape"]]
                ),
            }
            for item in state["interactions"]
        ]
        self._set_additive_state(state)
