"""map_batches: streamed outputs in input order, written all together or not at all."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suture.aggregate import RowCount
from suture.engines import LocalEngine
from suture.errors import ConfigError, InternalError, SourceError
from suture.schema import Column, Schema
from suture.schema.run import validate_data, validate_to_files
from suture.sources import Source
from suture.testing import ShufflingEngine

N = 10_000
TABLE = pa.table({"x": pa.array(range(N), pa.int64()), "y": pa.array([i % 7 for i in range(N)])})
OUT = {
    "doubled": pa.schema([("x2", pa.int64()), ("row", pa.int64())]),
    "odd": pa.schema([("x", pa.int64())]),
}


def split(batch: pa.RecordBatch, first: int) -> Mapping[str, pa.RecordBatch]:
    """Doubles x and numbers the rows from ``first``; keeps the odd x apart."""
    rows = pa.array(range(first, first + batch.num_rows), pa.int64())
    doubled = pa.RecordBatch.from_arrays([pc.multiply(batch["x"], 2), rows], names=["x2", "row"])
    odd = batch.select(["x"]).filter(pc.equal(pc.bit_wise_and(batch["x"], 1), 1))
    return {"doubled": doubled, "odd": odd}


def expected_doubled() -> pa.Table:
    return pa.table({"x2": [2 * i for i in range(N)], "row": list(range(N))}, schema=OUT["doubled"])


@pytest.mark.parametrize("workers", [1, 2])
def test_outputs_keep_the_input_order_and_first_rows(tmp_path: Path, workers: int) -> None:
    engine = LocalEngine(workers=workers, batch_size=777)
    seen: list[int] = []
    results = engine.map_batches(
        TABLE,
        split,
        schema=OUT,
        sink={"doubled": tmp_path / "d.parquet", "odd": None},
        aggregators={"odd": RowCount()},
        progress=seen.append,
    )
    assert pq.read_table(tmp_path / "d.parquet").equals(expected_doubled())
    assert results == {"odd": N // 2}
    assert sum(seen) == N
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.parquet"]  # nothing else left


def test_iter_batches_yields_the_outputs_in_order_and_can_stop_early() -> None:
    engine = LocalEngine(workers=2, batch_size=1_000)
    firsts = [out["doubled"]["row"][0].as_py() for out in engine.iter_batches(TABLE, split)]
    assert firsts == list(range(0, N, 1_000))
    third = None
    for i, outputs in enumerate(engine.iter_batches(TABLE, split)):
        if i == 2:
            third = outputs
            break
    assert third is not None and third["doubled"]["row"][0].as_py() == 2_000


def test_the_shuffling_engine_writes_the_same_outputs(tmp_path: Path) -> None:
    for seed in range(3):
        target = tmp_path / f"d{seed}.parquet"
        results = ShufflingEngine(seed=seed).map_batches(
            TABLE, split, schema=OUT, sink={"doubled": target}, aggregators={"odd": RowCount()}
        )
        assert pq.read_table(target).equals(expected_doubled())
        assert results == {"odd": N // 2}


@pytest.mark.parametrize(
    "engine",
    [LocalEngine(workers=1, batch_size=777), LocalEngine(workers=2), ShufflingEngine(seed=2)],
    ids=["local-1", "local-2", "shuffling"],
)
def test_an_output_with_neither_sink_nor_aggregator_comes_back_as_a_table(
    tmp_path: Path, engine: LocalEngine | ShufflingEngine
) -> None:
    results = engine.map_batches(TABLE, split, schema=OUT, sink={"odd": tmp_path / "o.parquet"})
    # The written output is not returned; the other is the engine's table, in input order.
    assert list(results) == ["doubled"]
    assert results["doubled"].equals(expected_doubled())
    assert pq.read_table(tmp_path / "o.parquet").num_rows == N // 2
    both = engine.map_batches(TABLE.slice(0, 0), split, schema=OUT)
    assert both["odd"].num_rows == 0 and both["odd"].schema.equals(OUT["odd"])


def test_an_empty_output_is_still_written_with_its_schema(tmp_path: Path) -> None:
    LocalEngine().map_batches(TABLE.slice(0, 0), split, schema=OUT, sink={"odd": tmp_path / "o"})
    written = pq.read_table(tmp_path / "o")
    assert written.num_rows == 0 and written.schema.equals(OUT["odd"])


def test_an_unknown_output_name_is_refused_before_reading(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        LocalEngine().map_batches(TABLE, split, schema=OUT, sink={"even": tmp_path / "e"})
    assert str(info.value) == (
        "map_batches: no output named 'even' in schema; outputs are: doubled, odd"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_function_that_forgets_an_output_is_a_bug_not_a_user_error(tmp_path: Path) -> None:
    def forgetful(batch: pa.RecordBatch, first: int) -> Mapping[str, pa.RecordBatch]:
        return {"doubled": split(batch, first)["doubled"]}

    with pytest.raises(InternalError, match=r"the function returned no 'odd' output"):
        LocalEngine().map_batches(TABLE, forgetful, schema=OUT, sink={"odd": tmp_path / "o"})
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------- nothing half-written


def failing_source(table: pa.Table, batch_rows: int, fail_at: int) -> Source:
    """The table in batches of ``batch_rows``; reading batch ``fail_at`` fails."""

    def batches(_: int) -> Iterator[pa.RecordBatch]:
        for i, batch in enumerate(table.to_batches(max_chunksize=batch_rows)):
            if i == fail_at:
                raise SourceError(f"damaged data at batch {i}; re-export the file")
            yield batch

    return Source("failing", table.schema, table.num_rows, None, batches)


def earlier_outputs(folder: Path) -> dict[Path, bytes]:
    """Outputs of an earlier, complete run, to check they survive a failed one."""
    targets = {folder / "d.parquet": b"", folder / "o.parquet": b""}
    LocalEngine().map_batches(
        TABLE,
        split,
        schema=OUT,
        sink={"doubled": folder / "d.parquet", "odd": folder / "o.parquet"},
    )
    return {path: path.read_bytes() for path in targets}


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    batch_rows=st.integers(50, 3_000),
    fail_fraction=st.floats(0.0, 0.999),
    workers=st.sampled_from([1, 2]),
)
def test_a_read_error_at_any_batch_leaves_earlier_outputs_as_they_were(
    tmp_path_factory: pytest.TempPathFactory, batch_rows: int, fail_fraction: float, workers: int
) -> None:
    folder = tmp_path_factory.mktemp("outputs")
    before = earlier_outputs(folder)
    batches = -(-N // batch_rows)
    fail_at = int(fail_fraction * batches)
    with pytest.raises(SourceError, match=f"damaged data at batch {fail_at}; re-export"):
        LocalEngine(workers=workers, batch_size=batch_rows).map_batches(
            failing_source(TABLE, batch_rows, fail_at),
            split,
            schema=OUT,
            sink={"doubled": folder / "d.parquet", "odd": folder / "o.parquet"},
            aggregators={"odd": RowCount()},
        )
    assert {path: path.read_bytes() for path in before} == before
    assert sorted(folder.iterdir()) == sorted(before)  # no temporaries remain


CONTRACT = Schema([Column("x", "number", nullable=False, min=0)])


def test_validate_meeting_a_damaged_row_group_part_way_replaces_nothing(tmp_path: Path) -> None:
    # Issue 9: a damaged row group part-way replaced a complete valid.parquet with a
    # partial one.
    data = tmp_path / "data.parquet"
    pq.write_table(pa.table({"x": pa.array(range(40_000), pa.float64())}), data, 5_000)
    raw = bytearray(data.read_bytes())
    middle = pq.ParquetFile(data).metadata.row_group(5).column(0)
    start = middle.data_page_offset
    raw[start + 20 : start + middle.total_compressed_size - 20] = b"\xff" * (
        middle.total_compressed_size - 40
    )
    damaged = tmp_path / "damaged.parquet"
    damaged.write_bytes(bytes(raw))
    valid, bad = tmp_path / "valid.parquet", tmp_path / "bad.parquet"
    validate_to_files(CONTRACT, data, quarantine=bad, valid=valid)
    before = {valid: valid.read_bytes(), bad: bad.read_bytes()}
    with pytest.raises(SourceError, match=r"damaged\.parquet: the Parquet data is damaged"):
        validate_to_files(CONTRACT, damaged, quarantine=bad, valid=valid)
    assert {p: p.read_bytes() for p in before} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "bad.parquet",
        "damaged.parquet",
        "data.parquet",
        "valid.parquet",
    ]


def test_validate_meeting_a_ragged_line_late_in_a_csv_writes_nothing(tmp_path: Path) -> None:
    # Issue 9: a ragged line late in a CSV left a partial valid file and an empty
    # quarantine file.
    lines = [str(i) for i in range(200_000)]
    lines[180_000] = "1,2"
    data = tmp_path / "late.csv"
    data.write_text("x\n" + "\n".join(lines) + "\n")
    valid, bad = tmp_path / "valid.parquet", tmp_path / "bad.parquet"
    valid.write_bytes(b"an earlier valid file")
    bad.write_bytes(b"an earlier quarantine file")
    with pytest.raises(SourceError) as info:
        validate_to_files(CONTRACT, data, quarantine=bad, valid=valid)
    assert str(info.value) == (
        f"{data} line 180002: Expected 1 columns, got 2: 1,2; fix the line "
        "(quote fields that contain the delimiter)"
    )
    assert valid.read_bytes() == b"an earlier valid file"
    assert bad.read_bytes() == b"an earlier quarantine file"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "bad.parquet",
        "late.csv",
        "valid.parquet",
    ]


# ------------------------------------------------------------ validation on engines


def dirty() -> pa.Table:
    x = [None if i % 97 == 0 else (-1.0 if i % 13 == 0 else float(i)) for i in range(N)]
    return pa.table({"x": pa.array(x, pa.float64()), "k": pa.array([i % 5 for i in range(N)])})


def test_validation_gives_the_same_result_on_every_engine() -> None:
    data = dirty()
    alone = validate_data(CONTRACT, data, engine=LocalEngine(workers=1, batch_size=N))
    for engine in (LocalEngine(workers=2, batch_size=333), ShufflingEngine(seed=4)):
        got = validate_data(CONTRACT, data, engine=engine)
        assert got.summary == alone.summary, engine
        assert got.valid.equals(alone.valid), engine
        assert got.quarantine.equals(alone.quarantine), engine
    s = alone.summary
    assert (s.rows, s.quarantined) == (N, alone.quarantine.num_rows)
    assert s.counts == {("x", "null"): 104, ("x", "range"): 762}  # multiples of 13, not of 97
    assert alone.quarantine.column("__row").to_pylist()[:3] == [0, 13, 26]
    assert s.examples[("x", "range")].startswith("the data row 13: ")


def test_quarantine_rows_name_csv_lines_across_batches(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("x\n" + "\n".join("-5" if i in (3, 2_500) else str(i) for i in range(3_000)))
    result = Schema.validate(CONTRACT, data, engine=LocalEngine(workers=2, batch_size=1_000))
    assert result.quarantine.column("__line").to_pylist() == [5, 2_502]
    assert result.summary.examples[("x", "range")].startswith(f"{data} line 5: ")


def test_the_validation_summary_aggregator_obeys_the_laws() -> None:
    from suture.schema.run import SUMMARY_SCHEMA, ValidationCounts, ValidatorFn
    from suture.schema.summary import ValidationSummary
    from suture.testing import check_aggregator

    fn = ValidatorFn(CONTRACT, "the data")
    outputs = [fn(b, i * 50) for i, b in enumerate(dirty().slice(0, 600).to_batches(50))]
    summaries = pa.Table.from_batches([o["summary"] for o in outputs], SUMMARY_SCHEMA)

    def same_counts(a: ValidationSummary, b: ValidationSummary) -> None:
        # Examples come from the left operand: only the counts are order-free.
        assert (a.rows, a.valid, a.quarantined, a.counts) == (
            b.rows,
            b.valid,
            b.quarantined,
            b.counts,
        )

    check_aggregator(ValidationCounts(), summaries, assert_equal=same_counts)
