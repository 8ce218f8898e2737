"""SparkEngine: the same profile on Spark (local mode) as on the local engine."""

from __future__ import annotations

import datetime as dt
import gzip
import math
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import SparkSession

import suture
from suture import errors
from suture.aggregate import RowCount
from suture.engines._spark_map import conform as _conform
from suture.engines.spark import SparkEngine
from suture.errors import (
    ConfigError,
    CorruptStateError,
    IncompatibleMergeError,
    SourceError,
    UnsupportedTypeError,
)
from suture.profile import Profile, ProfileAggregator
from suture.testing import arrow_tables

pytestmark = pytest.mark.spark


def mixed_table(n: int, seed: int = 0) -> pa.Table:
    """Every column kind, with nulls, NaN, infinities, zeros and negatives."""
    rng = np.random.default_rng(seed)
    floats = rng.normal(10.0, 30.0, n)
    floats[rng.random(n) < 0.03] = np.nan
    floats[rng.random(n) < 0.01] = np.inf
    floats[rng.random(n) < 0.02] = 0.0
    start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    stamps = [start + dt.timedelta(microseconds=int(t)) for t in rng.integers(0, 10**14, n)]
    words = ["red", "green", "blue", "", "12", "true", "2024-01-02"]
    tags = [list(rng.choice(["x", "y", "z", "w"], rng.integers(0, 4))) for _ in range(n)]
    return pa.table(
        {
            "i": pa.array(rng.integers(-50, 1000, n), mask=rng.random(n) < 0.05),
            "f": pa.array(floats, mask=rng.random(n) < 0.04),
            "s": pa.array(rng.choice(words, n), pa.string(), mask=rng.random(n) < 0.03),
            "b": pa.array(rng.random(n) < 0.3, mask=rng.random(n) < 0.1),
            "t": pa.array(stamps, pa.timestamp("us", "UTC"), mask=rng.random(n) < 0.02),
            "d": pa.array(rng.integers(0, 20_000, n).astype(np.int32), pa.int32()).cast(
                pa.date32()
            ),
            "l": pa.array(tags, pa.list_(pa.string()), mask=rng.random(n) < 0.05),
        }
    )


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return mixed_table(6000)


def assert_same_profile(remote: Profile, local: Profile, *, quantiles_exact: bool = False) -> None:
    """Exact parts equal, moments to 1e-9 relative, quantiles within the rank error.

    ``quantiles_exact`` for inputs under ``k`` values, where KLL keeps every value.
    """
    assert remote.row_count == local.row_count
    assert list(remote) == list(local)
    assert np.array_equal(remote.correlation.pair_counts, local.correlation.pair_counts)
    # r = c / sqrt(m2 m2'): partial sums merged in another order differ by rounding, and
    # the division amplifies it where values span many magnitudes (seen: 2e-7 for 3.4e10
    # beside 0.33 in single-row partitions).
    assert np.allclose(
        remote.correlation.matrix, local.correlation.matrix, rtol=1e-5, atol=1e-5, equal_nan=True
    )
    for name in local:
        x, y = remote[name], local[name]
        assert (x.kind, x.count, x.nulls) == (y.kind, y.count, y.nulls), name
        if x.kind in ("numeric", "temporal"):
            _assert_numbers(name, x.state, y.state, quantiles_exact)
        elif x.kind == "string":
            _assert_strings(name, x, y)
        elif x.kind == "boolean":
            assert x.state == y.state, name
        elif x.kind == "set":
            _assert_numbers(name + ".sizes", x.sizes.state, y.sizes.state, quantiles_exact)
            _assert_strings(name + ".elements", x.elements, y.elements)


def _assert_numbers(name: str, x: Any, y: Any, quantiles_exact: bool) -> None:
    exact = ("count", "nulls", "nans", "pos_inf", "neg_inf", "zeros", "negatives", "integers")
    assert [getattr(x, f) for f in exact] == [getattr(y, f) for f in exact], name
    assert (x.min, x.max) == (y.min, y.max), name
    assert x.distinct.tobytes() == y.distinct.tobytes(), f"{name}: HLL registers differ"
    _assert_moments(name, x.moments, y.moments)
    assert x.quantiles.n == y.quantiles.n, name
    if x.quantiles.n == 0:
        return
    eps = x.quantiles.normalized_rank_error(False) + y.quantiles.normalized_rank_error(False)
    for q in np.linspace(0.0, 1.0, 21):
        value = x.quantiles.get_quantile(q)
        if quantiles_exact:
            assert value == y.quantiles.get_quantile(q), f"{name}: quantile {q}"
        else:
            # Where the remote q-quantile ranks in the local sketch (an interval for ties).
            low, high = y.quantiles.get_rank(value, False), y.quantiles.get_rank(value, True)
            assert low - eps <= q <= high + eps, f"{name}: quantile {q} beyond the rank error"


def _assert_moments(name: str, a: Any, b: Any) -> None:
    assert a.n == b.n, f"{name}: finite count"
    spread = math.sqrt(max(b.m2, 0.0) / max(b.n, 1))
    assert math.isclose(a.mean, b.mean, rel_tol=1e-9, abs_tol=1e-9 * spread), f"{name}: mean"
    for power, field in ((2, "m2"), (3, "m3"), (4, "m4")):
        # Central sums: relative to their natural scale n * spread**power.
        scale = max(b.n, 1) * spread**power
        got, want = getattr(a, field), getattr(b, field)
        assert abs(got - want) <= 1e-9 * scale + 1e-300, f"{name}: {field} {got} != {want}"


def _assert_strings(name: str, x: Any, y: Any) -> None:
    sx, sy = x.state, y.state
    assert (sx.empty, sx.looks) == (sy.empty, sy.looks), name
    assert (sx.min_length, sx.max_length) == (sy.min_length, sy.max_length), name
    assert sx.distinct.tobytes() == sy.distinct.tobytes(), f"{name}: HLL registers differ"
    _assert_moments(name + " lengths", sx.lengths, sy.lengths)
    if x.top_error == 0 and y.top_error == 0:
        assert _counts(x) == _counts(y), f"{name}: frequent items differ"


def _counts(summary: Any) -> dict[Any, int]:
    return {item.value: item.count.value for item in summary.top(100_000)}


def test_a_spark_dataframe_is_profiled_on_spark_like_locally(
    spark: SparkSession, table: pa.Table
) -> None:
    remote = suture.profile(spark.createDataFrame(table).repartition(7))
    assert remote.metadata["engine"] == "spark"
    assert remote.metadata["source"] == "Spark DataFrame"
    local = suture.profile(table, engine="local")
    assert remote.row_count == 6000
    assert_same_profile(remote, local)
    # Low-cardinality strings: frequent-item counts are exact and equal.
    assert remote["s"].top_error == 0
    assert [(i.value, i.count.value) for i in remote["s"].top(10)] == [
        (i.value, i.count.value) for i in local["s"].top(10)
    ]
    assert remote["t"].min == local["t"].min == pc_min(table, "t")
    assert remote["d"].max == local["d"].max


def pc_min(table: pa.Table, name: str) -> Any:
    import pyarrow.compute as pc

    return pc.min(table.column(name)).as_py()


def test_one_partition_and_many_give_the_same_exact_parts(
    spark: SparkSession, table: pa.Table
) -> None:
    frame = spark.createDataFrame(table)
    engine = SparkEngine(spark)
    agg = ProfileAggregator(engine.schema_of(frame))
    one = agg.finalize(engine.aggregate_state(frame.repartition(1), agg))
    seven = agg.finalize(engine.aggregate_state(frame.repartition(7), agg))
    assert_same_profile(seven, one)
    # With a fan-in of 2, seven partial states are merged on the executors in two levels
    # (7 -> 4 -> 2) before the driver merges the last two.
    tree = SparkEngine(spark, fan_in=2).aggregate_state(frame.repartition(7), agg)
    assert_same_profile(agg.finalize(tree), one)


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(arrow_tables(max_rows=40), st.integers(1, 9))
def test_any_table_on_any_partitioning_profiles_like_one_local_pass(
    spark: SparkSession, table: pa.Table, partitions: int
) -> None:
    frame = spark.createDataFrame(table, schema=_spark_schema(spark, table))
    remote = suture.profile(frame.repartition(partitions))
    # Under 200 values KLL keeps every one, so quantiles agree exactly too.
    assert_same_profile(remote, suture.profile(table, engine="local"), quantiles_exact=True)


def _spark_schema(spark: SparkSession, table: pa.Table) -> Any:
    """The Spark schema of ``table`` (needed when the table has no rows to look at)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(table.schema)


def test_an_empty_dataframe_gives_the_empty_profile(spark: SparkSession) -> None:
    table = mixed_table(0)
    frame = spark.createDataFrame(table, schema=_spark_schema(spark, table))
    remote = suture.profile(frame)
    assert remote.row_count == 0
    assert [remote[name].count for name in remote] == [0] * table.num_columns
    assert_same_profile(remote, suture.profile(table, engine="local"), quantiles_exact=True)


def test_small_batches_and_progress(spark: SparkSession, table: pa.Table) -> None:
    frame = spark.createDataFrame(table.slice(0, 500)).repartition(3)
    seen: list[int] = []
    remote = suture.profile(frame, engine=SparkEngine(spark, batch_size=7), progress=seen.append)
    assert sum(seen) == 500 and min(seen) > 0  # as partitions finish, every row once
    assert_same_profile(remote, suture.profile(table.slice(0, 500), engine="local"))


def _waiting_for(flag: Path) -> RowCount:
    """Counts rows; a batch without row 0 waits (up to 60 s) until ``flag`` exists."""

    class Waiting(RowCount):
        def update(self, state: int, batch: pa.RecordBatch) -> int:
            if 0 not in batch.column(0).to_pylist():
                for _ in range(600):
                    if flag.exists():
                        break
                    time.sleep(0.1)
                else:
                    raise CorruptStateError("progress was not reported while the job ran")
            return state + batch.num_rows

    return Waiting()


def test_progress_moves_while_the_job_runs(spark: SparkSession, tmp_path: Path) -> None:
    # Partitions 1 and 2 wait for the first report of progress, which partition 0 (row 0)
    # can only give while the job still runs: no report before the end would fail it.
    flag = tmp_path / "reported"
    seen: list[int] = []

    def progress(rows: int) -> None:
        seen.append(rows)
        flag.touch()

    frame = spark.range(0, 300, 1, numPartitions=3)
    assert SparkEngine(spark).aggregate(frame, _waiting_for(flag), progress=progress) == 300
    assert seen[0] == 100 and sum(seen) == 300


@pytest.mark.parametrize("large", [False, True])
@pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")
def test_schema_of_is_what_map_in_arrow_delivers_with_timestamps_in_utc(
    spark: SparkSession, table: pa.Table, large: bool
) -> None:
    key = "spark.sql.execution.arrow.useLargeVarTypes"
    before = spark.conf.get(key)
    spark.conf.set(key, str(large).lower())
    spark.conf.set("spark.sql.session.timeZone", "America/New_York")
    try:
        frame = spark.createDataFrame(table.slice(0, 300)).coalesce(1)
        schema = SparkEngine(spark).schema_of(frame)

        def types(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            for batch in batches:
                image = batch.schema.serialize().to_pybytes()
                yield pa.RecordBatch.from_pydict({"schema": pa.array([image], pa.binary())})

        images = frame.mapInArrow(types, "schema binary").collect()
        delivered = pa.ipc.read_schema(pa.py_buffer(bytes(images[0]["schema"])))
        # Spark labels timestamps with the session zone; schema_of says UTC (same instants).
        assert delivered.field("t").type == pa.timestamp("us", "America/New_York")
        assert schema.field("t").type == pa.timestamp("us", "UTC")
        others = [name for name in schema.names if name != "t"]
        assert [delivered.field(n).type for n in others] == [schema.field(n).type for n in others]
        assert schema.field("s").type == (pa.large_string() if large else pa.string())
        remote = suture.profile(frame)
        assert remote["t"].min == pc_min(table.slice(0, 300), "t")
        local = suture.profile(table.slice(0, 300), engine="local")
        assert_same_profile(remote, local)
        if not large:
            # Same types as the local profile, so the two merge.
            assert Profile.merge(remote, local).row_count == 600
    finally:
        spark.conf.set(key, before)
        spark.conf.set("spark.sql.session.timeZone", "UTC")


def test_parquet_file_and_folder_paths(
    spark: SparkSession, table: pa.Table, tmp_path: Path
) -> None:
    path = tmp_path / "data.parquet"
    pq.write_table(table, path, row_group_size=1000)
    engine = SparkEngine(spark)
    remote = suture.profile(path, engine=engine)
    assert remote.metadata["source"] == str(path)
    assert_same_profile(remote, suture.profile(path, engine="local"))
    folder = tmp_path / "parts"
    folder.mkdir()
    pq.write_table(table.slice(0, 2500), folder / "a.parquet")
    pq.write_table(table.slice(2500), folder / "b.parquet")
    assert_same_profile(suture.profile(folder, engine=engine), remote)


def test_csv_and_gzipped_csv_paths(spark: SparkSession, tmp_path: Path) -> None:
    table = pa.table({"n": [1, 2, None, 4], "x": [0.5, -1.0, 2.0, None], "s": ["a", "b", "a", ""]})
    path = tmp_path / "data.csv"
    pacsv.write_csv(table, path)
    zipped = tmp_path / "data.csv.gz"
    zipped.write_bytes(gzip.compress(path.read_bytes()))
    for source in (path, zipped):
        remote = suture.profile(source, engine=SparkEngine(spark))
        assert remote.row_count == 4
        assert (remote["n"].nulls, remote["x"].nulls) == (1, 1)
        assert (remote["n"].min, remote["n"].max, remote["x"].min) == (1, 4, -1.0)
        assert remote.schema.field("n").type == pa.int32()  # Spark's inferred type


def test_a_missing_path_is_a_clear_error(spark: SparkSession, tmp_path: Path) -> None:
    missing = tmp_path / "nope.parquet"
    with pytest.raises(SourceError) as info:
        suture.profile(missing, engine=SparkEngine(spark))
    assert str(info.value) == f"{missing}: no such file or folder; check the path"


def test_unreadable_inputs_are_clear_errors(spark: SparkSession, tmp_path: Path) -> None:
    odd = tmp_path / "data.xlsx"
    odd.write_bytes(b"not a table")
    with pytest.raises(SourceError) as info:
        SparkEngine(spark).open(odd)
    assert str(info.value) == (
        f"{odd}: cannot tell the format from the name; use a .parquet, .csv or .csv.gz file "
        "or a folder of Parquet files"
    )
    with pytest.raises(SourceError) as info:
        SparkEngine(spark).open(pa.table({"x": [1]}))
    assert str(info.value) == (
        "the Spark engine cannot read a Table: pass a Spark DataFrame or a path to Parquet or "
        "CSV data, or profile it with the local engine"
    )
    damaged = tmp_path / "damaged.parquet"
    pq.write_table(pa.table({"x": list(range(100_000))}), damaged)
    image = damaged.read_bytes()
    damaged.write_bytes(image[:100] + bytes(5000) + image[5100:])
    with pytest.raises(SourceError) as info:
        suture.profile(damaged, engine=SparkEngine(spark))
    assert str(info.value) == (
        f"{damaged}: Spark cannot read the data (Encountered error while reading file "
        f"file://{damaged}); check that the files are complete and in the format their "
        "names say"
    )


def _failing_in_update() -> RowCount:
    # A local class travels to the executors by value (cloudpickle).
    class Refusing(RowCount):
        def update(self, state: int, batch: pa.RecordBatch) -> int:
            raise CorruptStateError("partial state 3 is damaged; profile the data again")

    return Refusing()


def _failing_in_merge() -> RowCount:
    class Unmergeable(RowCount):
        def merge(self, a: int, b: int) -> int:
            if a and b:
                raise IncompatibleMergeError("cannot merge row_count with row_count: test")
            return a + b

    return Unmergeable()


def test_a_suture_error_on_an_executor_comes_back_as_itself(spark: SparkSession) -> None:
    frame = spark.range(0, 100, 1, numPartitions=2)
    with pytest.raises(CorruptStateError) as info:
        SparkEngine(spark).aggregate(frame, _failing_in_update())
    assert str(info.value) == "partial state 3 is damaged; profile the data again"
    # Two non-empty partial states meet in merge, which refuses them: on the driver, and
    # on an executor (three states, merged two at a time).
    for engine, partitions in ((SparkEngine(spark), 2), (SparkEngine(spark, fan_in=2), 3)):
        with pytest.raises(IncompatibleMergeError) as merged:
            engine.aggregate(spark.range(0, 100, 1, partitions), _failing_in_merge())
        assert str(merged.value) == "cannot merge row_count with row_count: test"


def test_excluded_columns_are_never_read(spark: SparkSession) -> None:
    frame = spark.sql("SELECT id, map('k', id) AS m FROM range(10)")
    with pytest.raises(UnsupportedTypeError, match=r"^column 'm' has type map<string, int64>"):
        suture.profile(frame)
    remote = suture.profile(frame, exclude=["m"])
    assert list(remote) == ["id"]
    assert (remote.row_count, remote["id"].max) == (10, 9)


def test_engine_by_name_and_description(spark: SparkSession) -> None:
    frame = spark.range(5)
    profiled = suture.profile(frame, engine="spark")
    assert (profiled.metadata["engine"], profiled.row_count) == ("spark", 5)
    assert SparkEngine(spark).describe(frame) == "Spark DataFrame"
    assert SparkEngine(spark).aggregate(frame, RowCount()) == 5
    assert SparkEngine().spark is SparkSession.getActiveSession()


def test_a_spark_type_arrow_cannot_carry_is_a_clear_error(spark: SparkSession) -> None:
    frame = spark.sql("SELECT id, INTERVAL '1' YEAR AS y FROM range(3)")
    with pytest.raises(UnsupportedTypeError) as info:
        suture.profile(frame)
    assert str(info.value) == (
        "column 'y' has Spark type interval year, which Arrow cannot carry; drop it before "
        "profiling (df.drop('y'))"
    )
    assert suture.profile(frame.drop("y")).row_count == 3


def test_batches_are_cast_to_the_reported_schema() -> None:
    batch = pa.RecordBatch.from_pydict(
        {
            "s": pa.array(["a", None], pa.string()),
            "t": pa.array([0, 1], pa.timestamp("us", "Etc/UTC")),
            "n": pa.array([1, 2], pa.int32()),
        }
    )
    wanted = pa.schema(
        [("s", pa.large_string()), ("t", pa.timestamp("us", "UTC")), ("n", pa.int32())]
    )
    conformed = _conform(batch, wanted)
    assert conformed.schema == wanted
    assert conformed.to_pydict() == batch.to_pydict()
    assert _conform(conformed, wanted) is conformed
    # Columns are taken by name: extra ones are left out, a missing one is a bug.
    reordered = _conform(batch, pa.schema([("n", pa.int64()), ("s", pa.string())]))
    assert reordered.to_pydict() == {"n": [1, 2], "s": ["a", None]}
    with pytest.raises(errors.InternalError) as info:
        _conform(batch, pa.schema([("m", pa.int32())]))
    assert str(info.value) == "a batch lacks the column 'm' of its schema (it has 's', 't', 'n')"


# --- parameters ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size must be at least 1, got 0"),
        ({"batch_size": True}, "batch_size must be an integer of at least 1, got True"),
        ({"fan_in": 1}, "fan_in must be at least 2, got 1"),
        ({"delimiter": ";;"}, "delimiter must be one character such as ',' or ';', got ';;'"),
        (
            {"encoding": "nope"},
            "unknown encoding 'nope'; use a Python codec name such as utf-8, latin-1 or cp1252",
        ),
        ({"master": " "}, "master must be a Spark master URL such as local[2], got ' '"),
    ],
)
def test_bad_parameters_are_config_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        SparkEngine(**kwargs)
    assert str(info.value) == message


def test_csv_delimiter_and_encoding_options(spark: SparkSession, tmp_path: Path) -> None:
    path = tmp_path / "semi.csv"
    path.write_bytes("city;n\nZürich;1\nGenève;2\n".encode("latin-1"))
    # ';' is detected from the header; latin-1 (Python's name) is ISO-8859-1 to Spark.
    remote = suture.profile(path, engine=SparkEngine(spark, encoding="latin-1"))
    assert list(remote) == ["city", "n"]
    assert remote["city"].state.min_length == 6
    assert {i.value for i in remote["city"].top(5)} == {"Zürich", "Genève"}
    piped = tmp_path / "piped.csv"
    piped.write_text("a,b|c\n1,2|3\n")
    assert list(suture.profile(piped, engine=SparkEngine(spark, delimiter="|"))) == ["a,b", "c"]


# --- errors from executors -----------------------------------------------------------


def _suture_errors() -> list[type[errors.SutureError]]:
    found = [getattr(errors, name) for name in errors.__all__]
    return [c for c in found if isinstance(c, type) and issubclass(c, errors.SutureError)]


def _instance(cls: type[errors.SutureError]) -> errors.SutureError:
    if cls is errors.RecordError:
        return errors.RecordError("column 'x' row 3: expected a number, got 'a'", "x", "type")
    return cls(f"a {cls.__name__} raised on an executor; fix the input")


def _raising(make: Callable[[], BaseException]) -> RowCount:
    """Raises ``make()`` in update (made on the executor: RecordError does not pickle)."""

    class Raising(RowCount):
        def update(self, state: int, batch: pa.RecordBatch) -> int:
            raise make()

    return Raising()


@pytest.mark.parametrize("cls", _suture_errors(), ids=lambda c: c.__name__)
def test_every_suture_error_comes_back_as_itself(
    spark: SparkSession, cls: type[errors.SutureError]
) -> None:
    raised = _instance(cls)
    with pytest.raises(cls) as info:
        SparkEngine(spark).aggregate(spark.range(0, 10, 1, 1), _raising(lambda: _instance(cls)))
    assert type(info.value) is cls
    assert str(info.value) == str(raised)
    assert vars(info.value) == vars(raised)  # RecordError keeps field and kind


def test_the_error_tree_is_all_covered() -> None:
    # A new SutureError class joins the parametrized test above without a change there.
    assert {c.__name__ for c in _suture_errors()} >= {
        "ConfigError", "SourceError", "OutputError", "EmptyInputError", "UnsupportedTypeError",
        "CorruptStateError", "IncompatibleMergeError", "SchemaError", "RecordError",
        "NotFittedError", "UnknownIdError", "SutureError",
    }  # fmt: skip


def test_a_bug_on_an_executor_is_an_internal_error(spark: SparkSession) -> None:
    with pytest.raises(errors.InternalError) as info:
        SparkEngine(spark).aggregate(
            spark.range(0, 10, 1, 1), _raising(lambda: ZeroDivisionError("x"))
        )
    message = str(info.value)
    assert message.startswith(
        "a Spark executor failed (ZeroDivisionError: x); this is a bug in suture, please "
        "report it with this message:\nTraceback (most recent call last):"
    )
    assert message.endswith("ZeroDivisionError: x")


# --- map_batches ---------------------------------------------------------------------

NUMBERED = pa.schema([("id", pa.int64()), ("row", pa.int64())])
SIZES = pa.schema([("rows", pa.int64())])
OUTPUTS = {"even": NUMBERED, "odd": NUMBERED, "sizes": SIZES}


def split_by_parity(batch: pa.RecordBatch, first_row: int) -> dict[str, pa.RecordBatch]:
    """Rows numbered by ``first_row``, split into even and odd ids, and the batch size."""
    numbered = batch.append_column("row", pa.array(range(first_row, first_row + batch.num_rows)))
    even = pc.equal(pc.bit_wise_and(batch.column(0), 1), 0)
    return {
        "even": numbered.filter(even),
        "odd": numbered.filter(pc.invert(even)),
        "sizes": pa.RecordBatch.from_pydict({"rows": [batch.num_rows]}, schema=SIZES),
    }


class LargestBatch(RowCount):
    """The largest value of a ``rows`` column: a second aggregator over an output."""

    kind = "largest"

    def update(self, state: int, batch: pa.RecordBatch) -> int:
        return max(state, pc.max(batch.column(0)).as_py() or 0)

    def merge(self, a: int, b: int) -> int:
        return max(a, b)


def test_map_batches_writes_parquet_folders_with_global_row_numbers(
    spark: SparkSession, tmp_path: Path
) -> None:
    frame = spark.range(0, 1000, 1, numPartitions=4)
    seen: list[int] = []
    results = SparkEngine(spark, batch_size=64).map_batches(
        frame,
        split_by_parity,
        schema=OUTPUTS,
        sink={"even": tmp_path / "even", "odd": str(tmp_path / "odd"), "sizes": None},
        aggregators={"odd": RowCount(), "sizes": LargestBatch()},
        progress=seen.append,
    )
    assert results == {"odd": 500, "sizes": 64}
    assert sum(seen) == 1000
    even, odd = pq.read_table(tmp_path / "even"), pq.read_table(tmp_path / "odd")
    assert even.schema == NUMBERED and odd.schema == NUMBERED
    # The row index is the row's place in the DataFrame (spark.range: its id).
    assert sorted(even.column("row").to_pylist()) == list(range(0, 1000, 2))
    assert even.column("row").to_pylist() == even.column("id").to_pylist()
    assert odd.column("row").to_pylist() == odd.column("id").to_pylist()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["even", "odd"]  # no temporaries


def test_map_batches_with_only_aggregators_writes_nothing(
    spark: SparkSession, tmp_path: Path
) -> None:
    frame = spark.range(0, 90, 1, numPartitions=3)
    results = SparkEngine(spark).map_batches(
        frame, split_by_parity, schema=OUTPUTS, aggregators={"even": RowCount()}
    )
    assert results["even"] == 45
    # Outputs neither written nor aggregated come back as lazy DataFrames, rows numbered.
    assert sorted(results) == ["even", "odd", "sizes"]
    odd = results["odd"].toArrow()
    assert odd.column("row").to_pylist() == odd.column("id").to_pylist() == list(range(1, 90, 2))


def _failing_at(row: int) -> Any:
    def fn(batch: pa.RecordBatch, first_row: int) -> dict[str, pa.RecordBatch]:
        if first_row <= row < first_row + batch.num_rows:
            raise errors.RecordError(f"row {row}: expected a small id", "id", "range")
        return split_by_parity(batch, first_row)

    return fn


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_failing_map_leaves_earlier_outputs_as_they_were(
    spark: SparkSession, tmp_path: Path
) -> None:
    engine = SparkEngine(spark, batch_size=50)
    frame = spark.range(0, 400, 1, numPartitions=4)
    sink = {"even": tmp_path / "even", "odd": tmp_path / "odd"}
    engine.map_batches(frame, split_by_parity, schema=OUTPUTS, sink=sink)
    before = _snapshot(tmp_path)
    with pytest.raises(errors.RecordError) as info:
        engine.map_batches(frame, _failing_at(377), schema=OUTPUTS, sink=sink)
    assert str(info.value) == "row 377: expected a small id"
    assert (info.value.field, info.value.kind) == ("id", "range")
    assert _snapshot(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["even", "odd"]


def test_a_bug_in_fn_is_an_internal_error_and_writes_nothing(
    spark: SparkSession, tmp_path: Path
) -> None:
    def broken(batch: pa.RecordBatch, first_row: int) -> dict[str, pa.RecordBatch]:
        return {"even": batch}  # no row column, no odd output

    with pytest.raises(errors.InternalError, match=r"^a Spark executor failed \(InternalError: "):
        SparkEngine(spark).map_batches(
            spark.range(10), broken, schema=OUTPUTS, sink={"odd": tmp_path / "odd"}
        )
    assert list(tmp_path.iterdir()) == []


def test_map_batches_to_uris_through_the_hadoop_file_system(
    spark: SparkSession, tmp_path: Path
) -> None:
    (tmp_path / "even").mkdir()
    (tmp_path / "even" / "old.parquet").write_bytes(b"replaced")
    uri = (tmp_path / "even").as_uri()
    SparkEngine(spark).map_batches(
        spark.range(0, 20, 1, 2), split_by_parity, schema=OUTPUTS, sink={"even": uri}
    )
    assert pq.read_table(tmp_path / "even").column("id").to_pylist() == list(range(0, 20, 2))
    assert not (tmp_path / "even" / "old.parquet").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["even"]  # the temporary was renamed


def test_map_batches_refuses_bad_outputs_before_any_work(
    spark: SparkSession, tmp_path: Path
) -> None:
    engine = SparkEngine(spark)
    frame = spark.range(4)
    with pytest.raises(ConfigError) as config:
        engine.map_batches(frame, split_by_parity, schema=OUTPUTS, sink={"evens": tmp_path})
    assert str(config.value) == (
        "map_batches: sink names output 'evens', which schema lacks; the outputs are "
        "'even', 'odd', 'sizes'"
    )
    missing = tmp_path / "no" / "even"
    with pytest.raises(errors.OutputError) as output:
        engine.map_batches(frame, split_by_parity, schema=OUTPUTS, sink={"even": missing})
    assert (
        str(output.value)
        == f"{missing}: the folder {missing.parent} does not exist; create it first"
    )
    unsigned = {**OUTPUTS, "even": pa.schema([("id", pa.uint64())])}
    with pytest.raises(UnsupportedTypeError) as typed:
        engine.map_batches(frame, split_by_parity, schema=unsigned, sink={"even": tmp_path / "e"})
    assert str(typed.value) == (
        "output 'even' column 'id' has Arrow type uint64, which Spark cannot store; cast it "
        "(an unsigned integer to int64 or decimal) or use the local engine"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")
def test_a_dataframe_that_changes_between_passes_is_refused(
    spark: SparkSession, tmp_path: Path
) -> None:
    from pyspark.sql import functions as F

    coin = F.udf(lambda: random.random(), "double").asNondeterministic()
    frame = spark.range(0, 4000, 1, numPartitions=4).where(coin() < 0.5)
    with pytest.raises(SourceError, match=r"^the Spark DataFrame gave other rows in a second pass"):
        SparkEngine(spark).map_batches(
            frame, split_by_parity, schema=OUTPUTS, sink={"even": tmp_path / "even"}
        )
    assert list(tmp_path.iterdir()) == []


def test_row_numbers_of_one_file_in_many_partitions_are_its_row_positions(
    spark: SparkSession, tmp_path: Path
) -> None:
    path = tmp_path / "data.parquet"
    rng = np.random.default_rng(3)
    ids = np.arange(120_000)
    pq.write_table(pa.table({"id": ids, "x": rng.normal(size=ids.size)}), path, row_group_size=5000)
    key = "spark.sql.files.maxPartitionBytes"
    before = spark.conf.get(key)
    spark.conf.set(key, "65536")  # many small pieces of one file
    try:
        frame = spark.read.parquet(str(path))
        assert frame.rdd.getNumPartitions() > 4
        SparkEngine(spark, batch_size=1000).map_batches(
            frame, split_by_parity, schema=OUTPUTS, sink={"odd": tmp_path / "odd"}
        )
    finally:
        spark.conf.set(key, before)
    odd = pq.read_table(tmp_path / "odd")
    assert odd.num_rows == 60_000
    assert odd.column("row").to_pylist() == odd.column("id").to_pylist()


def test_a_users_session_keeps_its_log_level(spark: SparkSession) -> None:
    def root_level() -> str:
        manager = spark.sparkContext._jvm.org.apache.logging.log4j.LogManager
        return str(manager.getRootLogger().getLevel().toString())

    before = root_level()
    spark.sparkContext.setLogLevel("WARN")
    try:
        engine = SparkEngine(master="local[1]")  # asks for a session while one runs
        assert engine.spark.sparkContext is spark.sparkContext
        assert root_level() == "WARN"  # not quietened to ERROR: the session is the user's
    finally:
        spark.sparkContext.setLogLevel(before)
