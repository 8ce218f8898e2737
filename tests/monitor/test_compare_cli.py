"""``suture compare`` and ``suture monitor`` through the command line: exit codes, messages.

Every test runs the real entry point (:func:`suture.cli.main`, or the console script in a
subprocess for a closed pipe): 0 nothing alerts, 1 drift found, 2 a bad input with one
line saying what and the fix, 141 the reader of the output went away.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import suture
from suture.cli import EXIT_BROKEN_PIPE, main
from suture.errors import EXIT_FOUND, EXIT_OK, EXIT_USAGE


def _table(seed: int, shift: float = 0.0, rows: int = 5_000) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "amount": rng.normal(100 + shift, 10, rows),
            "region": rng.choice(["n", "s", "e", "w"], rows),
        }
    )


@pytest.fixture()
def files(tmp_path: Path) -> Path:
    suture.profile(_table(1)).save(tmp_path / "base.profile")
    suture.profile(_table(1), k=200).save(tmp_path / "base_k200.profile")
    pq.write_table(_table(1), tmp_path / "base.parquet")
    pq.write_table(_table(2), tmp_path / "same.parquet")
    pq.write_table(_table(3, shift=30.0), tmp_path / "moved.parquet")
    pq.write_table(_table(4).slice(0, 0), tmp_path / "empty.parquet")
    other = pa.table({"carat": [0.5, 0.7], "color": ["E", "F"]})
    pq.write_table(other, tmp_path / "other.parquet")
    damaged = bytearray((tmp_path / "base.profile").read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    (tmp_path / "damaged.profile").write_bytes(bytes(damaged))
    (tmp_path / "garbage.profile").write_bytes(b"hello world, not a profile")
    (tmp_path / "empty.profile").write_bytes(b"")
    return tmp_path


def _run(capsys: pytest.CaptureFixture[str], folder: Path, *args: str) -> tuple[int, str, str]:
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        code = main(list(args))
    finally:
        os.chdir(cwd)
    out, err = capsys.readouterr()
    return code, out, err


def _refused(capsys: pytest.CaptureFixture[str], folder: Path, *args: str) -> str:
    code, out, err = _run(capsys, folder, *args)
    assert code == EXIT_USAGE, (out, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    return err.strip()


# ----------------------------------------------------------------------------- 0 and 1


def test_same_distribution_exits_0_and_drift_exits_1_with_the_json(
    capsys: pytest.CaptureFixture[str], files: Path
) -> None:
    code, out, _ = _run(capsys, files, "compare", "base.profile", "same.parquet")
    assert code == EXIT_OK and out.splitlines()[-1] == "verdict: ok"
    code, out, err = _run(capsys, files, "compare", "base.profile", "moved.parquet",
                          "--json", "r.json", "--html", "r.html")  # fmt: skip
    assert code == EXIT_FOUND and out.splitlines()[-1] == "verdict: alert"
    assert json.loads((files / "r.json").read_text())["verdict"] == "alert"
    assert (files / "r.html").read_text().startswith("<!DOCTYPE html>")
    assert err.splitlines() == ["wrote r.json", "wrote r.html"]


def test_chi_square_is_shown_for_categories_in_the_table_html_and_json(
    capsys: pytest.CaptureFixture[str], files: Path
) -> None:
    code, out, _ = _run(capsys, files, "compare", "base.parquet", "same.parquet",
                        "--json", "r.json", "--html", "r.html")  # fmt: skip
    assert code == EXIT_OK
    data = json.loads((files / "r.json").read_text())
    region = next(c for c in data["columns"] if c["name"] == "region")
    amount = next(c for c in data["columns"] if c["name"] == "amount")
    assert region["test"]["name"] == "chi-square" and region["test"]["df"] == 3
    stat, pvalue = region["test"]["statistic"], region["test"]["pvalue"]
    assert stat > 0 and 0 < pvalue <= 1
    assert amount["test"]["name"] == "ks" and amount["test"]["df"] is None
    header = next(line for line in out.splitlines() if line.split()[:1] == ["column"])
    assert "χ²" in header.split()
    row = next(line for line in out.splitlines() if line.split()[:1] == ["region"])
    assert f"{stat:.1f} p={pvalue:.3f}" in row
    page = (files / "r.html").read_text()
    assert '<th class="n">χ² (p)</th>' in page and f"{stat:.1f} p={pvalue:.3f}" in page


# ----------------------------------------------------------------------------- 2


def test_tables_without_a_shared_column_exit_2(
    capsys: pytest.CaptureFixture[str], files: Path
) -> None:
    assert _refused(capsys, files, "compare", "base.parquet", "other.parquet") == (
        "error: cannot compare: the baseline's columns (amount, region) and the current's "
        "(carat, color) share none; compare profiles of the same table"
    )


def test_damaged_garbage_and_empty_profiles_exit_2_saying_how_to_re_create_them(
    capsys: pytest.CaptureFixture[str], files: Path
) -> None:
    damaged = _refused(capsys, files, "compare", "damaged.profile", "same.parquet")
    assert damaged.startswith("error: damaged.profile: SHA-256 mismatch (expected ")
    assert damaged.endswith("re-create it with suture profile")
    assert _refused(capsys, files, "compare", "base.profile", "garbage.profile") == (
        "error: garbage.profile is not a suture profile (wrong magic bytes); re-create it "
        "with `suture profile DATA -o garbage.profile`"
    )
    assert _refused(capsys, files, "compare", "empty.profile", "same.parquet") == (
        "error: empty.profile is empty (0 bytes), not a suture profile; re-create it with "
        "`suture profile DATA -o empty.profile`"
    )


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("psi=-0.1,0.2", "--threshold 'psi=-0.1,0.2': psi watch must be 0 or more, got -0.1"),
        (
            "ks=0.3,0.2",
            "--threshold 'ks=0.3,0.2': ks watch 0.3 is above alert 0.2; watch must be at "
            "most alert",
        ),
        (
            "amount:ks=0.1,1.5",
            "--threshold 'amount:ks=0.1,1.5': ks alert must be 0 or more and at most 1, got 1.5",
        ),
        (
            "psl=0.1,0.2",
            "--threshold 'psl=0.1,0.2': unknown metric 'psl'; metrics are: psi, ks, js, "
            "null_rate, out_of_contract",
        ),
    ],
)
def test_nonsense_thresholds_exit_2_naming_the_option_before_any_data_is_read(
    capsys: pytest.CaptureFixture[str], files: Path, option: str, message: str
) -> None:
    # Neither side exists: the thresholds are refused before either is read.
    assert _refused(capsys, files, "compare", "missing.parquet", "gone.parquet",
                    "--threshold", option) == f"error: {message}"  # fmt: skip


def test_a_single_reference_exits_2_before_any_data_is_read(
    capsys: pytest.CaptureFixture[str], files: Path
) -> None:
    assert _refused(capsys, files, "compare", "missing.parquet", "gone.parquet",
                    "--reference", "week1.parquet") == (
        "error: --reference 'week1.parquet' was given once: learning tolerances needs at "
        "least two reference windows; pass --reference once per window (for example one "
        "per week)"
    )  # fmt: skip


@pytest.mark.parametrize(
    ("baseline", "current", "role", "empty"),
    [
        ("base.profile", "empty.parquet", "the current side", "empty.parquet"),
        ("empty.parquet", "same.parquet", "the baseline", "empty.parquet"),
    ],
)
def test_an_empty_side_exits_2_naming_the_file(
    capsys: pytest.CaptureFixture[str],
    files: Path,
    baseline: str,
    current: str,
    role: str,
    empty: str,
) -> None:
    assert _refused(capsys, files, "compare", baseline, current, "--json", "r.json") == (
        f"error: {role} {empty} has no rows: nothing to compare; pass data (or a profile "
        "of data) with at least one row"
    )
    assert not (files / "r.json").exists()


def test_profiles_with_different_sketch_sizes_exit_2_naming_both_and_the_option(
    capsys: pytest.CaptureFixture[str], files: Path
) -> None:
    assert _refused(capsys, files, "compare", "base.profile", "base_k200.profile") == (
        "error: cannot compare the baseline base.profile (k=1024) with the current side "
        "base_k200.profile (k=200): their sketch sizes differ, so their error bounds do not "
        "match; re-profile one side with the other's size, e.g. `suture profile DATA --k "
        "1024 -o base_k200.profile`"
    )
    # The fix the message names works: re-profiled with --k 1024, the sides compare.
    code, _, err = _run(capsys, files, "profile", "base.parquet", "--k", "1024", "-q",
                        "-o", "base_k200.profile")  # fmt: skip
    assert code == EXIT_OK, err
    code, _, err = _run(capsys, files, "compare", "base.profile", "base_k200.profile")
    assert code == EXIT_OK, err
    code, _, err = _run(capsys, files, "profile", "base.parquet", "--k", "200", "-q",
                        "-o", "small.profile")  # fmt: skip
    assert code == EXIT_OK, err
    assert suture.Profile.load(files / "small.profile").aggregator.options["k"] == 200


# ----------------------------------------------------------------------------- help


@pytest.mark.parametrize(
    ("command", "codes"),
    [
        ("compare", ["0 no column alerts", "1 drift found", "2 bad input"]),
        ("monitor", ["0 no anomaly", "1 the newest period has an anomaly", "2 bad input"]),
    ],
)
def test_help_states_the_exit_codes(
    capsys: pytest.CaptureFixture[str], files: Path, command: str, codes: list[str]
) -> None:
    code, out, _ = _run(capsys, files, command, "--help")
    assert code == EXIT_OK
    text = " ".join(out.replace("│", " ").split())
    for phrase in codes:
        assert phrase in text, phrase


# ----------------------------------------------------------------------------- 141


def _closed_pipe(args: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """Run the console script with a standard output whose reader is already gone."""
    read, write = os.pipe()
    os.close(read)
    try:
        code = "from suture.cli import console; console()"
        return subprocess.run(
            [sys.executable, "-c", code, *args], cwd=cwd, stdout=write,
            stderr=subprocess.PIPE, timeout=300, check=False,
        )  # fmt: skip
    finally:
        os.close(write)


def test_compare_into_a_closed_pipe_writes_the_json_and_exits_141_not_1(files: Path) -> None:
    done = _closed_pipe(["compare", "base.parquet", "same.parquet", "--json", "t.json"], files)
    assert done.returncode == EXIT_BROKEN_PIPE, done.stderr
    assert b"Traceback" not in done.stderr
    assert json.loads((files / "t.json").read_text())["verdict"] == "ok"


def test_monitor_into_a_closed_pipe_writes_the_timeline_and_exits_141_not_1(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "profiles"
    folder.mkdir()
    for day in range(3):
        suture.profile(_table(day, rows=2_000)).save(folder / f"2026-11-0{day + 1}.profile")
    done = _closed_pipe(["monitor", "profiles", "-o", "out"], tmp_path)
    assert done.returncode == EXIT_BROKEN_PIPE, done.stderr
    assert b"Traceback" not in done.stderr
    assert (tmp_path / "out" / "timeline.json").is_file()
