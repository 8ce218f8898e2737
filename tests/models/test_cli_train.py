"""``suture train`` and ``suture score`` through the real console script.

As in tests/test_cli_contract.py: each case runs ``suture`` in a fresh process in a folder
that holds earlier outputs; a failure exits 2 with exactly one line ``error: ...`` and
leaves the folder byte for byte as it was.  The bundles are the real ones of
:mod:`tests.models.test_bundle`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from suture.bundle import MODEL, Bundle
from suture.models.bundle import FORMAT_VERSION
from tests.models.test_bundle import (
    default_bundle,
    default_table,
    diamonds_bundle,
    diamonds_table,
)
from tests.test_cli_contract import run, snapshot


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    default_bundle().write(folder / "default_model")
    diamonds_bundle().write(folder / "diamonds_model")
    pq.write_table(default_table(), folder / "default.parquet")
    default_table().to_pandas().to_csv(folder / "default.csv", index=False)
    table = diamonds_table().slice(0, 1000)
    pq.write_table(table, folder / "diamonds.parquet")
    cut = table.column("cut").to_pylist()
    cut[5] = "Superb"
    pq.write_table(table.set_column(1, "cut", pa.array(cut)), folder / "new_cut.parquet")
    pq.write_table(table.drop_columns(["color"]), folder / "no_color.parquet")
    shutil.copytree(folder / "default_model", folder / "tampered_model")
    card = folder / "tampered_model" / "model_card.html"
    card.write_text(card.read_text().replace("Model card", "Model cart", 1))
    stored = Bundle.read(folder / "default_model", MODEL, FORMAT_VERSION)
    Bundle.write(folder / "newer_model", MODEL, FORMAT_VERSION + 1, stored.parts, {})
    default_bundle().profile.save(folder / "train.profile")
    pq.write_table(table.slice(0, 1), folder / "old.parquet")  # an earlier output
    (folder / "busy").mkdir()
    (folder / "busy" / "notes.txt").write_text("not a model\n")
    return folder


@pytest.fixture()
def work(template: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "work"
    shutil.copytree(template, folder)
    return folder


def _fails(work: Path, args: list[str], message: str) -> None:
    before = snapshot(work)
    result = run(args, work)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr == message + "\n"
    assert snapshot(work) == before


# ----------------------------------------------------------------------------- score


def test_score_writes_predictions_and_says_how_many(work: Path) -> None:
    result = run(["score", "default_model", "default.parquet", "-o", "scored.parquet"], work)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "scored 10,000 of 10,000 rows; wrote scored.parquet\n"
    scored = pq.read_table(work / "scored.parquet")
    assert scored.column_names[-2:] == ["prediction", "probability"]
    assert scored.equals(default_bundle().score(default_table()))


def test_score_a_csv_with_explanations(work: Path) -> None:
    args = ["score", "default_model", "default.csv", "-o", "scored.parquet", "--explain", "2"]
    result = run(args, work)
    assert result.returncode == 0, result.stderr
    scored = pq.read_table(work / "scored.parquet")
    reasons = scored.column("explanation").to_pylist()
    assert all(len(r) == 2 for r in reasons)
    assert {r[0]["column"] for r in reasons} <= {"student", "balance", "income"}


def test_a_new_category_without_quarantine_exits_2_and_writes_nothing(work: Path) -> None:
    _fails(
        work,
        ["score", "diamonds_model", "new_cut.parquet", "-o", "old.parquet"],
        "error: new_cut.parquet row 5: expected one of 'Fair', 'Good', 'Ideal', 'Premium', "
        "'Very Good', got 'Superb' in column 'cut': the row breaks the model's contract, so "
        "nothing was scored; fix the data, or pass --quarantine FILE to score the other rows "
        "and keep the broken ones with their reasons",
    )


def test_a_new_category_with_quarantine_scores_the_rest(work: Path) -> None:
    args = [
        "score",
        "diamonds_model",
        "new_cut.parquet",
        "-o",
        "s.parquet",
        "--quarantine",
        "q.parquet",
    ]
    result = run(args, work)
    assert result.returncode == 0, result.stderr
    assert result.stderr == (
        "scored 999 of 1,000 rows; 1 broke the contract and were quarantined (level(cut): 1); "
        "wrote s.parquet and q.parquet\n"
    )
    assert pq.read_table(work / "q.parquet").column("__row").to_pylist() == [5]
    assert pq.read_table(work / "s.parquet").num_rows == 999


def test_a_file_missing_a_column_exits_2(work: Path) -> None:
    _fails(
        work,
        ["score", "diamonds_model", "no_color.parquet", "-o", "old.parquet"],
        "error: no_color.parquet has no column 'color', which the contract requires; columns "
        "are: carat, cut, depth, price",
    )


def test_a_tampered_bundle_exits_2(work: Path) -> None:
    before = snapshot(work)
    result = run(["score", "tampered_model", "default.parquet", "-o", "old.parquet"], work)
    assert result.returncode == 2
    line = result.stderr
    assert line.count("\n") == 1
    assert line.startswith("error: tampered_model/model_card.html: SHA-256 mismatch (expected ")
    assert line.endswith(
        "the model bundle was altered or damaged; re-create it with suture train\n"
    )
    assert snapshot(work) == before


def test_a_bundle_from_a_newer_suture_exits_2(work: Path) -> None:
    _fails(
        work,
        ["score", "newer_model", "default.parquet", "-o", "old.parquet"],
        f"error: newer_model: model bundle format {FORMAT_VERSION + 1}, newer than this suture "
        f"reads ({FORMAT_VERSION}); upgrade suture",
    )


def test_a_profile_given_as_the_model_exits_2(work: Path) -> None:
    _fails(
        work,
        ["score", "train.profile", "default.parquet", "-o", "old.parquet"],
        "error: train.profile is a profile, not a model bundle folder; check the path",
    )


def test_a_negative_explain_exits_2(work: Path) -> None:
    _fails(
        work,
        ["score", "default_model", "default.parquet", "-o", "x.parquet", "--explain", "-1"],
        "error: --explain must be 0 or more (input columns per row), got -1",
    )


def test_data_with_a_prediction_column_exits_2(work: Path) -> None:
    run(["score", "default_model", "default.parquet", "-o", "scored.parquet"], work)
    _fails(
        work,
        ["score", "default_model", "scored.parquet", "-o", "again.parquet"],
        "error: the data already has column 'prediction', 'probability', which scoring adds; "
        "rename or drop it before scoring",
    )


# ----------------------------------------------------------------------------- train


def test_train_refuses_the_target_as_a_feature(work: Path) -> None:
    _fails(
        work,
        ["train", "default.parquet", "--target", "default", "--include", "default", "-o", "m"],
        "error: --include names the target 'default': the column to predict cannot also be a "
        "feature; remove it from --include",
    )


def test_train_refuses_an_unknown_task(work: Path) -> None:
    _fails(
        work,
        ["train", "default.parquet", "--target", "default", "--task", "ranking", "-o", "m"],
        "error: --task must be one of binary, multiclass, regression, got 'ranking'",
    )


def test_train_refuses_a_negative_tolerance(work: Path) -> None:
    _fails(
        work,
        ["train", "default.parquet", "-t", "default", "--tolerance", "-0.1", "-o", "m"],
        "error: --tolerance must be 0 or more (how much worse than the best a simpler model "
        "may be), got -0.1",
    )


def test_train_refuses_a_column_both_included_and_excluded(work: Path) -> None:
    _fails(
        work,
        [
            "train",
            "default.parquet",
            "-t",
            "default",
            "--include",
            "income",
            "--exclude",
            "income",
            "-o",
            "m",
        ],
        "error: 'income' is both in --include and --exclude; keep it in one",
    )


def test_train_refuses_a_busy_output_folder_before_reading(work: Path) -> None:
    result = run(["train", "missing.parquet", "-t", "default", "-o", "busy"], work)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "busy" in result.stderr
    assert (work / "busy" / "notes.txt").read_text() == "not a model\n"


def test_the_bundle_written_by_the_tests_is_listed_in_the_manifest(work: Path) -> None:
    manifest = json.loads((work / "default_model" / "manifest.json").read_text())
    assert manifest["metadata"]["model_kind"] == "logistic"


# ----------------------------------------------------------------------------- train end to end


def _small_csv(work: Path, name: str, rows: int, **changes: object) -> str:
    frame = default_table().slice(0, rows).to_pandas()
    for column, value in changes.items():
        frame[column] = value
    frame.to_csv(work / name, index=False)
    return name


def test_train_then_score_on_the_command_line(work: Path) -> None:
    data = _small_csv(work, "small.csv", 2000)
    trained = run(["train", data, "--target", "default", "--seed", "3", "-o", "model"], work)
    assert trained.returncode == 0, trained.stderr
    lines = trained.stderr.splitlines()
    assert lines[-1] == "wrote model"
    assert any(" fit " in line for line in lines)  # one progress line per stage
    assert "chosen: " in trained.stdout and "holdout auc" in trained.stdout
    from suture.models.bundle import ModelBundle

    bundle = ModelBundle.read(work / "model")
    assert bundle.task.target == "default"
    assert bundle.holdout is not None and bundle.holdout.metrics["auc"].value > 0.8
    assert f"{bundle.winner} *" in trained.stdout
    scored = run(["score", "model", data, "-o", "scored.parquet"], work)
    assert scored.returncode == 0, scored.stderr
    assert scored.stderr == "scored 2,000 of 2,000 rows; wrote scored.parquet\n"
    assert (work / "model" / "model_card.html").read_text().startswith("<!DOCTYPE html>")


def test_train_on_a_target_with_one_class_exits_2(work: Path) -> None:
    data = _small_csv(work, "one.csv", 300, default="No")
    before = snapshot(work)
    result = run(["train", data, "--target", "default", "-o", "model"], work)
    assert result.returncode == 2
    *progress, last = result.stderr.splitlines()
    assert all(line.startswith("[") for line in progress)  # the stages done before
    assert last.startswith("error: target 'default' has one class")
    assert "Traceback" not in result.stderr
    assert snapshot(work) == before


def test_train_on_a_missing_target_exits_2(work: Path) -> None:
    _fails(
        work,
        ["train", "default.parquet", "--target", "nosuch", "-o", "model"],
        "error: default.parquet has no column 'nosuch'; columns are: default, student, "
        "balance, income",
    )


def test_train_refuses_a_monotone_spec_of_another_form(work: Path) -> None:
    _fails(
        work,
        ["train", "default.parquet", "-t", "default", "--monotone", "balance=up", "-o", "m"],
        "error: --monotone 'balance=up': expected COLUMN=1 (the score rises with the column) "
        "or COLUMN=-1 (it falls)",
    )


def test_train_with_monotone_records_the_direction_in_the_bundle(work: Path) -> None:
    from suture.models.bundle import ModelBundle

    result = run(
        [
            "train", "default.parquet", "-t", "default", "-q", "--monotone", "balance=1",
            "-o", "mono",
        ],
        work,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    bundle = ModelBundle.read(work / "mono")
    assert bundle.lineage["parameters"]["monotone"] == {"balance": 1}


def test_train_streaming_writes_a_bundle_from_engine_passes_and_names_what_it_left_out(
    work: Path,
) -> None:
    result = run(
        ["train", "default.parquet", "--target", "default", "--streaming", "-q", "-o", "s"],
        work,
    )
    assert result.returncode == 0, result.stderr
    assert "streaming training fits baseline, naive_bayes, logistic, linear only" in " ".join(
        result.stdout.split()
    )
    bundle = Bundle.read(work / "s", MODEL, FORMAT_VERSION)
    lineage = json.loads(bundle.part("lineage.json"))
    rows = lineage["rows"]
    assert (rows["read"], rows["quarantined"], rows["train"] + rows["holdout"]) == (
        10_000,
        0,
        10_000,
    )
    assert lineage["parameters"]["streaming"] is True
    from suture.models.bundle import ModelBundle

    model = ModelBundle.read(work / "s")
    assert model.winner in ("baseline", "naive_bayes", "logistic")
    assert model.score(default_table()).num_rows == 10_000
