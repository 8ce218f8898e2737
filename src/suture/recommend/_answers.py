"""The values queries return: recommendations that carry their reasons."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from suture.sketches.estimate import Estimate

__all__ = ["Reason", "Recommendation", "jaccard_estimate"]

Because = Literal["similar-items", "popular", "similar"]


def jaccard_estimate(value: float, num_perm: int, z: float = 1.96) -> Estimate[float]:
    """A MinHash Jaccard estimate with its normal-approximation 95% interval.

    The standard error of the fraction of agreeing positions is
    ``sqrt(J * (1 - J) / num_perm)``.
    """
    spread = z * math.sqrt(max(value * (1.0 - value), 0.0) / num_perm)
    return Estimate(value, max(0.0, value - spread), min(1.0, value + spread), 0.95)


@dataclass(frozen=True)
class Reason:
    """One of the user's items that led to a recommendation.

    Attributes
    ----------
    item : int or str
        The item the user already chose.
    jaccard : Estimate
        Estimated Jaccard similarity between that item and the recommended one.
    """

    item: Any
    jaccard: Estimate[float]

    def __str__(self) -> str:
        j = self.jaccard
        return f"{self.item} (Jaccard {j.value:.2f}, 95% in [{j.lower:.2f}, {j.upper:.2f}])"


@dataclass(frozen=True)
class Recommendation:
    """A recommended (or similar) item with its score and why it was chosen.

    Attributes
    ----------
    item : int or str
    score : float
        Sum of the neighbour weights from the user's items (``similar-items``), the
        weight itself (``similar``), or the number of users (``popular``).
    because : {"similar-items", "popular", "similar"}
        ``popular`` when the user is unknown or has too few neighbours to fill ``k``.
    reasons : tuple of Reason
        The user's items that contributed most, most similar first (empty for popular).
    """

    item: Any
    score: float
    because: Because
    reasons: tuple[Reason, ...] = ()

    def explain(self) -> str:
        """A one-line explanation, e.g. ``because you chose 318 (Jaccard 0.41, ...)``."""
        if self.because == "popular":
            return "popular with all users"
        if self.because == "similar":
            return f"similar: {self.reasons[0]}" if self.reasons else "similar"
        return "because you chose " + "; ".join(str(r) for r in self.reasons)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {
            "item": self.item,
            "score": self.score,
            "because": self.because,
            "reasons": [
                {
                    "item": r.item,
                    "jaccard": r.jaccard.value,
                    "lower": r.jaccard.lower,
                    "upper": r.jaccard.upper,
                }
                for r in self.reasons
            ],
        }
