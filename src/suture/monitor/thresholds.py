"""Thresholds of the drift verdicts: defaults, per-column settings and their checks."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from suture.errors import ConfigError

__all__ = [
    "ALL_COLUMNS",
    "DEFAULT_THRESHOLDS",
    "METRICS",
    "Threshold",
    "check_metric_thresholds",
    "check_thresholds",
    "learned_thresholds",
    "resolve_thresholds",
]

#: The metrics that have thresholds, in the order they are reported.
METRICS = ("psi", "ks", "js", "null_rate", "out_of_contract")
#: The key of ``thresholds`` that sets the defaults of every column.
ALL_COLUMNS = "*"


@dataclass(frozen=True)
class Threshold:
    """When a metric makes a column ``watch`` or ``alert`` (effect above the value)."""

    watch: float
    alert: float


#: The default thresholds: PSI 0.1/0.25 (the industry's rule of thumb), KS and
#: Jensen–Shannon 0.1/0.2, null rate 0.05/0.1 (absolute change), and the share of the
#: current rows that break the contract 0.001/0.01 (with ``schema=`` only).
DEFAULT_THRESHOLDS: Mapping[str, Threshold] = {
    "psi": Threshold(0.1, 0.25),
    "ks": Threshold(0.1, 0.2),
    "js": Threshold(0.1, 0.2),
    "null_rate": Threshold(0.05, 0.1),
    "out_of_contract": Threshold(0.001, 0.01),
}
_UPPER = {"psi": math.inf, "ks": 1.0, "js": 1.0, "null_rate": 1.0, "out_of_contract": 1.0}


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def _pre(where: str) -> str:
    return f"{where}: " if where else ""


def _one_threshold(base: Threshold, spec: object, where: str, metric: str) -> Threshold:
    if isinstance(spec, Mapping):
        unknown = sorted(set(map(str, spec)) - {"watch", "alert"})
        if unknown:
            raise ConfigError(
                f"{_pre(where)}{metric} has unknown key {unknown[0]!r}; give 'watch' and/or 'alert'"
            )
        watch = _number(spec.get("watch", base.watch), f"{_pre(where)}{metric} watch")
        alert = _number(spec.get("alert", base.alert), f"{_pre(where)}{metric} alert")
    elif isinstance(spec, Sequence) and not isinstance(spec, str) and len(spec) == 2:
        watch = _number(spec[0], f"{_pre(where)}{metric} watch")
        alert = _number(spec[1], f"{_pre(where)}{metric} alert")
    else:
        raise ConfigError(
            f"{_pre(where)}{metric} must be {{'watch': W, 'alert': A}} or a pair (W, A), "
            f"got {spec!r}"
        )
    for name, value in (("watch", watch), ("alert", alert)):
        if not 0.0 <= value <= _UPPER[metric]:
            top = "" if _UPPER[metric] == math.inf else f" and at most {_UPPER[metric]:g}"
            raise ConfigError(f"{_pre(where)}{metric} {name} must be 0 or more{top}, got {value:g}")
    if watch > alert:
        raise ConfigError(
            f"{_pre(where)}{metric} watch {watch:g} is above alert {alert:g}; watch must be at "
            "most alert"
        )
    return Threshold(watch, alert)


def _metric_thresholds(
    base: Mapping[str, Threshold], spec: object, where: str
) -> dict[str, Threshold]:
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"{where or 'drift'} must map metric names ({', '.join(METRICS)}) to thresholds, "
            f"got {spec!r}"
        )
    result = dict(base)
    for metric, value in spec.items():
        if metric not in METRICS:
            raise ConfigError(
                f"{_pre(where)}unknown metric {metric!r}; metrics are: {', '.join(METRICS)}"
            )
        result[metric] = _one_threshold(base[metric], value, where, metric)
    return result


def check_metric_thresholds(spec: object, where: str) -> dict[str, tuple[float, float]]:
    """Check one column's thresholds (as a contract's ``drift`` table gives them).

    Returns the metrics ``spec`` names, each as ``(watch, alert)``; a metric given only
    ``watch`` or ``alert`` takes the other from :data:`DEFAULT_THRESHOLDS`.

    Raises
    ------
    ConfigError
        Naming ``where``, for an unknown metric, a negative threshold, a KS, JS or
        null-rate or out-of-contract threshold above 1, or a watch above its alert.
    """
    checked = _metric_thresholds(DEFAULT_THRESHOLDS, spec, where)
    named = spec if isinstance(spec, Mapping) else {}
    return {m: (checked[m].watch, checked[m].alert) for m in METRICS if m in named}


def _where(key: object) -> str:
    return "thresholds for '*'" if key == ALL_COLUMNS else f"thresholds for column {key!r}"


def check_thresholds(thresholds: Mapping[str, Any] | None, *, where: str | None = None) -> None:
    """Check thresholds before any data is read: their form, metric names and values.

    A negative value, a KS, JS, null-rate or out-of-contract value above 1, an unknown
    metric and a watch above the alert given with it are refused here; what needs the
    compared columns (a column that is not compared) or the starting thresholds (a watch
    given alone, above a contract's alert) is checked by :func:`resolve_thresholds`.

    Parameters
    ----------
    thresholds : mapping, optional
        As :func:`resolve_thresholds` takes them.
    where : str, optional
        How the message names the thresholds (``"--threshold 'psi=-1,2'"``); by default
        ``thresholds for '*'`` or ``thresholds for column 'price'``.

    Raises
    ------
    ConfigError
        One sentence naming ``where``, the metric and the value.
    """
    spec: Mapping[str, Any] = thresholds or {}
    if not isinstance(spec, Mapping):
        raise ConfigError(f"thresholds must be a mapping of column names, got {spec!r}")
    # Bounds that any value may take, so that a value left out is never the one refused.
    loose = {m: Threshold(0.0, min(_UPPER[m], sys.float_info.max)) for m in METRICS}
    for key, value in spec.items():
        _metric_thresholds(loose, value, where if where is not None else _where(key))


def learned_thresholds(
    base: Mapping[str, Threshold], moves: Mapping[str, float]
) -> dict[str, Threshold]:
    """Thresholds widened to what a column moves between reference windows.

    For each metric with a finite learned move ``q`` (the largest distance seen between
    two reference windows), ``watch`` becomes ``max(watch, q)`` and ``alert``
    ``max(alert, q * alert / watch)``, keeping the default's ratio of alert to watch (1
    when watch is 0), both capped at the metric's upper end; metrics without a move keep
    ``base``.
    """
    out = dict(base)
    for metric, q in moves.items():
        limit = base[metric]
        if not math.isfinite(q) or q <= limit.watch:
            continue
        ratio = limit.alert / limit.watch if limit.watch > 0 else 1.0
        top = _UPPER[metric]
        out[metric] = Threshold(min(q, top), min(max(limit.alert, q * ratio), top))
    return out


def resolve_thresholds(
    thresholds: Mapping[str, Any] | None,
    columns: Iterable[str],
    *,
    base: Mapping[str, Mapping[str, Threshold]] | None = None,
) -> dict[str, dict[str, Threshold]]:
    """The thresholds of every column: defaults, then ``"*"``, then the column's own.

    ``base`` gives a column's starting thresholds instead of the defaults (those of a
    contract, or learned from reference windows); ``thresholds`` then override them.

    Parameters
    ----------
    thresholds : mapping, optional
        ``{"*": {...}, "price": {...}}``: each value maps metric names (``psi``, ``ks``,
        ``js``, ``null_rate``, ``out_of_contract``) to ``{"watch": W, "alert": A}``
        (either may be left out) or to a pair ``(W, A)``.  ``"*"`` applies to every column.
    columns : iterable of str
        The columns a threshold may name.

    Raises
    ------
    ConfigError
        For an unknown column or metric, a negative threshold, a KS, JS or null-rate
        threshold above 1, or a watch above its alert.
    """
    names = list(columns)
    spec: Mapping[str, Any] = thresholds or {}
    if not isinstance(spec, Mapping):
        raise ConfigError(f"thresholds must be a mapping of column names, got {spec!r}")
    unknown = [key for key in spec if key != ALL_COLUMNS and key not in names]
    if unknown:
        raise ConfigError(
            f"thresholds name column {unknown[0]!r}, which is not compared; columns are: "
            f"{', '.join(names) or 'none'} ('*' sets every column)"
        )
    starts = base or {}
    result: dict[str, dict[str, Threshold]] = {}
    for name in names:
        limits = dict(starts.get(name, DEFAULT_THRESHOLDS))
        if ALL_COLUMNS in spec:
            limits = _metric_thresholds(limits, spec[ALL_COLUMNS], _where(ALL_COLUMNS))
        if name in spec:
            limits = _metric_thresholds(limits, spec[name], _where(name))
        result[name] = limits
    return result
