"""Offline evaluation: per-user hold-out splits and ranking metrics at k."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from suture.errors import EmptyInputError, SourceError
from suture.recommend._baselines import empty_neighbours, exact_jaccard_neighbours
from suture.recommend._errors import InvalidParameterError
from suture.recommend._ids import canonical_ids, id_keys, lookup
from suture.recommend._lsh import Neighbours
from suture.recommend._model import Recommender
from suture.recommend._scoring import top_items
from suture.sketches.hashing import murmur3_64bit_keys

__all__ = ["Metrics", "evaluate", "ranking_metrics", "split_interactions"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
METHODS = ("random", "time")


@dataclass(frozen=True)
class Metrics:
    """Ranking quality of one recommender on held-out interactions.

    Attributes
    ----------
    name : str
    precision, recall, ndcg : float
        Means over test users of precision@k, recall@k (hits over held-out items) and
        NDCG@k (binary relevance, ideal ranking of ``min(k, held-out)`` hits).
    coverage : float
        Share of the training catalogue that appears in any list.
    popularity_bias : float
        Mean share of training users who chose each recommended item.
    users : int
        Test users evaluated.
    k : int
    """

    name: str
    precision: float
    recall: float
    ndcg: float
    coverage: float
    popularity_bias: float
    users: int
    k: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return asdict(self)


def _read_table(source: Any) -> pa.Table:
    from suture.sources import open_source

    src = open_source(source)
    return pa.Table.from_batches(list(src.batches()), schema=src.schema)


def _require(table: pa.Table, columns: Sequence[str | None]) -> None:
    for column in columns:
        if column is not None and column not in table.column_names:
            raise SourceError(
                f"column {column!r} not found; available columns: {', '.join(table.column_names)}"
            )


def split_interactions(
    table: pa.Table,
    *,
    user: str,
    method: str = "random",
    time: str | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    min_interactions: int = 2,
) -> tuple[pa.Table, pa.Table]:
    """Hold out part of each user's interactions.

    Parameters
    ----------
    table : pyarrow.Table
    user : str
        The user column.
    method : {"random", "time"}
        ``random`` holds out a seeded random share of each user's rows; ``time`` holds
        out each user's latest rows (by ``time``).
    time : str, optional
        The ordering column, required for ``method="time"``.
    test_fraction : float, default 0.2
        Share held out per user, rounded down, at least one row.
    seed : int, default 0
    min_interactions : int, default 2
        Users with fewer rows stay wholly in training.

    Returns
    -------
    (train, test) : tuple of pyarrow.Table
    """
    if method not in METHODS:
        raise InvalidParameterError(f"split method {method!r} unknown; use one of {METHODS}")
    if not 0.0 < test_fraction < 1.0:
        raise InvalidParameterError(f"test_fraction={test_fraction} must be between 0 and 1")
    if method == "time" and time is None:
        raise InvalidParameterError("a time-ordered split needs the time column (--time)")
    _require(table, [user, time])
    keys = id_keys(canonical_ids(table.column(user), user))
    _, codes, counts = np.unique(keys, return_inverse=True, return_counts=True)
    if method == "random":
        rank_key = murmur3_64bit_keys(np.arange(table.num_rows, dtype=np.uint64), seed)[0]
        order = np.lexsort((rank_key, codes))
    else:
        assert time is not None
        stamps = table.column(time).cast(pa.float64()).to_numpy()
        order = np.lexsort((np.arange(table.num_rows), -stamps, codes))
    starts = np.cumsum(counts) - counts
    rank = np.empty(table.num_rows, dtype=np.int64)
    rank[order] = np.arange(table.num_rows) - starts[codes[order]]
    held = np.maximum(np.floor(counts * test_fraction).astype(np.int64), 1)
    held[counts < min_interactions] = 0
    test = rank < held[codes]
    return table.filter(pa.array(~test)), table.filter(pa.array(test))


def ranking_metrics(
    name: str,
    recommended: I64,
    truth_indptr: I64,
    truth_items: I64,
    popularity: I64,
    n_train_users: int,
) -> Metrics:
    """Precision, recall, NDCG at ``k``, coverage and popularity bias.

    Parameters
    ----------
    recommended : ndarray of int64, shape (users, k)
        Item indices per test user, ``-1`` where a list is shorter than ``k``.
    truth_indptr, truth_items : CSR of each test user's held-out item indices
        (``-1`` for items unknown at training time: they count, but cannot be hit).
    popularity : ndarray of int64
        Training users per item.
    n_train_users : int
    """
    n_users, k = recommended.shape
    n_items = len(popularity)
    sizes = np.diff(truth_indptr)
    width = n_items + 1
    owner = np.repeat(np.arange(n_users), sizes)
    truth_codes = owner * width + (truth_items + 1)
    rec_codes = np.arange(n_users)[:, None] * width + (recommended + 1)
    hits = np.isin(rec_codes, truth_codes) & (recommended >= 0)
    n_hits = hits.sum(axis=1)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.concatenate([[0.0], np.cumsum(discounts)])[np.minimum(sizes, k)]
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(sizes > 0, n_hits / sizes, 0.0)
        ndcg = np.where(ideal > 0, (hits * discounts).sum(axis=1) / ideal, 0.0)
    valid = recommended[recommended >= 0]
    return Metrics(
        name=name,
        precision=_mean(n_hits / k),
        recall=_mean(recall),
        ndcg=_mean(ndcg),
        coverage=len(np.unique(valid)) / n_items if n_items else 0.0,
        popularity_bias=_mean(popularity[valid] / max(n_train_users, 1)),
        users=n_users,
        k=k,
    )


def _mean(values: F64) -> float:
    return float(np.mean(values)) if len(values) else math.nan


@dataclass
class _Truth:
    users: I64
    indptr: I64
    items: I64


def _truth(model: Recommender, test: pa.Table) -> _Truth:
    state = model.state_
    user_keys = id_keys(canonical_ids(test.column(model.user), model.user))
    item_keys = id_keys(canonical_ids(test.column(model.item), model.item))
    users = lookup(state.user_keys, user_keys)
    items = lookup(state.item_keys, item_keys)
    known = users >= 0
    users, items = users[known], items[known]
    order = np.lexsort((items, users))
    users, items = users[order], items[order]
    distinct, counts = np.unique(users, return_counts=True)
    indptr = np.zeros(len(distinct) + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    return _Truth(distinct.astype(np.int64), indptr, items.astype(np.int64))


Ranker = Callable[[npt.NDArray[np.integer], int], I64]


def recommend_all(ranker: Ranker, model: Recommender, users: I64, k: int) -> I64:
    """A (users, k) matrix of item indices from ``ranker(chosen_items, k)``."""
    out = np.full((len(users), k), -1, dtype=np.int64)
    for row, u in enumerate(users):
        picked = ranker(model.history_.of(int(u)), k)
        out[row, : len(picked)] = picked
    return out


def _neighbour_ranker(model: Recommender, neighbours: Neighbours) -> Ranker:
    def rank(chosen: npt.NDArray[np.integer], k: int) -> I64:
        return top_items(neighbours, model.popularity_, model.popular_order_, chosen, k)

    return rank


def evaluate(
    source: Any,
    *,
    user: str,
    item: str,
    weight: str | None = None,
    min_weight: float | None = None,
    method: str = "random",
    time: str | None = None,
    k: int = 10,
    test_fraction: float = 0.2,
    seed: int = 0,
    baselines: Sequence[str] = ("popularity", "exact-jaccard"),
    **params: Any,
) -> list[Metrics]:
    """Split interactions per user, fit on the training part, score the held-out part.

    Parameters
    ----------
    source : path or table
        The interactions.
    user, item, weight, min_weight : as for :class:`Recommender`; the weight filter is
        applied before splitting, so held-out items are the ones that count as chosen.
    method, time, test_fraction, seed : see :func:`split_interactions`.
    k : int, default 10
    baselines : sequence of {"popularity", "exact-jaccard"}
    **params : further :class:`Recommender` parameters (``num_perm``, ``threshold``...).

    Returns
    -------
    list of Metrics
        suture first, then the baselines in the order asked.
    """
    table = _read_table(source)
    _require(table, [user, item, weight, time])
    if table.num_rows == 0:
        raise EmptyInputError("the interaction table has no rows; nothing to evaluate")
    model = Recommender(user=user, item=item, weight=weight, min_weight=min_weight, **params)
    kept = model.aggregator()._keep_mask(table.combine_chunks().to_batches()[0])
    table = table.filter(pa.array(kept))
    train, test = split_interactions(
        table, user=user, method=method, time=time, test_fraction=test_fraction, seed=seed
    )
    model.fit(train)
    truth = _truth(model, test)
    rankers: dict[str, Ranker] = {"suture": model.top_items}
    for name in baselines:
        rankers[name] = _baseline(name, model)
    n_train_users = len(model.state_.user_keys)
    return [
        ranking_metrics(
            name,
            recommend_all(ranker, model, truth.users, k),
            truth.indptr,
            truth.items,
            model.popularity_,
            n_train_users,
        )
        for name, ranker in rankers.items()
    ]


def _baseline(name: str, model: Recommender) -> Ranker:
    n_items = model.state_.num_items
    if name == "popularity":
        return _neighbour_ranker(model, empty_neighbours(n_items))
    if name == "exact-jaccard":
        history = model.history_
        users = np.repeat(np.arange(len(history.indptr) - 1), np.diff(history.indptr))
        neighbours = exact_jaccard_neighbours(
            users,
            history.items.astype(np.int64),
            len(history.indptr) - 1,
            n_items,
            max_neighbours=model.neighbours,
        )
        return _neighbour_ranker(model, neighbours)
    raise InvalidParameterError(f"baseline {name!r} unknown; use 'popularity' or 'exact-jaccard'")
