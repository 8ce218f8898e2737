"""Compare two profiles column by column: drift metrics, thresholds and verdicts.

:func:`compare` takes a baseline and a current side (profiles, ``.profile`` files or
data), computes per shared column the metrics of :mod:`suture.monitor.drift`, and judges
them against thresholds on effect size:

- a metric counts only when it exceeds its threshold *plus* the sketches' own error
  bound (its lower bound is above the threshold), so two samples of one distribution
  never alert because a sketch is approximate;
- when either side has fewer than :data:`SMALL_SAMPLE` values, the metric must also be
  significant, since small samples move a lot by chance: the test's p-value below
  :data:`ALPHA` divided by the number of tests of the comparison (two per column,
  Bonferroni), so that the chance of any false alarm among many columns stays below
  :data:`ALPHA`; on large samples no p-value is used, because on a million rows every tiny
  difference is "significant";
- the column's verdict is its worst metric's (``ok`` < ``watch`` < ``alert``); the
  comparison's is its worst column's (and worst segment's), and at least ``watch`` when a
  column is present on one side only.

With ``by``, each level of a categorical column present on both sides is compared as a
segment of its own, and the small-sample guard is shared by every test of every segment
too (Bonferroni over columns and segments).  With ``schema``, thresholds come from the
contract's ``drift`` tables and the share of current rows that break the contract is a
metric (``out_of_contract``).  With ``references``, each column's thresholds widen to what
it moves between those baseline windows when nothing is wrong.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from suture.errors import ConfigError, EmptyInputError, IncompatibleMergeError
from suture.monitor import drift
from suture.monitor.sides import Side, is_profile_path, measure
from suture.monitor.thresholds import (
    DEFAULT_THRESHOLDS,
    METRICS,
    Threshold,
    check_thresholds,
    learned_thresholds,
    resolve_thresholds,
)
from suture.profile import Profile
from suture.sketches._base import ColumnSummary
from suture.sketches.categorical import BooleanSummary, StringSummary
from suture.sketches.estimate import Estimate
from suture.sketches.numeric import NumericSummary
from suture.sketches.sets import SetSummary

__all__ = [
    "ALPHA",
    "DEFAULT_THRESHOLDS",
    "METRICS",
    "SIZE_OPTIONS",
    "SMALL_SAMPLE",
    "VERDICTS",
    "ColumnDrift",
    "Comparison",
    "Segment",
    "Threshold",
    "column_drift",
    "column_moves",
    "compare",
    "learn_moves",
    "resolve_thresholds",
]

Verdict = Literal["ok", "watch", "alert"]
#: Verdicts from best to worst.
VERDICTS: tuple[Verdict, ...] = ("ok", "watch", "alert")
#: Below this many values on either side, a metric must also be significant.
SMALL_SAMPLE = 10_000
#: The family-wise significance level of the small-sample guard: shared by every test of
#: one comparison (Bonferroni), so the chance of any false alarm stays below it.
ALPHA = 0.01
#: Format tag of :meth:`Comparison.to_dict`.
FORMAT = "suture.compare/1"
_TESTS = {"numeric": "ks", "temporal": "ks", "set": "ks", "categorical": "chi-square",
          "boolean": "chi-square"}  # fmt: skip


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ColumnDrift:
    """How one column moved from the baseline to the current side.

    Attributes
    ----------
    name : str
    kind : str
        ``numeric``, ``temporal``, ``categorical`` (strings), ``boolean``, ``set``
        (compared on list sizes), ``identifier`` (mostly unique values: only nulls are
        compared) or ``type change`` (the two sides disagree on the kind; an alert).
    verdict : {"ok", "watch", "alert"}
    reasons : tuple of str
        One line per metric above its watch threshold.
    rows : tuple of int
        Rows on each side (nulls included).
    values : tuple of int
        Values compared by the distribution metrics on each side.
    psi, js, ks : Estimate
        The metrics with the interval the sketches allow (``nan`` where not computed).
    ks_error : float
        The KS bound: the sum of the two sketches' rank errors.
    pvalue : float
        The test of equal distributions (``test``), used only on small samples.
    test : str
        ``ks``, ``chi-square`` or empty.
    null_rate : tuple of float
        Null rates of the baseline and the current side.
    null_rate_change : float
        Current minus baseline (exact).
    null_pvalue : float
        Two-proportion p-value of the null-rate change.
    new_levels, vanished_levels : tuple of str
        Levels certainly on one side only (the most frequent 20).
    new_count, vanished_count : int
    levels_exact : bool or None
        Whether the frequent-item sketches hold every value on both sides.
    thresholds : mapping of str to Threshold
        The thresholds that judged this column.
    note : str
        Anything the numbers alone do not say.
    out_of_contract : float
        The share of the current side's rows that break one of the contract's rules on
        this column (``nan`` without a contract, or when the current side is a profile).
    chi2 : float
        The chi-square statistic of homogeneity on the PSI bins' estimated counts
        (categorical and boolean columns; ``nan`` otherwise).
    chi2_df : int
        Its degrees of freedom (0 where it is not computed).
    """

    name: str
    kind: str
    verdict: Verdict
    reasons: tuple[str, ...]
    rows: tuple[int, int]
    values: tuple[int, int]
    psi: Estimate[float]
    js: Estimate[float]
    ks: Estimate[float]
    ks_error: float
    pvalue: float
    test: str
    null_rate: tuple[float, float]
    null_rate_change: float
    null_pvalue: float
    new_levels: tuple[str, ...] = ()
    vanished_levels: tuple[str, ...] = ()
    new_count: int = 0
    vanished_count: int = 0
    levels_exact: bool | None = None
    thresholds: Mapping[str, Threshold] = field(
        default_factory=lambda: dict(DEFAULT_THRESHOLDS), hash=False
    )
    note: str = ""
    out_of_contract: float = math.nan
    chi2: float = math.nan
    chi2_df: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping with stable keys (``nan`` as ``None``)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "note": self.note,
            "rows": {"baseline": self.rows[0], "current": self.rows[1]},
            "values": {"baseline": self.values[0], "current": self.values[1]},
            "psi": _interval(self.psi),
            "ks": {**_interval(self.ks), "error": _num(self.ks_error)},
            "js": _interval(self.js),
            "test": {
                "name": self.test or None,
                "statistic": _num(self.chi2 if self.test == "chi-square" else self.ks.value),
                "df": self.chi2_df if self.test == "chi-square" and self.chi2_df else None,
                "pvalue": _num(self.pvalue),
            },
            "null_rate": {
                "baseline": _num(self.null_rate[0]),
                "current": _num(self.null_rate[1]),
                "change": _num(self.null_rate_change),
                "pvalue": _num(self.null_pvalue),
            },
            "levels": {
                "new": list(self.new_levels),
                "new_count": self.new_count,
                "vanished": list(self.vanished_levels),
                "vanished_count": self.vanished_count,
                "exact": self.levels_exact,
            },
            "out_of_contract": _num(self.out_of_contract),
            "thresholds": {
                m: {"watch": t.watch, "alert": t.alert} for m, t in self.thresholds.items()
            },
        }


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _interval(e: Estimate[float]) -> dict[str, float | None]:
    return {"value": _num(e.value), "lower": _num(e.lower), "upper": _num(e.upper)}


@dataclass(frozen=True)
class Comparison:
    """The comparison of a current table with a baseline, column by column.

    Attributes
    ----------
    columns : tuple of ColumnDrift
        The shared columns, in the baseline's order.
    only_in_baseline, only_in_current : tuple of str
        Columns present on one side only.
    rows : tuple of int
        Rows of the baseline and of the current side.
    sources : tuple of str
        Where each side came from (as its profile records it).
    by : str or None
        The segment column, when segments were compared.
    segments : tuple of Segment
        One comparison per level of ``by`` present on both sides (not ``by`` itself).
    segments_only : tuple of two tuples of str
        Levels of ``by`` only in the baseline, only in the current side.
    out_of_contract : float
        The share of current rows that break the contract (``nan`` without one).
    learned : mapping of str to mapping of str to float
        Per column and metric, the largest move seen between two reference windows.
    notes : tuple of str
        What the comparison could not do (for example no contract counts for a profile).
    profiles : tuple of two Profile, or None
        The two sides' profiles (for the HTML report's distributions; not in the JSON).
    performance : PerformanceEstimate or None
        With ``model``: the expected accuracy and AUC on the current side from the
        model's probabilities alone (see :mod:`suture.monitor.performance`).
    """

    columns: tuple[ColumnDrift, ...]
    only_in_baseline: tuple[str, ...]
    only_in_current: tuple[str, ...]
    rows: tuple[int, int]
    sources: tuple[str, str]
    by: str | None = None
    segments: tuple[Segment, ...] = ()
    segments_only: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
    out_of_contract: float = math.nan
    learned: Mapping[str, Mapping[str, float]] = field(default_factory=dict, hash=False)
    notes: tuple[str, ...] = ()
    profiles: tuple[Profile, Profile] | None = field(
        default=None, repr=False, compare=False, hash=False
    )
    performance: Any = None

    def __getitem__(self, name: str) -> ColumnDrift:
        for column in self.columns:
            if column.name == name:
                return column
        known = ", ".join(c.name for c in self.columns) or "none"
        raise KeyError(f"no column {name!r} in this comparison; columns are: {known}")

    @property
    def verdict(self) -> Verdict:
        """The worst column (and segment) verdict; at least ``watch`` when a column or a
        segment is on one side only."""
        worst = max((VERDICTS.index(c.verdict) for c in self.columns), default=0)
        worst = max([worst, *(VERDICTS.index(s.comparison.verdict) for s in self.segments)])
        if self.only_in_baseline or self.only_in_current or any(self.segments_only):
            worst = max(worst, 1)
        return VERDICTS[worst]

    def alerts(self) -> list[str]:
        """Names of the columns whose verdict is ``alert`` (on the whole table)."""
        return [c.name for c in self.columns if c.verdict == "alert"]

    def segment(self, level: str) -> Comparison:
        """The comparison of one segment (a level of :attr:`by`, as text)."""
        for s in self.segments:
            if s.level == level:
                return s.comparison
        known = ", ".join(s.level for s in self.segments) or "none"
        raise KeyError(f"no segment {level!r} in this comparison; segments are: {known}")

    def segment_alerts(self) -> list[tuple[str, str]]:
        """``(segment, column)`` of every column that alerts within a segment."""
        return [(s.level, c) for s in self.segments for c in s.comparison.alerts()]

    def rollup(self) -> dict[str, dict[str, Verdict]]:
        """Verdicts by column, then by segment (``"*"`` for the whole table)."""
        out: dict[str, dict[str, Verdict]] = {c.name: {"*": c.verdict} for c in self.columns}
        for s in self.segments:
            for c in s.comparison.columns:
                out.setdefault(c.name, {})[s.level] = c.verdict
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping with stable keys: floats as numbers, ``nan`` as ``None``."""
        return {
            "format": FORMAT,
            "verdict": self.verdict,
            "baseline": {"rows": self.rows[0], "source": self.sources[0]},
            "current": {"rows": self.rows[1], "source": self.sources[1]},
            "columns": [c.to_dict() for c in self.columns],
            "only_in_baseline": list(self.only_in_baseline),
            "only_in_current": list(self.only_in_current),
            "out_of_contract": _num(self.out_of_contract),
            "learned": {c: {m: _num(v) for m, v in ms.items()} for c, ms in self.learned.items()},
            "notes": list(self.notes),
            "performance": None if self.performance is None else self.performance.to_dict(),
            "segments": None
            if self.by is None
            else {
                "by": self.by,
                "only_in_baseline": list(self.segments_only[0]),
                "only_in_current": list(self.segments_only[1]),
                "levels": [{"level": s.level, **s.comparison.to_dict()} for s in self.segments],
            },
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as strict JSON (no ``NaN`` tokens), indented."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"


@dataclass(frozen=True)
class Segment:
    """One level of the segment column, compared on its own rows."""

    level: str
    comparison: Comparison


# ----------------------------------------------------------------------------- judging


def _judge(
    metric: str,
    effect: float,
    shown: str,
    limit: Threshold,
    pvalue: float,
    small: bool,
    alpha: float,
) -> tuple[int, str]:
    """The verdict index of one metric whose effect (net of sketch error) is ``effect``."""
    if not math.isfinite(effect) or effect <= limit.watch:
        return 0, ""
    if small and not pvalue < alpha:
        return 0, ""
    level = 2 if effect > limit.alert else 1
    bound = limit.alert if level == 2 else limit.watch
    guard = f", p = {pvalue:.2g}" if small else ""
    return level, f"{metric} {shown}{bound:g} ({VERDICTS[level]}{guard})"


def _judge_all(
    d: drift.Distances | None,
    nulls: drift.NullRates,
    rows: tuple[int, int],
    limits: Mapping[str, Threshold],
    alpha: float,
    out_of_contract: float = math.nan,
) -> tuple[Verdict, tuple[str, ...]]:
    change = abs(nulls.change)
    shown = f"changed by {nulls.change:+.3f}, beyond ±"
    small = min(rows) < SMALL_SAMPLE
    judged = [_judge("null_rate", change, shown, limits["null_rate"], nulls.pvalue, small, alpha)]
    # A broken rule is a fact about the rows, not an estimate: no sketch error, no test.
    shown = f"{out_of_contract:.2%} of current rows break the contract, above "
    judged.append(
        _judge("out_of_contract", out_of_contract, shown, limits["out_of_contract"], 0, False, 1)
    )
    if d is not None:
        small = min(d.values) < SMALL_SAMPLE
        for name, est in (("psi", d.psi), ("js", d.js), ("ks", d.ks)):
            if est is not None:
                shown = f"{est.value:.3f} (at least {est.lower:.3f}) above "
                judged.append(_judge(name, est.lower, shown, limits[name], d.pvalue, small, alpha))
    level = max(j[0] for j in judged)
    return VERDICTS[level], tuple(reason for lvl, reason in judged if lvl)


def _kind(s: ColumnSummary) -> str:
    if isinstance(s, SetSummary):
        return "set"
    if isinstance(s, NumericSummary):
        return "temporal" if s.kind == "temporal" else "numeric"
    if isinstance(s, BooleanSummary):
        return "boolean"
    if isinstance(s, StringSummary):
        hints = set(s.hints)
        return "identifier" if hints & {"identifier", "free_text"} else "categorical"
    return s.kind


def _distances(a: ColumnSummary, b: ColumnSummary, kind: str) -> drift.Distances | None:
    if kind in ("numeric", "temporal"):
        assert isinstance(a, NumericSummary) and isinstance(b, NumericSummary)
        return drift.numeric_distances(a, b)
    if kind == "set":
        assert isinstance(a, SetSummary) and isinstance(b, SetSummary)
        return drift.numeric_distances(a.sizes, b.sizes)
    if kind in ("categorical", "boolean"):
        assert isinstance(a, StringSummary | BooleanSummary)
        assert isinstance(b, StringSummary | BooleanSummary)
        return drift.categorical_distances(a, b)
    return None


def _kinds_agree(a: ColumnSummary, b: ColumnSummary, ka: str, kb: str) -> bool:
    if {ka, kb} <= {"categorical", "identifier"}:
        return True
    if ka != kb:
        return False
    if ka == "temporal":  # ticks of different units are not comparable
        return bool(a.arrow_type == b.arrow_type)
    return True


def _check_bounds(name: str, d: drift.Distances, a: ColumnSummary, b: ColumnSummary,
                  limit: Threshold) -> None:  # fmt: skip
    """Refuse KS distances whose bound is wider than the KS watch threshold."""
    if not d.ks_error > limit.watch:
        return
    ks = [_sketch_k(s) for s in (a, b)]
    raise IncompatibleMergeError(
        f"cannot compare column {name!r}: its quantile sketches (k={ks[0]} and k={ks[1]}) "
        f"give KS distances only within ±{d.ks_error:.3f}, wider than the KS watch "
        f"threshold {limit.watch:g}; re-profile with a larger k (the default is 1024)"
    )


def _sketch_k(s: ColumnSummary) -> int:
    state = s.sizes.state if isinstance(s, SetSummary) else s.state
    return int(state.quantiles.k)


def column_drift(
    name: str,
    a: ColumnSummary,
    b: ColumnSummary,
    limits: Mapping[str, Threshold],
    *,
    alpha: float = ALPHA / 2,
    out_of_contract: float = math.nan,
) -> ColumnDrift:
    """Compare one column's baseline summary ``a`` with its current summary ``b``.

    ``alpha`` is the significance level each of the column's two small-sample tests (its
    distribution and its null rate) must reach; ``out_of_contract`` the share of current
    rows breaking the contract on this column (``nan``: not known).
    """
    ka, kb = _kind(a), _kind(b)
    rows = (a.count, b.count)
    nulls = drift.null_rates(a.count, a.nulls, b.count, b.nulls)
    nan = Estimate(math.nan, math.nan, math.nan, 0.99)
    common: dict[str, Any] = {
        "name": name, "rows": rows, "null_rate": (nulls.baseline, nulls.current),
        "null_rate_change": nulls.change, "null_pvalue": nulls.pvalue,
        "thresholds": dict(limits), "out_of_contract": out_of_contract,
    }  # fmt: skip
    if not _kinds_agree(a, b, ka, kb):
        what_a = f"{ka} ({a.arrow_type})"
        what_b = f"{kb} ({b.arrow_type})"
        return ColumnDrift(
            kind="type change", verdict="alert",
            reasons=(f"type changed from {what_a} to {what_b}",),
            values=(0, 0), psi=nan, js=nan, ks=nan, ks_error=math.nan, pvalue=math.nan,
            test="", note="the two sides summarize this column differently; not compared",
            **common,
        )  # fmt: skip
    # The baseline decides: strings that became unique on the current side are drift.
    kind = ka
    d = _distances(a, b, kind)
    if d is not None and d.ks is not None:
        _check_bounds(name, d, a, b, limits["ks"])
    verdict, reasons = _judge_all(d, nulls, rows, limits, alpha, out_of_contract)
    note = _note(kind, d)
    if d is None:
        return ColumnDrift(
            kind=kind, verdict=verdict, reasons=reasons, values=(0, 0), psi=nan, js=nan,
            ks=nan, ks_error=math.nan, pvalue=math.nan, test="", note=note, **common,
        )  # fmt: skip
    return ColumnDrift(
        kind=kind, verdict=verdict, reasons=reasons, values=d.values, psi=d.psi, js=d.js,
        ks=d.ks if d.ks is not None else nan, ks_error=d.ks_error, pvalue=d.pvalue,
        test=_TESTS[kind], new_levels=d.new_levels, vanished_levels=d.vanished_levels,
        new_count=d.new_count, vanished_count=d.vanished_count, levels_exact=d.levels_exact,
        note=note, chi2=d.chi2, chi2_df=d.chi2_df, **common,
    )  # fmt: skip


def _note(kind: str, d: drift.Distances | None) -> str:
    if kind == "identifier":
        return "values mostly unique (an identifier or free text): only nulls compared"
    if kind == "set":
        return "compared on list sizes"
    if d is not None and d.levels_exact is False:
        return "some levels too rare for the sketches to list: new/vanished lists may be short"
    if d is not None and 0 in d.values:
        return "no values on one side: only nulls compared"
    return ""


# ----------------------------------------------------------------------------- compare


def _sides(baseline: object, current: object, by: str | None, contract: Any) -> tuple[Side, Side]:
    """Both sides; data is profiled with the other side's sketch sizes (a profile's)."""
    a_profile = isinstance(baseline, Profile) or is_profile_path(baseline)
    b_profile = isinstance(current, Profile) or is_profile_path(current)
    a = measure(baseline, by=by, role="the baseline") if a_profile else None
    b = measure(current, by=by, contract=contract, role="the current side") if b_profile else None
    if a is None:
        options = b.profile.aggregator.options if b is not None else None
        a = measure(baseline, options=options, by=by, role="the baseline")
    if b is None:
        b = measure(current, options=a.profile.aggregator.options, by=by, contract=contract,
                    role="the current side")  # fmt: skip
    return a, b


def _chosen(a: Profile, b: Profile, columns: Sequence[str] | None) -> list[str]:
    shared = [name for name in a if name in b]
    if not shared:
        raise IncompatibleMergeError(
            f"cannot compare: the baseline's columns ({', '.join(a) or 'none'}) and the "
            f"current's ({', '.join(b) or 'none'}) share none; compare profiles of the "
            "same table"
        )
    if columns is None:
        return shared
    if isinstance(columns, str):
        raise ConfigError(f"columns must be a list of names, got the string {columns!r}")
    if not columns:
        raise ConfigError(
            "columns is empty: name at least one column to compare, or leave it out to "
            "compare every shared column"
        )
    missing = [c for c in columns if c not in shared]
    if missing:
        raise ConfigError(
            f"cannot compare column {missing[0]!r}: it is not on both sides; shared "
            f"columns are: {', '.join(shared)}"
        )
    return [name for name in shared if name in set(columns)]


def _contract(schema: object) -> Any:
    """``schema`` as a :class:`~suture.schema.Schema` (a path is loaded), or ``None``."""
    if schema is None:
        return None
    from suture.schema.contract import Schema

    if isinstance(schema, Schema):
        return schema
    if isinstance(schema, str | os.PathLike):
        return Schema.load(os.fspath(schema))
    raise ConfigError(
        f"schema must be a suture Schema or the path of a contract file, got "
        f"{type(schema).__name__}"
    )


def _contract_thresholds(contract: Any, names: Sequence[str]) -> dict[str, dict[str, Threshold]]:
    drift_spec: Mapping[str, Mapping[str, tuple[float, float]]] = {}
    if contract is not None:
        drift_spec = contract.drift
    return {
        name: {**DEFAULT_THRESHOLDS, **{m: Threshold(*wa) for m, wa in drift_spec[name].items()}}
        if name in drift_spec
        else dict(DEFAULT_THRESHOLDS)
        for name in names
    }


def column_moves(a: ColumnSummary, b: ColumnSummary) -> dict[str, float]:
    """How far one column moved between two reference windows, metric by metric."""
    kind = _kind(a)
    nulls = drift.null_rates(a.count, a.nulls, b.count, b.nulls)
    out = {"null_rate": abs(nulls.change)}
    if not _kinds_agree(a, b, kind, _kind(b)):
        return out
    d = _distances(a, b, kind)
    if d is not None:
        out.update(psi=d.psi.value, js=d.js.value)
        if d.ks is not None:
            out["ks"] = d.ks.value
    return out


def learn_moves(references: Sequence[Profile], names: Sequence[str]) -> dict[str, dict[str, float]]:
    """Per column and metric, the largest distance between two of the reference windows.

    Every pair of windows is compared (their metric values, not the bounds); a metric no
    pair could compute is left out.
    """
    learned: dict[str, dict[str, float]] = {}
    for name in names:
        moves: dict[str, float] = {}
        for i, ref_i in enumerate(references):
            for ref_j in references[i + 1 :]:
                for metric, value in column_moves(ref_i[name], ref_j[name]).items():
                    if math.isfinite(value):
                        moves[metric] = max(moves.get(metric, 0.0), value)
        learned[name] = moves
    return learned


def _check_references(references: object) -> None:
    """Refuse a lone reference window (or a non-list) before any data is read."""
    if isinstance(references, str | os.PathLike | Profile) or not isinstance(references, Sequence):
        raise ConfigError(
            f"references must be a list of reference windows, got {type(references).__name__}"
        )
    if len(references) < 2:
        raise ConfigError(
            f"learning tolerances needs at least two reference windows, got "
            f"{len(references)}; pass --reference once per window (for example one per week)"
        )


def _references(
    references: Sequence[object], names: Sequence[str], baseline: _Named
) -> list[Profile]:
    options = baseline.profile.aggregator.options
    profiles = []
    for i, r in enumerate(references):
        role = f"reference window {i + 1}"
        p = measure(r, options=options, role=role).profile
        _check_sizes(baseline, _named(r, p, role))
        profiles.append(p)
    for i, p in enumerate(profiles):
        missing = [n for n in names if n not in p]
        if missing:
            raise IncompatibleMergeError(
                f"reference window {i + 1} ({p.metadata.get('source', '')}) has no column "
                f"{missing[0]!r}; every reference window must hold the compared columns"
            )
    return profiles


def _out_of_contract(side: Side, names: Sequence[str]) -> tuple[dict[str, float], float]:
    summary = side.validation
    if summary is None or summary.rows == 0:
        return {}, math.nan
    per: dict[str, int] = {}
    for (column, _), count in summary.counts.items():
        per[column] = per.get(column, 0) + count
    rates = {n: min(1.0, per.get(n, 0) / summary.rows) for n in names}
    return rates, summary.quarantined / summary.rows


def _columns(
    a: Profile,
    b: Profile,
    names: Sequence[str],
    limits: Mapping[str, Mapping[str, Threshold]],
    alpha: float,
    out_of_contract: Mapping[str, float],
) -> tuple[ColumnDrift, ...]:
    return tuple(
        column_drift(n, a[n], b[n], limits[n], alpha=alpha,
                     out_of_contract=out_of_contract.get(n, math.nan))
        for n in names
    )  # fmt: skip


def _segment(
    a: Profile, b: Profile, name: str, names: Sequence[str],
    limits: Mapping[str, Mapping[str, Threshold]], alpha: float,
) -> Comparison:  # fmt: skip
    results = _columns(a, b, names, limits, alpha, {})
    return Comparison(
        results, (), (), (a.row_count, b.row_count), (name, name), profiles=(a, b)
    )  # fmt: skip


def _segments(
    a: Side, b: Side, by: str, names: Sequence[str],
    limits: Mapping[str, Mapping[str, Threshold]], alpha: float,
) -> tuple[tuple[Segment, ...], tuple[tuple[str, ...], tuple[str, ...]]]:  # fmt: skip
    sa, sb = a.segments or {}, b.segments or {}
    inner = [n for n in names if n != by]
    segments = tuple(
        Segment(level, _segment(sa[level], sb[level], f"{by}={level}", inner, limits, alpha))
        for level in sa
        if level in sb
    )
    only = (tuple(x for x in sa if x not in sb), tuple(x for x in sb if x not in sa))
    return segments, only


#: The ``suture profile`` option that sets each sketch size.
SIZE_OPTIONS = {"k": "--k", "lg_k": "--lg-k", "lg_max_map": "--lg-max-map"}


@dataclass(frozen=True)
class _Named:
    """A side's profile and how messages name it (``the baseline base.profile``)."""

    profile: Profile
    text: str
    file: str


def _named(source: object, profile: Profile, role: str) -> _Named:
    """The side's path as given, else the source its profile records."""
    if isinstance(source, str | os.PathLike):
        return _Named(profile, f"{role} {os.fspath(source)}", os.fspath(source))
    recorded = str(profile.metadata.get("source", ""))
    return _Named(profile, f"{role} {recorded}" if recorded else role, "FILE")


def _check_sizes(a: _Named, b: _Named) -> None:
    check_sizes(a.profile, a.text, b.profile, b.text, b.file)


def check_sizes(a: Profile, a_text: str, b: Profile, b_text: str, b_file: str) -> None:
    """Refuse two profiles made with different sketch sizes, naming both and the fix.

    Parameters
    ----------
    a, b : Profile
        The two profiles.
    a_text, b_text : str
        How the message names them (``"the baseline base.profile"``).
    b_file : str
        The file the fix re-profiles into (``suture profile DATA --k ... -o B_FILE``).

    Raises
    ------
    IncompatibleMergeError
        When their KLL ``k``, HyperLogLog ``lg_k`` or frequent-items ``lg_max_map`` differ.
    """
    sa, sb = a.aggregator.options, b.aggregator.options
    differ = [key for key in SIZE_OPTIONS if sa.get(key) != sb.get(key)]
    if not differ:
        return

    def sizes(options: Mapping[str, int]) -> str:
        return ", ".join(f"{key}={options.get(key)}" for key in differ)

    flags = " ".join(f"{SIZE_OPTIONS[key]} {sa.get(key)}" for key in differ)
    raise IncompatibleMergeError(
        f"cannot compare {a_text} ({sizes(sa)}) with {b_text} ({sizes(sb)}): their "
        "sketch sizes differ, so their error bounds do not match; re-profile one side with "
        f"the other's size, e.g. `suture profile DATA {flags} -o {b_file}`"
    )


def _check_rows(side: _Named) -> None:
    if side.profile.row_count == 0:
        raise EmptyInputError(
            f"{side.text} has no rows: nothing to compare; pass data (or a profile of data) "
            "with at least one row"
        )


def compare(
    baseline: object,
    current: object,
    *,
    thresholds: Mapping[str, Any] | None = None,
    columns: Sequence[str] | None = None,
    by: str | None = None,
    schema: object = None,
    references: Sequence[object] | None = None,
    model: object = None,
) -> Comparison:
    """Compare the current side with the baseline, column by column.

    Parameters
    ----------
    baseline, current : Profile, path or data
        A :class:`~suture.Profile`, the path of a ``.profile`` file, or anything
        :func:`suture.profile` accepts (profiled here with the other side's sketch sizes,
        or the defaults when both are data).
    thresholds : mapping, optional
        Per-column thresholds, ``"*"`` for every column (see :func:`resolve_thresholds`);
        they override the contract's and the learned ones.  Defaults
        :data:`DEFAULT_THRESHOLDS`.
    columns : sequence of str, optional
        Compare only these shared columns (default: every shared column).
    by : str, optional
        A string or boolean column: also compare each of its levels on its own rows (both
        sides must be data, read once each).
    schema : Schema or path, optional
        A contract: its columns' ``drift`` thresholds, and the share of the current
        side's rows that break it (when the current side is data).
    references : sequence of Profile, path or data, optional
        Two or more baseline windows (weeks when nothing was wrong): each column's
        thresholds widen to the largest distance seen between two of them.
    model : ModelBundle or path, optional
        A binary model bundle: score the current side (which must be data) and estimate
        the model's accuracy and AUC there from its probabilities alone.

    Returns
    -------
    Comparison

    Raises
    ------
    IncompatibleMergeError
        When the two sides share no column, were profiled with different sketch sizes, or
        a column's quantile sketches are too small for its KS bound to be narrower than
        the KS watch threshold.
    EmptyInputError
        When either side has no rows.
    ConfigError
        For nonsense thresholds or fewer than two references (both checked before any
        data is read), unknown columns, a ``by`` column that is not categorical (or a
        profile side with ``by``).
    SchemaError
        For a damaged contract or current data without a column the contract requires.
    CorruptStateError, SourceError
        For a damaged profile or unreadable data.

    Notes
    -----
    Profiles made with different sketch sizes (KLL ``k``, HyperLogLog ``lg_k`` or the
    frequent items' ``lg_max_map``) are refused, naming both sizes and the ``suture
    profile`` option that re-profiles one side with the other's; a side given as data is
    profiled with the other side's sizes.  Sketches too small for a KS bound narrower than
    the KS watch threshold are refused too, since no verdict could then be trusted.

    The small-sample guard's level :data:`ALPHA` is shared by every test of the
    comparison: two per column, on the whole table and in each segment (Bonferroni), so
    that the chance of any false alarm on small samples stays below :data:`ALPHA`.

    Examples
    --------
    >>> result = suture.compare("train.profile", "today.parquet")  # doctest: +SKIP
    >>> result.verdict, result["price"].ks                        # doctest: +SKIP
    """
    check_thresholds(thresholds)
    if references is not None:
        _check_references(references)
    contract = _contract(schema)
    if model is not None and (isinstance(current, Profile) or is_profile_path(current)):
        raise ConfigError(
            "--model needs the current side's data to score: the current side is a saved "
            "profile; pass the data it was profiled from"
        )
    side_a, side_b = _sides(baseline, current, by, contract)
    a, b = side_a.profile, side_b.profile
    named_a = _named(baseline, a, "the baseline")
    named_b = _named(current, b, "the current side")
    _check_rows(named_a)
    _check_rows(named_b)
    _check_sizes(named_a, named_b)
    names = _chosen(a, b, columns)
    base = _contract_thresholds(contract, names)
    learned: dict[str, dict[str, float]] = {}
    if references is not None:
        learned = learn_moves(_references(references, names, named_a), names)
        base = {n: learned_thresholds(base[n], learned[n]) for n in names}
    limits = resolve_thresholds(thresholds, names, base=base)
    shared_levels = [x for x in side_a.segments or {} if x in (side_b.segments or {})]
    alpha = ALPHA / (2 * len(names) * (1 + len(shared_levels)))
    rates, share = _out_of_contract(side_b, names)
    results = _columns(a, b, names, limits, alpha, rates)
    segments, only_levels = (
        _segments(side_a, side_b, by, names, limits, alpha) if by is not None else ((), ((), ()))
    )
    keep = set(columns) if columns is not None else None
    only_a = tuple(n for n in a if n not in b and (keep is None or n in keep))
    only_b = tuple(n for n in b if n not in a and (keep is None or n in keep))
    sources = (str(a.metadata.get("source", "")), str(b.metadata.get("source", "")))
    notes: tuple[str, ...] = ()
    if contract is not None and not side_b.is_data:
        notes = ("the current side is a profile: the out-of-contract rate needs its data",)
    return Comparison(
        results, only_a, only_b, (a.row_count, b.row_count), sources, by=by,
        segments=segments, segments_only=only_levels, out_of_contract=share,
        learned=learned, notes=notes, profiles=(a, b),
        performance=_performance(model, current, baseline if side_a.is_data else None),
    )  # fmt: skip


def _performance(model: object, current: object, baseline: object) -> Any:
    if model is None:
        return None
    from suture.monitor.performance import model_performance

    return model_performance(model, current, reference=baseline)
