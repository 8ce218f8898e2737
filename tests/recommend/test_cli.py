"""`suture recommend` commands, run in-process with Typer's runner."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from suture.recommend import Recommender
from suture.recommend.cli import app
from tests.recommend._recdata import clustered

runner = CliRunner()
SMALL = ["--num-perm", "64", "--threshold", "0.1", "--neighbours", "30"]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli")
    table = clustered()
    pq.write_table(table.slice(0, 600), folder / "old.parquet")
    pq.write_table(table.slice(600), folder / "new.parquet")
    pq.write_table(table, folder / "all.parquet")
    return folder


def _fit(data: Path, source: str, out: str) -> Path:
    result = runner.invoke(
        app,
        [
            "fit",
            str(data / source),
            "--user",
            "user",
            "--item",
            "item",
            "-o",
            str(data / out),
            *SMALL,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "items" in result.output
    return data / out


def test_fit_then_query_a_user_and_an_item(data: Path) -> None:
    bundle = _fit(data, "all.parquet", "recs")
    result = runner.invoke(app, ["query", str(bundle), "--user", "1003", "-k", "3", "--json"])
    assert result.exit_code == 0, result.output
    answers = json.loads(result.output)
    assert len(answers) == 3
    assert all(a["because"] == "similar-items" and a["reasons"] for a in answers)
    assert answers == [r.to_dict() for r in Recommender.load(bundle).recommend(1003, 3)]
    result = runner.invoke(app, ["query", str(bundle), "--item", "7", "-k", "2"])
    assert result.exit_code == 0, result.output
    assert "similar: 7 (Jaccard" in result.output


def test_unknown_user_is_answered_with_popular_items(data: Path) -> None:
    bundle = _fit(data, "all.parquet", "recs-cold")
    result = runner.invoke(app, ["query", str(bundle), "--user", "nobody", "-k", "2", "--json"])
    assert result.exit_code == 0, result.output
    assert [a["because"] for a in json.loads(result.output)] == ["popular", "popular"]


def test_update_equals_fit_on_the_union(data: Path) -> None:
    bundle = _fit(data, "old.parquet", "recs-updated")
    result = runner.invoke(app, ["update", str(bundle), str(data / "new.parquet")])
    assert result.exit_code == 0, result.output
    full = _fit(data, "all.parquet", "recs-full")
    files = [json.loads((b / "manifest.json").read_text())["parts"] for b in (bundle, full)]
    assert files[0] == files[1]


def test_evaluate_reports_suture_and_the_baselines(data: Path) -> None:
    result = runner.invoke(
        app,
        [
            "evaluate",
            str(data / "all.parquet"),
            "--user",
            "user",
            "--item",
            "item",
            "--json",
            *SMALL,
        ],
    )
    assert result.exit_code == 0, result.output
    names = [m["name"] for m in json.loads(result.output)]
    assert names == ["suture", "popularity", "exact-jaccard"]
    result = runner.invoke(
        app,
        [
            "evaluate",
            str(data / "all.parquet"),
            "--user",
            "user",
            "--item",
            "item",
            "--split",
            "time",
            "--time",
            "ts",
            "--no-exact",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "recall@10" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["fit", "{d}/all.parquet", "--user", "customer", "--item", "item", "-o", "{d}/x"],
            "column 'customer' not found; available columns: user, item, rating, ts",
        ),
        (
            ["fit", "{d}/missing.parquet", "--user", "u", "--item", "i", "-o", "{d}/x"],
            "no such file",
        ),
        (["query", "{d}", "--user", "1"], "not a recommender bundle"),
        (["query", "{d}/recs-err", "--item", "424242"], "item '424242' does not occur"),
        (
            ["evaluate", "{d}/all.parquet", "--user", "user", "--item", "item", "--split", "time"],
            "needs the time column",
        ),
        (
            ["query", "{d}/recs-err", "--user", "1003", "-k", "0"],
            "error: -k must be 1 or more (how many answers), got 0",
        ),
        (
            ["evaluate", "{d}/all.parquet", "--user", "user", "--item", "item", "-k", "-2"],
            "error: -k must be 1 or more (the list length), got -2",
        ),
        (
            ["fit", "{d}/all.parquet", "--user", "user", "--item", "item", "-o", "{d}/no/x"],
            "the folder {d}/no does not exist; create it first",
        ),
    ],
)
def test_errors_are_one_clear_line_without_traceback(
    data: Path, args: list[str], message: str
) -> None:
    _fit(data, "all.parquet", "recs-err")
    result = runner.invoke(app, [a.format(d=data) for a in args])
    assert result.exit_code == 2
    assert message.format(d=data) in result.stderr
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_query_needs_exactly_one_of_user_or_item(data: Path) -> None:
    result = runner.invoke(app, ["query", str(data), "-k", "1"])
    assert result.exit_code == 2
    assert "exactly one of --user or --item" in result.stderr


def test_bad_table_for_strings(tmp_path: Path) -> None:
    pq.write_table(pa.table({"u": ["a", "b"], "i": ["x", "x"]}), tmp_path / "s.parquet")
    result = runner.invoke(
        app,
        [
            "fit",
            str(tmp_path / "s.parquet"),
            "--user",
            "u",
            "--item",
            "i",
            "-o",
            str(tmp_path / "r"),
        ],
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["query", str(tmp_path / "r"), "--item", "x", "--json"])
    assert json.loads(result.output) == []


def test_fit_that_keeps_no_items_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    table = pa.table({"u": [1, 2], "i": [5, 6], "w": [1.0, 2.0]})
    pq.write_table(table, tmp_path / "low.parquet")
    args = ["fit", str(tmp_path / "low.parquet"), "--user", "u", "--item", "i", "--weight", "w"]
    result = runner.invoke(app, [*args, "--min-weight", "3", "-o", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {tmp_path / 'low.parquet'}: the fit kept no items: all 2 rows were skipped "
        "(a null u or i, a null or NaN w, or w below --min-weight 3); nothing was written; "
        "check the columns and --min-weight\n"
    )
    assert list(tmp_path.iterdir()) == [tmp_path / "low.parquet"]


def test_fit_and_evaluate_default_to_the_same_seed(data: Path) -> None:
    from suture.recommend.cli import DEFAULT_SEED

    assert Recommender(user="u", item="i").seed == DEFAULT_SEED
    bundle = _fit(data, "all.parquet", "recs-seed")
    assert Recommender.load(bundle).seed == DEFAULT_SEED
