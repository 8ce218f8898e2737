"""Quantile bins of a number, with edges from the profile's KLL sketch (no second pass).

One indicator per bin (and one for missing), so an additive model (the scorecard, naive
Bayes) gives each bin its own points.  The batch path finds the bin with
``numpy.searchsorted`` and the record path with :func:`bisect.bisect_right` over the same
edges: both count the edges at or below the value, so they agree exactly.
"""

from __future__ import annotations

import bisect
import itertools
import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from suture.errors import ConfigError, CorruptStateError
from suture.features.transforms import (
    MISSING,
    Transform,
    _hex,
    _read_quartiles,
    _unhex,
    array_numbers,
    needs_number,
    quartiles,
    record_number,
    register_transform,
)
from suture.sketches._base import ColumnSummary

__all__ = ["Bins", "bin_names", "quantile_edges", "value_edges"]

_F64 = npt.NDArray[np.float64]

#: Ranks probed for a column's few distinct values: every value holding at least
#: ``1 / VALUE_PROBES`` of the rows is hit (as InterpretML's EBM bins each value of such a
#: column, up to its default of 1024 bins).
VALUE_PROBES = 1024


def quantile_edges(quantile: Any, low: float, n_bins: int) -> list[float]:
    """Interior bin edges at the quantiles ``i / n_bins``, merged and above ``low``.

    Parameters
    ----------
    quantile : callable
        ``quantile(q) -> float`` of the column.
    low : float
        The column's minimum: an edge at or below it would make an empty first bin.
    n_bins : int
        The number of bins asked for; duplicate edges are merged, so fewer may come.
    """
    cuts = {float(quantile(i / n_bins)) for i in range(1, n_bins)}
    return sorted(e for e in cuts if e > low and math.isfinite(e))


def value_edges(quantile: Any, low: float, n_bins: int) -> list[float] | None:
    """One edge at each value above ``low``, when the column has fewer than ``n_bins`` of them.

    The values are found by probing the quantiles ``i / VALUE_PROBES``: a value that holds
    at least that share of the rows is one of them; a rarer value shares the bin below.

    Parameters
    ----------
    quantile : callable
        ``quantile(q) -> float`` of the column.
    low : float
        The column's minimum (its bin is everything below the first edge).
    n_bins : int
        The number of bins asked for.

    Returns
    -------
    list of float or None
        The increasing edges, so each value has a bin of its own; ``None`` when the column
        has ``n_bins`` values or more (then :func:`quantile_edges` places the edges).
    """
    values = {float(quantile(i / VALUE_PROBES)) for i in range(1, VALUE_PROBES)}
    edges = sorted(e for e in values if e > low and math.isfinite(e))
    return edges if len(edges) < n_bins else None


def bin_names(column: str, edges: list[float]) -> list[str]:
    """``column=[a, b)`` per bin, from ``-inf`` to ``inf``, floats in shortest form."""
    bounds = ["-inf", *(repr(float(e)) for e in edges), "inf"]
    return [f"{column}=[{a}, {b})" for a, b in itertools.pairwise(bounds)]


@register_transform
class Bins(Transform):
    """One indicator per quantile bin of a number, plus a missing indicator.

    Parameters
    ----------
    n_bins : int, default 16
        Bins asked for (at least 1): edges at the profile's quantiles ``1/n .. (n-1)/n``.
        Equal edges are merged and an edge at the minimum is dropped.  A column with fewer
        than ``n`` values (each holding at least 1/1024 of the rows) gets one bin per value
        instead (:func:`value_edges`), so a rare level of a score is not merged into its
        neighbour.

    Attributes
    ----------
    edges_ : list of float
        The interior edges, increasing.  Bin ``j`` holds ``edges_[j-1] <= x < edges_[j]``;
        the first bin is everything below ``edges_[0]`` and the last everything from
        ``edges_[-1]`` on, so a value beyond the profile's range (``±inf`` included) falls
        in an end bin.
    low_, high_ : float
        The profile's minimum (a value inside the first bin) and maximum.
    quartiles_ : tuple of float
        The profile's quartiles (0.25, 0.5, 0.75).
    indicator_ : bool
        Whether the profile saw nulls or NaN, so a ``<column>=<missing>`` feature is output.
    feature_names_ : list of str
        ``<column>=[a, b)`` per bin (see :func:`bin_names`), then the missing indicator.

    Notes
    -----
    Null and NaN set the missing indicator (all zeros when the profile saw none).  Edges
    are KLL quantiles: a bin's share of rows is ``1 / n_bins`` within the sketch's rank
    error (``Profile[column].rank_error``), or a multiple of it where edges were merged;
    for a column of few values, each value's share.

    Examples
    --------
    >>> import pyarrow as pa, suture
    >>> p = suture.profile(pa.table({"x": [1.0, 2.0, 3.0, 3.0, None]}))
    >>> t = Bins(n_bins=4).fit(p["x"])
    >>> t.edges_, t.feature_names_
    ([2.0, 3.0], ['x=[-inf, 2.0)', 'x=[2.0, 3.0)', 'x=[3.0, inf)', 'x=<missing>'])
    >>> t.transform_array(pa.array([-5.0, 2.5, None])).tolist()
    [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
    """

    kind = "bins"
    _params = ("n_bins",)
    edges_: list[float]
    low_: float
    high_: float
    quartiles_: tuple[float, float, float]
    indicator_: bool

    def __init__(self, *, n_bins: int = 16) -> None:
        self.n_bins = n_bins

    def fit(self, summary: ColumnSummary) -> Bins:
        """Learn the bin edges from a numeric column summary.

        Raises
        ------
        ConfigError
            For a bad ``n_bins``, or a summary that is not numeric.
        """
        n = self.n_bins
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"Bins n_bins must be a whole number of 1 or more, got {n!r}")
        summary = needs_number("Bins", summary)
        self.column_ = summary.name
        if summary.finite:
            self.low_, self.high_ = float(summary.min), float(summary.max)
            edges = value_edges(summary.quantile, self.low_, n)
            self.edges_ = quantile_edges(summary.quantile, self.low_, n) if edges is None else edges
        else:
            self.low_, self.high_, self.edges_ = 0.0, 0.0, []
        self.quartiles_ = quartiles(summary)
        self.indicator_ = summary.nulls + summary.nans > 0
        self._compile()
        return self

    def _compile(self) -> None:
        self._edges = np.array(self.edges_, dtype=np.float64)
        self._missing = len(self.edges_) + 1
        names = bin_names(self.column_, self.edges_)
        self.feature_names_ = names + [f"{self.column_}={MISSING}"] * self.indicator_

    def transform_array(self, array: pa.Array) -> _F64:
        self._fitted()
        x = array_numbers(array, self.column_)
        n = len(x)
        width = len(self.feature_names_)
        where = np.searchsorted(self._edges, x, side="right")
        missing = np.isnan(x)
        rows = np.arange(n)
        if not self.indicator_:
            # a sentinel column past the end, dropped: missing sets no feature
            out = np.zeros((n, width + 1), dtype=np.float64)
            where[missing] = width
            out[rows, where] = 1.0
            return out[:, :width]
        out = np.zeros((n, width), dtype=np.float64)
        where[missing] = self._missing
        out[rows, where] = 1.0
        return out

    def transform_value(self, value: Any, out: list[float], start: int) -> None:
        x = value if type(value) is float else record_number(value, self.column_)
        if x != x:
            if self.indicator_:
                out[start + self._missing] = 1.0
            return
        out[start + bisect.bisect_right(self.edges_, x)] = 1.0

    def critical_values(self) -> list[Any]:
        """Inputs giving every output: one value inside the first bin, each edge, and None."""
        return [self.low_, *self.edges_, None]

    def _state(self) -> dict[str, Any]:
        return {
            "edges": [_hex(e) for e in self.edges_],
            "low": _hex(self.low_),
            "high": _hex(self.high_),
            "quartiles": [_hex(q) for q in self.quartiles_],
            "indicator": self.indicator_,
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        where = f"bins state of {self.column_!r}"
        edges = state["edges"]
        if not isinstance(edges, list):
            raise CorruptStateError(f"{where}: edges must be a list, got {edges!r}")
        self.edges_ = [_unhex(e, where) for e in edges]
        if any(not a < b for a, b in itertools.pairwise(self.edges_)):
            raise CorruptStateError(f"{where}: edges must increase, got {self.edges_!r}")
        self.low_, self.high_ = _unhex(state["low"], where), _unhex(state["high"], where)
        self.quartiles_ = _read_quartiles(state, where)
        self.indicator_ = bool(state["indicator"])
        self._compile()
