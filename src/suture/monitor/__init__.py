"""Drift and data quality from profiles: compare a current table with a baseline.

:func:`compare` gives a :class:`Comparison` of per-column :class:`ColumnDrift` results
(PSI, KS distance with its sketch bound, Jensen–Shannon distance, new and vanished
levels, null-rate change, and an ok/watch/alert verdict); :mod:`suture.monitor.drift`
holds the metrics themselves.
"""

from __future__ import annotations

from suture.monitor.compare import ColumnDrift, Comparison, compare
from suture.monitor.terminal import render_comparison
from suture.monitor.thresholds import DEFAULT_THRESHOLDS, Threshold

__all__ = [
    "DEFAULT_THRESHOLDS",
    "ColumnDrift",
    "Comparison",
    "Threshold",
    "compare",
    "render_comparison",
]
