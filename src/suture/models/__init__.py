"""Models fitted from aggregators: linear and logistic regression from sufficient statistics."""

from __future__ import annotations

from suture.models.linear import (
    GramAggregator,
    GramState,
    LinearRegression,
    LogisticRegression,
    NewtonState,
    NewtonStep,
)

__all__ = [
    "GramAggregator",
    "GramState",
    "LinearRegression",
    "LogisticRegression",
    "NewtonState",
    "NewtonStep",
]
