"""One profiling run of one tool on one Parquet file, in its own process.

``benchmarks/profile_bench.py`` starts this script once per tool and size, so that each
tool's peak memory is its own.  It runs under the main virtual environment (suture,
pandas) or under ``bench-envs/whylogs`` (whylogs, which cannot share suture's pins), so
it imports nothing from suture at module level and nothing beyond the standard library,
NumPy, pyarrow and pandas except inside the tool that needs it.

    python benchmarks/_bench_children.py TOOL PARQUET --out RESULT.json [--workers N]

TOOL is ``suture``, ``pandas`` or ``whylogs``.  The result is a JSON object with the
tool's version, the load and profile seconds, rows, columns, the process's resident
memory after imports and its high-water mark, and the quantiles (0.01, 0.25, 0.5, 0.75,
0.99) the tool estimated for each numeric column.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

QUANTILES = (0.01, 0.25, 0.5, 0.75, 0.99)

Quantiles = dict[str, list[float]]


def rss_mib(field: str = "VmRSS") -> float:
    """This process's resident memory (``VmRSS``) or its high-water mark (``VmHWM``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """User plus system CPU time of this process and its waited-for children so far."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def numeric_columns(path: str) -> list[str]:
    """Names of the integer and floating-point columns of a Parquet file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    return [f.name for f in schema if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)]


def load_pandas(path: str) -> Any:
    """The whole Parquet file as a pandas DataFrame (NumPy-backed, as users load it)."""
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pandas()


def run_suture(path: str, workers: int | None) -> tuple[dict[str, Any], Quantiles]:
    """Profile the Parquet file by streaming it through suture's LocalEngine."""
    import suture
    from suture.engines import LocalEngine

    numeric = numeric_columns(path)
    engine = LocalEngine(workers=workers)
    start, cpu = time.perf_counter(), cpu_seconds()
    profile = suture.profile(path, engine=engine)
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    quantiles = {c: [float(profile[c].quantile(q)) for q in QUANTILES] for c in numeric}  # type: ignore[attr-defined]
    timing = {
        "version": suture.__version__,
        "load_seconds": None,
        "profile_seconds": seconds,
        "profile_cpu_seconds": cpu,
        "rows": profile.row_count,
        "columns": len(profile),
        "workers": workers or os.cpu_count() or 1,
        "kll_k": int(profile.aggregator.options["k"]),
    }
    return timing, quantiles


def run_pandas(path: str, workers: int | None) -> tuple[dict[str, Any], Quantiles]:
    """``describe(include="all")``, ``nunique()`` and five quantiles per numeric column."""
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

    numeric = numeric_columns(path)
    start = time.perf_counter()
    df = load_pandas(path)
    loaded = time.perf_counter()
    cpu = cpu_seconds()
    df.describe(include="all")
    df.nunique()
    table = df[numeric].quantile(list(QUANTILES))
    seconds, cpu = time.perf_counter() - loaded, cpu_seconds() - cpu
    quantiles = {c: [float(v) for v in table[c].to_numpy()] for c in numeric}
    timing = {
        "version": pd.__version__,
        "load_seconds": loaded - start,
        "profile_seconds": seconds,
        "profile_cpu_seconds": cpu,
        "rows": len(df),
        "columns": df.shape[1],
        "workers": 1,
    }
    return timing, quantiles


def run_whylogs(path: str, workers: int | None) -> tuple[dict[str, Any], Quantiles]:
    """``why.log(pandas=df)``, its profile view and the view's summary table."""
    os.environ.setdefault("WHYLOGS_NO_ANALYTICS", "True")
    import whylogs as why  # type: ignore[import-not-found, unused-ignore]

    numeric = numeric_columns(path)
    start = time.perf_counter()
    df = load_pandas(path)
    loaded = time.perf_counter()
    cpu = cpu_seconds()
    view = why.log(pandas=df).view()
    view.to_pandas()
    seconds, cpu = time.perf_counter() - loaded, cpu_seconds() - cpu
    quantiles = {}
    for c in numeric:
        kll = view.get_column(c).get_metric("distribution").kll.value
        quantiles[c] = [float(v) for v in kll.get_quantiles(list(QUANTILES))]
    timing = {
        "version": why.__version__,
        "load_seconds": loaded - start,
        "profile_seconds": seconds,
        "profile_cpu_seconds": cpu,
        "rows": len(df),
        "columns": df.shape[1],
        "workers": 1,
        "kll_k": int(view.get_column(numeric[0]).get_metric("distribution").kll.value.get_k()),
    }
    return timing, quantiles


TOOLS: dict[str, Callable[[str, int | None], tuple[dict[str, Any], Quantiles]]] = {
    "suture": run_suture,
    "pandas": run_pandas,
    "whylogs": run_whylogs,
}


def main(argv: list[str] | None = None) -> int:
    """Run one tool on one file and write its result as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tool", choices=sorted(TOOLS))
    parser.add_argument("parquet")
    parser.add_argument("--out", required=True, help="where to write the JSON result")
    parser.add_argument("--workers", type=int, default=None, help="suture workers")
    args = parser.parse_args(argv)
    import numpy  # noqa: F401  (part of every tool's baseline)
    import pyarrow.parquet  # noqa: F401

    if args.tool == "whylogs":
        os.environ.setdefault("WHYLOGS_NO_ANALYTICS", "True")
    __import__({"suture": "suture.engines", "pandas": "pandas", "whylogs": "whylogs"}[args.tool])
    baseline = rss_mib()
    timing, quantiles = TOOLS[args.tool](args.parquet, args.workers)
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    result = {
        "tool": args.tool,
        **timing,
        "python": sys.version.split()[0],
        "baseline_rss_mib": baseline,
        "self_peak_rss_mib": rss_mib("VmHWM"),
        "largest_child_peak_rss_mib": children,
        "quantiles": quantiles,
    }
    Path(args.out).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
