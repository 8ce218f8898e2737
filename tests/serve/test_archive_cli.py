"""``suture archive export|prune|stats`` and ``suture explain ID --archive URL`` in a fresh
process, through suture's own entry point (exit codes, one-line errors)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from suture.serve.archive import Outcome, PredictionRecord, open_archive
from suture.serve.archive_cli import parse_since

# suture's entry point with the archive commands mounted (when src/suture/cli.py does not
# mount them yet), so that errors map to exit codes and one line as in every command.
ENTRY = """
import sys
import suture.cli as cli
from suture.serve.archive_cli import app, explain
if not any(g.name == "archive" for g in cli.app.registered_groups):
    cli.app.add_typer(app, name="archive")
if not any(c.name == "explain" for c in cli.app.registered_commands):
    cli.app.command(name="explain")(explain)
raise SystemExit(cli.main(sys.argv[1:]))
"""


def suture(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", ENTRY, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "100"},
    )


@pytest.fixture
def filled(tmp_path: Path) -> tuple[str, list[PredictionRecord]]:
    now = time.time()
    records = [
        PredictionRecord(
            id=f"{i:032x}",
            ts=now - 86_400 * (10 - i),  # one a day, the newest yesterday
            model_version="v1",
            worker="w1",
            key=f"c{i}",
            received={"balance": str(100 * i), "student": "No"},
            coerced={"balance": 100.0 * i, "student": "No"},
            features=[100.0 * i, 0.0],
            output={"prediction": "No", "probability": 0.01 * i},
            explanation=[
                {"column": "balance", "value": 100.0 * i, "unit": "USD", "contribution": 0.5},
                {"column": "student", "value": "No", "unit": None, "contribution": -0.25},
            ],
        )
        for i in range(10)
    ]
    url = f"sqlite:///{tmp_path / 'archive.db'}"
    with open_archive(url) as a:
        a.write_now(records)
        a.set_feature_names("v1", ["balance", "student=Yes"])
        a.add_outcomes([Outcome(value="Yes", prediction_id=records[3].id, ts=0.0)])
    return url, records


def test_explain_prints_the_decision_readably(
    filled: tuple[str, list[PredictionRecord]], tmp_path: Path
) -> None:
    url, records = filled
    done = suture("explain", records[3].id, "--archive", url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert text.startswith(f"prediction {records[3].id}\n  made      ")
    assert "by model v1 (worker w1)\n  key       c3\n" in text
    assert "output\n  prediction   No\n  probability  0.03\n" in text
    assert (
        "why (the largest contributions)\n  balance = 300.0 USD: +0.5000\n  student = No: -0.2500\n"
        in text
    )
    assert "received\n  balance  300\n  student  No\n" in text
    assert "features\n  balance      300.0\n  student=Yes  0.0\n" in text
    assert text.endswith("outcome\n  Yes (recorded 1970-01-01T00:00:00.000000Z)\n")
    as_json = suture("explain", records[5].id, "--archive", url, "--json", cwd=tmp_path)
    decision = json.loads(as_json.stdout)
    assert decision["coerced"] == {"balance": 500.0, "student": "No"}
    assert decision["outcome"] is None


def test_explain_an_unknown_id_is_one_line_and_exit_2(
    filled: tuple[str, list[PredictionRecord]], tmp_path: Path
) -> None:
    url, _ = filled
    done = suture("explain", "f" * 32, "--archive", url, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == (
        f"error: no prediction '{'f' * 32}' in the archive {url}; check the id a predict answer "
        "gave (suture archive stats shows what the archive holds)\n"
    )
    missing = suture("explain", "0" * 32, "--archive", "sqlite:///nowhere.db", cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr == (
        "error: archive sqlite:///nowhere.db: no such file; give the archive a service wrote "
        "(suture serve --archive sqlite:///path.db)\n"
    )
    assert not (tmp_path / "nowhere.db").exists()


def test_export_writes_parquet_and_since_filters(
    filled: tuple[str, list[PredictionRecord]], tmp_path: Path
) -> None:
    url, records = filled
    done = suture("archive", "export", url, "-o", "all.parquet", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, "wrote 10 predictions to all.parquet\n")
    table = pq.read_table(tmp_path / "all.parquet")
    assert table.column("id").to_pylist() == [r.id for r in records]
    assert table.column("outcome").to_pylist()[3] == '"Yes"'
    recent = suture(
        "archive", "export", url, "-o", "recent.parquet", "--since", "3.5d", cwd=tmp_path
    )
    assert recent.stdout == "wrote 3 predictions to recent.parquet\n"
    bad = suture("archive", "export", url, "-o", "x.parquet", "--since", "last week", cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr == (
        "error: --since 'last week': expected a time span back from now (7d, 12h, 90m) or an "
        "ISO 8601 date or time (2026-11-01, 2026-11-01T08:00:00Z)\n"
    )
    assert not (tmp_path / "x.parquet").exists()


def test_prune_and_stats(filled: tuple[str, list[PredictionRecord]], tmp_path: Path) -> None:
    url, _ = filled
    done = suture("archive", "prune", url, "--older-than", "5.5d", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("pruned 5 predictions made before ")
    stats = json.loads(suture("archive", "stats", url, "--json", cwd=tmp_path).stdout)
    assert (stats["predictions"], stats["outcomes"], stats["model_versions"]) == (5, 0, ["v1"])
    text = suture("archive", "stats", url, cwd=tmp_path).stdout
    assert "predictions: 5\n" in text and "model versions: v1\n" in text
    bad = suture("archive", "prune", url, "--older-than", "soon", cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr == (
        "error: --older-than 'soon': expected a positive time span such as 30d, 12h, 90m or 3600s\n"
    )


def test_since_reads_spans_and_iso_times() -> None:
    assert parse_since(None) is None
    assert parse_since("2h", now=10_000.0) == 2800.0
    assert parse_since("1970-01-02") == 86_400.0
    assert parse_since("1970-01-01T01:00:00Z") == 3600.0
    assert parse_since("1970-01-01T02:00:00+01:00") == 3600.0
