"""Drift and data quality from profiles: compare a current table with a baseline.

:func:`compare` gives a :class:`Comparison` of per-column :class:`ColumnDrift` results
(PSI, KS distance with its sketch bound, Jensen–Shannon distance, new and vanished
levels, null-rate change, out-of-contract rate, and an ok/watch/alert verdict), with
:class:`Segment` comparisons per level of a ``by`` column; :mod:`suture.monitor.drift`
holds the metrics themselves.  :func:`build_timeline` turns a folder of profiles into
time series with anomalies (``suture monitor``), and :func:`estimate_performance`
estimates a model's accuracy and AUC from calibrated probabilities alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from suture._lazy import lazy_package

if TYPE_CHECKING:
    from suture.monitor.compare import ColumnDrift, Comparison, Segment, compare
    from suture.monitor.html import render_comparison_html
    from suture.monitor.performance import (
        PerformanceEstimate,
        estimate_accuracy,
        estimate_auc,
        estimate_performance,
        model_performance,
    )
    from suture.monitor.series import Timeline, build_timeline, write_timeline
    from suture.monitor.terminal import render_comparison
    from suture.monitor.thresholds import DEFAULT_THRESHOLDS, Threshold

__all__ = [
    "DEFAULT_THRESHOLDS",
    "ColumnDrift",
    "Comparison",
    "PerformanceEstimate",
    "Segment",
    "Threshold",
    "Timeline",
    "build_timeline",
    "compare",
    "estimate_accuracy",
    "estimate_auc",
    "estimate_performance",
    "model_performance",
    "render_comparison",
    "render_comparison_html",
    "write_timeline",
]

# Loaded on first use, so that ``suture --help`` (which mounts ``suture.monitor.cli``)
# imports neither NumPy nor Arrow.
__getattr__, __dir__ = lazy_package(
    __name__,
    {
        "ColumnDrift": "suture.monitor.compare",
        "Comparison": "suture.monitor.compare",
        "Segment": "suture.monitor.compare",
        "compare": "suture.monitor.compare",
        "render_comparison": "suture.monitor.terminal",
        "render_comparison_html": "suture.monitor.html",
        "DEFAULT_THRESHOLDS": "suture.monitor.thresholds",
        "Threshold": "suture.monitor.thresholds",
        "PerformanceEstimate": "suture.monitor.performance",
        "estimate_accuracy": "suture.monitor.performance",
        "estimate_auc": "suture.monitor.performance",
        "estimate_performance": "suture.monitor.performance",
        "model_performance": "suture.monitor.performance",
        "Timeline": "suture.monitor.series",
        "build_timeline": "suture.monitor.series",
        "write_timeline": "suture.monitor.series",
    },
)
