"""Approximate answers as values that carry their error bounds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

__all__ = ["Estimate"]


@dataclass(frozen=True)
class Estimate(Generic[T]):
    """An approximate value with the interval that contains the truth.

    Parameters
    ----------
    value : T
        The point estimate.
    lower, upper : T
        The bounds of the interval.
    confidence : float
        The probability that the interval holds the true value (1.0 for deterministic
        bounds, e.g. frequent-item counts).

    Examples
    --------
    >>> e = Estimate(100.0, 98.0, 102.5, 0.95)
    >>> float(e)
    100.0
    >>> e.contains(99)
    True
    """

    value: T
    lower: T
    upper: T
    confidence: float

    def __float__(self) -> float:
        return float(self.value)  # type: ignore[arg-type]

    def __int__(self) -> int:
        return round(float(self.value))  # type: ignore[arg-type]

    def contains(self, truth: T) -> bool:
        """Whether ``truth`` lies in ``[lower, upper]``."""
        return bool(self.lower <= truth <= self.upper)  # type: ignore[operator]

    def __str__(self) -> str:
        pct = f"{self.confidence:.0%}"
        return f"{self.value} [{self.lower}, {self.upper}] ({pct})"
