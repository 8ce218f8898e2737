"""Validation on Spark: the same rules, and valid + quarantined = input rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import DataFrame, SparkSession

from suture.engines.spark import SparkEngine
from suture.schema import Column, Derived, Schema

pytestmark = pytest.mark.spark

CONTRACT = Schema(
    [
        Column("id", "identifier", nullable=False, feature=False),
        Column("distance", "number", nullable=False, unit="mile", min=0, max=5000),
        Column("air_time", "number", unit="minute", min=0, max=800),
        Column("carrier", "categorical", levels=("AA", "UA")),
    ],
    [Derived("speed", "distance / air_time", unit="mile / hour")],
)


def dirty(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    distance = rng.uniform(-100, 6000, n).round(1).astype(str).astype(object)
    distance[rng.random(n) < 0.05] = None
    distance[rng.random(n) < 0.05] = "far"
    air = rng.uniform(-10, 900, n).round(0).astype(str).astype(object)
    air[rng.random(n) < 0.03] = "0"
    carrier = rng.choice(["AA", "UA", "ZZ", None], n, p=[0.45, 0.45, 0.05, 0.05])
    return pa.table(
        {
            "id": pa.array([f"r{i}" for i in range(n)]),
            "distance": pa.array(distance, pa.string()),
            "air_time": pa.array(air, pa.string()),
            "carrier": pa.array(carrier, pa.string()),
        }
    )


def by_id(rows: pa.Table, *columns: str) -> dict[str, tuple[Any, ...]]:
    """Each row's ``columns`` by its id."""
    picked = rows.select(["id", *columns]).to_pylist()
    return {row["id"]: tuple(row[c] for c in columns) for row in picked}


def test_schema_validate_of_a_spark_dataframe_gives_lazy_dataframes_not_driver_tables(
    spark: SparkSession, tmp_path: Path
) -> None:
    # Regression: Schema.validate(spark_df) collected the valid and quarantined rows to
    # the driver as Arrow tables (a driver out of memory on large data).
    data = dirty(3_000, 0)
    pq.write_table(data, tmp_path / "data.parquet", row_group_size=500)
    frame = spark.read.parquet(str(tmp_path / "data.parquet")).repartition(3)
    tracker = spark.sparkContext.statusTracker()
    result = CONTRACT.validate(frame, engine=SparkEngine(spark))
    local = CONTRACT.validate(data)
    assert isinstance(local.valid, pa.Table) and isinstance(local.quarantine, pa.Table)
    assert isinstance(result.valid, DataFrame) and isinstance(result.quarantine, DataFrame)
    # The summary is known at once, and equal to the local engine's.
    s = result.summary
    assert (s.rows, s.valid, s.quarantined, s.counts) == (
        3_000,
        local.summary.valid,
        local.summary.quarantined,
        local.summary.counts,
    )
    # The rows are computed when asked for (a job runs then), not before.
    jobs = set(tracker.getJobIdsForGroup())
    valid, quarantine = result.valid.toArrow(), result.quarantine.toArrow()
    assert set(tracker.getJobIdsForGroup()) > jobs
    assert valid.num_rows + quarantine.num_rows == data.num_rows
    # The same rows, values and reasons as the local engine, row for row.
    columns = [name for name in local.valid.column_names if name != "id"]
    assert by_id(valid, *columns) == by_id(local.valid, *columns)
    assert by_id(quarantine, "__reasons") == by_id(local.quarantine, "__reasons")
    # __row is the row's place in the DataFrame (its partitions in order), as in messages.
    # (All columns: a narrower select would be pruned below the repartition, which then
    # deals the rows out otherwise.)
    place = {row_id: i for i, row_id in enumerate(frame.toArrow()["id"].to_pylist())}
    rows = quarantine.column("__row").to_pylist()
    assert rows == [place[row_id] for row_id in quarantine.column("id").to_pylist()]
    assert rows == sorted(rows)
    # The numbers come from the source's partitions, so they survive a later coalesce.
    assert result.quarantine.coalesce(1).toArrow().column("__row").to_pylist() == rows


def test_validate_command_on_spark_writes_parquet_folders(
    spark: SparkSession, tmp_path: Path
) -> None:
    from rich.console import Console

    from suture.schema.cli import validate_command

    table = pa.table(
        {
            "id": ["a", "b", "c", "d"],
            "distance": [100.0, -5.0, 300.0, 50.0],
            "air_time": [60.0, 30.0, 90.0, 45.0],
            "carrier": ["AA", "UA", "ZZ", "AA"],
        }
    )
    pq.write_table(table, tmp_path / "in.parquet")
    contract = tmp_path / "schema.toml"
    CONTRACT.save(contract)
    console = Console(record=True, width=120)
    code = validate_command(
        tmp_path / "in.parquet",
        contract,
        quarantine=tmp_path / "bad",
        output=tmp_path / "good",
        engine="spark",
        console=console,
    )
    assert code == 1  # two rows quarantined, none allowed
    assert "4 rows: 2 valid, 2 quarantined" in console.export_text()
    bad = pq.read_table(tmp_path / "bad")
    good = pq.read_table(tmp_path / "good")
    assert sorted(bad.column("id").to_pylist()) == ["b", "c"]
    assert sorted(good.column("id").to_pylist()) == ["a", "d"]


@pytest.mark.parametrize("how", ["object", "name"])
def test_a_path_with_a_spark_engine_validates_on_spark(
    spark: SparkSession, tmp_path: Path, how: str
) -> None:
    from suture.schema.run import validate_to_files

    data = dirty(600, 1)
    pq.write_table(data, tmp_path / "data.parquet", row_group_size=200)
    engine = SparkEngine(spark) if how == "object" else "spark"
    summary = validate_to_files(
        CONTRACT,
        tmp_path / "data.parquet",
        quarantine=tmp_path / "bad",
        valid=tmp_path / "good",
        engine=engine,
    )
    local = CONTRACT.validate(data)
    assert (summary.rows, summary.valid, summary.counts) == (
        600,
        local.summary.valid,
        local.summary.counts,
    )
    # Spark wrote them: Parquet folders of part files, not the local engine's single files.
    for folder in (tmp_path / "bad", tmp_path / "good"):
        assert folder.is_dir() and (folder / "_SUCCESS").exists()
        assert any(p.name.startswith("part-") for p in folder.iterdir())
    bad = pq.read_table(tmp_path / "bad")
    # One file read by Spark keeps its order: __row is the row's place in the file.
    assert sorted(bad.column("__row").to_pylist()) == local.quarantine.column("__row").to_pylist()
    assert sorted(bad.column("id").to_pylist()) == sorted(local.quarantine.column("id").to_pylist())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad", "data.parquet", "good"]


def test_schema_validate_of_a_path_with_a_spark_engine_runs_on_spark(
    spark: SparkSession, tmp_path: Path
) -> None:
    data = dirty(300, 2)
    pq.write_table(data, tmp_path / "data.parquet")
    seen: list[str] = []

    class Watching(SparkEngine):
        def map_batches(self, source: Any, fn: Any, **kwargs: Any) -> dict[str, Any]:
            seen.append(type(self.open(source)).__module__)  # a Spark DataFrame
            return super().map_batches(source, fn, **kwargs)

    result = CONTRACT.validate(tmp_path / "data.parquet", engine=Watching(spark))
    local = CONTRACT.validate(data)
    assert len(seen) == 1 and seen[0].startswith("pyspark.sql")
    assert (result.summary.valid, result.summary.counts) == (
        local.summary.valid,
        local.summary.counts,
    )
    # The lazy quarantine numbers the rows of one file as the local engine does.
    assert result.quarantine.toArrow().column("__row").to_pylist() == (
        local.quarantine.column("__row").to_pylist()
    )
