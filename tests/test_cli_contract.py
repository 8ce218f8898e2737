"""The command line's contract with scripts, case by case, through the real ``suture``.

Every case runs the installed ``suture`` console script in a fresh process, in a folder
that already holds earlier outputs (a profile, an HTML report, valid and quarantine
Parquet files, a contract, a recommender bundle).  A failing case must exit with its
code, print exactly one line (the exact text where the message is suture's product), no
traceback, and leave the folder byte for byte as it was: no partial output, no
temporary, no earlier output changed.

Exit codes: 0 success, 1 the check found something, 2 a user mistake or unreadable
input, 3 a bug in suture, 130 interrupted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

SUTURE = str(Path(sys.executable).with_name("suture"))
VERSION = "0.1.0"


@dataclass(frozen=True)
class Contains:
    """The message line must hold each of these fragments (another helper owns its text)."""

    fragments: tuple[str, ...]


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    code: int
    message: str | Contains


def run(
    args: tuple[str, ...] | list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SUTURE, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "COLUMNS": "80", **(env or {})},
    )


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and folder (None) under ``folder``, hidden ones too."""
    found: dict[str, bytes | None] = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        found[key] = None if path.is_dir() else path.read_bytes()
    return found


# ----------------------------------------------------------------------------- inputs


def _damaged_parquet(path: Path) -> None:
    """200,000 rows in four row groups; the third one's page header overwritten."""
    n = 200_000
    table = pa.table(
        {
            "delay": np.arange(n, dtype=np.float64) % 50,
            "carrier": pa.array(["UA", "AA"] * (n // 2)),
        }
    )
    pq.write_table(table, path, row_group_size=50_000, compression="none")
    offset = pq.ParquetFile(path).metadata.row_group(2).column(0).data_page_offset
    data = bytearray(path.read_bytes())
    data[offset : offset + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))


def _inputs(folder: Path) -> None:
    import suture
    from suture.recommend import Recommender

    good = pa.table({"delay": [1.0, 5.0, 30.0, 12.0] * 10, "carrier": ["UA", "AA"] * 20})
    pq.write_table(good, folder / "good.parquet")
    pq.write_table(
        pa.table({"delay": [99.0], "carrier": ["ZZ"], "extra": [1]}), folder / "other.parquet"
    )
    (folder / "good.csv").write_text("delay,carrier\n3.0,UA\n4.0,AA\n")
    (folder / "violations.csv").write_text("delay,carrier\n3.0,UA\n-900,AA\n4.0,ZZ\n")
    (folder / "corrupt.parquet").write_bytes(b"PAR1 this is not a parquet file PAR1")
    (folder / "empty.csv").write_text("delay,carrier\n")
    rows = "".join(f"{i}.0,UA\n" for i in range(5_000))
    (folder / "ragged.csv").write_text("delay,carrier\n" + rows + "7.0,AA,extra\n")
    (folder / "dup.csv").write_text("a,b,a\n1,2,3\n4,5,6\n")
    dup = pa.Table.from_arrays([pa.array([1, 2]), pa.array([3, 4])], names=["a", "a"])
    pq.write_table(dup, folder / "dup.parquet")
    (folder / "latin1.csv").write_bytes("city,n\nZürich,1\nMünchen,2\n".encode("latin-1"))
    (folder / "semicolon.csv").write_text("a;b\n1;2\n3;4\n")
    big = [2**63, 2**64 - 1, None, 5]
    pq.write_table(pa.table({"id": pa.array(big, pa.uint64())}), folder / "uint64.parquet")
    _damaged_parquet(folder / "damaged.parquet")
    late = "".join(f"{i}.5,UA\n" for i in range(5_000))
    (folder / "late_text.csv").write_text("delay,carrier\n" + late + "n/a?,AA\n")
    clock = pa.table(
        {
            "wait": pa.array([60, 90, None, 3_600], pa.duration("s")),
            "at": pa.array([3_600_000_000, 0, 45_000_000, None], pa.time64("us")),
        }
    )
    pq.write_table(clock, folder / "clock.parquet")
    stamps = ["2024-01-01T00:00:00", "2024-01-02T12:30:00", "2024-01-03T23:59:59"]
    (folder / "stamps.csv").write_text(
        "at,n\n" + "".join(f"{t},{i}\n" for i, t in enumerate(stamps))
    )
    import datetime as dt

    parsed = [dt.datetime.fromisoformat(t) for t in stamps]
    pq.write_table(
        pa.table({"at": pa.array(parsed, pa.timestamp("us")), "n": [0, 1, 2]}),
        folder / "stamps.parquet",
    )
    (folder / "unknown_type.toml").write_text(
        "[contract]\nformat = 1\n\n[columns.delay]\ntype = 'money'\nnullable = false\n"
    )
    (folder / "bad.profile").write_bytes(b"garbage")
    whole = suture.profile(folder / "good.parquet").to_bytes()
    (folder / "truncated.profile").write_bytes(whole[: len(whole) // 2])
    (folder / "empty.toml").write_text("")
    (folder / "broken.toml").write_text("[columns.delay\ntype = 'float'\n")
    interactions = pa.table({"user": [1, 1, 2, 2, 3], "item": [10, 11, 10, 11, 10]})
    pq.write_table(interactions, folder / "interactions.parquet")
    no_items = pa.table(
        {"user": [1, 2, 3], "item": pa.array([None, None, None], pa.int64())},
    )
    pq.write_table(no_items, folder / "no_items.parquet")
    (folder / "afolder").mkdir()
    (folder / "afile").write_text("a file, not a folder\n")
    # Earlier outputs that no failure may touch.
    (folder / "old.profile").write_bytes(whole)
    (folder / "old.html").write_text("<!DOCTYPE html><p>an earlier report</p>\n")
    pq.write_table(good, folder / "valid.parquet")
    pq.write_table(good.slice(0, 1), folder / "quarantine.parquet")
    schema = subprocess.run(
        [SUTURE, "infer", "good.parquet", "-o", "schema.toml"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    assert schema.returncode == 0, schema.stderr
    Recommender(user="user", item="item", num_perm=32, neighbours=5).fit(
        folder / "interactions.parquet"
    ).save(folder / "recs")
    shutil.copytree(folder / "recs", folder / "damaged_recs")
    part = next(p for p in sorted((folder / "damaged_recs").iterdir()) if p.suffix != ".json")
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF
    part.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("template")
    _inputs(folder)
    return folder


@pytest.fixture()
def work(template: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "work"
    shutil.copytree(template, folder)
    return folder


# ----------------------------------------------------------------------------- failures

RANGE = "must be {low} or more ({what}), got {value}"

FAILURES = [
    # profile: inputs
    Case(
        "profile-missing-file",
        ("profile", "missing.parquet", "-o", "old.profile"),
        2,
        "error: missing.parquet: no such file or folder; check the path",
    ),
    Case(
        "profile-corrupt-parquet",
        ("profile", "corrupt.parquet", "-o", "old.profile"),
        2,
        Contains(("corrupt.parquet",)),
    ),
    Case(
        "profile-damaged-row-group",
        ("profile", "damaged.parquet", "-o", "old.profile", "--html", "old.html"),
        2,
        Contains(("damaged.parquet",)),
    ),
    Case(
        "profile-ragged-line-late",
        ("profile", "ragged.csv", "-o", "old.profile"),
        2,
        Contains(("ragged.csv line 5002",)),
    ),
    Case(
        "profile-empty-csv",
        ("profile", "empty.csv", "-o", "old.profile"),
        2,
        "error: empty.csv has no rows; there is nothing to profile",
    ),
    Case(
        "profile-duplicate-columns-csv",
        ("profile", "dup.csv", "-o", "old.profile"),
        2,
        Contains(("dup.csv", "'a'")),
    ),
    Case(
        "profile-duplicate-columns-parquet",
        ("profile", "dup.parquet", "-o", "old.profile"),
        2,
        Contains(("dup.parquet", "'a'")),
    ),
    Case(
        "profile-latin1-without-encoding",
        ("profile", "latin1.csv", "-o", "old.profile"),
        2,
        Contains(("latin1.csv", "utf-8", "--encoding")),
    ),
    # profile: outputs, checked before any work
    Case(
        "profile-output-in-missing-folder",
        ("profile", "good.parquet", "-o", "nodir/x.profile"),
        2,
        "error: nodir/x.profile: the folder nodir does not exist; create it first",
    ),
    Case(
        "profile-output-under-a-file",
        ("profile", "good.parquet", "-o", "afile/x.profile"),
        2,
        "error: afile/x.profile: afile is a file, not a folder; choose another path",
    ),
    Case(
        "profile-output-is-a-folder",
        ("profile", "good.parquet", "-o", "afolder"),
        2,
        "error: afolder is a folder; give a file name for the output",
    ),
    Case(
        "profile-html-in-missing-folder-keeps-the-profile",
        ("profile", "good.parquet", "-o", "old.profile", "--html", "nodir/r.html"),
        2,
        "error: nodir/r.html: the folder nodir does not exist; create it first",
    ),
    Case(
        "profile-html-and-profile-same-path",
        ("profile", "good.parquet", "-o", "old.profile", "--html", "old.profile"),
        2,
        "error: two outputs of one command name the same path: old.profile, old.profile; "
        "give each its own",
    ),
    # profile: options
    Case(
        "profile-batch-size-zero",
        ("profile", "good.parquet", "-o", "old.profile", "--batch-size", "0"),
        2,
        "error: --batch-size " + RANGE.format(low=1, what="rows per batch", value=0),
    ),
    Case(
        "profile-batch-size-negative",
        ("profile", "good.parquet", "-o", "old.profile", "--batch-size", "-5"),
        2,
        "error: --batch-size " + RANGE.format(low=1, what="rows per batch", value=-5),
    ),
    Case(
        "profile-workers-zero",
        ("profile", "good.parquet", "-o", "old.profile", "--workers", "0"),
        2,
        "error: --workers " + RANGE.format(low=1, what="cores to use", value=0),
    ),
    Case(
        "profile-max-correlated-negative",
        ("profile", "good.parquet", "-o", "old.profile", "--max-correlated", "-1"),
        2,
        "error: --max-correlated "
        + RANGE.format(low=0, what="numeric columns to correlate", value=-1),
    ),
    Case(
        "profile-unknown-engine",
        ("profile", "good.parquet", "-o", "old.profile", "--engine", "duck"),
        2,
        "error: unknown engine 'duck'; use local or spark",
    ),
    Case(
        "profile-long-delimiter",
        ("profile", "good.csv", "-o", "old.profile", "--delimiter", ";;"),
        2,
        "error: --delimiter must be one character, got ';;'; use e.g. ';' or '\\t'",
    ),
    Case(
        "profile-unknown-encoding",
        ("profile", "good.csv", "-o", "old.profile", "--encoding", "klingon"),
        2,
        "error: --encoding 'klingon' is not an encoding Python knows; use e.g. utf-8, latin-1 "
        "or cp1252",
    ),
    Case(
        "profile-batch-size-not-a-number",
        ("profile", "good.parquet", "--batch-size", "many"),
        2,
        "error: Invalid value for '--batch-size': 'many' is not a valid int; "
        "see 'suture profile --help'",
    ),
    Case(
        "profile-unknown-option",
        ("profile", "good.parquet", "--bogus"),
        2,
        Contains(("error: No such option: --bogus", "see 'suture profile --help'")),
    ),
    Case(
        "profile-missing-argument",
        ("profile",),
        2,
        "error: Missing argument 'source'; see 'suture profile --help'",
    ),
    Case("unknown-command", ("frobnicate",), 2, Contains(("No such command 'frobnicate'",))),
    # show and merge
    Case(
        "show-damaged-profile",
        ("show", "bad.profile", "--html", "old.html"),
        2,
        Contains(("bad.profile",)),
    ),
    Case(
        "show-truncated-profile",
        ("show", "truncated.profile", "--html", "old.html"),
        2,
        Contains(("truncated.profile",)),
    ),
    Case(
        "show-missing-profile",
        ("show", "missing.profile"),
        2,
        Contains(("missing.profile", "check the path")),
    ),
    Case(
        "show-html-output-is-a-folder",
        ("show", "old.profile", "--html", "afolder"),
        2,
        "error: afolder is a folder; give a file name for the output",
    ),
    Case(
        "merge-one-profile",
        ("merge", "old.profile", "-o", "old.profile"),
        2,
        "error: give at least two profiles to merge",
    ),
    Case(
        "merge-damaged-profile",
        ("merge", "old.profile", "bad.profile", "-o", "old.profile"),
        2,
        Contains(("bad.profile",)),
    ),
    Case(
        "merge-output-in-missing-folder",
        ("merge", "old.profile", "old.profile", "--out", "nodir/all.profile"),
        2,
        "error: nodir/all.profile: the folder nodir does not exist; create it first",
    ),
    # contracts
    Case(
        "infer-output-in-missing-folder",
        ("infer", "good.parquet", "-o", "nodir/schema.toml"),
        2,
        "error: nodir/schema.toml: the folder nodir does not exist; create it first",
    ),
    Case(
        "infer-duplicate-columns",
        ("infer", "dup.csv", "-o", "schema.toml"),
        2,
        Contains(("dup.csv", "'a'")),
    ),
    Case(
        "validate-missing-contract",
        ("validate", "good.csv", "--schema", "nope.toml"),
        2,
        Contains(("nope.toml",)),
    ),
    Case(
        "validate-empty-contract",
        ("validate", "good.csv", "--schema", "empty.toml", "--output", "valid.parquet"),
        2,
        Contains(("empty.toml",)),
    ),
    Case(
        "validate-malformed-contract",
        ("validate", "good.csv", "--schema", "broken.toml"),
        2,
        Contains(("broken.toml", "line")),
    ),
    Case(
        "validate-unknown-type-in-contract",
        ("validate", "good.csv", "--schema", "unknown_type.toml"),
        2,
        Contains(("unknown_type.toml", "money")),
    ),
    Case(
        "validate-bad-tolerance",
        ("validate", "good.csv", "--schema", "schema.toml", "--max-violations", "lots"),
        2,
        "error: --max-violations 'lots' is not a count or a percentage; use e.g. 100 or 0.5%",
    ),
    Case(
        "validate-damaged-row-group-keeps-earlier-outputs",
        (
            "validate",
            "damaged.parquet",
            "--schema",
            "schema.toml",
            "--output",
            "valid.parquet",
            "--quarantine",
            "quarantine.parquet",
        ),
        2,
        Contains(("damaged.parquet",)),
    ),
    Case(
        "validate-ragged-line-late-keeps-earlier-outputs",
        (
            "validate",
            "ragged.csv",
            "--schema",
            "schema.toml",
            "-o",
            "valid.parquet",
            "--quarantine",
            "quarantine.parquet",
        ),
        2,
        Contains(("ragged.csv line 5002",)),
    ),
    Case(
        "validate-latin1-without-encoding",
        ("validate", "latin1.csv", "--schema", "schema.toml", "--out", "valid.parquet"),
        2,
        Contains(("latin1.csv", "utf-8", "--encoding")),
    ),
    Case(
        "validate-duplicate-columns",
        ("validate", "dup.csv", "--schema", "schema.toml", "--quarantine", "quarantine.parquet"),
        2,
        Contains(("dup.csv", "'a'")),
    ),
    Case(
        "validate-output-under-a-file",
        ("validate", "good.csv", "--schema", "schema.toml", "-o", "afile/valid.parquet"),
        2,
        "error: afile/valid.parquet: afile is a file, not a folder; choose another path",
    ),
    Case(
        "validate-quarantine-is-a-folder",
        ("validate", "good.csv", "--schema", "schema.toml", "--quarantine", "afolder"),
        2,
        "error: afolder is a folder; give a file name for the output",
    ),
    Case(
        "diff-missing-contract",
        ("diff", "schema.toml", "nope.toml"),
        2,
        Contains(("nope.toml",)),
    ),
    # recommend
    Case(
        "recommend-fit-keeps-no-items",
        ("recommend", "fit", "no_items.parquet", "--user", "user", "--item", "item", "-o", "recs"),
        2,
        "error: no_items.parquet: the fit kept no items: all 3 rows were skipped (a null user "
        "or item); nothing was written; check the columns and --min-weight",
    ),
    Case(
        "recommend-fit-missing-column-keeps-the-bundle",
        (
            "recommend",
            "fit",
            "interactions.parquet",
            "--user",
            "who",
            "--item",
            "item",
            "-o",
            "recs",
        ),
        2,
        Contains(("'who'",)),
    ),
    Case(
        "recommend-fit-output-in-missing-folder",
        (
            "recommend",
            "fit",
            "interactions.parquet",
            "--user",
            "user",
            "--item",
            "item",
            "--out",
            "nodir/recs",
        ),
        2,
        "error: nodir/recs: the folder nodir does not exist; create it first",
    ),
    Case(
        "recommend-fit-output-is-a-file",
        (
            "recommend",
            "fit",
            "interactions.parquet",
            "--user",
            "user",
            "--item",
            "item",
            "-o",
            "afile",
        ),
        2,
        "error: afile is a file; give a folder name for the output",
    ),
    Case(
        "recommend-query-k-zero",
        ("recommend", "query", "recs", "--user", "1", "-k", "0"),
        2,
        "error: -k " + RANGE.format(low=1, what="how many answers", value=0),
    ),
    Case(
        "recommend-query-k-negative",
        ("recommend", "query", "recs", "--item", "10", "-k", "-3"),
        2,
        "error: -k " + RANGE.format(low=1, what="how many answers", value=-3),
    ),
    Case(
        "recommend-evaluate-k-zero",
        (
            "recommend",
            "evaluate",
            "interactions.parquet",
            "--user",
            "user",
            "--item",
            "item",
            "-k",
            "0",
        ),
        2,
        "error: -k " + RANGE.format(low=1, what="the list length", value=0),
    ),
    Case(
        "recommend-query-damaged-bundle",
        ("recommend", "query", "damaged_recs", "--user", "1"),
        2,
        Contains(("damaged_recs",)),
    ),
    Case(
        "recommend-update-missing-source-keeps-the-bundle",
        ("recommend", "update", "recs", "missing.parquet"),
        2,
        Contains(("missing.parquet",)),
    ),
    Case(
        "recommend-update-of-a-file",
        ("recommend", "update", "afile", "interactions.parquet"),
        2,
        "error: afile is a file; give a folder name for the output",
    ),
    Case(
        "recommend-query-neither-user-nor-item",
        ("recommend", "query", "recs"),
        2,
        "error: pass exactly one of --user or --item",
    ),
    # train and score (more cases, with real bundles: tests/models/test_cli_train.py)
    Case(
        "train-target-also-included",
        ("train", "good.parquet", "--target", "delay", "--include", "delay", "-o", "m"),
        2,
        "error: --include names the target 'delay': the column to predict cannot also be a "
        "feature; remove it from --include",
    ),
    Case(
        "train-into-a-recommender-bundle",
        ("train", "good.parquet", "--target", "delay", "-o", "recs"),
        2,
        "error: recs is a recommender bundle, not a model bundle; choose another folder",
    ),
    Case(
        "score-missing-bundle",
        ("score", "nowhere", "good.parquet", "-o", "valid.parquet"),
        2,
        "error: nowhere: no such model bundle folder; check the path",
    ),
    Case(
        "score-a-recommender-bundle",
        ("score", "recs", "good.parquet", "-o", "valid.parquet"),
        2,
        "error: recs is a recommender bundle, not a model bundle; check the path",
    ),
]


def _check_message(stderr: str, expected: str | Contains) -> None:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    if isinstance(expected, Contains):
        assert lines[0].startswith("error: "), stderr
        for fragment in expected.fragments:
            assert fragment in lines[0], (fragment, stderr)
    else:
        assert lines[0] == expected


@pytest.mark.parametrize("case", FAILURES, ids=[c.id for c in FAILURES])
def test_failure_exits_with_its_code_one_line_and_writes_nothing(case: Case, work: Path) -> None:
    before = snapshot(work)
    result = run(case.args, work)
    assert result.returncode == case.code, result.stdout + result.stderr
    _check_message(result.stderr, case.message)
    assert snapshot(work) == before


# ----------------------------------------------------------------------------- bugs, Ctrl-C

# A real process whose command meets a bug (or a Ctrl-C) half-way through writing its
# outputs: write_html writes part of the report, then fails.
_INJECTED = """
import sys
import suture.report.html as html

def broken(profile, path):
    open(path, "w").write("<!DOCTYPE html><p>half a rep")
    raise {error}

html.write_html = broken
from suture.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _run_injected(
    error: str, args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _INJECTED.format(error=error), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, **(env or {})},
    )


BUG_MESSAGE = (
    "internal error: ZeroDivisionError: division by zero. This is a bug in suture "
    f"{VERSION}, not a mistake of yours; please report it with the command you ran and the "
    "traceback that --debug (or SUTURE_DEBUG=1) shows."
)
PROFILE_WITH_HTML = ["profile", "good.parquet", "-o", "old.profile", "--html", "old.html", "-q"]


def test_a_bug_exits_3_with_a_short_message_and_writes_nothing(work: Path) -> None:
    before = snapshot(work)
    result = _run_injected("ZeroDivisionError('division by zero')", PROFILE_WITH_HTML, work)
    assert result.returncode == 3
    assert result.stderr == BUG_MESSAGE + "\n"
    assert snapshot(work) == before


def test_a_bug_in_a_worker_shows_its_last_line_and_debug_its_traceback(work: Path) -> None:
    raised = (
        "__import__('suture.errors').errors.InternalError('a suture worker process failed:\\n"
        'Traceback (most recent call last):\\n  File "w.py", line 1, in fold\\n'
        "ZeroDivisionError: division by zero\\n')"
    )
    result = _run_injected(raised, PROFILE_WITH_HTML, work)
    assert result.returncode == 3
    assert result.stderr == (
        "internal error: InternalError: a suture worker process failed: ZeroDivisionError: "
        f"division by zero. This is a bug in suture {VERSION}, not a mistake of yours; please "
        "report it with the command you ran and the traceback that --debug (or "
        "SUTURE_DEBUG=1) shows.\n"
    )
    shown = _run_injected(raised, PROFILE_WITH_HTML, work, {"SUTURE_DEBUG": "1"})
    assert 'File "w.py", line 1, in fold' in shown.stderr


@pytest.mark.parametrize(
    ("args", "env"),
    [(["--debug", *PROFILE_WITH_HTML], {}), (PROFILE_WITH_HTML, {"SUTURE_DEBUG": "1"})],
    ids=["--debug", "SUTURE_DEBUG=1"],
)
def test_debug_shows_the_traceback_of_a_bug(
    work: Path, args: list[str], env: dict[str, str]
) -> None:
    before = snapshot(work)
    result = _run_injected("ZeroDivisionError('division by zero')", args, work, env)
    assert result.returncode == 3
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert "in broken" in result.stderr
    assert result.stderr.endswith(BUG_MESSAGE + "\n")
    assert snapshot(work) == before


def test_ctrl_c_exits_130_and_writes_nothing(work: Path) -> None:
    before = snapshot(work)
    result = _run_injected("KeyboardInterrupt()", PROFILE_WITH_HTML, work)
    assert result.returncode == 130
    assert result.stderr == "interrupted; nothing was written\n"
    assert snapshot(work) == before


# ----------------------------------------------------------------------------- successes


def test_version_and_help_state_the_exit_codes(work: Path) -> None:
    assert run(["--version"], work).stdout == f"suture {VERSION}\n"
    shown = run(["--help"], work, env={"COLUMNS": "400"})
    assert shown.returncode == 0
    text = " ".join(shown.stdout.replace("│", " ").split())
    assert (
        "Exit codes: 0 success; 1 the check found something (violations above tolerance, a "
        "diff); 2 a usage mistake or unreadable input (one line 'error: ...' says what, where "
        "and the fix); 3 a bug in suture (--debug or SUTURE_DEBUG=1 shows the traceback); "
        "130 interrupted, nothing written; 141 the reader of the output went away."
    ) in text
    assert "recommend" in text


def test_a_closed_output_pipe_exits_141_quietly(work: Path) -> None:
    proc = subprocess.Popen(
        [SUTURE, "show", "old.profile"],
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader goes away before the first line (`| head -0`)
    stderr = proc.stderr.read()
    assert proc.wait(timeout=300) == 141
    assert stderr == ""


def test_no_arguments_prints_the_help_and_exits_2(work: Path) -> None:
    for args in ([], ["recommend"]):
        result = run(args, work)
        assert result.returncode == 2
        assert "Usage: suture" in result.stdout
        assert result.stderr == ""


def test_profile_default_output_is_the_source_name_plus_profile(work: Path) -> None:
    for name in ("good.parquet", "good.csv"):
        result = run(["profile", name, "-q"], work)
        assert result.returncode == 0, result.stderr
        assert result.stderr == f"wrote {name}.profile\n"
    import suture

    assert suture.Profile.load(work / "good.parquet.profile").row_count == 40
    assert suture.Profile.load(work / "good.csv.profile").row_count == 2


def test_profile_replaces_profile_and_html_together(work: Path) -> None:
    result = run(["profile", "good.csv", "--out", "old.profile", "--html", "old.html"], work)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "wrote old.html\nwrote old.profile\n"
    import suture

    assert suture.Profile.load(work / "old.profile").row_count == 2
    assert (work / "old.html").read_text().startswith("<!DOCTYPE html>")
    assert not [p for p in work.iterdir() if ".suture-" in p.name]


def test_violations_above_tolerance_exit_1_and_diff_exits_0_or_1(work: Path) -> None:
    checked = run(["validate", "violations.csv", "--schema", "schema.toml"], work)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert run(["diff", "schema.toml", "schema.toml"], work).returncode == 0
    text = (work / "schema.toml").read_text()
    (work / "wider.toml").write_text(text.replace("nullable = false", "nullable = true", 1))
    assert run(["diff", "schema.toml", "wider.toml"], work).returncode == 1


def test_latin1_csv_with_its_encoding(work: Path) -> None:
    result = run(["profile", "latin1.csv", "--encoding", "latin-1", "-q"], work)
    assert result.returncode == 0, result.stderr
    import suture

    cities = suture.Profile.load(work / "latin1.csv.profile")["city"].top(2)
    assert sorted(item.value for item in cities) == ["München", "Zürich"]


def test_latin1_csv_infers_and_validates_with_its_encoding(work: Path) -> None:
    inferred = run(["infer", "latin1.csv", "--encoding", "latin-1", "-o", "l.toml"], work)
    assert inferred.returncode == 0, inferred.stderr
    checked = run(["validate", "latin1.csv", "-s", "l.toml", "--encoding", "latin-1"], work)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "2 rows: 2 valid, 0 quarantined" in checked.stdout


def test_semicolon_csv_is_read_as_two_columns(work: Path) -> None:
    detected = run(["profile", "semicolon.csv", "-q"], work)
    assert detected.returncode == 0, detected.stderr
    given = run(["profile", "semicolon.csv", "--delimiter", ";", "-o", "given.profile", "-q"], work)
    assert given.returncode == 0, given.stderr
    import suture

    for name in ("semicolon.csv.profile", "given.profile"):
        assert list(suture.Profile.load(work / name)) == ["a", "b"]


def test_float_column_with_text_far_down_is_read_once_widened(work: Path) -> None:
    result = run(["validate", "late_text.csv", "--schema", "schema.toml"], work)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "5,001 rows: " in result.stdout and "Traceback" not in result.stderr


def test_durations_and_times_of_day_pass_their_own_contract(work: Path) -> None:
    inferred = run(["infer", "clock.parquet", "-o", "clock.toml"], work)
    assert inferred.returncode == 0, inferred.stderr
    checked = run(["validate", "clock.parquet", "--schema", "clock.toml"], work)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "4 rows: 4 valid, 0 quarantined" in checked.stdout


def test_infer_from_a_profile_honours_exclude(work: Path) -> None:
    result = run(["infer", "old.profile", "--exclude", "carrier", "-o", "ex.toml"], work)
    assert result.returncode == 0, result.stderr
    assert list(tomllib.loads((work / "ex.toml").read_text())["columns"]) == ["delay"]


def test_iso_timestamps_in_csv_and_parquet_profile_alike_and_merge(work: Path) -> None:
    for name in ("stamps.csv", "stamps.parquet"):
        result = run(["profile", name, "-q"], work)
        assert result.returncode == 0, result.stderr
    merged = run(
        ["merge", "stamps.csv.profile", "stamps.parquet.profile", "-o", "both.profile"], work
    )
    assert merged.returncode == 0, merged.stderr
    assert merged.stderr == "wrote both.profile: 6 rows from 2 profiles\n"


def test_infer_to_a_pipe_is_valid_toml_at_any_width(work: Path) -> None:
    result = run(["infer", "good.parquet"], work, env={"COLUMNS": "40"})
    assert result.returncode == 0, result.stderr
    assert "delay" in tomllib.loads(result.stdout)["columns"]


def test_uint64_values_stay_unsigned_through_infer_and_validate(work: Path) -> None:
    inferred = run(["infer", "uint64.parquet", "-o", "u.toml"], work)
    assert inferred.returncode == 0, inferred.stderr
    column = tomllib.loads((work / "u.toml").read_text())["columns"]["id"]
    # The suggested range widens the observed extremes (5 and 2**64 - 1): never negative.
    assert isinstance(column["min"], int) and isinstance(column["max"], int)
    assert 0 <= column["min"] <= 5 and column["max"] >= 2**64 - 1
    checked = run(["validate", "uint64.parquet", "--schema", "u.toml"], work)
    assert checked.returncode in (0, 1), checked.stderr
    assert "Traceback" not in checked.stderr


def test_recommend_fit_and_evaluate_share_one_default_seed(work: Path) -> None:
    fit = run(["recommend", "fit", "--help"], work, env={"COLUMNS": "200"})
    evaluate = run(["recommend", "evaluate", "--help"], work, env={"COLUMNS": "200"})
    for shown in (fit, evaluate):
        line = next(x for x in shown.stdout.splitlines() if "--seed" in x)
        assert "[default: 1]" in line, line
