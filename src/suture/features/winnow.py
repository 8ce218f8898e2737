"""Winnowing: which columns become features, each decision with its reason and number.

:func:`winnow` reads a :class:`~suture.profile.Profile` and the
:class:`~suture.features.target.TargetSummary` of the same pass, never the data.  The
rules, in the order they are applied (the first that fires decides):

1. ``target``: the target is not a feature.
2. ``included``: named in ``include``; kept whatever the rules below say (the decision
   names the drop it overrides).
3. ``excluded``: named in ``exclude``.
4. ``contract``: the contract marks it ``feature = false``.
5. ``unsupported``: a list column, or free text.
6. ``mostly_null``: at least 95% null (NaN counts as null).
7. ``constant``: no spread, or at least 99.5% of the values are one value.
8. ``identifier``: the profile's identifier hint (whole numbers or strings, 95% distinct).
9. ``leakage``: alone it predicts the target almost perfectly (AUC, r² or eta² at least
   0.99), or it moves with such a column (|r| at least 0.99), or its levels map one-to-one
   onto one's.
10. ``no_information``: every statistic about the target within noise (5% significance).
11. ``redundant``: |r| at least 0.98 with a kept feature that says as much or more about
    the target (equal to three decimals: the one earlier in the table is kept).

Everything else is ``kept``.  The thresholds are a :class:`Thresholds`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from suture.errors import ConfigError
from suture.features.target import ColumnTarget, TargetSummary, kll_items
from suture.models.base import Task
from suture.models.result import Decision
from suture.profile import Profile
from suture.sketches import BooleanSummary, NumericSummary, StringSummary
from suture.sketches._base import ColumnSummary

__all__ = ["Thresholds", "winnow"]

#: The profile's identifier hint: at least this share of the present values distinct.
IDENTIFIER_SHARE = 0.95
_SUPPORTED = ("numeric", "string", "boolean", "temporal")


@dataclass(frozen=True)
class Thresholds:
    """The limits of the winnowing rules (each a share or statistic between 0 and 1).

    Parameters
    ----------
    mostly_null : float, default 0.95
        Drop a column at least this share null.
    near_constant : float, default 0.995
        Drop a column with at least this share of its values in one value.
    redundant : float, default 0.98
        Drop the less informative of two numeric columns with |r| at least this.
    leakage : float, default 0.99
        Suspect leakage in a column whose AUC (classification), r² or eta² (regression)
        alone is at least this.
    leakage_copy : float, default 0.99
        Suspect leakage in a column with |r| at least this with a leaky column.
    noise_alpha : float, default 0.05
        The significance below which a statistic counts as information; a column is
        dropped for no information only when every statistic is within noise at it.
    """

    mostly_null: float = 0.95
    near_constant: float = 0.995
    redundant: float = 0.98
    leakage: float = 0.99
    leakage_copy: float = 0.99
    noise_alpha: float = 0.05

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            high = 0.5 if f.name == "noise_alpha" else 1.0
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not ok or not 0.0 < float(value) <= high:
                raise ConfigError(
                    f"winnowing threshold {f.name} must be a number above 0 and at most "
                    f"{high:g}, got {value!r}"
                )


def winnow(
    profile: Profile,
    target: TargetSummary,
    task: Task,
    *,
    contract: Any = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    thresholds: Thresholds | None = None,
) -> list[Decision]:
    """One :class:`~suture.models.result.Decision` per column of the profile, in its order.

    Parameters
    ----------
    profile : Profile
        The training profile (its co-moments judge redundancy and copies of leaks).
    target : TargetSummary
        From the same pass (:func:`suture.features.target.profile_with_target`).
    task : Task
    contract : Schema, optional
        Columns marked ``feature = false`` are dropped (reason ``contract``).
    include, exclude : sequence of str
        Columns forced in (beating every automatic drop and the contract) or out.
    thresholds : Thresholds, optional
        The rules' limits (defaults: see :class:`Thresholds`).

    Returns
    -------
    list of Decision
        The target's reason is ``target``; every other decision keeps or drops the column
        with its reason, the number behind it, the threshold and one sentence.

    Raises
    ------
    ConfigError
        For the target among ``include``, a column both included and excluded, an unknown
        column, or thresholds that are not a :class:`Thresholds`.
    """
    limits = Thresholds() if thresholds is None else thresholds
    if not isinstance(limits, Thresholds):
        raise ConfigError(f"thresholds must be a suture Thresholds, got {thresholds!r}")
    _check_names(profile, task, include, exclude)
    judge = _Judge(profile, target, task, limits)
    automatic = {name: judge.unconditional(name) for name in profile if name != task.target}
    leaky = {n for n, d in automatic.items() if d is None and judge.leaks(n)}
    for name, decision in automatic.items():
        if decision is None:
            automatic[name] = judge.leakage(name, leaky) or judge.no_information(name)
    forced = set(include)
    dropped_by_user = _user_drops(profile, task, contract, forced, set(exclude))
    candidates = [
        n
        for n in profile
        if n != task.target and n not in dropped_by_user and (n in forced or automatic[n] is None)
    ]
    automatic.update(judge.redundancy(candidates, forced))
    decisions = []
    for name in profile:
        if name == task.target:
            decisions.append(_target(name))
        elif name in forced:
            decisions.append(_included(name, automatic[name]))
        elif name in dropped_by_user:
            decisions.append(dropped_by_user[name])
        else:
            decisions.append(automatic[name] or judge.kept(name))
    return decisions


def _check_names(
    profile: Profile, task: Task, include: Sequence[str], exclude: Sequence[str]
) -> None:
    if isinstance(include, str) or isinstance(exclude, str):
        raise ConfigError("include and exclude must be lists of column names, not one string")
    if task.target in include:
        raise ConfigError(f"the target {task.target!r} cannot also be a feature")
    for what, names in (("include", include), ("exclude", exclude)):
        unknown = [n for n in names if n not in profile]
        if unknown:
            raise ConfigError(
                f"cannot {what} {', '.join(map(repr, unknown))}: no such column; columns are: "
                f"{', '.join(profile)}"
            )
    both = [n for n in include if n in exclude]
    if both:
        raise ConfigError(
            f"column {both[0]!r} is both included and excluded; name it in one of the two"
        )


def _user_drops(
    profile: Profile, task: Task, contract: Any, forced: set[str], excluded: set[str]
) -> dict[str, Decision]:
    """The drops the user asked for: ``exclude`` first, then the contract's."""
    off = set()
    if contract is not None:
        off = {c.name for c in contract.columns if not c.feature}
    drops = {}
    for name in profile:
        if name == task.target or name in forced:
            continue
        if name in excluded:
            drops[name] = Decision(name, False, "excluded", message="dropped: excluded by you")
        elif name in off:
            drops[name] = Decision(
                name, False, "contract", message="dropped: the contract marks it feature = false"
            )
    return drops


def _target(name: str) -> Decision:
    return Decision(name, False, "target", message=f"the target {name!r} is what is predicted")


def _included(name: str, overridden: Decision | None) -> Decision:
    if overridden is None:
        return Decision(name, True, "included", message="kept: included by you")
    said = overridden.message.removeprefix("dropped: ")
    return replace(
        overridden,
        keep=True,
        reason="included",
        message=f"kept: included by you, though the rules would drop it ({said})",
    )


def _pct(share: float) -> str:
    """A share as a percentage that never rounds up to a limit it is under."""
    value = math.floor(share * 1000.0) / 10.0
    return f"{value:.1f}%" if value % 1 else f"{value:.0f}%"


def _num(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 0.001 else f"{value:.3f}"


class _Judge:
    """The rules, reading the profile and the target summary."""

    def __init__(
        self, profile: Profile, target: TargetSummary, task: Task, limits: Thresholds
    ) -> None:
        self.profile = profile
        self.target = target
        self.task = task
        self.limits = limits
        correlation = profile.correlation
        self.correlated = {name: i for i, name in enumerate(correlation.columns)}
        self.r = np.abs(correlation.matrix)
        self.order = {name: i for i, name in enumerate(profile)}

    # -- rules that need nothing about the target ---------------------------------------

    def unconditional(self, name: str) -> Decision | None:
        """Unsupported, mostly null, constant or identifier, else ``None``."""
        summary = self.profile[name]
        return (
            _unsupported(name, summary)
            or self._mostly_null(name, summary)
            or self._constant(name, summary)
            or _identifier(name, summary)
        )

    def _mostly_null(self, name: str, summary: ColumnSummary) -> Decision | None:
        missing = summary.nulls + (summary.nans if isinstance(summary, NumericSummary) else 0)
        share = missing / summary.count if summary.count else 1.0
        limit = self.limits.mostly_null
        if share < limit:
            return None
        return Decision(
            name, False, "mostly_null", share, limit,
            f"dropped: {_pct(share)} null; a feature must be less than {_pct(limit)} null",
        )  # fmt: skip

    def _constant(self, name: str, summary: ColumnSummary) -> Decision | None:
        share, value = _top_share(summary)
        limit = self.limits.near_constant
        if share < limit:
            return None
        if share >= 1.0:
            message = f"dropped: constant (every value is {value})"
        else:
            message = (
                f"dropped: {_pct(share)} of the values are {value}; a feature needs less than "
                f"{_pct(limit)} in one value"
            )
        return Decision(name, False, "constant", share, limit, message)

    # -- leakage ----------------------------------------------------------------------------

    def _stats(self, name: str) -> ColumnTarget | None:
        return self.target.get(name)

    def _leak_statistic(self, name: str) -> tuple[str, float] | None:
        stats = self._stats(name)
        if stats is None:
            return None
        for label, value in (("AUC", stats.auc), ("r²", stats.r2), ("eta²", stats.eta2)):
            if value is not None and math.isfinite(value):
                return label, value
        return None

    def leaks(self, name: str) -> bool:
        """Whether the column alone predicts the target almost perfectly."""
        found = self._leak_statistic(name)
        return found is not None and found[1] >= self.limits.leakage

    def _abs_r(self, a: str, b: str) -> float:
        if a not in self.correlated or b not in self.correlated:
            return math.nan
        return float(self.r[self.correlated[a], self.correlated[b]])

    def leakage(self, name: str, leaky: set[str]) -> Decision | None:
        """A leaky column, or a copy of one (``related`` names the leaky one)."""
        limit = self.limits.leakage_copy
        # The most correlated leaky column; |r| equal to rounding: the first in the table.
        copies = sorted(
            ((self._abs_r(name, other), other) for other in leaky if other != name),
            key=lambda pair: (
                -round(pair[0], 9) if math.isfinite(pair[0]) else 1.0,
                self.order[pair[1]],
            ),
        )
        closest = copies[0] if copies and copies[0][0] >= limit else None
        if name in leaky:
            label, value = self._leak_statistic(name)  # type: ignore[misc]
            message = (
                f"dropped: suspected leakage: alone it predicts the target almost perfectly "
                f"({label} {_num(value)}, the limit is {_num(self.limits.leakage)})"
            )
            related = closest[1] if closest else self._relabelled(name, leaky)
            return Decision(name, False, "leakage", value, self.limits.leakage, message, related)
        if closest is not None:
            r, other = closest
            message = (
                f"dropped: suspected leakage: it moves with the leaky column {other!r} "
                f"(|r| = {_num(r)}, the limit is {_num(limit)})"
            )
            return Decision(name, False, "leakage", r, limit, message, other)
        mapped = self._relabelled(name, leaky)
        if mapped is not None:
            message = (
                f"dropped: suspected leakage: its levels map one-to-one onto those of the "
                f"leaky column {mapped!r} (the same counts per level and class)"
            )
            return Decision(name, False, "leakage", 1.0, None, message, mapped)
        return None

    def _relabelled(self, name: str, leaky: set[str]) -> str | None:
        """The first leaky categorical column whose levels ``name``'s map onto."""
        others = sorted(leaky, key=self.order.__getitem__)
        return next((o for o in others if o != name and self._relabels(name, o)), None)

    def _relabels(self, a: str, b: str) -> bool:
        """Whether two categorical columns have the same per-level target statistics, up
        to the names of the levels (the mark of a one-to-one map)."""
        first, second = self.target.level_table(a), self.target.level_table(b)
        if first is None or second is None:
            return False
        x, y = first[1], second[1]
        if x.shape != y.shape or x.shape[0] < 2:
            return False
        if not self.task.is_classification:
            x, y = x[:, :2], y[:, :2]  # counts and means (sums of squares follow)
            return bool(np.allclose(_sorted_rows(x), _sorted_rows(y), rtol=1e-9, atol=0.0))
        return bool(np.array_equal(_sorted_rows(x), _sorted_rows(y)))

    # -- information ------------------------------------------------------------------------

    def no_information(self, name: str) -> Decision | None:
        """Dropped when every statistic about the target is within noise."""
        stats = self._stats(name)
        alpha = self.limits.noise_alpha
        if stats is None or not stats.within_noise(alpha):
            return None
        label, value, noise = stats.evidence(alpha)  # type: ignore[misc]
        message = (
            f"dropped: no information about the target: {label} {_num(value)} is within noise "
            f"(at most {_num(noise)} for {stats.n + stats.missing:,} rows at {_pct(alpha)} "
            "significance)"
        )
        return Decision(name, False, "no_information", value, noise, message)

    def kept(self, name: str) -> Decision:
        """The decision of a column no rule drops."""
        stats = self._stats(name)
        evidence = None if stats is None else stats.evidence(self.limits.noise_alpha)
        if evidence is None:
            return Decision(name, True, "kept", message="kept")
        label, value, noise = evidence
        message = f"kept: {label} {_num(value)} (noise reaches {_num(noise)})"
        return Decision(name, True, "kept", value, noise, message)

    # -- redundancy ---------------------------------------------------------------------

    def redundancy(self, candidates: list[str], forced: set[str]) -> dict[str, Decision]:
        """Greedily keep the most informative of each group of near-copies (|r| >= limit);
        forced columns are kept first."""

        def rank(name: str) -> tuple[int, float, int]:
            # Strengths equal to three decimals (within sketch error): the first column.
            strength = round(self._strength(name), 3)
            return (0 if name in forced else 1, -strength, self.order[name])

        kept: list[str] = []
        drops: dict[str, Decision] = {}
        limit = self.limits.redundant
        for name in sorted(candidates, key=rank):
            if name in forced:
                kept.append(name)
                continue
            close = [(self._abs_r(name, other), other) for other in kept]
            close = [(r, other) for r, other in close if r >= limit]
            if not close:
                kept.append(name)
                continue
            r, other = max(close, key=lambda pair: pair[0])
            drops[name] = Decision(name, False, "redundant", r, limit,
                                   self._redundant_message(name, other, r), other)  # fmt: skip
        return drops

    def _strength(self, name: str) -> float:
        stats = self._stats(name)
        strength = None if stats is None else stats.strength
        return -1.0 if strength is None else strength

    def _redundant_message(self, name: str, other: str, r: float) -> str:
        found, own = self._leak_statistic(other), self._leak_statistic(name)
        says = ""
        if found is not None and own is not None:
            says = f"; it says as much or more about the target ({found[0]} {_num(found[1])} "
            says += f"against {_num(own[1])})"
        return (
            f"dropped: redundant with {other!r} (|r| = {_num(r)}, the limit is "
            f"{_num(self.limits.redundant)}){says}"
        )


def _sorted_rows(x: np.ndarray) -> np.ndarray:
    return x[np.lexsort(x.T[::-1])]


def _unsupported(name: str, summary: ColumnSummary) -> Decision | None:
    if summary.kind not in _SUPPORTED:
        return Decision(
            name, False, "unsupported",
            message=f"dropped: a {summary.kind} column; features are made from numbers, "
            "text, true/false and times",
        )  # fmt: skip
    if "free_text" in summary.hints:
        return Decision(
            name, False, "unsupported",
            message="dropped: free text (long, mostly distinct strings), which no feature encodes",
        )  # fmt: skip
    return None


def _identifier(name: str, summary: ColumnSummary) -> Decision | None:
    if "identifier" not in summary.hints:
        return None
    present = summary.count - summary.nulls
    estimate = summary.distinct() if hasattr(summary, "distinct") else None
    distinct = min(float(estimate), float(present)) if estimate is not None else float(present)
    about = "" if estimate is None or estimate.confidence >= 1.0 else "about "
    share = distinct / present if present else 1.0
    return Decision(
        name, False, "identifier", share, IDENTIFIER_SHARE,
        f"dropped: looks like an identifier ({about}{distinct:,.0f} distinct values in "
        f"{present:,} rows)",
    )  # fmt: skip


def _top_share(summary: ColumnSummary) -> tuple[float, str]:
    """The share of the present values taken by the most common one, and that value."""
    if isinstance(summary, NumericSummary):
        sketch = summary.state.quantiles
        if sketch.n == 0:
            return 0.0, ""
        if summary.finite and summary.min == summary.max:
            return 1.0, str(summary.min)
        items, weights = kll_items(sketch)
        values, inverse = np.unique(items, return_inverse=True)
        mass = np.bincount(inverse, weights)
        top = int(np.argmax(mass))
        value: Any = values[top]
        if summary.kind == "temporal":
            value = summary.to_value(float(value))  # type: ignore[attr-defined]
        elif float(value).is_integer():
            value = int(value)
        return float(mass[top] / sketch.n), str(value)
    if isinstance(summary, BooleanSummary):
        present = summary.true + summary.false
        if present == 0:
            return 0.0, ""
        return max(summary.true, summary.false) / present, (
            "true" if summary.true >= summary.false else "false"
        )
    if isinstance(summary, StringSummary):
        present = summary.count - summary.nulls
        frequent = summary.top(1)
        if present == 0 or not frequent:
            return 0.0, ""
        return float(frequent[0].count.value) / present, repr(frequent[0].value)
    return 0.0, ""
