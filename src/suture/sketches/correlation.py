"""Pairwise-complete correlations of numeric columns from mergeable co-moments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from suture._arrow import numpy_values
from suture._codec import Field
from suture.aggregate import Framed
from suture.errors import CorruptStateError, IncompatibleMergeError
from suture.sketches import _kernels

__all__ = ["CoMoments", "CoMomentsState", "Correlation"]

_F = npt.NDArray[np.float64]
_BLOCK_ROWS = 16_384
# A pair's centered sum of squares below n * this * (the column's mean² + variance) is
# rounding, not spread: a relative spread under about 2e-13.
_ROUNDING_SPREAD = (1e3 * np.finfo(np.float64).eps) ** 2


@dataclass
class CoMomentsState:
    """Per pair (i, j) over the rows where both are finite: count, means, sums of squares.

    ``mean[i, j]`` is the mean of column i over the rows where i and j are both present,
    ``m2[i, j]`` its centered sum of squares there, ``c[i, j]`` the co-moment.
    """

    n: _F
    mean: _F
    m2: _F
    c: _F

    @classmethod
    def empty(cls, p: int) -> CoMomentsState:
        """The zero state for ``p`` columns."""
        return cls(np.zeros((p, p)), np.zeros((p, p)), np.zeros((p, p)), np.zeros((p, p)))


def _merge(a: CoMomentsState, b: CoMomentsState) -> CoMomentsState:
    with np.errstate(over="ignore", invalid="ignore"):
        return _merge_unchecked(a, b)


def _merge_unchecked(a: CoMomentsState, b: CoMomentsState) -> CoMomentsState:
    n = a.n + b.n
    safe = np.where(n > 0, n, 1.0)
    d = b.mean - a.mean
    weight = a.n * b.n / safe
    mean = a.mean + d * b.n / safe
    m2 = a.m2 + b.m2 + d * d * weight
    c = a.c + b.c + d * d.T * weight
    return CoMomentsState(n, mean, m2, c)


def _batch_state(x: _F, partial: npt.NDArray[np.intp]) -> CoMomentsState:
    # Values near the float limit overflow to inf here, which is the honest answer.
    with np.errstate(over="ignore", invalid="ignore"):
        return _batch_state_unchecked(x, partial)


def _batch_state_unchecked(x: _F, partial: npt.NDArray[np.intp]) -> CoMomentsState:
    """Co-moments of the rows of ``x`` (changed in place); only ``partial`` columns may hold
    non-finite values, which mark a missing value.

    Rows with a missing value are usually few, so the full matrix is only shifted, summed
    and multiplied once; the pairwise-complete corrections come from those rows alone.
    """
    rows, p = x.shape
    present_p = np.isfinite(x[:, partial])
    gappy = np.flatnonzero(~present_p.all(axis=1)) if partial.size else partial
    mask = np.ones((gappy.size, p))  # presence on the rows with a gap
    mask[:, partial] = present_p[gappy]
    if gappy.size:
        x[gappy] = np.where(mask > 0, x[gappy], 0.0)
    counts = rows - (1.0 - mask).sum(axis=0)
    shift = x.sum(axis=0) / np.maximum(counts, 1.0)
    x -= shift
    y = x
    if gappy.size:
        y[gappy] *= mask
    gram = y.T @ y
    absent = 1.0 - mask
    y_gappy = y[gappy]
    n = (rows - gappy.size) + mask.T @ mask
    sums = y.sum(axis=0)[:, None] - y_gappy.T @ absent
    squares = np.diag(gram)[:, None] - (y_gappy * y_gappy).T @ absent
    safe = np.where(n > 0, n, 1.0)
    mean_y = sums / safe
    m2 = squares - n * mean_y * mean_y
    c = gram - n * mean_y * mean_y.T
    # One pass loses digits where a pair's rows sit far from the column's centre
    # (relative error about 1e-16 * mean_y**2 / variance): redo those rows in two passes.
    # The same where a pair's rows spread far less than the whole column: its sum of
    # squares is then the difference of two large sums (a column of ±1e12 whose pair
    # with another column holds only the values 0 and 1).
    spread = 1e6 * np.maximum(m2, 0.0)
    shaky = (n * mean_y * mean_y > spread) | (np.diag(gram)[:, None] > spread)
    if shaky.any():
        m = np.ones((rows, p))
        m[:, partial] = present_p
        for i in np.flatnonzero(shaky.any(axis=1) | shaky.any(axis=0)):
            _two_pass_row(y, m, mean_y, n, int(i), m2, c)
    return CoMomentsState(n, mean_y + shift[:, None], np.maximum(m2, 0.0), c)


def _two_pass_row(y: _F, m: _F, mean_y: _F, n: _F, i: int, m2: _F, c: _F) -> None:
    """Exact centered sums for every pair (i, j), in place."""
    both = m[:, [i]] * m
    di = (y[:, [i]] - mean_y[i][None, :]) * both
    dj = (y - mean_y[:, i][None, :]) * both
    m2[i, :] = (di * di).sum(axis=0)
    c[i, :] = (di * dj).sum(axis=0)
    c[:, i] = c[i, :]
    m2_j = (dj * dj).sum(axis=0)
    m2[:, i] = m2_j


class CoMoments(Framed[CoMomentsState]):
    """Aggregator of the co-moment matrix of numeric columns (an ``Aggregator``).

    Parameters
    ----------
    columns : list of str
        The numeric columns, in the order of the matrix.

    Notes
    -----
    Each pair uses the rows where both values are finite (pairwise-complete).  Merges
    follow Chan et al. per pair and are exact up to floating-point rounding, associative
    and commutative.  Cost per batch is O(rows × p²): keep ``p`` modest (the profile caps
    it).  ``finalize(zero())`` has ``nan`` correlations.
    """

    kind = "comoments"

    def __init__(self, columns: list[str]) -> None:
        self.columns = list(columns)

    def config(self) -> str:
        return f"comoments({self.columns!r})"

    def zero(self) -> CoMomentsState:
        return CoMomentsState.empty(len(self.columns))

    def update(self, state: CoMomentsState, batch: pa.RecordBatch) -> CoMomentsState:
        if not self.columns or batch.num_rows == 0:
            return state
        values = []
        partial = []
        for j, name in enumerate(self.columns):
            column = batch.column(name)
            if pa.types.is_dictionary(column.type):
                column = column.dictionary_decode()
            if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
                column = _kernels.cast(column, pa.float64())
            if column.null_count or pa.types.is_floating(column.type):
                # Only these columns can miss values: integers without nulls skip the checks.
                partial.append(j)
            values.append(numpy_values(column))  # nulls become NaN
        where = np.array(partial, dtype=np.intp)
        # Blocks that fit in cache, copied into one reused buffer: the element-wise work
        # is memory-bound otherwise.
        block = np.empty((min(batch.num_rows, _BLOCK_ROWS), len(self.columns)), order="F")
        for start in range(0, batch.num_rows, _BLOCK_ROWS):
            x = block[: min(_BLOCK_ROWS, batch.num_rows - start)]
            for j, column_values in enumerate(values):
                x[:, j] = column_values[start : start + _BLOCK_ROWS]
            state = _merge(state, _batch_state(x, where))
        return state

    def merge(self, a: CoMomentsState, b: CoMomentsState) -> CoMomentsState:
        if a.n.shape != b.n.shape:
            raise IncompatibleMergeError(
                f"cannot merge co-moments of {a.n.shape[0]} and {b.n.shape[0]} columns: "
                "profile the same columns on both sides"
            )
        return _merge(a, b)

    def finalize(self, state: CoMomentsState) -> Correlation:
        return Correlation(self.columns, state)

    def _fields(self, state: CoMomentsState) -> dict[str, Field]:
        return {"n": state.n, "mean": state.mean, "m2": state.m2, "c": state.c}

    def _from_fields(self, fields: dict[str, Any]) -> CoMomentsState:
        p = len(self.columns)
        arrays = [np.asarray(fields[name], dtype=np.float64) for name in ("n", "mean", "m2", "c")]
        if any(a.shape != (p, p) for a in arrays):
            raise CorruptStateError(
                f"possible corruption: co-moments state is not {p} x {p} for {p} columns"
            )
        return CoMomentsState(*arrays)


class Correlation:
    """Pearson correlations and pair counts of the numeric columns of a profile."""

    def __init__(self, columns: list[str], state: CoMomentsState) -> None:
        self.columns = columns
        self.state = state

    @property
    def matrix(self) -> _F:
        """The correlation matrix (``nan`` where a pair has under two rows or no spread).

        A pair's spread counts as none when it is at the level of floating rounding of the
        column's own scale (a column constant on the pair's rows leaves a residue of about
        1e-33 there, and merges turn residues into any correlation at all).
        """
        s = self.state
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            own = np.diag(s.mean) ** 2 + np.diag(s.m2) / np.maximum(np.diag(s.n), 1.0)
            spread = s.m2 > s.n * _ROUNDING_SPREAD * own[:, None]
            root = np.sqrt(s.m2)
            denom = root * root.T
            defined = (s.n >= 2) & spread & spread.T & (denom > 0)
            r = np.where(defined, s.c / np.where(defined, denom, 1.0), np.nan)
        return np.clip(r, -1.0, 1.0)

    @property
    def pair_counts(self) -> _F:
        """How many rows each pair was computed from."""
        return self.state.n

    def __getitem__(self, pair: tuple[str, str]) -> float:
        i, j = (self.columns.index(name) for name in pair)
        return float(self.matrix[i, j])
