"""Drift and data quality from profiles: compare a current table with a baseline.

:func:`compare` gives a :class:`Comparison` of per-column :class:`ColumnDrift` results
(PSI, KS distance with its sketch bound, Jensen–Shannon distance, new and vanished
levels, null-rate change, and an ok/watch/alert verdict); :mod:`suture.monitor.drift`
holds the metrics themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from suture._lazy import lazy_package

if TYPE_CHECKING:
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

# Loaded on first use, so that ``suture --help`` (which mounts ``suture.monitor.cli``)
# imports neither NumPy nor Arrow.
__getattr__, __dir__ = lazy_package(
    __name__,
    {
        "ColumnDrift": "suture.monitor.compare",
        "Comparison": "suture.monitor.compare",
        "compare": "suture.monitor.compare",
        "render_comparison": "suture.monitor.terminal",
        "DEFAULT_THRESHOLDS": "suture.monitor.thresholds",
        "Threshold": "suture.monitor.thresholds",
    },
)
