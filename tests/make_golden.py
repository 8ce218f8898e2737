"""Write tests/golden/mixed_v1.profile: a profile in format 1, kept and loaded forever.

Run only when a new format version is released (then add a new file, keep the old).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa

import suture


def golden_table() -> pa.Table:
    """A small table with every column kind; its profile's values are asserted in tests."""
    n = 1000
    return pa.table(
        {
            "amount": pa.array([float(i % 97) - 10.5 if i % 50 else None for i in range(n)]),
            "count": pa.array(list(range(n)), pa.int64()),
            "kind": pa.array([["red", "green", "blue"][i % 3] for i in range(n)]),
            "flag": pa.array([i % 4 == 0 for i in range(n)]),
            "when": pa.array(
                [dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=i) for i in range(n)],
                pa.timestamp("us", "UTC"),
            ),
            "tags": pa.array([["a", "b"][: i % 3] for i in range(n)], pa.list_(pa.string())),
        }
    )


if __name__ == "__main__":
    target = Path(__file__).parent / "golden" / "mixed_v1.profile"
    suture.profile(golden_table()).save(target)
    print(f"wrote {target}")
