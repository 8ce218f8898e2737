"""Performance before labels: expected accuracy and AUC from calibrated probabilities."""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import roc_auc_score

import suture
from suture.errors import ConfigError
from suture.monitor import compare, performance
from suture.monitor.cli import compare_command
from suture.monitor.performance import (
    estimate_accuracy,
    estimate_auc,
    estimate_performance,
    realized_accuracy,
    realized_auc,
)


def _brute_expected_auc(p: np.ndarray) -> float:
    """sum_{i != j} p_i (1 - p_j) ([s_i > s_j] + [s_i = s_j] / 2), over the same sum of
    p_i (1 - p_j) alone."""
    num = den = 0.0
    for i, j in itertools.permutations(range(p.size), 2):
        w = p[i] * (1 - p[j])
        den += w
        num += w * (1.0 if p[i] > p[j] else 0.5 if p[i] == p[j] else 0.0)
    return num / den


def test_the_expected_auc_is_the_ratio_of_expected_pair_counts_with_ties() -> None:
    rng = np.random.default_rng(0)
    p = np.round(rng.random(40), 1)  # many ties
    assert estimate_auc(p).value == pytest.approx(_brute_expected_auc(p), rel=1e-12)
    q = rng.random(25)
    assert estimate_auc(q).value == pytest.approx(_brute_expected_auc(q), rel=1e-12)


def test_the_expected_accuracy_is_the_mean_chance_of_being_right() -> None:
    p = np.array([0.9, 0.2, 0.5, 0.7, 0.05])
    assert estimate_accuracy(p).value == pytest.approx((0.9 + 0.8 + 0.5 + 0.7 + 0.95) / 5)
    at = estimate_accuracy(p, threshold=0.8)
    assert at.value == pytest.approx((0.9 + 0.8 + 0.5 + 0.3 + 0.95) / 5)


def test_realized_values_equal_scikit_learn() -> None:
    rng = np.random.default_rng(1)
    p = np.round(rng.random(500), 2)
    y = (rng.random(500) < p).astype(int)
    assert realized_auc(p, y) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert realized_accuracy(p, y) == np.mean((p >= 0.5) == y)


def test_the_realized_auc_and_accuracy_fall_in_the_interval_at_the_stated_rate() -> None:
    # Labels drawn from the probabilities: the estimate's premise.  200 trials at 95%:
    # 190 expected inside; 180..198 holds with probability above 99.5% (binomial).
    rng = np.random.default_rng(2)
    inside_auc = inside_acc = 0
    errors = []
    for trial in range(200):
        p = rng.beta(2.0, 3.0, 400)
        y = (rng.random(400) < p).astype(int)
        est = estimate_performance(p, labels=y, draws=400, seed=trial)
        inside_auc += est.auc.lower <= est.realized["auc"] <= est.auc.upper
        inside_acc += est.accuracy.lower <= est.realized["accuracy"] <= est.accuracy.upper
        errors.append(est.realized["auc"] - est.auc.value)
    assert 180 <= inside_auc <= 198, inside_auc
    assert 180 <= inside_acc <= 198, inside_acc
    # The estimate is unbiased to well within its spread (sd of the mean about 0.002).
    assert abs(float(np.mean(errors))) < 0.007


def test_the_mean_of_the_draws_agrees_with_the_exact_expectation() -> None:
    rng = np.random.default_rng(3)
    p = rng.beta(1.0, 4.0, 20_000)
    est = estimate_performance(p, draws=200)
    # Ratio of expectations versus expectation of the ratio: equal to O(1/n).
    assert est.auc.lower < est.auc.value < est.auc.upper
    assert est.auc.upper - est.auc.lower < 0.03
    assert est.accuracy.lower < est.accuracy.value < est.accuracy.upper


def test_estimates_are_seeded_and_reproducible() -> None:
    p = np.random.default_rng(4).random(1_000)
    assert estimate_auc(p, seed=7) == estimate_auc(p, seed=7)
    assert estimate_auc(p, seed=7).value == estimate_auc(p, seed=8).value


def test_draws_are_drawn_in_blocks_with_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    p = np.random.default_rng(5).random(1_000)
    whole = estimate_performance(p, draws=60)
    monkeypatch.setattr(performance, "_BLOCK", 7_000)  # 7 draws per block
    assert estimate_performance(p, draws=60) == whole


def test_the_drop_against_the_reference_and_the_json_form() -> None:
    p = np.random.default_rng(6).random(2_000)
    est = estimate_performance(p, reference={"auc": 0.9, "accuracy": 0.8})
    assert est.drop("auc") == pytest.approx(0.9 - est.auc.value)
    data = est.to_dict()
    assert list(data["auc"]) == ["expected", "lower", "upper", "confidence", "reference",
                                 "drop", "realized"]  # fmt: skip
    assert data["auc"]["realized"] is None and data["rows"] == 2_000
    assert math.isnan(estimate_performance(p).drop("auc"))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"probabilities": [0.2, 1.5]}, ConfigError,
         "probability 1.5 at row 1 is not between 0 and 1; pass the calibrated "
         "probabilities of the positive class"),
        ({"probabilities": [0.2, float("nan")]}, ConfigError,
         "probability nan at row 1 is not between 0 and 1; pass the calibrated "
         "probabilities of the positive class"),
        ({"probabilities": []}, ConfigError,
         "no probabilities to estimate from: score at least one row"),
        ({"probabilities": [0.5], "confidence": 1.0}, ConfigError,
         "confidence must be between 0 and 1 (such as 0.95), got 1.0"),
        ({"probabilities": [0.5], "draws": 5}, ConfigError,
         "draws must be a whole number of at least 20, got 5"),
        ({"probabilities": [0.5], "labels": [1, 0]}, ConfigError,
         "2 labels for 1 probabilities; give one per row"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_in_one_sentence(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as caught:
        estimate_performance(**kwargs)  # type: ignore[arg-type]
    assert str(caught.value) == message


# ----------------------------------------------------------------------------- with a bundle


def test_compare_with_a_model_estimates_its_performance_on_the_current_rows(
    tmp_path: Path,
) -> None:
    from tests.models.test_bundle import default_bundle, default_table

    bundle = default_bundle()
    path = tmp_path / "model"
    bundle.write(path)
    table = default_table()
    base, now = table.slice(0, 5_000), table.slice(5_000)
    result = compare(base, now, model=path)
    est = result.performance
    assert est is not None and est.rows == 5_000
    scored = bundle.score(now)
    p = scored.column("probability").to_numpy()
    y = (scored.column("default").to_numpy(zero_copy_only=False) == "Yes").astype(int)
    assert est.realized == {"auc": realized_auc(p, y), "accuracy": realized_accuracy(p, y)}
    # The baseline is data with the target: the probabilities are recalibrated on it.
    scored_base = bundle.score(base)
    p_base = scored_base.column("probability").to_numpy()
    y_base = (scored_base.column("default").to_numpy(zero_copy_only=False) == "Yes").astype(int)
    recalibrated = performance.estimate_performance(p, calibrate_on=(p_base, y_base)).auc
    assert est.auc == recalibrated
    assert est.auc.lower <= est.realized["auc"] <= est.auc.upper
    assert est.reference["auc"] == bundle.holdout.metrics["auc"].value  # type: ignore[union-attr]
    assert result.to_dict()["performance"]["auc"]["expected"] == est.auc.value
    # Without the target the estimate is the same and nothing is realized.
    blind = compare(base, now.drop_columns(["default"]), model=path).performance
    assert blind.auc == est.auc and blind.realized == {}
    # A baseline without outcomes (a profile) leaves the bundle's own calibration.
    trusting = compare(suture.profile(base), now, model=path).performance
    assert trusting is not None and trusting.auc == estimate_auc(p)


def test_the_command_prints_the_estimate_beside_the_holdout(tmp_path: Path) -> None:
    from rich.console import Console

    from tests.models.test_bundle import default_bundle, default_table

    default_bundle().write(tmp_path / "model")
    pq.write_table(default_table().slice(0, 5_000), tmp_path / "a.parquet")
    pq.write_table(default_table().slice(5_000), tmp_path / "b.parquet")
    console = Console(record=True, width=120)
    compare_command(tmp_path / "a.parquet", tmp_path / "b.parquet", model=tmp_path / "model",
                    console=console)  # fmt: skip
    text = console.export_text()
    assert "performance before labels (5,000 scored rows" in text
    assert re.search(r"ROC AUC expected 0\.9\d{3} \(95%: 0\.9\d{3}–0\.9\d{3}\), 0\.9\d{3} on the "
                     r"holdout \(drop [+-]0\.\d{4}\), realized 0\.9\d{3}", text)  # fmt: skip


def test_a_model_needs_binary_classes_and_current_data(tmp_path: Path) -> None:
    from tests.models.test_bundle import default_table, diamonds_bundle, diamonds_table

    diamonds_bundle().write(tmp_path / "price")
    t = diamonds_table()
    with pytest.raises(ConfigError) as caught:
        compare(t, t, model=tmp_path / "price")
    assert str(caught.value) == (
        f"estimating performance before labels needs a binary model; the bundle "
        f"{tmp_path / 'price'} predicts 'price' (regression); compare without --model"
    )
    d = default_table()
    with pytest.raises(ConfigError, match="--model needs the current side's data to score"):
        compare(d, suture.profile(d), model=tmp_path / "price")


def test_a_labelled_reference_window_recalibrates_an_overconfident_model() -> None:
    # The world moved since training: the model's log-odds are twice what they should be.
    # Trusting its probabilities overstates the AUC; recalibrated on a labelled reference
    # window from the new world (as CBPE does), the estimate meets the realized AUC.
    from suture.monitor.performance import estimate_performance, realized_auc

    rng = np.random.default_rng(11)

    def window(n: int) -> tuple[np.ndarray, np.ndarray]:
        logit = rng.normal(0.0, 2.0, n)
        claimed = 1.0 / (1.0 + np.exp(-logit))
        truth = 1.0 / (1.0 + np.exp(-0.5 * logit))
        return claimed, (rng.random(n) < truth).astype(int)

    p_ref, y_ref = window(20_000)
    p_new, y_new = window(20_000)
    realized = realized_auc(p_new, y_new)
    trusting = estimate_performance(p_new, draws=100).auc
    recalibrated = estimate_performance(p_new, draws=100, calibrate_on=(p_ref, y_ref)).auc
    assert trusting.value - realized > 0.05
    assert abs(recalibrated.value - realized) < 0.01
    assert recalibrated.lower <= realized <= recalibrated.upper


def test_reference_labels_must_be_zero_or_one_and_both_classes() -> None:
    from suture.monitor.performance import recalibrate

    p = np.array([0.2, 0.8, 0.5])
    with pytest.raises(ConfigError, match="the reference labels must be 0 or 1"):
        recalibrate(p, p, [0, 2, 1])
    with pytest.raises(ConfigError, match="all one class"):
        recalibrate(p, p, [1, 1, 1])
