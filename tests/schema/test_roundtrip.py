"""Contracts that round-trip: infer writes what validate accepts, through the real command."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import suture
from suture.errors import ConfigError, SchemaError
from suture.schema import Column, Schema

SUTURE = str(Path(sys.executable).with_name("suture"))


def run(args: list[str], cwd: Path, columns: int = 80) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SUTURE, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "COLUMNS": str(columns)},
    )


def _long_notes_table() -> pa.Table:
    n = 60
    return pa.table(
        {
            "a_rather_long_column_name_for_a_narrow_terminal": [i * 1.5 for i in range(n)],
            "carrier": [f"carrier number {i % 5} with a long name" for i in range(n)],
            "when": [dt.datetime(2013, 1, 1) + dt.timedelta(hours=i) for i in range(n)],
        }
    )


def test_infer_prints_valid_toml_in_a_narrow_terminal_and_a_pipe(tmp_path: Path) -> None:
    """Regression: rich wrapped comment lines at 80 columns; continuations lost their #."""
    pq.write_table(_long_notes_table(), tmp_path / "data.parquet")
    done = run(["infer", "data.parquet"], tmp_path, columns=40)
    assert done.returncode == 0, done.stderr
    assert max(len(line) for line in done.stdout.splitlines()) > 40  # nothing was wrapped
    parsed = tomllib.loads(done.stdout)
    assert sorted(parsed["columns"]) == sorted(_long_notes_table().column_names)
    piped = subprocess.run(
        f"{SUTURE} infer data.parquet | cat > schema.toml",
        shell=True,
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "40"},
        check=True,
    )
    assert piped.returncode == 0
    schema = Schema.load(tmp_path / "schema.toml")
    assert schema == Schema.loads(done.stdout)
    assert schema.validate(tmp_path / "data.parquet").summary.quarantined == 0


def test_infer_output_is_written_whole_or_not_at_all(tmp_path: Path) -> None:
    (tmp_path / "schema.toml").write_text("# kept\n")
    done = run(["infer", "missing.parquet", "-o", "schema.toml"], tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert (tmp_path / "schema.toml").read_text() == "# kept\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["schema.toml"]


@pytest.mark.parametrize("text", ["", "[contract]\nformat = 1\n"])
def test_an_empty_contract_is_refused(tmp_path: Path, text: str) -> None:
    """Regression: a contract without columns passed every row as valid."""
    path = tmp_path / "empty.toml"
    path.write_text(text)
    with pytest.raises(SchemaError) as info:
        Schema.load(path)
    assert str(info.value) == (
        f"{path}: the contract has no columns; add a [columns.NAME] table for each column "
        "(suture infer DATA writes them)"
    )
    with pytest.raises(SchemaError, match="a contract needs at least one column"):
        Schema([])


def _durations_and_times() -> pa.Table:
    return pa.table(
        {
            "wait": pa.array(
                [dt.timedelta(seconds=s) for s in (0, 90, 3600, 45, 7200)], pa.duration("s")
            ),
            "wait_ms": pa.array(
                [dt.timedelta(milliseconds=s) for s in (1, 2, 3, 5, 8)], pa.duration("ms")
            ),
            "dep": pa.array(
                [dt.time(5, 15), dt.time(7, 30), None, dt.time(23, 59, 59), dt.time(0)],
                pa.time64("us"),
            ),
            "arr": pa.array([1000, 2000, 3000, 4000, 5000], pa.time32("s")),
        }
    )


def test_durations_and_times_of_day_infer_to_types_their_data_passes(tmp_path: Path) -> None:
    """Regression: both inferred as timestamp, so validate refused their own file."""
    path = tmp_path / "times.parquet"
    pq.write_table(_durations_and_times(), path)
    schema = Schema.loads(Schema.infer(suture.profile(path)).dumps())
    assert (schema["wait"].type, schema["wait"].unit) == ("number", "second")
    assert (schema["wait_ms"].type, schema["wait_ms"].unit) == ("number", "millisecond")
    assert (schema["dep"].type, schema["arr"].type) == ("time", "time")
    result = schema.validate(path)
    assert result.summary.quarantined == 0
    assert result.valid.column("wait").to_pylist() == [0.0, 90.0, 3600.0, 45.0, 7200.0]
    assert result.valid.column("dep").to_pylist()[1] == dt.time(7, 30)
    done = run(["infer", "times.parquet", "-o", "schema.toml"], tmp_path)
    assert done.returncode == 0, done.stderr
    done = run(["validate", "times.parquet", "--schema", "schema.toml"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_csv_infers_to_a_contract_it_passes(tmp_path: Path) -> None:
    rows = ["dep,wait,when,flag"] + [
        f"{5 + i % 18:02d}:{i % 60:02d},{i * 7} s,2013-01-{1 + i % 28:02d} 10:00,{flag}"
        for i, flag in zip(range(50), ["yes", "no"] * 25, strict=True)
    ]
    (tmp_path / "data.csv").write_text("\n".join(rows) + "\n")
    assert run(["infer", "data.csv", "-o", "schema.toml"], tmp_path).returncode == 0
    done = run(["validate", "data.csv", "--schema", "schema.toml"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    schema = Schema.load(tmp_path / "schema.toml")
    assert (schema["when"].type, schema["flag"].type) == ("timestamp", "boolean")
    # a time of day can be declared for text too; the text rule is suture.parsing's
    typed = Schema([Column("dep", "time", min="05:00", max="23:00")])
    assert typed.validate(tmp_path / "data.csv").summary.quarantined == 0


def test_infer_from_a_profile_honours_exclude(tmp_path: Path) -> None:
    """Regression: ``suture infer X.profile --exclude col`` ignored --exclude."""
    pq.write_table(_long_notes_table(), tmp_path / "data.parquet")
    suture.profile(tmp_path / "data.parquet").save(tmp_path / "data.profile")
    done = run(["infer", "data.profile", "--exclude", "carrier", "-o", "schema.toml"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "carrier" not in tomllib.loads((tmp_path / "schema.toml").read_text())["columns"]
    done = run(["infer", "data.profile", "--exclude", "nope"], tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().endswith(
        "cannot exclude 'nope': no such column in the profile; columns are: "
        "a_rather_long_column_name_for_a_narrow_terminal, carrier, when"
    )
    with pytest.raises(ConfigError):
        Schema.infer(suture.Profile.load(tmp_path / "data.profile"), exclude=["nope"])


def test_integer_bounds_stay_exact_and_uint64_validates(tmp_path: Path) -> None:
    """Regression: an int64 max printed as 9.223372036854776e+18; uint64 >= 2**63 crashed."""
    table = pa.table(
        {
            "i": pa.array([-5, 0, 2**63 - 1] * 10, pa.int64()),
            "u": pa.array([1, 2**63, 2**64 - 1] * 10, pa.uint64()),
        }
    )
    pq.write_table(table, tmp_path / "big.parquet")
    assert run(["infer", "big.parquet", "-o", "schema.toml"], tmp_path).returncode == 0
    text = (tmp_path / "schema.toml").read_text()
    assert "max = 9223372036854775807\n" in text
    assert "e+18" not in text.split("[columns.i]")[1].split("[columns.u]")[0].split("type")[1]
    schema = Schema.load(tmp_path / "schema.toml")
    assert schema["i"].max == 2**63 - 1 and isinstance(schema["i"].max, int)
    assert schema["u"].min == 0 and schema["u"].max == 2**64 - 1
    done = run(["validate", "big.parquet", "--schema", "schema.toml"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    tight = Schema([Column("u", "integer", min=2**63 + 1, max=2**64 - 1)])
    result = tight.validate(table)
    assert result.summary.counts == {("u", "range"): 20}
    assert result.valid.column("u").to_pylist() == [2**64 - 1] * 10
    assert result.valid.column("u").type == pa.uint64()
    assert tight.coerce({"u": 2**64 - 1}) == {"u": 2**64 - 1}


def test_exit_codes_follow_the_convention(tmp_path: Path) -> None:
    rows = ["distance"] + [str(i % 10) for i in range(30)]
    (tmp_path / "data.csv").write_text("\n".join(rows) + "\n")
    assert run(["infer", "data.csv", "-o", "schema.toml"], tmp_path).returncode == 0
    (tmp_path / "bad.csv").write_text("distance\n1\n-999999\n")
    assert run(["validate", "data.csv", "--schema", "schema.toml"], tmp_path).returncode == 0
    assert run(["validate", "bad.csv", "--schema", "schema.toml"], tmp_path).returncode == 1
    bad_option = run(
        ["validate", "data.csv", "--schema", "schema.toml", "--max-violations", "lots"], tmp_path
    )
    assert bad_option.returncode == 2
    assert bad_option.stderr.count("\n") == 1 and "Traceback" not in bad_option.stderr
    assert run(["diff", "schema.toml", "schema.toml"], tmp_path).returncode == 0
    Schema([Column("distance", "number", min=0, max=1)]).save(tmp_path / "other.toml")
    assert run(["diff", "schema.toml", "other.toml"], tmp_path).returncode == 1
