"""The scorecard and the scorecard with interactions, on binned designs of real tables."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest

from suture.errors import ConfigError
from suture.models import (
    Baseline,
    Design,
    Logistic,
    NaiveBayes,
    Ridge,
    Scorecard,
    ScorecardInteractions,
)
from suture.models.additive import ordered_features
from tests.models.test_baseline import (
    auc,
    check_paths,
    check_refusals,
    default,
    diamonds,
    iris,
    real,
)


def churn(style: str = "binned") -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, Design]:
    return real("modeldata", "mlc_churn", "churn", "binary", style)


@functools.cache
def fitted(kind: str) -> Any:
    """The default scorecard or scorecard with interactions on churn (fitted once)."""
    x, y, _, _, design = churn()
    model = {
        "card": Scorecard(),
        "pairs": ScorecardInteractions(),
        "one": ScorecardInteractions(max_interactions=1),
    }[kind]
    return model.fit(x, y, design=design)


def _monotone(design: Design, monotone: dict[str, int]) -> Design:
    return Design(design.task, design.features, design.columns, monotone)


def _second_differences(points: np.ndarray) -> float:
    return float(np.sum(np.diff(points, n=2) ** 2))


def test_additive_flags() -> None:
    """HT's robustness bounds are exact only for models additive per input column."""
    assert Baseline.additive and NaiveBayes.additive and Ridge.additive and Logistic.additive
    assert Scorecard.additive
    assert not ScorecardInteractions.additive


def test_ordered_columns_are_read_from_bin_labels() -> None:
    _, _, _, _, design = churn()
    runs = ordered_features(design)
    assert "total_day_minutes" in runs and "account_length" in runs
    assert "state" not in runs and "international_plan" not in runs  # hashed, one-hot
    assert all(not design.features[j].endswith("<missing>") for run in runs.values() for j in run)
    assert list(ordered_features(design, ordered=["state"])) == ["state"]
    monotone = _monotone(design, {"international_plan": 1})
    assert "international_plan" in ordered_features(monotone, ordered=[])


def test_scorecard_without_smoothness_is_the_logistic_regression() -> None:
    x, y, xt, _, design = churn()
    card = Scorecard(alpha=2.0, smoothness=0.0).fit(x, y, design=design)
    plain = Logistic(alpha=2.0).fit(x, y, design=design)
    np.testing.assert_allclose(card.coef_, plain.coef_, atol=1e-6 * np.abs(plain.coef_).max())
    np.testing.assert_allclose(card.decision_function(xt), plain.decision_function(xt), atol=1e-6)


def test_regression_scorecard_solves_the_penalized_normal_equations() -> None:
    """The smoothness penalty is alpha I + s D'D on each ordered run (built here anew)."""
    x, y, xt, yt, design = diamonds("binned")
    card = Scorecard(alpha=1.5, smoothness=20.0).fit(x, y, design=design)
    q = design.n_features + 1
    penalty = 1.5 * np.eye(q)
    penalty[0, 0] = 0.0
    for run in ordered_features(design).values():
        for i in range(len(run) - 2):
            d = np.zeros(q)
            d[[run[i] + 1, run[i + 1] + 1, run[i + 2] + 1]] = [1.0, -2.0, 1.0]
            penalty += 20.0 * np.outer(d, d)
    a = np.column_stack([np.ones(len(x)), x])
    beta = np.linalg.solve(a.T @ a + penalty, a.T @ y)
    np.testing.assert_allclose(card.intercept_[0], beta[0], rtol=1e-8)
    np.testing.assert_allclose(card.coef_[:, 0], beta[1:], atol=1e-8 * np.abs(beta).max())
    ridge = Ridge(alpha=1.5).fit(x, y, design=design)
    assert np.sqrt(np.mean((card.decision_function(xt) - yt) ** 2)) < 0.5 * np.std(yt)
    carats = ordered_features(design)["carat"]
    assert _second_differences(card.coef_[carats, 0]) < _second_differences(ridge.coef_[carats, 0])
    check_paths(card, xt)


def test_smoothness_flattens_the_bins_of_a_numeric_column() -> None:
    x, y, _, _, design = churn()
    run = ordered_features(design)["account_length"]
    rough = [
        _second_differences(Scorecard(smoothness=s).fit(x, y, design=design).coef_[run, 0])
        for s in (0.0, 10.0, 1000.0)
    ]
    assert rough[0] > rough[1] > rough[2]


def test_monotone_columns_are_pooled_until_they_hold() -> None:
    x, y, xt, yt, design = churn()
    run = ordered_features(design)["account_length"]
    free = Scorecard(smoothness=1.0).fit(x, y, design=design)
    assert (np.diff(free.coef_[run, 0]) < 0).any() and (np.diff(free.coef_[run, 0]) > 0).any()
    for direction in (1, -1):
        held = Scorecard(smoothness=1.0).fit(
            x, y, design=_monotone(design, {"account_length": direction})
        )
        points = held.coef_[run, 0]
        assert (direction * np.diff(points) >= -1e-12).all()
        assert len(np.unique(points)) < len(run)  # some bins were pooled
        assert auc(yt, held.decision_function(xt)) > auc(yt, free.decision_function(xt)) - 0.01
        others = [j for j, c in enumerate(design.columns) if c != "account_length"]
        np.testing.assert_allclose(held.coef_[others], free.coef_[others], atol=0.05)
    check_paths(held, xt)
    with pytest.raises(
        ConfigError, match=r"Scorecard: monotone names columns not in the design: \['nope'\]"
    ):
        Scorecard().fit(x, y, design=_monotone(design, {"nope": 1}))


def test_monotone_single_feature_of_the_wrong_sign_is_dropped() -> None:
    x, y, _, _, design = default("linear")
    against = Scorecard().fit(x, y, design=_monotone(design, {"balance": -1}))
    j = design.features.index("balance")
    assert against.coef_[j, 0] == 0.0
    assert Scorecard().fit(x, y, design=_monotone(design, {"balance": 1})).coef_[j, 0] > 0


def test_scorecard_beats_logistic_on_churn() -> None:
    x, y, xt, yt, design = churn()
    xl, yl, xlt, ylt, linear = churn("linear")
    card = fitted("card")
    plain = Logistic().fit(xl, yl, design=linear)
    assert auc(yt, card.decision_function(xt)) > auc(ylt, plain.decision_function(xlt)) + 0.02
    check_paths(card, xt)
    check_refusals(card, x, y, design)
    table = card.describe()["points"]
    assert list(table) == list(design.blocks())
    assert (
        table["total_day_minutes"][0][0]
        == design.features[design.columns.index("total_day_minutes")].split("=", 1)[1]
    )
    assert all(len(rows) == len(design.blocks()[c]) for c, rows in table.items())


def test_multiclass_scorecard() -> None:
    x, y, xt, yt, design = iris("binned")
    card = Scorecard().fit(x, y, design=design)
    assert card.decision_function(xt).shape == (len(yt), 3)
    assert float(np.mean(card.decision_function(xt).argmax(axis=1) == yt)) > 0.85
    check_paths(card, xt)
    points = card.describe()["points"]
    assert set(next(iter(points.values()))[0][1]) == set(design.task.classes)
    with pytest.raises(ConfigError, match="monotone columns need a binary or regression task"):
        Scorecard().fit(x, y, design=_monotone(design, {design.columns[0]: 1}))


def test_scorecard_refusals() -> None:
    x, y, _, _, design = churn()
    for params, message in [
        ({"alpha": 0.0}, "Scorecard: alpha must be a finite number greater than 0, got 0.0"),
        ({"smoothness": -1.0}, "Scorecard: smoothness must be a finite number at least 0"),
        ({"ordered": "state"}, "Scorecard: ordered must be a list of column names, got 'state'"),
        ({"max_iter": 0}, "Scorecard: max_iter must be a whole number of at least 1, got 0"),
    ]:
        with pytest.raises(ConfigError, match=message):
            Scorecard(**params).fit(x, y, design=design)


def test_scorecard_alphas_keep_the_penalty_of_lowest_leave_one_out_loss() -> None:
    """A fixed ridge of 10 was too strong for most tables (attrition, credit_data): the
    scorecard chooses its penalty on each fit's rows, as logistic regression does."""
    x, y, _, _, design = churn()
    chosen = Scorecard(alphas=[1.0, 3.0, 10.0, 30.0]).fit(x, y, design=design)
    losses = chosen.loo_log_loss_
    assert sorted(losses) == [1.0, 3.0, 10.0, 30.0]
    assert chosen.alpha_ == min(losses, key=losses.__getitem__)
    fixed = Scorecard(alpha=chosen.alpha_).fit(x, y, design=design)
    np.testing.assert_allclose(chosen.coef_, fixed.coef_, rtol=1e-6, atol=1e-8)
    assert Scorecard().fit(x, y, design=design).alpha_ == 10.0


def test_scorecard_alphas_leave_a_monotone_fit_and_regression_at_alpha() -> None:
    x, y, _, _, design = churn()
    column = design.columns[0]
    monotone = Scorecard(alphas=[1.0, 3.0]).fit(x, y, design=_monotone(design, {column: 1}))
    assert monotone.alpha_ == 10.0 and not hasattr(monotone, "loo_log_loss_")
    xr, yr, _, _, regression = diamonds("binned")
    assert Scorecard(alphas=[1.0, 3.0]).fit(xr, yr, design=regression).alpha_ == 10.0


def test_scorecard_bad_alphas_are_refused() -> None:
    x, y, _, _, design = churn()
    with pytest.raises(ConfigError, match="Scorecard: alphas must be a list of numbers"):
        Scorecard(alphas="1").fit(x, y, design=design)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="Scorecard: alphas must be a finite number greater"):
        Scorecard(alphas=[0.0]).fit(x, y, design=design)


# -- interactions ----------------------------------------------------------------------


def test_interactions_close_the_gap_on_churn() -> None:
    x, y, xt, yt, design = churn()
    card, pairs = fitted("card"), fitted("pairs")
    assert 1 <= len(pairs.interactions_) <= pairs.max_interactions == 8
    chosen = [tuple(i["columns"]) for i in pairs.interactions_]
    assert len(set(chosen)) == len(chosen)
    assert auc(yt, pairs.decision_function(xt)) > auc(yt, card.decision_function(xt)) + 0.01
    check_paths(pairs, xt)
    check_refusals(pairs, x, y, design)
    described = pairs.describe()
    assert [t["columns"] for t in described["interactions"]] == [list(p) for p in chosen]
    first = described["interactions"][0]
    assert np.asarray(first["points"]).shape == tuple(len(g) for g in first["groups"])


def test_a_repeated_column_does_not_take_a_second_interaction() -> None:
    """Regression: the pairs were ranked once, so churn's minutes and charge columns (the
    same numbers in other units) took two of three slots with the same partner."""
    x, y, _, _, design = churn()
    pairs = ScorecardInteractions(max_interactions=2).fit(x, y, design=design)
    chosen = [set(i["columns"]) for i in pairs.interactions_]
    twins = {"total_day_minutes", "total_day_charge"}
    assert not (
        len(chosen) == 2
        and all(len(c & twins) == 1 for c in chosen)
        and (chosen[0] - twins) == (chosen[1] - twins)
    )


def test_interaction_points_are_split_between_the_two_columns() -> None:
    _, _, xt, _, design = churn()
    model = fitted("one")
    (item,) = model.interactions_
    p, r = item["columns"]
    blocks = design.blocks()
    terms, base = model.contributions(xt)
    linear = xt * model.coef_[:, 0]
    extra_p = (terms - linear)[:, blocks[p]].sum(axis=1)
    extra_r = (terms - linear)[:, blocks[r]].sum(axis=1)
    cell = model.decision_function(xt) - (linear.sum(axis=1) + base)
    np.testing.assert_allclose(extra_p, cell / 2, atol=1e-12)
    np.testing.assert_allclose(extra_r, cell / 2, atol=1e-12)
    others = [j for j, c in enumerate(design.columns) if c not in (p, r)]
    assert np.array_equal(terms[:, others], linear[:, others])


def test_regression_interactions() -> None:
    x, y, xt, yt, design = diamonds("binned")
    card = Scorecard().fit(x, y, design=design)
    pairs = ScorecardInteractions().fit(x, y, design=design)
    rmse = [float(np.sqrt(np.mean((m.decision_function(xt) - yt) ** 2))) for m in (card, pairs)]
    assert rmse[1] < rmse[0]
    check_paths(pairs, xt)


def test_monotone_columns_take_no_interaction() -> None:
    x, y, _, _, design = churn()
    free = fitted("one")
    (column, _) = free.interactions_[0]["columns"]
    held = ScorecardInteractions().fit(x, y, design=_monotone(design, {column: 1}))
    assert all(column not in i["columns"] for i in held.interactions_)
    run = ordered_features(design)[column]
    assert (np.diff(held.coef_[run, 0]) >= -1e-12).all()


def test_interaction_refusals() -> None:
    x, y, _, _, design = churn()
    for params, message in [
        ({"cells": 1}, "ScorecardInteractions: cells must be at least 2, got 1"),
        ({"max_interactions": 0}, "max_interactions must be a whole number of at least 1, got 0"),
        ({"interaction_alpha": 0.0}, "interaction_alpha must be a finite number greater than 0"),
        ({"min_gain": -1.0}, "min_gain must be a finite number at least 0, got -1.0"),
    ]:
        with pytest.raises(ConfigError, match=message):
            ScorecardInteractions(**params).fit(x, y, design=design)


def test_multiclass_interactions() -> None:
    x, y, xt, yt, design = iris("binned")
    card = Scorecard().fit(x, y, design=design)
    pairs = ScorecardInteractions(max_interactions=2, min_gain=0.0).fit(x, y, design=design)
    assert [item["table"].shape[-1] for item in pairs.interactions_] == [3, 3]
    assert pairs.decision_function(xt).shape == (len(yt), 3)
    accuracy = float(np.mean(pairs.decision_function(xt).argmax(axis=1) == yt))
    assert accuracy >= float(np.mean(card.decision_function(xt).argmax(axis=1) == yt)) - 0.03
    check_paths(pairs, xt)


@pytest.mark.parametrize("kind", ["card", "one", "logistic"])
def test_a_large_sparse_design_fits_as_the_dense_one(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large binned designs are held as SciPy CSR (Gram cost rows x nonzeros^2): same fit."""
    import suture.models.linear as linear

    x, y, xt, _, design = churn()
    design = _monotone(design, {"account_length": 1})
    make = {
        "card": lambda: Scorecard(smoothness=1.0),
        "one": lambda: ScorecardInteractions(max_interactions=1),
        "logistic": lambda: Logistic(),
    }[kind]
    dense = make().fit(x, y, design=design if kind == "card" else _monotone(design, {}))
    monkeypatch.setattr(linear, "SPARSE_CELLS", 1)
    assert not isinstance(linear._augmented(x), np.ndarray)
    sparse = make().fit(x, y, design=design if kind == "card" else _monotone(design, {}))
    np.testing.assert_allclose(sparse.coef_, dense.coef_, atol=1e-8)
    np.testing.assert_allclose(sparse.decision_function(xt), dense.decision_function(xt), atol=1e-8)


def test_a_small_table_takes_no_interactions_that_fit_noise() -> None:
    """Regression: eight tables of 8x8 cells on attrition's 1,100 training rows fitted noise
    (holdout AUC 0.807 against the scorecard's 0.886); pairs must now beat what a pair
    without interaction gives, about one per occupied cell."""
    x, y, xt, yt, design = real("modeldata", "attrition", "Attrition", "binary", "binned")
    card = Scorecard().fit(x, y, design=design)
    gated = ScorecardInteractions().fit(x, y, design=design)
    forced = ScorecardInteractions(min_gain=0.0).fit(x, y, design=design)
    assert len(gated.interactions_) < len(forced.interactions_) == 8
    card_auc = auc(yt, card.decision_function(xt))
    assert auc(yt, gated.decision_function(xt)) > card_auc - 0.01
    assert auc(yt, forced.decision_function(xt)) < card_auc - 0.03
