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
from suture.engines import LocalEngine
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


# ------------------------------------------------------------- CSV as people have it


def test_a_semicolon_header_is_read_as_semicolon_separated(tmp_path: Path) -> None:
    # Issue 9: a ; file silently became one column.
    path = tmp_path / "eu.csv"
    path.write_text("id;price;city\n1;2,5;Köln\n2;3;Paris\n")
    source = suture.sources.open_source(path)
    assert source.schema.names == ["id", "price", "city"]
    assert pa.Table.from_batches(list(source.batches())).column("city").to_pylist() == [
        "Köln",
        "Paris",
    ]


def test_a_tab_header_is_read_as_tab_separated_whatever_the_suffix(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a\tb\n1\tx,y\n")
    assert suture.sources.open_source(path).schema.names == ["a", "b"]


def test_a_given_delimiter_wins_over_the_header(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a;b|c\n1;2|3\n")
    assert suture.sources.open_source(path, delimiter="|").schema.names == ["a;b", "c"]
    assert suture.sources.open_source(path).schema.names == ["a", "b|c"]


def test_bytes_that_are_not_utf8_name_the_line_the_byte_and_the_option(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("id,city\n1,Paris\n2,Orl\xe9ans\n".encode("latin-1"))
    with pytest.raises(SourceError) as info:
        suture.profile(path)
    assert str(info.value) == (
        f"{path} line 3: the bytes are not valid utf-8 (0xe9 at byte 6); pass --encoding "
        "latin-1 (or the file's encoding)"
    )
    profile = suture.profile(path, engine=LocalEngine(encoding="latin-1"))
    assert [i.value for i in profile["city"].top(2)] == ["Orléans", "Paris"]


def test_bytes_that_are_not_utf8_far_down_are_found_when_the_file_is_opened(
    tmp_path: Path,
) -> None:
    # Beyond the first block Arrow infers types from: the column was inferred as text.
    path = tmp_path / "late.csv"
    rows = [f"{i},city{i % 100}" for i in range(700_000)]
    path.write_bytes(("id,city\n" + "\n".join(rows) + "\n").encode() + b"9,Orl\xe9ans\n")
    with pytest.raises(SourceError) as info:
        suture.sources.open_source(path)
    assert str(info.value) == (
        f"{path} line 700002: the bytes are not valid utf-8 (0xe9 at byte 6); pass "
        "--encoding latin-1 (or the file's encoding)"
    )


@pytest.mark.parametrize("kind", ["csv", "parquet", "pandas"])
def test_duplicate_column_names_are_refused_naming_them(tmp_path: Path, kind: str) -> None:
    # Issue 9: a traceback in profile, infer and validate.
    if kind == "csv":
        source: object = tmp_path / "dup.csv"
        (tmp_path / "dup.csv").write_text("a,b,a\n1,2,3\n")
        name = str(source)
    elif kind == "parquet":
        source = tmp_path / "dup.parquet"
        table = pa.Table.from_arrays([pa.array([1]), pa.array([2]), pa.array([3])], ["a", "b", "a"])
        pq.write_table(table, source)
        name = str(source)
    else:
        source = pd.DataFrame([[1, 2, 3]], columns=["a", "b", "a"])
        name = "the pandas DataFrame"
    with pytest.raises(SourceError) as info:
        suture.profile(source)
    fix = " in the header line" if kind == "csv" else ""
    assert str(info.value) == (
        f"{name}: more than one column is named 'a' (columns 1, 3); give every column its "
        f"own name{fix}"
    )


def test_iso_timestamps_read_alike_from_csv_and_parquet_so_profiles_merge(
    tmp_path: Path,
) -> None:
    frame = pd.DataFrame(
        {
            "at": pd.to_datetime(["2013-01-01 10:00:00", "2013-06-30 23:59:59"]).tz_localize("UTC"),
            "local": pd.to_datetime(["2013-01-01 10:00:00", "2013-01-02 00:00:00"]),
            "n": [1, 2],
        }
    )
    frame.to_csv(tmp_path / "t.csv", index=False)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "t.parquet")
    from_csv = suture.profile(tmp_path / "t.csv")
    from_parquet = suture.profile(tmp_path / "t.parquet")
    assert from_csv.schema.types == from_parquet.schema.types
    assert str(from_csv.schema.field("at").type) == "timestamp[us, tz=UTC]"
    merged = suture.Profile.merge(from_csv, from_parquet)
    assert merged.row_count == 4
    assert merged["at"].kind == "temporal"


def test_a_float_column_with_text_far_down_validates_in_one_pass_as_text(
    tmp_path: Path,
) -> None:
    # Issue 9: validate re-read the file a hundred times and failed after 21 s.
    from suture.schema import Column, Schema

    rows = [f"{i},{i / 4}" for i in range(300_000)] + ["300000,unknown"]
    path = tmp_path / "late.csv"
    path.write_text("id,v\n" + "\n".join(rows) + "\n")
    assert suture.sources.open_source(path).schema.field("v").type == pa.string()
    contract = Schema([Column("v", "number", min=0)])
    result = contract.validate(path)
    assert (result.summary.rows, result.summary.quarantined) == (300_001, 1)
    assert result.quarantine.column("v").to_pylist() == ["unknown"]
    assert result.quarantine.column("__line").to_pylist() == [300_002]
    assert result.valid.column("v").type == pa.float64()


def test_widening_resumes_and_keeps_every_value_as_written(tmp_path: Path) -> None:
    # An integer column meets "2.5" and later "oops": it ends as text, each value as its
    # line has it (the rows read before a widening are converted again from the text).
    values = [str(i) for i in range(400_000)]
    values[250_000], values[380_000] = "2.5", "oops"
    path = tmp_path / "w.csv"
    path.write_text("v,k\n" + "\n".join(f"{v},{i % 3}" for i, v in enumerate(values)) + "\n")
    source = suture.sources.open_source(path)
    assert source.schema.types == [pa.string(), pa.int64()]
    read = pa.Table.from_batches(list(source.batches(100_000)), source.schema)
    assert read.column("v").to_pylist() == values
    assert read.column("k").to_pylist() == [i % 3 for i in range(400_000)]


def test_an_unknown_encoding_is_a_config_error(tmp_path: Path) -> None:
    from suture.errors import ConfigError

    path = tmp_path / "t.csv"
    path.write_text("a\n1\n")
    with pytest.raises(ConfigError, match="unknown encoding 'utf-99'"):
        suture.sources.open_source(path, encoding="utf-99")
