"""The ``GET /v1/drift`` answer: the live window against the training profile, as JSON.

Everything here is a pure function of two profiles (the bundle's training profile and
the live window's) and the window's counts of rejected records; the metrics and the
verdicts are those of ``suture compare`` (:func:`suture.monitor.compare.column_drift`
with the contract's ``drift`` thresholds, :data:`~suture.monitor.DEFAULT_THRESHOLDS`
otherwise), so the service alerts exactly when ``suture compare`` would on the same rows.

Two additions for a service:

- a window with fewer than :data:`MIN_RECORDS` live records is judged ``insufficient``
  (with a message) instead of ``ok``/``watch``/``alert``: a handful of requests says
  little about a distribution, and the first minutes after a restart should not page;
- the out-of-range rate of a column is the share of the records received (valid and
  rejected) that broke its range or its list of levels; those records were refused, so
  they are not in the live profile and only their counts are kept.

:func:`distribution` gives, per column, what the dashboard plots: shared bin edges for a
number (cut at the training quantiles, widened to the live extremes) with the training
and live masses, or the most frequent levels of both sides with their shares.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from suture.monitor.compare import ALPHA, ColumnDrift, column_drift
from suture.monitor.thresholds import DEFAULT_THRESHOLDS, Threshold, resolve_thresholds
from suture.profile import Profile
from suture.sketches._base import ColumnSummary
from suture.sketches.categorical import BooleanSummary, StringSummary
from suture.sketches.numeric import NumericSummary
from suture.sketches.quantiles import Kll

__all__ = [
    "DISTRIBUTION_BINS",
    "LEVELS",
    "MIN_RECORDS",
    "OUT_OF_RANGE_RULES",
    "Rejections",
    "column_limits",
    "distribution",
    "drift_payload",
    "drift_score",
]

#: Below this many live records in the window, every level is ``insufficient``.
MIN_RECORDS = 100
#: Bins of a numeric column's plot (cut at the training quantiles).
DISTRIBUTION_BINS = 20
#: Levels of a categorical column's plot (the rest share ``other``).
LEVELS = 10
#: The rules whose violations make a record out of range for a column.
OUT_OF_RANGE_RULES = ("range", "level")
#: The overall level when the window holds too few records to judge.
INSUFFICIENT = "insufficient"
_SCORED_BY_PSI = ("numeric", "temporal", "set")
_SCORED_BY_JS = ("categorical", "boolean")


@dataclass(frozen=True)
class Rejections:
    """What the window knows of the records it refused (they are not in its profile).

    Attributes
    ----------
    received : int
        Every record the window saw: scored and rejected.
    rejected : int
        Records refused because they broke the contract.
    counts : mapping of (field, rule) to int
        Violations by field and rule (a record with two broken fields counts in both).
    """

    received: int = 0
    rejected: int = 0
    counts: Mapping[tuple[str, str], int] = field(default_factory=dict)

    def out_of_range(self, column: str) -> int:
        """Records refused for ``column``'s range or levels."""
        return sum(self.counts.get((column, rule), 0) for rule in OUT_OF_RANGE_RULES)

    def by_rule(self, column: str) -> dict[str, int]:
        """``column``'s violations by rule."""
        return {rule: n for (name, rule), n in sorted(self.counts.items()) if name == column}


def column_limits(
    drift: Mapping[str, Mapping[str, tuple[float, float]]],
    columns: Sequence[str],
    thresholds: Mapping[str, Any] | None = None,
) -> dict[str, dict[str, Threshold]]:
    """Each column's thresholds: defaults, then the contract's ``drift``, then ``thresholds``.

    Parameters
    ----------
    drift : mapping
        The contract's ``drift`` tables (:attr:`suture.schema.Schema.drift`).
    columns : sequence of str
    thresholds : mapping, optional
        Overrides in the form :func:`suture.monitor.thresholds.resolve_thresholds` reads.
    """
    base = {
        name: {**DEFAULT_THRESHOLDS, **{m: Threshold(*wa) for m, wa in drift.get(name, {}).items()}}
        for name in columns
    }
    return resolve_thresholds(thresholds, columns, base=base)


def drift_score(column: ColumnDrift) -> float:
    """The one number per feature for ``suture_feature_drift``: PSI for numbers (and
    times, and list sizes), Jensen–Shannon distance for categories; ``nan`` otherwise."""
    if column.kind in _SCORED_BY_PSI:
        return float(column.psi.value)
    if column.kind in _SCORED_BY_JS:
        return float(column.js.value)
    return math.nan


def _num(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else math.nan


def _feature(
    c: ColumnDrift,
    rejections: Rejections,
    training_out_of_range: float,
    judged: bool,
    unit: str,
    plot: dict[str, Any] | None,
) -> dict[str, Any]:
    live_oor = _rate(rejections.out_of_range(c.name), rejections.received)
    return {
        "column": c.name,
        "kind": c.kind,
        "unit": unit,
        "psi": _num(c.psi.value),
        "ks": _num(c.ks.value),
        "js": _num(c.js.value),
        "new_levels": list(c.new_levels),
        "new_level_count": c.new_count,
        "null_rate": {
            "training": _num(c.null_rate[0]),
            "live": _num(c.null_rate[1]),
            "change": _num(c.null_rate_change),
        },
        "out_of_range_rate": {
            "training": _num(training_out_of_range),
            "live": _num(live_oor),
            "change": _num(live_oor - training_out_of_range),
        },
        "rejected": rejections.by_rule(c.name),
        "level": c.verdict if judged else INSUFFICIENT,
        "score": _num(drift_score(c)),
        "reasons": list(c.reasons) if judged else [],
        "note": c.note,
        "values": {"training": c.values[0], "live": c.values[1]},
        "distribution": plot,
    }


def drift_payload(
    training: Profile,
    live: Profile,
    *,
    limits: Mapping[str, Mapping[str, Threshold]],
    rejections: Rejections,
    window: Mapping[str, Any],
    units: Mapping[str, str] | None = None,
    training_out_of_range: float = 0.0,
    min_records: int = MIN_RECORDS,
    plots: bool = True,
) -> dict[str, Any]:
    """The ``/v1/drift`` JSON of a live profile against the training profile.

    Parameters
    ----------
    training, live : Profile
        The bundle's training profile and the live window's (same sketch sizes); the
        columns compared are the live profile's (all of them must be in ``training``).
    limits : mapping
        Per column thresholds (:func:`column_limits`).
    rejections : Rejections
        The window's refused records.
    window : mapping
        What the window is (spec, ``since``, ``until``); ``records`` is set here.
    units : mapping of str to str, optional
        Each column's unit, shown beside its values.
    training_out_of_range : float
        The share of training rows that broke the contract (the bundle's quarantine
        rate); the live out-of-range rate is judged by how far it rises above it.
    min_records : int
        Fewer live records than this: level ``insufficient`` everywhere.
    plots : bool
        Add each column's :func:`distribution`.

    Returns
    -------
    dict
        ``window``, ``training_rows``, ``overall`` (``level``, ``score``, ``message``),
        ``rejected`` and ``features`` (one dict per column, in the live profile's order).
    """
    names = list(live)
    alpha = ALPHA / (2 * max(len(names), 1))
    judged = live.row_count >= min_records
    features = []
    worst, score = 0, math.nan
    order = ("ok", "watch", "alert")
    for name in names:
        oor = _rate(rejections.out_of_range(name), rejections.received)
        effect = max(0.0, oor - training_out_of_range) if math.isfinite(oor) else math.nan
        c = column_drift(name, training[name], live[name], limits[name], alpha=alpha,
                         out_of_contract=effect)  # fmt: skip
        plot = distribution(training[name], live[name]) if plots else None
        unit = (units or {}).get(name, "")
        features.append(_feature(c, rejections, training_out_of_range, judged, unit, plot))
        worst = max(worst, order.index(c.verdict))
        s = drift_score(c)
        if math.isfinite(s) and not s <= score:
            score = s
    if not names:
        level = "ok" if judged else INSUFFICIENT
        message = (
            "no column is watched (the scored columns are sensitive or not in the training "
            "profile): records are counted, drift is not measured"
        )
    elif judged:
        level, message = order[worst], _message(order[worst], features)
    else:
        level = INSUFFICIENT
        message = (
            f"{live.row_count} scored record{'s' * (live.row_count != 1)} in the window; "
            f"drift levels are judged from {min_records} on"
        )
    return {
        "window": {**window, "records": live.row_count},
        "training_rows": training.row_count,
        "overall": {"level": level, "score": _num(score), "message": message},
        "rejected": {
            "received": rejections.received,
            "rejected": rejections.rejected,
            "by_field": [
                {"field": f, "rule": r, "count": n}
                for (f, r), n in sorted(rejections.counts.items())
            ],
        },
        "features": features,
    }


def _message(level: str, features: Iterable[Mapping[str, Any]]) -> str:
    flagged = [f["column"] for f in features if f["level"] == level]
    if level == "ok":
        return "no feature moved beyond its watch threshold"
    return f"{level}: {', '.join(flagged)}"


# ----------------------------------------------------------------------------- plots


def distribution(training: ColumnSummary, live: ColumnSummary) -> dict[str, Any] | None:
    """What the dashboard plots for one column, or ``None`` for kinds without a plot.

    Numbers (and times, as ticks): ``{"kind": "numeric", "edges": [...], "training":
    [...], "live": [...]}``: bins cut at the training quantiles (``DISTRIBUTION_BINS``
    of them, fewer when values repeat), plus a bin below the training minimum and one
    above its maximum when live values fall there; masses are shares of each side's
    finite values.  Categories and booleans: ``{"kind": "categorical", "levels": [...],
    "training": [...], "live": [...]}``, the most frequent levels of both sides
    together and ``other`` last (shares of the non-null values).
    """
    if isinstance(training, NumericSummary) and isinstance(live, NumericSummary):
        return _numeric(training.state.quantiles, live.state.quantiles)
    if isinstance(training, StringSummary | BooleanSummary) and isinstance(
        live, StringSummary | BooleanSummary
    ):
        return _categorical(training, live)
    return None


def _cdf(sketch: Kll, points: list[float], inclusive: bool) -> np.ndarray:
    return np.asarray(sketch.sketch.get_cdf(points, inclusive)[:-1], dtype=np.float64)


def _numeric(train: Kll, live: Kll) -> dict[str, Any] | None:
    if train.n == 0:
        return None
    ranks = np.linspace(0.0, 1.0, DISTRIBUTION_BINS + 1).tolist()
    edges = np.unique(np.asarray(train.get_quantiles(ranks), dtype=np.float64))
    if edges.size == 1:  # a constant: one bin around it
        edges = np.array([edges[0], edges[0]])
    inner = edges[1:].tolist()

    def masses(sketch: Kll) -> tuple[float, list[float], float]:
        if sketch.n == 0:
            return 0.0, [0.0] * (edges.size - 1), 0.0
        below = float(_cdf(sketch, [float(edges[0])], False)[0])
        upto = _cdf(sketch, inner, True)
        bins = np.diff(upto, prepend=below)
        return below, bins.tolist(), float(max(0.0, 1.0 - upto[-1]))

    t_below, t_bins, t_above = masses(train)
    l_below, l_bins, l_above = masses(live)
    out_edges, t_out, l_out = edges.tolist(), t_bins, l_bins
    if l_below > 0:
        out_edges = [float(live.min), *out_edges]
        t_out, l_out = [t_below, *t_out], [l_below, *l_out]
    if l_above > 0:
        out_edges = [*out_edges, float(live.max)]
        t_out, l_out = [*t_out, t_above], [*l_out, l_above]
    return {
        "kind": "numeric",
        "edges": out_edges,
        "training": [max(0.0, x) for x in t_out],
        "live": [max(0.0, x) for x in l_out],
    }


def _level_counts(s: StringSummary | BooleanSummary, levels: Sequence[str]) -> np.ndarray:
    if isinstance(s, BooleanSummary):
        known = {"true": float(s.true), "false": float(s.false)}
        return np.array([known.get(v, 0.0) for v in levels], dtype=np.float64)
    sketch = s.state.frequent.sketch
    return np.array([float(sketch.get_estimate(v)) for v in levels], dtype=np.float64)


def _categorical(
    train: StringSummary | BooleanSummary, live: StringSummary | BooleanSummary
) -> dict[str, Any]:
    seen = [i.value for i in train.top(LEVELS)] + [i.value for i in live.top(LEVELS)]
    candidates = list(dict.fromkeys(seen))
    totals = [float(train.count - train.nulls), float(live.count - live.nulls)]
    counts = [_level_counts(train, candidates), _level_counts(live, candidates)]
    shares = [
        c / t if t else np.zeros(len(candidates)) for c, t in zip(counts, totals, strict=True)
    ]
    order = np.argsort(-(shares[0] + shares[1]), kind="stable")[:LEVELS].tolist()
    levels = [candidates[i] for i in order]
    out: dict[str, Any] = {"kind": "categorical", "levels": levels}
    for side, share, total in zip(("training", "live"), shares, totals, strict=True):
        kept = [float(share[i]) for i in order]
        other = max(0.0, 1.0 - sum(kept)) if total else 0.0
        out[side] = [*kept, other]
    out["levels"] = [*levels, "other"]
    return out
