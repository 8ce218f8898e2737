"""Reading every supported source, and a clear message for every bad one."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

import suture
import suture.sources
from suture.errors import SourceError, UnsupportedTypeError

TABLE = pa.table(
    {
        "n": pa.array([1, 2, None, 4], pa.int64()),
        "s": pa.array(["a", "b", "b", None]),
        "x": pa.array([0.5, float("nan"), 2.0, -1.0]),
    }
)


def _check(profile: suture.Profile) -> None:
    assert profile.row_count == 4
    assert profile["n"].nulls == 1 and profile["n"].max == 4
    assert profile["s"].top(1)[0].value == "b"


def test_parquet_file_folder_and_arrow_ipc(tmp_path: Path) -> None:
    pq.write_table(TABLE, tmp_path / "t.parquet")
    folder = tmp_path / "parts"
    folder.mkdir()
    pq.write_table(TABLE.slice(0, 2), folder / "a.parquet")
    pq.write_table(TABLE.slice(2), folder / "b.parquet")
    feather.write_feather(TABLE, tmp_path / "t.arrow")
    for path in (tmp_path / "t.parquet", folder, tmp_path / "t.arrow"):
        _check(suture.profile(path))


def test_csv_and_gzipped_csv(tmp_path: Path) -> None:
    text = "n,s,x\n1,a,0.5\n2,b,NaN\n,b,2.0\n4,,-1.0\n"
    (tmp_path / "t.csv").write_text(text)
    with gzip.open(tmp_path / "t.csv.gz", "wt") as handle:
        handle.write(text)
    for name in ("t.csv", "t.csv.gz"):
        profile = suture.profile(tmp_path / name)
        assert profile.row_count == 4 and profile["n"].nulls == 1
        assert profile["x"].nulls == 1  # Arrow reads "NaN" in CSV as missing, as pandas does


def test_in_memory_tables_and_frames() -> None:
    sources = [
        TABLE,
        TABLE.to_batches()[0],
        ds.dataset(TABLE),
        pa.RecordBatchReader.from_batches(TABLE.schema, TABLE.to_batches()),
        TABLE.to_pandas(),
        pl.from_arrow(TABLE),
    ]
    for source in sources:
        profile = suture.profile(source)
        assert profile.row_count == 4, type(source)
        assert profile["s"].top(1)[0].value == "b"


def test_pandas_categorical_and_dictionary_columns() -> None:
    frame = pd.DataFrame({"c": pd.Categorical(["x", "y", "x", None])})
    profile = suture.profile(frame)
    assert profile["c"].kind == "string"
    assert [(i.value, i.count.value) for i in profile["c"].top(2)] == [("x", 2.0), ("y", 1.0)]


def test_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"nope\.parquet: no such file or folder; check the path"):
        suture.profile(tmp_path / "nope.parquet")


def test_corrupt_parquet_is_refused_clearly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1" + b"\x00" * 100)
    with pytest.raises(SourceError, match=r"bad\.parquet: not a readable Parquet file .*check"):
        suture.profile(bad)


def test_ragged_csv_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("a,b,c\n1,2,3\n4,5,6\n7,8\n9,10,11\n")
    with pytest.raises(SourceError) as info:
        suture.profile(path)
    assert str(info.value) == (
        f"{path} line 4: Expected 3 columns, got 2: 7,8; fix the line "
        "(quote fields that contain the delimiter)"
    )


def test_late_non_numeric_value_rereads_the_column_as_text(tmp_path: Path) -> None:
    # Arrow infers int64 from the first block; a value far down does not fit.
    rows = [f"{i},{i % 7}" for i in range(300_000)] + ["oops,3"]
    path = tmp_path / "late.csv"
    path.write_text("id,k\n" + "\n".join(rows) + "\n")
    profile = suture.profile(path)
    assert profile.row_count == 300_001
    assert profile["id"].kind == "string"
    assert profile["id"].hints == ("numeric",)
    assert profile["id"].parse_failures == 1


def test_late_decimal_value_widens_to_float(tmp_path: Path) -> None:
    rows = [str(i) for i in range(300_000)] + ["2.5"]
    path = tmp_path / "late.csv"
    path.write_text("v\n" + "\n".join(rows) + "\n")
    profile = suture.profile(path)
    assert profile["v"].kind == "numeric"
    assert profile["v"].count == 300_001 and profile["v"].max == 299_999


def test_empty_csv_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(SourceError, match="the file is empty; it needs at least a header line"):
        suture.profile(path)


def test_header_only_csv_profiles_zero_rows(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("a,b\n")
    assert suture.profile(path).row_count == 0


def test_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "data.xlsx"
    path.write_bytes(b"x")
    with pytest.raises(SourceError, match=r"cannot tell the format from the name"):
        suture.profile(path)


def test_unsupported_column_type_names_column_and_fix() -> None:
    table = pa.table({"ok": [1, 2], "nested": [{"a": 1}, {"a": 2}]})
    with pytest.raises(UnsupportedTypeError) as info:
        suture.profile(table)
    assert str(info.value) == (
        "column 'nested' has type struct<a: int64>, which suture cannot summarize; "
        "leave it out with --exclude nested (or exclude=['nested'])"
    )
    assert suture.profile(table, exclude=["nested"]).row_count == 2


def test_exclude_of_unknown_column() -> None:
    with pytest.raises(
        SourceError, match=r"cannot exclude 'zz': no such column; columns are: n, s, x"
    ):
        suture.profile(TABLE, exclude=["zz"])


def test_unknown_object_type() -> None:
    with pytest.raises(SourceError, match=r"cannot read a dict: pass a file path"):
        suture.profile({"a": [1]})


def test_row_groups_read_whole_or_batch_by_batch_give_the_same_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 10_000
    table = pa.table(
        {"x": pa.array(range(n), pa.int64()), "s": pa.array([f"k{i % 13}" for i in range(n)])}
    )
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=4_000)
    source = suture.sources.open_source(path, dictionary_strings=True)

    def read() -> list[pa.RecordBatch]:
        batches = list(source.batches(1_500))
        assert all(b.num_rows <= 1_500 for b in batches)
        return batches

    whole = read()
    monkeypatch.setattr(suture.sources, "WHOLE_ROW_GROUP_VALUES", 10)
    piecemeal = read()
    for batches in (whole, piecemeal):
        got = pa.Table.from_batches(batches).cast(table.schema)
        assert got.equals(table)
    assert pa.types.is_dictionary(whole[0].schema.field("s").type)
