"""Reference recommenders for evaluation: popularity and exact Jaccard item-kNN."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from suture.recommend._errors import InvalidParameterError
from suture.recommend._lsh import Neighbours

__all__ = ["exact_jaccard_neighbours"]

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
_MAX_DENSE_CELLS = 400_000_000


def exact_jaccard_neighbours(
    users: I64, items: I64, n_users: int, n_items: int, *, max_neighbours: int, chunk: int = 512
) -> Neighbours:
    """Exact Jaccard neighbour lists from distinct (user, item) index pairs.

    Computes every item pair's similarity with dense matrix products in item chunks, so it
    is a yardstick for small catalogues only (users x items up to 4e8 cells).

    Raises
    ------
    InvalidParameterError
        When the dense user-item matrix would be too large.
    """
    if n_users * n_items > _MAX_DENSE_CELLS:
        raise InvalidParameterError(
            f"exact Jaccard needs a dense {n_users} x {n_items} matrix, too large; "
            "leave the exact baseline out for this data"
        )
    matrix = np.zeros((n_users, n_items), dtype=np.float32)
    matrix[users, items] = 1.0
    sizes = matrix.sum(axis=0)
    rows, cols, sims = [], [], []
    for start in range(0, n_items, chunk):
        stop = min(start + chunk, n_items)
        inter = matrix[:, start:stop].T @ matrix
        union = sizes[start:stop, None] + sizes[None, :] - inter
        with np.errstate(divide="ignore", invalid="ignore"):
            jac = np.where(union > 0, inter / union, 0.0)
        jac[np.arange(stop - start), np.arange(start, stop)] = 0.0
        keep = min(max_neighbours, n_items - 1)
        if keep <= 0:
            continue
        top = np.argpartition(-jac, keep - 1, axis=1)[:, :keep]
        val = np.take_along_axis(jac, top, axis=1)
        mask = val > 0
        rows.append(np.repeat(np.arange(start, stop), mask.sum(axis=1)))
        cols.append(top[mask])
        sims.append(val[mask])
    return _to_neighbours(rows, cols, sims, n_items)


def _to_neighbours(
    rows: Sequence[npt.NDArray[np.integer]],
    cols: Sequence[npt.NDArray[np.integer]],
    sims: Sequence[npt.NDArray[np.floating]],
    n_items: int,
) -> Neighbours:
    r = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
    s = np.concatenate(sims) if sims else np.zeros(0, dtype=np.float32)
    order = np.lexsort((c, -s, r))
    indptr = np.zeros(n_items + 1, dtype=np.int64)
    np.cumsum(np.bincount(r, minlength=n_items), out=indptr[1:])
    values = s[order].astype(np.float32)
    return Neighbours(indptr, c[order].astype(np.int32), values, values.copy())


def empty_neighbours(n_items: int) -> Neighbours:
    """Neighbour lists with no entries: recommending from them falls back to popularity."""
    return Neighbours(
        np.zeros(n_items + 1, dtype=np.int64),
        np.zeros(0, dtype=np.int32),
        np.zeros(0, dtype=np.float32),
        np.zeros(0, dtype=np.float32),
    )
