"""Models: the interface every candidate follows, the candidates, their evaluation and bundle.

Each candidate module registers its model kind on import (see
:func:`suture.models.base.register`), so :func:`~suture.models.base.model_from_dict` can
load every kind a bundle may hold.
"""

from __future__ import annotations

from suture.models.base import Design, Model, Task, encode_target, model_from_dict
from suture.models.gbm import GradientBoosting as GradientBoosting
from suture.models.linear import (
    GramAggregator,
    GramState,
    LinearRegression,
    LogisticRegression,
    NewtonState,
    NewtonStep,
)
from suture.models.tree import DecisionTree as DecisionTree

__all__ = [
    "Design",
    "GramAggregator",
    "GramState",
    "LinearRegression",
    "LogisticRegression",
    "Model",
    "NewtonState",
    "NewtonStep",
    "Task",
    "encode_target",
    "model_from_dict",
]
