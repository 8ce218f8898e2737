"""The hybrid path of ``suture.train``: a table with more rows than ``hybrid_rows`` (known
from its metadata) is trained from engine passes and bounded samples, with every
candidate compared in memory on the sample (issue 10: 1M rows in under 60 s with flat
memory, without giving up the candidates or the yardstick)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import roc_auc_score

import suture
from suture.models.bundle import ModelBundle
from suture.models.streaming import HashSplit

pytestmark = pytest.mark.xdist_group("train_hybrid")

ROWS = 20_000
KW = {"positive": "churned", "seed": 3, "hybrid_rows": 5_000, "max_fit_rows": 2_000}
STREAMS = ["baseline", "naive_bayes", "logistic"]


def _synthetic(rows: int, seed: int = 0) -> pa.Table:
    """Numbers (one skewed, one with missing values), two categories, a binary target."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 4))
    skewed = np.exp(rng.normal(size=rows))
    group = rng.integers(0, 6, rows)
    effect = np.array([-0.8, -0.3, 0.0, 0.2, 0.5, 0.9])[group]
    logit = x @ np.array([0.9, -0.6, 0.4, 0.0]) + 0.7 * np.log(skewed) + effect - 0.8
    churned = rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))
    return pa.table(
        {
            "x0": x[:, 0],
            "x1": pa.array(x[:, 1], mask=rng.random(rows) < 0.02),
            "x2": x[:, 2],
            "noise": x[:, 3],
            "spend": skewed,
            "plan": pa.array([f"p{g}" for g in group]),
            "region": pa.array(rng.choice(["north", "south", "east"], rows)),
            "target": pa.array(np.where(churned, "churned", "stayed")),
        }
    )


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return _synthetic(ROWS)


@pytest.fixture(scope="module")
def path(table: pa.Table, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hybrid") / "big.parquet"
    pq.write_table(table, out, row_group_size=4_000)
    return out


@pytest.fixture(scope="module")
def streamed(path: Path) -> ModelBundle:
    return suture.train(path, "target", candidates=STREAMS, **KW)


def test_above_the_threshold_every_candidate_is_compared_on_a_bounded_sample(path: Path) -> None:
    bundle = suture.train(path, "target", **KW)
    lineage = bundle.lineage
    assert lineage["path"] == "hybrid" and lineage["parameters"]["path"] == "hybrid"
    rows = lineage["rows"]
    assert rows["read"] == rows["used"] == ROWS
    assert rows["train"] + rows["holdout"] == ROWS
    assert rows["compared_on"] == KW["max_fit_rows"]
    assert rows["holdout_sample"] == KW["max_fit_rows"]
    names = [c["name"] for c in bundle.candidates]
    for name in ("baseline", "naive_bayes", "logistic", "scorecard", "tree", "lightgbm"):
        assert name in names
    # the cross-validation ran on the sample
    assert all(c["cv"] is not None for c in bundle.candidates)
    winner = next(c for c in bundle.candidates if c["name"] == bundle.winner)
    assert winner["holdout"]["n"] == rows["holdout"]  # the winner: the whole holdout
    others = [c for c in bundle.candidates if c["name"] != bundle.winner]
    assert all(c["holdout"]["n"] == rows["holdout_sample"] for c in others)
    assert any("seeded sample of 2,000" in w for w in bundle.warnings)


def test_a_winner_that_streams_is_refitted_on_every_training_row(streamed: ModelBundle) -> None:
    rows = streamed.lineage["rows"]
    assert streamed.winner in STREAMS
    assert rows["final_fit"] == rows["train"] > rows["compared_on"]
    assert streamed.lineage["parameters"]["refit"] == "all training rows"
    assert any("refitted on all" in w for w in streamed.warnings)
    card = streamed.parts()["model_card.html"].decode()
    assert "refitted on all" in card and "hybrid" in card


def test_a_winner_that_does_not_stream_stays_fitted_on_the_sample(path: Path) -> None:
    bundle = suture.train(path, "target", candidates=["tree"], **KW)
    rows = bundle.lineage["rows"]
    assert bundle.winner == "tree"
    assert rows["final_fit"] == rows["compared_on"] == KW["max_fit_rows"]
    assert bundle.lineage["parameters"]["refit"] == "sample"
    assert any("stays fitted on the sample" in w for w in bundle.warnings)


def test_the_holdout_figures_are_those_of_batch_scoring(
    streamed: ModelBundle, table: pa.Table
) -> None:
    split = HashSplit(tuple(table.column_names), test_size=0.2, seed=KW["seed"])
    held = split.holdout(table.combine_chunks().to_batches()[0])
    holdout = table.filter(pa.array(held))
    assert holdout.num_rows == streamed.lineage["rows"]["holdout"]
    scored = streamed.score(holdout.drop_columns(["target"]))
    probability = np.asarray(scored["probability"].to_numpy(zero_copy_only=False))
    y = np.asarray(holdout["target"].to_numpy(zero_copy_only=False)) == "churned"
    auc = streamed.holdout.metrics["auc"]
    exact = roc_auc_score(y, probability)
    assert auc.low - 1e-12 <= exact <= auc.high + 1e-12
    assert abs(auc.value - exact) < 1e-3
    p = np.clip(probability, 1e-15, 1 - 1e-15)
    log_loss = -np.mean(np.where(y, np.log(p), np.log1p(-p)))
    assert streamed.holdout.metrics["log_loss"].value == pytest.approx(log_loss, rel=1e-9)


def test_batch_and_record_scores_of_a_hybrid_bundle_agree(
    streamed: ModelBundle, table: pa.Table
) -> None:
    rows = table.slice(0, 30).drop_columns(["target"])
    batch = streamed.score(rows)
    for i, record in enumerate(rows.to_pylist()):
        one = streamed.score_record(record)
        assert one["prediction"] == batch["prediction"][i].as_py()
        assert one["probability"] == batch["probability"][i].as_py()


def test_same_data_and_seed_give_a_byte_identical_hybrid_bundle(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    kw = {**KW, "candidates": ["baseline", "logistic", "scorecard", "lightgbm"]}
    suture.train(path, "target", output=tmp_path / "a", **kw)
    suture.train(path, "target", output=tmp_path / "b", **kw)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*"))
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*"))
    for rel in files:
        if (tmp_path / "a" / rel).is_file():
            assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    lineage = json.loads((tmp_path / "a" / "lineage.json").read_text())
    assert lineage["path"] == "hybrid"


def test_below_the_threshold_the_in_memory_run_is_unchanged(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    kw = {**KW, "hybrid_rows": ROWS, "candidates": STREAMS}
    suture.train(path, "target", output=tmp_path / "auto", **kw)
    suture.train(path, "target", output=tmp_path / "memory", **{**kw, "streaming": False})
    files = sorted(p.relative_to(tmp_path / "auto") for p in (tmp_path / "auto").rglob("*"))
    for rel in files:
        if (tmp_path / "auto" / rel).is_file():
            got = (tmp_path / "auto" / rel).read_bytes()
            assert got == (tmp_path / "memory" / rel).read_bytes(), rel
    lineage = json.loads((tmp_path / "auto" / "lineage.json").read_text())
    assert "path" not in lineage and lineage["rows"]["final_fit"] == ROWS


def test_streaming_false_forces_the_in_memory_path_above_the_threshold(path: Path) -> None:
    bundle = suture.train(path, "target", candidates=STREAMS, streaming=False, **KW)
    assert "path" not in bundle.lineage and bundle.lineage["rows"]["final_fit"] == ROWS


def test_streaming_true_still_streams_above_the_threshold(path: Path) -> None:
    bundle = suture.train(path, "target", candidates=STREAMS, streaming=True, **KW)
    assert bundle.lineage["parameters"]["streaming"] is True
    assert "path" not in bundle.lineage


def test_a_multiclass_target_above_the_threshold_is_trained_in_memory(table: pa.Table) -> None:
    x0 = np.asarray(table["x0"].to_numpy()) + np.random.default_rng(1).normal(size=ROWS)
    classes = np.where(x0 < -0.5, "low", np.where(x0 < 0.5, "middle", "high"))
    three = table.set_column(
        table.schema.get_field_index("target"), "target", pa.array(classes)
    ).slice(0, 6_000)
    kw = {**KW, "positive": None}
    bundle = suture.train(three, "target", candidates=["baseline", "naive_bayes"], **kw)
    assert bundle.task.kind == "multiclass" and "path" not in bundle.lineage


def test_the_cli_takes_in_memory_to_force_the_in_memory_path(path: Path, tmp_path: Path) -> None:
    from tests.test_cli_contract import run

    args = ["train", str(path), "--target", "target", "--positive", "churned", "-q"]
    result = run([*args, "--in-memory", "-o", "m"], tmp_path)
    assert result.returncode == 0, result.stderr
    lineage = ModelBundle.read(tmp_path / "m").lineage
    assert "path" not in lineage and lineage["rows"]["final_fit"] == ROWS


def test_the_comparison_on_two_threads_gives_the_bundle_of_one(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    module = importlib.import_module("suture.train")  # the package's train is the function
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    kw = {**KW, "candidates": ["baseline", "naive_bayes", "logistic", "tree", "lightgbm"]}
    suture.train(path, "target", output=tmp_path / "two", **kw)
    monkeypatch.setattr(module, "HYBRID_THREADS", 1)
    suture.train(path, "target", output=tmp_path / "one", **kw)
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*"))
    for rel in files:
        if (tmp_path / "one" / rel).is_file():
            got = (tmp_path / "two" / rel).read_bytes()
            assert got == (tmp_path / "one" / rel).read_bytes(), rel


def test_the_card_and_the_cli_table_say_what_a_hybrid_holdout_interval_is(
    streamed: ModelBundle,
) -> None:
    """Regression: both labelled every holdout interval a bootstrap 95% interval, though the
    winner's is the exact AUC bound over the whole holdout on this path."""
    from rich.console import Console

    from suture.models.cli import render_candidates

    rows = streamed.lineage["rows"]
    card = streamed.parts()["model_card.html"].decode()
    assert f"cross-validated on a seeded sample of {rows['compared_on']:,} training rows" in card
    assert f"whole holdout of {rows['holdout']:,} rows, where its AUC's bracket is" in card
    console = Console(width=200, record=True)
    render_candidates(streamed, console)
    text = console.export_text()
    assert "holdout 95% interval" not in text
    assert (
        f"holdout interval: 95% bootstrap on a holdout sample of {rows['holdout_sample']:,} "
        f"rows; the chosen model's (*) is over the whole holdout of {rows['holdout']:,} rows, "
        "an exact bound for AUC"
    ) in text


def test_the_cli_help_states_the_threshold_the_code_uses() -> None:
    from typer.testing import CliRunner

    from suture.cli import app
    from suture.train import HYBRID_ROWS

    result = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "400"})
    assert f"more than {HYBRID_ROWS:,} rows" in " ".join(result.output.split())
