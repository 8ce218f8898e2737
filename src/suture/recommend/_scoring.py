"""Scoring a user's candidates from neighbour lists: a few NumPy operations per query."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from suture.recommend._lsh import Neighbours

__all__ = ["Scored", "neighbour_scores", "top_items"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
#: Score by bins over the whole catalogue when it has at most this many items per entry.
_DENSE_FACTOR = 8


@dataclass
class Scored:
    """Unseen candidates of one query with their scores and contributions.

    Attributes
    ----------
    candidates, scores : the candidate items (sorted) and their summed neighbour weights
    sources, targets, similarity : each contributing (chosen item, candidate) pair and
        its Jaccard estimate
    """

    candidates: I64
    scores: F64
    sources: I64
    targets: I64
    similarity: F64


def neighbour_scores(neighbours: Neighbours, chosen: npt.NDArray[np.integer]) -> Scored:
    """Sum the weights of the chosen items' neighbours, excluding chosen items."""
    chosen = np.asarray(chosen, dtype=np.int64)
    lo, hi = neighbours.indptr[chosen], neighbours.indptr[chosen + 1]
    lengths = hi - lo
    total = int(lengths.sum())
    flat = np.repeat(lo - np.cumsum(lengths) + lengths, lengths) + np.arange(total)
    targets = neighbours.items[flat].astype(np.int64)
    sims = neighbours.similarity[flat].astype(np.float64)
    weights = neighbours.weight[flat].astype(np.float64)
    sources = np.repeat(chosen, lengths)
    items = len(neighbours.indptr) - 1
    if items <= _DENSE_FACTOR * max(total, 1):
        # A catalogue not much larger than the entries: bins over every item, no sort.
        seen = np.zeros(items, dtype=bool)
        seen[chosen] = True
        unseen = ~seen[targets]
        targets, sims, sources = targets[unseen], sims[unseen], sources[unseen]
        sums = np.bincount(targets, weights=weights[unseen], minlength=items)
        candidates = np.flatnonzero(np.bincount(targets, minlength=items))
        scores: F64 = sums[candidates].astype(np.float64)
        return Scored(candidates.astype(np.int64), scores, sources, targets, sims)
    unseen = ~np.isin(targets, chosen)
    targets, sims, sources = targets[unseen], sims[unseen], sources[unseen]
    found, inverse = np.unique(targets, return_inverse=True)
    scores = np.bincount(inverse, weights=weights[unseen], minlength=len(found)).astype(np.float64)
    return Scored(found.astype(np.int64), scores, sources, targets, sims)


def best(scored: Scored, popularity: I64, k: int) -> I64:
    """Positions in ``scored.candidates`` of the best ``k``: score, then popularity, then id."""
    candidates, scores = scored.candidates, scored.scores
    if k <= 0 or len(candidates) == 0:
        return np.zeros(0, dtype=np.int64)
    if len(candidates) > 4 * k:
        cut = np.argpartition(-scores, k - 1)[:k]
        pool = np.flatnonzero(scores >= scores[cut].min())
    else:
        pool = np.arange(len(candidates))
    order = np.lexsort((candidates[pool], -popularity[candidates[pool]], -scores[pool]))
    return np.asarray(pool[order[:k]], dtype=np.int64)


def popular_fill(popular_order: I64, exclude: I64, k: int) -> I64:
    """The ``k`` most popular items not in ``exclude``."""
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    return np.asarray(popular_order[~np.isin(popular_order, exclude)][:k], dtype=np.int64)


def top_items(
    neighbours: Neighbours,
    popularity: I64,
    popular_order: I64,
    chosen: npt.NDArray[np.integer],
    k: int,
) -> I64:
    """The ``k`` recommended item indices for a set of chosen items, popular-padded."""
    scored = neighbour_scores(neighbours, chosen)
    picked = scored.candidates[best(scored, popularity, k)]
    if len(picked) < k:
        exclude = np.concatenate([np.asarray(chosen, dtype=np.int64), picked])
        picked = np.concatenate([picked, popular_fill(popular_order, exclude, k - len(picked))])
    return picked
