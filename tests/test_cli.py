"""The ``suture`` command as a user runs it: real processes, exit codes, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import suture

SUTURE = str(Path(sys.executable).with_name("suture"))


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SUTURE, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    table = pa.table({"x": [1.0, 2.0, 3.0, None], "c": ["a", "b", "a", "a"]})
    pq.write_table(table, tmp_path / "data.parquet")
    pq.write_table(table.slice(0, 2), tmp_path / "part1.parquet")
    pq.write_table(table.slice(2), tmp_path / "part2.parquet")
    return tmp_path


def test_profile_prints_summary_and_writes_profile_and_html(data: Path) -> None:
    result = run("profile", "data.parquet", "--html", "report.html", cwd=data)
    assert result.returncode == 0, result.stderr
    assert "4 rows × 2 columns" in result.stdout
    assert result.stderr == "wrote report.html\nwrote data.parquet.profile\n"
    profile = suture.Profile.load(data / "data.parquet.profile")
    assert profile.row_count == 4 and profile["x"].nulls == 1
    assert (data / "report.html").read_text().startswith("<!DOCTYPE html>")
    # The profile is written atomically, but with the mode any other written file gets.
    plain = data / "plain.txt"
    plain.write_text("")
    assert (data / "data.parquet.profile").stat().st_mode == plain.stat().st_mode
    assert (data / "report.html").stat().st_mode == plain.stat().st_mode


def test_show_and_merge(data: Path) -> None:
    for part in ("part1", "part2"):
        assert run("profile", f"{part}.parquet", "-q", cwd=data).returncode == 0
    merged = run(
        "merge", "part1.parquet.profile", "part2.parquet.profile", "-o", "all.profile", cwd=data
    )
    assert merged.returncode == 0, merged.stderr
    assert "wrote all.profile: 4 rows from 2 profiles" in merged.stderr
    shown = run("show", "all.profile", cwd=data)
    assert shown.returncode == 0 and "4 rows × 2 columns" in shown.stdout
    assert suture.Profile.load(data / "all.profile")["c"].top(1)[0].count.value == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("profile", "missing.parquet"),
            "error: missing.parquet: no such file or folder; check the path",
        ),
        (
            ("show", "bad.profile"),
            "error: bad.profile is not a suture profile (wrong magic bytes); re-create it with "
            "`suture profile DATA -o bad.profile`\n",
        ),
        (
            ("profile", "data.parquet", "--k", "4"),
            "error: --k 4: k (the quantile sketch size) must be a whole number from 8 to "
            "65535, got 4; the default is 1024\n",
        ),
        (("profile", "ragged.csv"), "error: ragged.csv line 3: Expected 2 columns, got 3: 3,4,5;"),
        (("profile", "empty.csv"), "error: empty.csv has no rows; there is nothing to profile"),
        (
            ("profile", "data.parquet", "--engine", "duck"),
            "error: unknown engine 'duck'; use local or spark",
        ),
        (
            ("merge", "data.profile", "-o", "x.profile"),
            "error: give at least two profiles to merge",
        ),
    ],
)
def test_user_mistakes_give_one_line_and_exit_2(
    data: Path, args: tuple[str, ...], message: str
) -> None:
    (data / "bad.profile").write_bytes(b"garbage")
    (data / "ragged.csv").write_text("a,b\n1,2\n3,4,5\n")
    (data / "empty.csv").write_text("a,b\n")
    (data / "data.profile").write_bytes(suture.profile(data / "data.parquet").to_bytes())
    result = run(*args, cwd=data)
    assert result.returncode == 2
    assert result.stderr.startswith(message), result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_failed_profile_leaves_no_partial_file(data: Path) -> None:
    (data / "ragged.csv").write_text("a,b\n1,2\n3,4,5\n")
    assert run("profile", "ragged.csv", "-o", "out.profile", cwd=data).returncode == 2
    assert not (data / "out.profile").exists()
    assert not list(data.glob(".*"))


def test_version(data: Path) -> None:
    assert run("--version", cwd=data).stdout.strip() == f"suture {suture.__version__}"


def test_infer_validate_diff_through_the_command(tmp_path: Path) -> None:
    good = pa.table({"delay": [1.0, 5.0, 30.0, 12.0] * 10, "carrier": ["UA", "AA"] * 20})
    pq.write_table(good, tmp_path / "good.parquet")
    inferred = run("infer", "good.parquet", "-o", "schema.toml", cwd=tmp_path)
    assert inferred.returncode == 0, inferred.stderr
    (tmp_path / "new.csv").write_text("delay,carrier\n3.0,UA\n-900,AA\n4.0,ZZ\n")
    checked = run(
        "validate",
        "new.csv",
        "--schema",
        "schema.toml",
        "--quarantine",
        "bad.parquet",
        cwd=tmp_path,
    )
    assert checked.returncode == 1, checked.stdout + checked.stderr
    bad = pq.read_table(tmp_path / "bad.parquet")
    assert bad.num_rows == 2 and bad.column("__row").to_pylist() == [1, 2]
    tolerated = run(
        "validate", "new.csv", "--schema", "schema.toml", "--max-violations", "70%", cwd=tmp_path
    )
    assert tolerated.returncode == 0, tolerated.stdout + tolerated.stderr
    text = (tmp_path / "schema.toml").read_text()
    (tmp_path / "wider.toml").write_text(text.replace("nullable = false", "nullable = true", 1))
    changed = run("diff", "schema.toml", "wider.toml", cwd=tmp_path)
    assert changed.returncode == 1 and "nullable" in changed.stdout
    missing = run("validate", "new.csv", "--schema", "nope.toml", cwd=tmp_path)
    assert missing.returncode == 2 and "nope.toml" in missing.stderr
    assert "Traceback" not in missing.stderr


@pytest.mark.spark
def test_profile_on_spark_from_the_command_line(data: Path) -> None:
    result = run(
        "profile",
        "data.parquet",
        "--engine",
        "spark",
        "--spark-master",
        "local[1]",
        "-o",
        "spark.profile",
        "-q",
        cwd=data,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    on_spark = suture.Profile.load(data / "spark.profile")
    assert on_spark.metadata["engine"] == "spark"
    assert on_spark.row_count == 4 and on_spark["x"].nulls == 1
    assert on_spark["c"].top(1)[0].count.value == 3


def test_max_correlated_from_the_command_line(data: Path) -> None:
    result = run("profile", "data.parquet", "--max-correlated", "0", "-q", cwd=data)
    assert result.returncode == 0, result.stderr
    assert suture.Profile.load(data / "data.parquet.profile").correlation.columns == []
    refused = run("profile", "data.parquet", "--max-correlated", "-1", cwd=data)
    assert refused.returncode == 2
    assert refused.stderr == (
        "error: --max-correlated must be 0 or more (numeric columns to correlate), got -1\n"
    )


HEAVY = ("pyarrow", "numpy", "datasketches", "rich.progress", "pint", "pydantic")


def imported_modules(*args: str) -> set[str]:
    """The top-level modules a fresh ``suture ARGS`` process imports (from -X importtime)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", SUTURE, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    names = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    assert "suture.cli" in names
    return names


@pytest.mark.parametrize("args", [("--version",), ("--help",)], ids=["--version", "--help"])
def test_version_and_help_import_no_heavy_library(args: tuple[str, ...]) -> None:
    names = imported_modules(*args)
    heavy = sorted(n for n in names if n.split(".")[0] in HEAVY or n in HEAVY)
    assert heavy == []


def test_version_is_answered_before_the_command_line_is_built() -> None:
    names = imported_modules("--version")
    assert "typer.main" in names  # imported with typer, but no command was built:
    assert "typer._adapters" not in names


def test_recommend_is_mounted_lazily_and_runs(tmp_path: Path) -> None:
    shown = run("recommend", "--help", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "fit" in shown.stdout and "evaluate" in shown.stdout
    assert "Recommend items from MinHash signatures of who chose them." in shown.stdout
    from suture.cli import RECOMMEND_HELP
    from suture.recommend.cli import app as recommend_app

    assert recommend_app.info.help == RECOMMEND_HELP


def test_module_runs_as_a_script() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "suture.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (result.returncode, result.stdout) == (0, f"suture {suture.__version__}\n")


def test_package_attributes_load_lazily_and_profile_stays_the_function() -> None:
    code = (
        "import sys, suture\n"
        "assert 'pyarrow' not in sys.modules and 'numpy' not in sys.modules\n"
        "from suture.profile import Profile\n"
        "assert callable(suture.profile) and suture.Profile is Profile\n"
        "print(suture.profile.__module__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert (result.returncode, result.stdout) == (0, "suture.profile\n"), result.stderr


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("data/flights.csv.gz", "flights.csv.gz.profile"),
        ("flights.parquet", "flights.parquet.profile"),
        ("s3a://bucket/events/", "events.profile"),
        ("warehouse/events/", "events.profile"),
    ],
)
def test_default_output_is_the_source_name_plus_profile_here(source: str, expected: str) -> None:
    from suture.cli import default_output

    assert default_output(source) == Path(expected)


def test_default_output_of_the_current_folder_is_named_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from suture.cli import default_output

    monkeypatch.chdir(tmp_path)
    assert default_output(".") == Path(f"{tmp_path.name}.profile")
