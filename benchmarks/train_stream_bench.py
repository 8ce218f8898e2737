"""Streaming training (``suture.train(..., streaming=True)``) on the 1M x 20 synthetic table.

Usage::

    .venv/bin/python benchmarks/train_stream_bench.py [--rows 1000000] [--rows 200000 ...]

The table is ``train_bench.py``'s big synthetic one (14 numeric, 6 categorical columns and
a binary target, cached in ``benchmarks/.cache``).  Each size trains in a fresh process;
printed: rows, seconds end to end (to a written bundle), the CPU seconds of the child and
of any worker process it waited for (user + system), the peak RSS of the process
(``ru_maxrss``), the winner, its holdout AUC and the 1-minute load average when the size
finished.  Flat memory means the peak does not grow with the rows.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def child(path: str) -> None:
    """Train from ``path`` in this process and print one JSON line."""
    import suture

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        bundle = suture.train(
            path, "target", positive="churned", seed=0, streaming=True, output=Path(tmp) / "m"
        )
    seconds = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak = usage.ru_maxrss / 1024
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)  # the engine's worker processes
    cpu = usage.ru_utime + usage.ru_stime + workers.ru_utime + workers.ru_stime
    holdout = bundle.holdout
    auc = None if holdout is None else round(float(holdout.score), 4)
    print(json.dumps({"seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1),
                      "peak_rss_mib": round(peak),
                      "winner": bundle.winner, "holdout_auc": auc}))  # fmt: skip


def main() -> None:
    """Run each ``--rows`` size in a child process and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append", help="default: 1000000")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    sys.path.insert(0, str(HERE))
    from train_bench import big_file

    print("| rows | seconds | CPU s | peak RSS (MiB) | winner | holdout AUC | load 1m |")
    print("|---:|---:|---:|---:|---|---:|---:|")
    for rows in args.rows or [1_000_000]:
        path = big_file(rows)
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(path)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        r = json.loads(out.stdout.strip().splitlines()[-1])
        load = os.getloadavg()[0]
        print(f"| {rows:,} | {r['seconds']} | {r['cpu_seconds']} | {r['peak_rss_mib']:,} | "
              f"{r['winner']} | {r['holdout_auc']} | {load:.1f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
