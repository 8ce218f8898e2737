"""Summary of timestamps, dates, times and durations, kept on their integer ticks."""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa

from suture.sketches.estimate import Estimate
from suture.sketches.numeric import Exact, NumericSketch, NumericState, NumericSummary
from suture.sketches.quantiles import Histogram, kll_histogram
from suture.sketches.sizes import DEFAULT_K, DEFAULT_LG_K

__all__ = ["TemporalSketch", "TemporalSummary"]


def _physical(type_: pa.DataType) -> pa.DataType:
    return pa.int32() if pa.types.is_date32(type_) or pa.types.is_time32(type_) else pa.int64()


class TemporalSketch(NumericSketch):
    """Summarize a timestamp, date, time or duration column through its integer ticks.

    Parameters
    ----------
    type : pyarrow.DataType
        The column type; results are converted back to it (datetime, date, timedelta).

    Notes
    -----
    Ticks are summarized as numbers (see :class:`NumericSketch`), so nanosecond
    timestamps beyond 2**53 ticks are rounded to about 0.25 microseconds in quantiles.
    """

    kind = "temporal"

    def __init__(self, type: pa.DataType, *, k: int = DEFAULT_K, lg_k: int = DEFAULT_LG_K) -> None:
        super().__init__(k=k, lg_k=lg_k)
        self.type = type

    def config(self) -> str:
        return f"temporal(type={self.type},k={self.k},lg_k={self.lg_k})"

    def update(self, state: NumericState, array: pa.Array) -> NumericState:
        return super().update(state, array.view(_physical(self.type)))

    def finalize(self, state: NumericState) -> TemporalSummary:
        return TemporalSummary(state, self.type)


class TemporalSummary(NumericSummary):
    """A :class:`NumericSummary` whose values are shown as dates, times or durations.

    ``min``, ``max`` and :meth:`quantile` return Python ``datetime``/``date``/``time``/
    ``timedelta`` values; ``mean``/``std`` stay in ticks of the column's unit.
    """

    kind = "temporal"

    def __init__(self, state: NumericState, type: pa.DataType) -> None:
        super().__init__(state)
        self.type = type

    def to_value(self, ticks: float | Exact) -> Any:
        """Convert a number of ticks to the column's Python type (``None`` for nan)."""
        if ticks is None or math.isnan(ticks):
            return None
        return pa.scalar(round(ticks), _physical(self.type)).cast(self.type).as_py()

    @property
    def min(self) -> Any:
        return self.to_value(super().min)

    @property
    def max(self) -> Any:
        return self.to_value(super().max)

    def quantile(self, q: float) -> Estimate[Any]:
        e = super().quantile(q)
        return Estimate(
            self.to_value(e.value), self.to_value(e.lower), self.to_value(e.upper), e.confidence
        )

    @property
    def min_ticks(self) -> float:
        """The minimum as ticks of the unit."""
        return float(self.state.min) if self.finite else math.nan

    @property
    def max_ticks(self) -> float:
        """The maximum as ticks of the unit."""
        return float(self.state.max) if self.finite else math.nan

    def histogram(self, bins: int = 20) -> Histogram:
        """Equal-width histogram of the ticks between the minimum and the maximum."""
        return kll_histogram(self.state.quantiles, self.min_ticks, self.max_ticks, bins)
