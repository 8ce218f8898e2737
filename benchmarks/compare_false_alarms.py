"""False alarms and detections of ``suture.compare`` over many seeds: the table in docs/compare.md.

Usage::

    .venv/bin/python benchmarks/compare_false_alarms.py [--quick] [--markdown PATH]

The tables are the drift tests' synthetic ones (``tests/monitor/_drift_data.py``): 20
columns (10 numeric: normal, lognormal, Poisson, some with nulls; 10 categorical with 30
Zipf-distributed levels).  For each size, ``comparisons`` pairs of independent samples of
one distribution (seeds ``2s`` and ``2s + 1``) count the columns whose verdict is not ok
(every one is a false alarm), and as many pairs with five planted drifts (a mean shift of
one standard deviation, a doubled standard deviation, seconds sent as minutes, a new level
taking 15% of the rows, nulls rising from 1% to 16%) count the planted columns that alert
and the untouched ones that do not stay ok.  Default thresholds, no contract.  This is a
measurement, not a test: the tests in ``tests/monitor/test_compare_verdicts.py`` assert a
few seeds of it; this runs the many seeds the documentation quotes (about a minute).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the drift tests' synthetic tables

#: (rows per side, comparisons) as quoted in docs/compare.md.
SIZES = ((300, 50), (1_000, 50), (3_000, 50), (10_000, 50), (100_000, 10), (1_000_000, 1))


def measure(rows: int, comparisons: int) -> dict[str, int]:
    """Counts over ``comparisons`` same-distribution pairs and as many planted pairs."""
    from tests.monitor._drift_data import PLANTED, planted, same_distribution, table

    import suture
    from suture.monitor import compare

    counts = {"columns": 0, "alert": 0, "watch": 0, "planted": 0, "caught": 0,
              "untouched": 0, "untouched_not_ok": 0}  # fmt: skip
    for seed in range(comparisons):
        a = suture.profile(table(same_distribution(2 * seed, rows)))
        same = compare(a, suture.profile(table(same_distribution(2 * seed + 1, rows))))
        counts["columns"] += len(same.columns)
        for c in same.columns:
            if c.verdict != "ok":
                counts[c.verdict] += 1
                print(f"  {rows:,} rows, seed {seed}: {c.name} {c.verdict}: {c.reasons}")
        drifted = compare(a, suture.profile(table(planted(2 * seed + 1, rows))))
        for c in drifted.columns:
            if c.name in PLANTED:
                counts["planted"] += 1
                counts["caught"] += c.verdict == "alert"
            else:
                counts["untouched"] += 1
                counts["untouched_not_ok"] += c.verdict != "ok"
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 comparisons a size, no 1M")
    parser.add_argument("--markdown", default=str(HERE / "results" / "compare_false_alarms.md"),
                        help="where to write the Markdown ('' for none)")  # fmt: skip
    args = parser.parse_args(argv)
    from _provenance import source_revision

    sizes = [(r, min(c, 5)) for r, c in SIZES if r < 1_000_000] if args.quick else list(SIZES)
    header = (
        "| rows per side | comparisons | same distribution: alerts | same distribution: "
        "watches | planted: alerts | planted: untouched columns not ok | seconds |"
    )
    lines = [header, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for rows, comparisons in sizes:
        start = time.perf_counter()
        n = measure(rows, comparisons)
        seconds = time.perf_counter() - start
        lines.append(
            f"| {rows:,} | {comparisons} | {n['alert']} of {n['columns']:,} | "
            f"{n['watch']} of {n['columns']:,} | "
            f"{n['caught']} of {n['planted']:,} | {n['untouched_not_ok']} of "
            f"{n['untouched']:,} | {seconds:.1f} |"
        )
        print(lines[-1], flush=True)
    revision = source_revision("src", "benchmarks/compare_false_alarms.py", "tests/monitor")
    notes = __doc__.split("\n\n", 2)[2].strip()
    title = ["# compare_false_alarms", "", f"- suture source at {revision}", ""]
    text = "\n".join([*title, *lines, "", notes, ""])
    if args.markdown:
        Path(args.markdown).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
