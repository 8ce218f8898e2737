"""Thresholds of the drift verdicts: defaults, per-column settings and their checks."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from suture.errors import ConfigError

__all__ = ["ALL_COLUMNS", "DEFAULT_THRESHOLDS", "METRICS", "Threshold", "resolve_thresholds"]

#: The metrics that have thresholds, in the order they are reported.
METRICS = ("psi", "ks", "js", "null_rate")
#: The key of ``thresholds`` that sets the defaults of every column.
ALL_COLUMNS = "*"


@dataclass(frozen=True)
class Threshold:
    """When a metric makes a column ``watch`` or ``alert`` (effect above the value)."""

    watch: float
    alert: float


#: The default thresholds: PSI 0.1/0.25 (the industry's rule of thumb), KS and
#: Jensen–Shannon 0.1/0.2, null rate 0.05/0.1 (absolute change).
DEFAULT_THRESHOLDS: Mapping[str, Threshold] = {
    "psi": Threshold(0.1, 0.25),
    "ks": Threshold(0.1, 0.2),
    "js": Threshold(0.1, 0.2),
    "null_rate": Threshold(0.05, 0.1),
}
_UPPER = {"psi": math.inf, "ks": 1.0, "js": 1.0, "null_rate": 1.0}


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def _one_threshold(base: Threshold, spec: object, where: str, metric: str) -> Threshold:
    if isinstance(spec, Mapping):
        unknown = sorted(set(map(str, spec)) - {"watch", "alert"})
        if unknown:
            raise ConfigError(
                f"{where}: {metric} has unknown key {unknown[0]!r}; give 'watch' and/or 'alert'"
            )
        watch = _number(spec.get("watch", base.watch), f"{where}: {metric} watch")
        alert = _number(spec.get("alert", base.alert), f"{where}: {metric} alert")
    elif isinstance(spec, Sequence) and not isinstance(spec, str) and len(spec) == 2:
        watch = _number(spec[0], f"{where}: {metric} watch")
        alert = _number(spec[1], f"{where}: {metric} alert")
    else:
        raise ConfigError(
            f"{where}: {metric} must be {{'watch': W, 'alert': A}} or a pair (W, A), got {spec!r}"
        )
    for name, value in (("watch", watch), ("alert", alert)):
        if not 0.0 <= value <= _UPPER[metric]:
            top = "" if _UPPER[metric] == math.inf else f" and at most {_UPPER[metric]:g}"
            raise ConfigError(f"{where}: {metric} {name} must be 0 or more{top}, got {value:g}")
    if watch > alert:
        raise ConfigError(
            f"{where}: {metric} watch {watch:g} is above alert {alert:g}; watch must be at "
            "most alert"
        )
    return Threshold(watch, alert)


def _metric_thresholds(
    base: Mapping[str, Threshold], spec: object, where: str
) -> dict[str, Threshold]:
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"{where} must map metric names ({', '.join(METRICS)}) to thresholds, got {spec!r}"
        )
    result = dict(base)
    for metric, value in spec.items():
        if metric not in METRICS:
            raise ConfigError(
                f"{where}: unknown metric {metric!r}; metrics are: {', '.join(METRICS)}"
            )
        result[metric] = _one_threshold(base[metric], value, where, metric)
    return result


def resolve_thresholds(
    thresholds: Mapping[str, Any] | None, columns: Iterable[str]
) -> dict[str, dict[str, Threshold]]:
    """The thresholds of every column: defaults, then ``"*"``, then the column's own.

    Parameters
    ----------
    thresholds : mapping, optional
        ``{"*": {...}, "price": {...}}``: each value maps metric names (``psi``, ``ks``,
        ``js``, ``null_rate``) to ``{"watch": W, "alert": A}`` (either may be left out)
        or to a pair ``(W, A)``.  ``"*"`` applies to every column.
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
    default = dict(DEFAULT_THRESHOLDS)
    if ALL_COLUMNS in spec:
        default = _metric_thresholds(default, spec[ALL_COLUMNS], "thresholds for '*'")
    return {
        name: _metric_thresholds(default, spec[name], f"thresholds for column {name!r}")
        if name in spec
        else dict(default)
        for name in names
    }
