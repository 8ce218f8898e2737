"""Models: the interface every candidate follows, the candidates, their evaluation and bundle.

Each candidate module registers its model kind on import (see
:func:`suture.models.base.register`), so :func:`~suture.models.base.model_from_dict` can
load every kind a bundle may hold.
"""

from __future__ import annotations

from suture.models.additive import Scorecard, ScorecardInteractions
from suture.models.base import Design, Model, Task, encode_target, model_from_dict
from suture.models.baseline import Baseline
from suture.models.boosted import BoostedScorecard
from suture.models.gbm import GradientBoosting as GradientBoosting
from suture.models.linear import (
    GramAggregator,
    GramState,
    LinearRegression,
    Logistic,
    LogisticRegression,
    NewtonState,
    NewtonStep,
    Ridge,
)
from suture.models.naive_bayes import NaiveBayes, NaiveBayesStats
from suture.models.tree import DecisionTree as DecisionTree

__all__ = [
    "Baseline",
    "BoostedScorecard",
    "Design",
    "GramAggregator",
    "GramState",
    "LinearRegression",
    "Logistic",
    "LogisticRegression",
    "Model",
    "NaiveBayes",
    "NaiveBayesStats",
    "NewtonState",
    "NewtonStep",
    "Ridge",
    "Scorecard",
    "ScorecardInteractions",
    "Task",
    "encode_target",
    "model_from_dict",
]
