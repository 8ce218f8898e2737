"""LocalEngine's takers (threads, processes): the same answer as one, errors come back whole."""

from __future__ import annotations

import inspect
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import suture
from suture import errors
from suture.aggregate import Joined, RowCount
from suture.engines import LocalEngine, local
from suture.engines.local import _InOrder
from suture.errors import SourceError
from suture.profile import ProfileAggregator
from suture.testing import assert_profiles_agree


class FailingRowCount(RowCount):
    """Counts rows, but refuses batches with a negative ``x`` (a user's data problem)."""

    def update(self, state: int, batch: pa.RecordBatch) -> int:
        if pc.min(batch.column("x")).as_py() < 0:
            raise SourceError("negative x in the data; fix the source")
        return super().update(state, batch)


@pytest.fixture(scope="module")
def parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("engine") / "t.parquet"
    n = 500_000
    table = pa.table(
        {
            "x": pa.array(range(n), pa.int64()),
            "y": pa.array([float(i % 1000) / 7 for i in range(n)]),
            "s": pa.array([f"k{i % 37}" for i in range(n)]),
        }
    )
    pq.write_table(table, path, row_group_size=60_000)
    return path


def test_workers_reading_row_groups_agree_with_one_process(parquet: Path) -> None:
    together = suture.profile(parquet, engine=LocalEngine(workers=2))
    alone = suture.profile(parquet, engine=LocalEngine(workers=1))
    assert_profiles_agree(together, alone)
    assert together.row_count == 500_000


@pytest.mark.parametrize("workers", [2, 3])
def test_every_workers_count_gives_the_state_of_one_thread_byte_for_byte(
    parquet: Path, workers: int
) -> None:
    aggregator = ProfileAggregator(pq.read_schema(parquet))
    alone = LocalEngine(workers=1).aggregate_state(parquet, aggregator)
    together = LocalEngine(workers=workers).aggregate_state(parquet, aggregator)
    assert aggregator.to_bytes(together) == aggregator.to_bytes(alone)


def test_parquet_pieces_are_folded_on_threads_without_worker_processes(
    parquet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each worker process held its own ~100 MiB of libraries: two profiles of 1M rows
    # peaked at 540 MiB over the process tree, against 182 MiB in one process (issue 11).
    def no_process(aggregator: object) -> None:
        raise AssertionError("a worker process was started for Parquet row groups")

    monkeypatch.setattr(local, "_start_worker", no_process)
    names: set[str] = set()

    class SeenBy(RowCount):
        def update(self, state: int, batch: pa.RecordBatch) -> int:
            names.add(threading.current_thread().name)
            return super().update(state, batch)

    assert LocalEngine(workers=2).aggregate(parquet, SeenBy()) == 500_000
    assert names <= {"suture-piece-0", "suture-piece-1"}


def test_progress_counts_every_row(parquet: Path) -> None:
    seen: list[int] = []
    suture.profile(parquet, engine=LocalEngine(workers=2), progress=seen.append)
    assert sum(seen) == 500_000


def test_a_suture_error_in_a_worker_comes_back_as_itself() -> None:
    table = pa.table({"x": pa.array([1] * 300_000 + [-1] * 300_000, pa.int64())})
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(50_000))
    with pytest.raises(SourceError, match="negative x in the data; fix the source"):
        LocalEngine(workers=2).aggregate(reader, FailingRowCount())


def test_a_script_without_a_main_guard_can_use_workers(parquet: Path, tmp_path: Path) -> None:
    script = tmp_path / "plain.py"
    script.write_text(
        "import suture\nfrom suture.engines import LocalEngine\n"
        f"p = suture.profile({str(parquet)!r}, engine=LocalEngine(workers=2))\n"
        "print(p.row_count)\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "500000"


@pytest.mark.parametrize("bad_from", [0, 420_000])
@pytest.mark.parametrize("workers", [2, 3])
def test_an_error_in_any_row_group_comes_back_whichever_taker_read_it(
    tmp_path: Path, bad_from: int, workers: int
) -> None:
    # Row groups go to any of the takers: a failure in any one must come back as
    # itself, and nothing may wait for a taker that has stopped.
    n = 480_000
    x = pa.array([-1 if bad_from <= i < bad_from + 60_000 else 1 for i in range(n)], pa.int64())
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"x": x}), path, row_group_size=60_000)
    with pytest.raises(SourceError, match="negative x in the data; fix the source"):
        LocalEngine(workers=workers).aggregate(path, FailingRowCount())


def test_three_takers_count_every_row_group_once(parquet: Path) -> None:
    assert LocalEngine(workers=3).aggregate(parquet, RowCount()) == 500_000


def test_a_helper_thread_gives_the_profile_of_one_thread() -> None:
    # Under 400,000 rows the co-moments run on a helper thread beside the column sketches.
    n = 300_000
    table = pa.table(
        {
            "x": pa.array(range(n), pa.int64()),
            "y": pa.array([None if i % 11 == 0 else (i % 997) / 3 for i in range(n)]),
            "s": pa.array([f"k{i % 37}" for i in range(n)]),
        }
    )
    together = suture.profile(table, engine=LocalEngine(workers=2))
    alone = suture.profile(table, engine=LocalEngine(workers=1))
    assert_profiles_agree(together, alone)
    assert together.correlation["x", "y"] == alone.correlation["x", "y"]


def test_an_error_on_the_helper_thread_comes_back_as_itself() -> None:
    class Refusing(RowCount):
        def update(self, state: int, batch: pa.RecordBatch) -> int:
            raise SourceError("refused on the helper thread")

    class Both(Joined):
        concurrent_parts = ("refusing",)

    aggregator = Both({"rows": RowCount(), "refusing": Refusing()})
    table = pa.table({"x": pa.array(range(1_000), pa.int64())})
    with pytest.raises(SourceError, match="refused on the helper thread"):
        LocalEngine(workers=2).aggregate(table, aggregator)


# ------------------------------------------------ errors cross the process boundary


def _suture_errors() -> list[type[errors.SutureError]]:
    found: list[type[errors.SutureError]] = []
    for value in vars(errors).values():
        if isinstance(value, type) and issubclass(value, errors.SutureError):
            found.append(value)
    return found


def make_error(name: str) -> errors.SutureError:
    """An instance of the error class ``name``, with every attribute it carries."""
    cls = getattr(errors, name)
    extra = [
        p.name
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.name not in ("self", "message", "args", "kwargs") and p.kind is not p.VAR_POSITIONAL
    ]
    error: errors.SutureError = cls(
        f"{name} raised in a worker; fix it", *[f"{p}-value" for p in extra]
    )
    return error


class RaisingRowCount(RowCount):
    """Raises an error of the class named ``error`` on its first batch."""

    def __init__(self, error: str) -> None:
        self.error = error

    def update(self, state: int, batch: pa.RecordBatch) -> int:
        if self.error == "ZeroDivisionError":
            return 1 // 0
        raise make_error(self.error)


def one_worker_stream() -> pa.RecordBatchReader:
    # A stream has no row count, so its batches go to worker processes whatever its size.
    table = pa.table({"x": pa.array(range(1_000), pa.int64())})
    return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(500))


@pytest.mark.parametrize("error_class", _suture_errors(), ids=lambda c: c.__name__)
def test_each_suture_error_comes_back_from_a_worker_as_itself(
    error_class: type[errors.SutureError],
) -> None:
    expected = make_error(error_class.__name__)
    with pytest.raises(error_class) as info:
        LocalEngine(workers=2).aggregate(one_worker_stream(), RaisingRowCount(error_class.__name__))
    got = info.value
    assert type(got) is error_class
    assert str(got) == str(expected) == f"{error_class.__name__} raised in a worker; fix it"
    assert vars(got) == vars(expected)  # e.g. RecordError.field and .kind
    if error_class is errors.RecordError:
        assert (got.field, got.kind) == ("field-value", "kind-value")  # type: ignore[attr-defined]


def test_a_bug_in_a_worker_comes_back_as_an_internal_error_with_its_traceback() -> None:
    with pytest.raises(errors.InternalError) as info:
        LocalEngine(workers=2).aggregate(one_worker_stream(), RaisingRowCount("ZeroDivisionError"))
    message = str(info.value)
    assert message.startswith("a suture worker process failed:\nTraceback (most recent call last)")
    assert "ZeroDivisionError: integer division or modulo by zero" in message
    assert not isinstance(info.value, errors.SutureError)


# ------------------------------------------------ pieces: any taker, merged in order


def test_an_error_while_reading_pieces_comes_back_as_itself() -> None:
    # Batch pieces are read on a thread of this process while the workers fold.
    schema = pa.schema([("x", pa.int64())])

    def batches() -> Iterator[pa.RecordBatch]:
        for _ in range(5):
            yield pa.record_batch([pa.array(range(100_000))], schema=schema)
        raise SourceError("the stream broke at row 500,000; fix it")

    reader = pa.RecordBatchReader.from_batches(schema, batches())
    with pytest.raises(SourceError, match="the stream broke at row 500,000; fix it"):
        LocalEngine(workers=2).aggregate(reader, RowCount())


def test_batch_pieces_count_every_row_once_and_report_it() -> None:
    table = pa.table({"x": pa.array(range(700_001), pa.int64())})
    seen: list[int] = []
    engine = LocalEngine(workers=3, batch_size=50_000)
    assert engine.aggregate(table, RowCount(), progress=seen.append) == 700_001
    assert sum(seen) == 700_001


def test_no_piece_is_claimed_beyond_the_window_until_the_earliest_is_merged() -> None:
    pieces = _InOrder(window=2, total=5)
    assert [pieces.claim(), pieces.claim()] == [0, 1]
    claimed: list[int | None] = []
    third = threading.Thread(target=lambda: claimed.append(pieces.claim()))
    third.start()
    pieces.put(1, "second")  # early: it waits in the window, which stays full
    third.join(0.3)
    assert claimed == []
    merged = iter(pieces)
    pieces.put(0, "first")
    assert next(merged) == "first"
    assert next(merged) == "second"  # "first" is merged: piece 2 may go out
    third.join(10)
    assert claimed == [2]


def test_a_taker_failure_stops_the_merge_with_its_error() -> None:
    pieces = _InOrder(window=3, total=3)
    pieces.put(0, "first")
    pieces.fail(SourceError("piece 1 is damaged; re-export the file"))
    assert pieces.claim() is None
    with pytest.raises(SourceError, match="piece 1 is damaged"):
        list(pieces)
