"""Selection: the simplest candidate within tolerance wins and the sentence says the cost."""

from __future__ import annotations

import math

import pytest

from suture.errors import ConfigError
from suture.models.additive import Scorecard
from suture.models.base import Model, Task
from suture.models.baseline import Baseline
from suture.models.gbm import GradientBoosting
from suture.models.linear import Logistic, Ridge
from suture.models.naive_bayes import NaiveBayes
from suture.models.result import Candidate, Decision, Evaluation, Metric
from suture.models.select import select, warnings

BINARY = Task("binary", "churn", ("no", "yes"))
REGRESSION = Task("regression", "price")


def _evaluation(
    primary: str, value: float, low: float = math.nan, high: float = math.nan
) -> Evaluation:
    metric = Metric(primary, value, low, high, primary != "rmse")
    return Evaluation({primary: metric}, primary, 1000)


def _candidate(
    name: str,
    model: Model,
    cv: float,
    holdout: float | None = None,
    *,
    primary: str = "auc",
    spread: float = math.nan,
) -> Candidate:
    return Candidate(
        name,
        model,
        None,
        cv=_evaluation(primary, cv, cv - spread, cv + spread),
        holdout=None if holdout is None else _evaluation(primary, holdout),
    )


def _classifiers(**aucs: float) -> list[Candidate]:
    models = {
        "baseline": Baseline(),
        "naive_bayes": NaiveBayes(),
        "logistic": Logistic(),
        "scorecard": Scorecard(),
        "lightgbm": GradientBoosting(),
    }
    return [_candidate(name, models[name], auc) for name, auc in aucs.items()]


def test_simplest_within_tolerance_wins_and_says_what_it_gives_up() -> None:
    candidates = _classifiers(baseline=0.5, logistic=0.82, scorecard=0.861, lightgbm=0.864)
    assert select(candidates, task=BINARY) == (
        "scorecard",
        "scorecard trails lightgbm by 0.003 AUC (0.861 vs 0.864) in cross-validation; "
        "within the 0.005 AUC tolerance",
    )


def test_the_best_wins_when_nothing_simpler_is_close() -> None:
    candidates = _classifiers(baseline=0.5, logistic=0.82, scorecard=0.85, lightgbm=0.864)
    assert select(candidates, task=BINARY) == (
        "lightgbm",
        "lightgbm has the best cross-validated AUC (0.864); nothing simpler came within the "
        "0.005 AUC tolerance",
    )


def test_a_wider_tolerance_lets_a_simpler_model_win() -> None:
    candidates = _classifiers(baseline=0.5, logistic=0.82, scorecard=0.85, lightgbm=0.864)
    name, sentence = select(candidates, task=BINARY, tolerance=0.05)
    assert name == "logistic"
    assert sentence.startswith("logistic trails lightgbm by 0.044 AUC (0.820 vs 0.864)")
    assert select(candidates, task=BINARY, tolerance=0.0)[0] == "lightgbm"


def test_exactly_at_the_tolerance_is_within_it() -> None:
    candidates = _classifiers(logistic=0.86, lightgbm=0.865)
    assert select(candidates, task=BINARY)[0] == "logistic"


def test_ties_go_to_the_simpler_then_the_name() -> None:
    tied = [
        _candidate("b_logistic", Logistic(), 0.8),
        _candidate("a_logistic", Logistic(alpha=2.0), 0.8),
        _candidate("lightgbm", GradientBoosting(), 0.8),
    ]
    name, sentence = select(tied, task=BINARY, tolerance=0.0)
    assert name == "a_logistic"
    assert sentence.startswith("a_logistic has the best cross-validated AUC (0.800)")


def test_regression_uses_relative_rmse() -> None:
    candidates = [
        _candidate("baseline", Baseline(), 10.0, primary="rmse"),
        _candidate("linear", Ridge(), 3.21, primary="rmse"),
        _candidate("lightgbm", GradientBoosting(), 3.18, primary="rmse"),
    ]
    assert select(candidates, task=REGRESSION) == (
        "linear",
        "linear trails lightgbm by 0.9% RMSE (3.21 vs 3.18) in cross-validation; within "
        "the 1% tolerance",
    )
    assert select(candidates, task=REGRESSION, tolerance=0.005)[0] == "lightgbm"


def test_nan_candidates_are_passed_over_and_one_left_is_the_only() -> None:
    candidates = _classifiers(logistic=math.nan, lightgbm=0.9)
    assert select(candidates, task=BINARY) == (
        "lightgbm",
        "lightgbm is the only candidate (AUC 0.900)",
    )


@pytest.mark.parametrize(
    ("candidates", "tolerance", "message"),
    [
        (_classifiers(logistic=0.8), -0.01, "tolerance must be a number >= 0 \\(AUC"),
        (_classifiers(logistic=0.8), math.nan, "tolerance must be a number >= 0"),
        ([], None, "there are no candidates to select from"),
        (
            _classifiers(logistic=0.8) * 2,
            None,
            "candidate names must be unique; repeated: logistic",
        ),
        (_classifiers(logistic=math.nan), None, "no candidate has a finite cross-validated auc"),
        (
            [Candidate("logistic", Logistic(), None)],
            None,
            "candidate 'logistic' has no cross-validated evaluation",
        ),
        (
            [_candidate("linear", Ridge(), 3.0, primary="rmse")],
            None,
            "candidate 'linear' was evaluated by rmse, not auc",
        ),
    ],
)
def test_bad_selections_are_refused(
    candidates: list[Candidate], tolerance: float | None, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        select(candidates, task=BINARY, tolerance=tolerance)


# -- warnings -----------------------------------------------------------------------
def test_no_warnings_for_a_clean_result() -> None:
    candidates = [_candidate("logistic", Logistic(), 0.85, 0.845, spread=0.01)]
    assert warnings(BINARY, candidates, "logistic", class_counts=[800, 200]) == []


def test_a_large_train_test_gap_is_named() -> None:
    candidates = [_candidate("scorecard", Scorecard(), 0.86, 0.81, spread=0.01)]
    assert warnings(BINARY, candidates, "scorecard") == [
        "scorecard does 0.050 AUC worse on the holdout (0.810) than in cross-validation "
        "(0.860; folds 0.850 to 0.870): it may be overfitted, or the holdout rows differ "
        "from the rest (later in time, another population); check before trusting the "
        "holdout figure"
    ]


def test_a_gap_inside_the_fold_range_or_small_is_not_warned() -> None:
    wide = [_candidate("scorecard", Scorecard(), 0.86, 0.83, spread=0.04)]
    assert warnings(BINARY, wide, "scorecard") == []  # small data: folds vary that much
    narrow = [_candidate("scorecard", Scorecard(), 0.86, 0.85, spread=0.002)]
    assert warnings(BINARY, narrow, "scorecard") == []  # real but not large


def test_a_better_holdout_and_a_regression_gap() -> None:
    better = [_candidate("logistic", Logistic(), 0.80, 0.85)]
    (sentence,) = warnings(BINARY, better, "logistic")
    assert sentence.startswith(
        "logistic does 0.050 AUC better on the holdout (0.850) than in cross-validation (0.800)"
    )
    worse = [_candidate("linear", Ridge(), 3.0, 3.6, primary="rmse", spread=0.1)]
    (sentence,) = warnings(REGRESSION, worse, "linear")
    assert sentence.startswith(
        "linear does 20% RMSE worse on the holdout (3.6) than in cross-validation (3; folds "
        "2.9 to 3.1)"
    )


def test_class_imbalance_is_named_by_label_or_code() -> None:
    candidates = [_candidate("logistic", Logistic(), 0.85)]
    expected = [
        "class 'yes' of 'churn' is 3.0% of the rows (150 of 5,000): accuracy says little "
        "here; judge by AUC and the calibrated probabilities, and expect wide intervals"
    ]
    assert warnings(BINARY, candidates, "logistic", class_counts=[4850, 150]) == expected
    by_label = {"no": 4850, "yes": 150}
    assert warnings(BINARY, candidates, "logistic", class_counts=by_label) == expected
    with pytest.raises(ConfigError, match="class_counts names \\['maybe'\\], not classes"):
        warnings(BINARY, candidates, "logistic", class_counts={"maybe": 3})
    with pytest.raises(ConfigError, match="class_counts has 3 entries for 2 classes"):
        warnings(BINARY, candidates, "logistic", class_counts=[1, 2, 3])


def test_leakage_from_decisions_and_a_near_perfect_holdout() -> None:
    candidates = [_candidate("logistic", Logistic(), 0.995, 0.996, spread=0.002)]
    decisions = [
        Decision("total_day_minutes", True, "kept"),
        Decision(
            "refund_issued",
            False,
            "leakage",
            0.999,
            0.98,
            "dropped: suspected leakage: alone it separates the classes (AUC 0.999)",
        ),
        Decision("churn_code", False, "leakage", 1.0, 0.98),
    ]
    assert warnings(BINARY, candidates, "logistic", decisions=decisions) == [
        "column 'refund_issued' was left out as suspected leakage (alone it separates the "
        "classes (AUC 0.999)); if it is known before the outcome, force it in with "
        "--include refund_issued",
        "column 'churn_code' was left out as suspected leakage (it predicts the target "
        "almost perfectly on its own (score 1)); if it is known before the outcome, force "
        "it in with --include churn_code",
        "logistic scores a holdout AUC of 0.9960: so close to perfect that a feature may "
        "carry the answer (leakage); check the features with the largest contributions and "
        "drop any recorded after the outcome",
    ]


def test_warnings_need_a_known_winner() -> None:
    with pytest.raises(ConfigError, match="winner 'tree' is not one of the candidates"):
        warnings(BINARY, [_candidate("logistic", Logistic(), 0.8)], "tree")
