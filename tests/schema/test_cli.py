"""The contract commands: infer, validate, diff (called as functions, as the CLI does)."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rich.console import Console

from suture.schema import Schema
from suture.schema.cli import diff_command, infer_command, parse_tolerance, validate_command


def console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=200, color_system=None), buffer


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "data.csv"
    rows = ["distance,carrier"] + [f"{100 + i / 2},{'AA' if i % 2 else 'UA'}" for i in range(40)]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_infer_then_validate_then_diff(data: Path, tmp_path: Path) -> None:
    out, text = console()
    schema_path = tmp_path / "schema.toml"
    assert infer_command(data, schema_path, console=out) == 0
    assert text.getvalue().startswith(f"wrote {schema_path}: 2 columns from 40 rows")
    schema = Schema.load(schema_path)
    assert schema["carrier"].levels == ("AA", "UA")
    assert (schema["distance"].type, schema["distance"].min, schema["distance"].max) == (
        "number",
        98.0,
        122.0,
    )

    bad = tmp_path / "bad.csv"
    bad.write_text(data.read_text() + "-50,AA\n170,ZZ\n")
    out, text = console()
    code = validate_command(bad, schema_path, quarantine=tmp_path / "q.parquet", console=out)
    assert code == 1
    printed = text.getvalue()
    assert "42 rows: 40 valid, 2 quarantined" in printed
    assert f"{bad} line 42: expected a number between 98 and 122, got '-50'" in printed
    q = pq.read_table(tmp_path / "q.parquet")
    assert q.column("__line").to_pylist() == [42, 43]
    out, text = console()
    code = validate_command(bad, schema_path, max_violations="5%", console=out)
    assert code == 0

    edited = tmp_path / "new.toml"
    edited.write_text(schema_path.read_text().replace("max = 122", "max = 200"))
    out, text = console()
    assert diff_command(schema_path, edited, console=out) == 1
    assert "~ column 'distance': max 122 -> 200" in text.getvalue()
    assert diff_command(schema_path, schema_path, console=console()[0]) == 0


def test_user_mistakes_print_one_line_and_exit_2(data: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text('[columns.x]\ntype = "numbr"\n')
    out, text = console()
    assert validate_command(data, broken, console=out) == 2
    assert text.getvalue().startswith(f"error: {broken} line 2, column 'x', field 'type'")
    assert "Traceback" not in text.getvalue()
    out, text = console()
    assert infer_command(tmp_path / "missing.csv", console=out) == 2
    out, text = console()
    good = tmp_path / "good.toml"
    Schema.infer(__import__("suture").profile(data)).save(good)
    assert validate_command(data, good, max_violations="lots", console=out) == 2
    assert "--max-violations 'lots' is not a count or a percentage" in text.getvalue()


def test_infer_from_a_saved_profile(data: Path, tmp_path: Path) -> None:
    import suture

    suture.profile(data).save(tmp_path / "data.profile")
    out, text = console()
    assert infer_command(tmp_path / "data.profile", console=out) == 0
    assert "[columns.distance]" in text.getvalue()


def test_tolerances() -> None:
    assert parse_tolerance("0", 1000) == 0
    assert parse_tolerance("25", 1000) == 25
    assert parse_tolerance("0.5%", 1000) == 5
    assert parse_tolerance("2.5 %", 100) == 2


def test_parquet_input_without_line_numbers(tmp_path: Path) -> None:
    pq.write_table(pa.table({"v": [1.0, -1.0]}), tmp_path / "d.parquet")
    schema = tmp_path / "s.toml"
    schema.write_text('[columns.v]\ntype = "number"\nmin = 0\n')
    out, text = console()
    assert validate_command(tmp_path / "d.parquet", schema, console=out) == 1
    assert f"{tmp_path / 'd.parquet'} row 1: expected a number of at least 0, got '-1'" in (
        text.getvalue()
    )
