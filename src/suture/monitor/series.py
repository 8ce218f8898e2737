"""``suture monitor``: time series of every column's metrics over a sequence of profiles.

A folder holds one profile per period (a day, an hour, a batch), named or stamped by
time (``2026-11-01.profile``, ``flights-2026-11-01T06.profile``).  For each period and
column, :func:`build_timeline` records the column's own metrics (mean, 5th/50th/95th
percentiles, null rate, distinct count) and its drift (PSI, KS, Jensen–Shannon) against
the baseline (the first period, or ``baseline=``) and against the previous period, all
from the profiles: no raw data is read.

The metrics of earlier periods are kept in a state file (``state.json`` in the output
folder).  A later run computes only the periods the state does not hold yet, loading
just the baseline, the last known period and the new ones; when a known profile changed,
vanished or a new one sorts before the last known, the timeline is rebuilt.  Either way
the result is the same as a full rebuild.

Anomalies are flagged in each metric's series by a robust z-score against the periods
before it: ``z = 0.6745 (x - median) / scale`` over at least :data:`MIN_HISTORY` earlier
values, flagged beyond :data:`Z_LIMIT` (3.5, Iglewicz and Hoaglin's rule).  The scale is
the MAD, but at least 1% of the median (a handful of periods can agree by chance far more
closely than the next one will) and, for the drift and null-rate series, at least what
makes a flag need a move of the metric's watch threshold (PSI, KS, JS 0.1; null rate one
percentage point).  A series without spread whose median is 0 flags any departure.
With fewer than :data:`MIN_PERIODS` periods no point can be flagged; the timeline says so
in :attr:`Timeline.notes`.

Each period is also judged against the baseline with the verdict rules of ``suture
compare`` (:func:`suture.monitor.compare.column_drift`, default thresholds, the same
small-sample guard): a column whose verdict is ``alert`` is an alert of that period
(:meth:`Timeline.alerts`).  A profile that shares no column with the baseline, or whose
quantile sketches are too small for a KS bound within the KS watch threshold, is refused
as ``suture compare`` refuses it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from suture.errors import (
    ConfigError,
    CorruptStateError,
    EmptyInputError,
    IncompatibleMergeError,
    SourceError,
)
from suture.profile import Profile
from suture.sketches._base import ColumnSummary
from suture.sketches.numeric import NumericSummary
from suture.sketches.sets import SetSummary

__all__ = [
    "FORMAT",
    "MIN_HISTORY",
    "MIN_PERIODS",
    "STATE_FILE",
    "Z_LIMIT",
    "Judgement",
    "Period",
    "Timeline",
    "build_timeline",
    "judge_period",
    "period_metrics",
    "robust_anomalies",
]

#: Format tag of the state file and of ``timeline.json``.
FORMAT = "suture.monitor/2"
#: Older state formats: such a state is not reused; the timeline is rebuilt.
_OLD_FORMATS = ("suture.monitor/1",)
#: The state file in the output folder.
STATE_FILE = "state.json"
#: Earlier values a point needs before it can be flagged.
MIN_HISTORY = 5
#: Periods a timeline needs before any point can be flagged (one more for the drift
#: against the previous period, which the first period lacks).
MIN_PERIODS = MIN_HISTORY + 1
#: Robust z-scores beyond this are anomalies.
Z_LIMIT = 3.5
#: The metrics of each column, in the order reported.
METRIC_NAMES = ("rows", "mean", "p05", "p50", "p95", "null_rate", "distinct",
                "psi_baseline", "ks_baseline", "js_baseline",
                "psi_previous", "ks_previous", "js_previous")  # fmt: skip

#: The smallest move of a metric that can be an anomaly (absolute), where one is set.
MIN_MOVE = {"null_rate": 0.01, **{f"{m}_{side}": 0.1 for m in ("psi", "ks", "js")
                                  for side in ("baseline", "previous")}}  # fmt: skip
#: The smallest scale relative to the median.
RELATIVE_SCALE = 0.01

_STAMP = re.compile(r"(\d{4}-\d{2}-\d{2}(?:[T_ ]\d{2}(?::?\d{2}(?::?\d{2})?)?)?)")


@dataclass(frozen=True)
class Judgement:
    """One column of one period judged against the baseline, as ``suture compare`` does.

    Attributes
    ----------
    verdict : {"ok", "watch", "alert"}
    reasons : tuple of str
        One line per metric above its watch threshold (``suture compare``'s wording).
    ks_error : float
        The KS bound of the two sketches (``nan`` where KS does not apply).
    """

    verdict: str
    reasons: tuple[str, ...]
    ks_error: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (``nan`` as ``None``)."""
        return {"verdict": self.verdict, "reasons": list(self.reasons),
                "ks_error": _num(self.ks_error)}  # fmt: skip


@dataclass(frozen=True)
class Period:
    """One profile of the sequence: its name, time (if stamped), file, metrics and
    verdicts against the baseline (per column on both)."""

    name: str
    time: str
    file: str
    digest: str
    metrics: dict[str, dict[str, float]]
    verdicts: dict[str, Judgement] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "time": self.time, "file": self.file, "sha256": self.digest,
                "metrics": {c: {m: _num(v) for m, v in ms.items()}
                            for c, ms in self.metrics.items()},
                "verdicts": {c: j.to_dict() for c, j in self.verdicts.items()}}  # fmt: skip


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _unnum(x: object) -> float:
    return math.nan if x is None else float(x)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- discovery


def _stamp(stem: str) -> str:
    found = _STAMP.search(stem)
    if not found:
        return ""
    text = found.group(1).replace("_", "T").replace(" ", "T")
    date, _, clock = text.partition("T")
    if clock and ":" not in clock:  # 0630 -> 06:30
        clock = ":".join(clock[i : i + 2] for i in range(0, len(clock), 2))
    if clock and len(clock) == 2:
        clock += ":00"
    try:
        return dt.datetime.fromisoformat(f"{date}T{clock}" if clock else date).isoformat()
    except ValueError:
        return ""


def discover(folder: str | Path) -> list[tuple[str, str, Path]]:
    """The profiles of ``folder`` as ``(name, time, path)``, oldest first.

    When every name holds a time stamp (``YYYY-MM-DD``, optionally ``THH[:MM[:SS]]``),
    periods are ordered by it; otherwise by name.

    Raises
    ------
    SourceError
        When the folder is missing or holds fewer than two profiles.
    ConfigError
        When two names hold the same time stamp.
    """
    root = Path(folder)
    if not root.is_dir():
        raise SourceError(f"{root}: no such folder; give the folder that holds the .profile files")
    paths = sorted(root.glob("*.profile"))
    if len(paths) < 2:
        raise SourceError(
            f"{root}: {len(paths)} .profile file(s); a timeline needs at least two periods "
            "(suture profile DATA -o FOLDER/2026-11-01.profile, one per period)"
        )
    found = [(p.stem, _stamp(p.stem), p) for p in paths]
    if all(t for _, t, _ in found):
        seen: dict[str, str] = {}
        for name, t, _ in found:
            if t in seen:
                raise ConfigError(
                    f"{root}: {seen[t]!r} and {name!r} are stamped with the same time {t}; "
                    "give each period its own"
                )
            seen[t] = name
        found.sort(key=lambda item: item[1])
    return found


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- metrics


def _own(s: ColumnSummary) -> dict[str, float]:
    out = {"rows": float(s.count), "null_rate": s.nulls / s.count if s.count else math.nan}
    numeric = s.sizes if isinstance(s, SetSummary) else s
    if isinstance(numeric, NumericSummary) and numeric.state.quantiles.n > 0:
        out["mean"] = float(numeric.mean)
        for q, key in ((0.05, "p05"), (0.5, "p50"), (0.95, "p95")):
            out[key] = float(numeric.quantile(q).value)
    distinct = getattr(s, "distinct", None)
    if callable(distinct):
        out["distinct"] = float(distinct().value)
    return out


def period_metrics(
    profile: Profile, baseline: Profile, previous: Profile | None
) -> dict[str, dict[str, float]]:
    """Every column's metrics in ``profile``: its own, and its drift against
    ``baseline`` and ``previous`` (columns missing there get no drift)."""
    from suture.monitor.compare import column_moves

    out: dict[str, dict[str, float]] = {}
    for name in profile:
        s = profile[name]
        metrics = _own(s)
        for label, other in (("baseline", baseline), ("previous", previous)):
            if other is None or name not in other:
                continue
            moves = column_moves(other[name], s)
            for metric in ("psi", "ks", "js"):
                if metric in moves:
                    metrics[f"{metric}_{label}"] = moves[metric]
        out[name] = {m: metrics.get(m, math.nan) for m in METRIC_NAMES}
    return out


def judge_period(profile: Profile, baseline: Profile) -> dict[str, Judgement]:
    """Every column ``profile`` shares with ``baseline``, judged as ``suture compare``
    judges it: :func:`~suture.monitor.compare.column_drift` under the default thresholds,
    the small-sample guard shared by the period's tests (Bonferroni, as in compare).

    Raises
    ------
    IncompatibleMergeError
        When the two share no column, or a column's quantile sketches are too small for a
        KS bound within the KS watch threshold (compare's message).
    """
    from suture.monitor.compare import ALPHA, column_drift, resolve_thresholds

    shared = [name for name in baseline if name in profile]
    if not shared:
        raise IncompatibleMergeError(
            f"cannot compare: the baseline's columns ({', '.join(baseline) or 'none'}) and "
            f"this profile's ({', '.join(profile) or 'none'}) share none"
        )
    if profile.row_count == 0:  # a period that lost its data is itself the alert
        empty = ("the period has no rows: nothing was profiled",)
        return {name: Judgement("alert", empty, math.nan) for name in shared}
    limits = resolve_thresholds(None, shared)
    alpha = ALPHA / (2 * len(shared))
    out = {}
    for name in shared:
        d = column_drift(name, baseline[name], profile[name], limits[name], alpha=alpha)
        out[name] = Judgement(d.verdict, d.reasons, d.ks_error)
    return out


# ----------------------------------------------------------------------------- anomalies


def robust_anomalies(
    values: Sequence[float], *, min_move: float = 0.0, relative: float = RELATIVE_SCALE
) -> tuple[list[bool], list[float]]:
    """Flags and robust z-scores of each point against the points before it.

    A point needs :data:`MIN_HISTORY` finite earlier values; ``z`` is
    ``0.6745 (x - median) / scale`` of those, with ``scale`` the MAD but at least
    ``relative * |median|`` and ``0.6745 * min_move / Z_LIMIT`` (so a flag needs a move of
    ``min_move``); flagged when ``|z| > Z_LIMIT``.  When the scale is 0, any departure
    from the median is flagged (``z`` infinite).
    """
    x = np.asarray(values, dtype=np.float64)
    flags, scores = [False] * x.size, [math.nan] * x.size
    for i in range(x.size):
        history = x[:i][np.isfinite(x[:i])]
        if history.size < MIN_HISTORY or not math.isfinite(x[i]):
            continue
        median = float(np.median(history))
        mad = float(np.median(np.abs(history - median)))
        scale = max(mad, relative * abs(median), 0.6745 * min_move / Z_LIMIT)
        gap = float(x[i]) - median
        if scale > 0:
            z = 0.6745 * gap / scale
        elif gap != 0:
            z = math.copysign(math.inf, gap)
        else:
            z = 0.0
        scores[i], flags[i] = z, abs(z) > Z_LIMIT
    return flags, scores


# ----------------------------------------------------------------------------- timeline


@dataclass(frozen=True)
class Timeline:
    """The series of every column's metrics over the periods, with anomaly flags.

    Attributes
    ----------
    baseline : str
        The baseline period's name.
    periods : tuple of Period
        Oldest first.
    computed : tuple of str
        The periods whose metrics this run computed (the others came from the state).
    """

    baseline: str
    baseline_digest: str
    periods: tuple[Period, ...]
    computed: tuple[str, ...] = ()

    @property
    def columns(self) -> list[str]:
        """Every column seen, in order of first appearance."""
        seen: dict[str, None] = {}
        for p in self.periods:
            seen.update(dict.fromkeys(p.metrics))
        return list(seen)

    def series(self, column: str, metric: str) -> list[float]:
        """One metric of one column over the periods (``nan`` where absent)."""
        return [p.metrics.get(column, {}).get(metric, math.nan) for p in self.periods]

    def anomalies(self) -> list[dict[str, Any]]:
        """Every flagged point: period, column, metric, value, z-score."""
        found = []
        for column in self.columns:
            for metric in METRIC_NAMES:
                values = self.series(column, metric)
                flags, scores = robust_anomalies(values, min_move=MIN_MOVE.get(metric, 0.0))
                for i, flagged in enumerate(flags):
                    if flagged:
                        found.append({"period": self.periods[i].name, "column": column,
                                      "metric": metric, "value": values[i],
                                      "z": scores[i]})  # fmt: skip
        return found

    def latest_anomalies(self) -> list[dict[str, Any]]:
        """The anomalies of the newest period."""
        last = self.periods[-1].name
        return [a for a in self.anomalies() if a["period"] == last]

    def alerts(self) -> list[dict[str, Any]]:
        """Every column of every period whose verdict against the baseline is ``alert``:
        period, column, verdict, reasons, ks_error."""
        return [{"period": p.name, "column": c, **j.to_dict()}
                for p in self.periods for c, j in p.verdicts.items()
                if j.verdict == "alert"]  # fmt: skip

    def latest_alerts(self) -> list[dict[str, Any]]:
        """The alerts of the newest period."""
        last = self.periods[-1].name
        return [a for a in self.alerts() if a["period"] == last]

    @property
    def notes(self) -> list[str]:
        """What the timeline cannot tell yet (too few periods for anomaly detection)."""
        given = len(self.periods)
        if given >= MIN_PERIODS:
            return []
        return [
            f"anomaly detection needs at least {MIN_PERIODS} periods; {given} given: no "
            f"series can be flagged yet ({MIN_PERIODS + 1} for the drift against the "
            "previous period); drift against the baseline is judged all the same"
        ]

    def state(self) -> dict[str, Any]:
        """The state file's content: the metrics of every period so far."""
        return {"format": FORMAT, "baseline": {"name": self.baseline,
                                               "sha256": self.baseline_digest},
                "periods": [p.to_dict() for p in self.periods]}  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """``timeline.json``: the state plus notes, anomalies and alerts (``nan`` as
        ``None``)."""

        def clean(a: dict[str, Any]) -> dict[str, Any]:
            z = a["z"]
            return {**a, "value": _num(a["value"]),
                    "z": None if not math.isfinite(z) else z,
                    "direction": "up" if z > 0 else "down"}  # fmt: skip

        return {**self.state(), "min_periods": MIN_PERIODS, "notes": self.notes,
                "anomalies": [clean(a) for a in self.anomalies()],
                "alerts": self.alerts()}  # fmt: skip

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"


def _read_state(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(state, dict) and state.get("format") in _OLD_FORMATS:
            return None  # made by an older suture: rebuilt from the profiles
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} state")
        state["periods"] = [
            Period(p["name"], p["time"], p["file"], p["sha256"],
                   {c: {m: _unnum(v) for m, v in ms.items()} for c, ms in p["metrics"].items()},
                   {c: Judgement(str(j["verdict"]), tuple(map(str, j["reasons"])),
                                 _unnum(j["ks_error"]))
                    for c, j in p["verdicts"].items()})
            for p in state["periods"]
        ]  # fmt: skip
        base = state["baseline"]
        state["baseline"] = {"name": str(base["name"]), "sha256": str(base["sha256"])}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CorruptStateError(
            f"{path}: not a readable monitor state ({exc}); delete it to rebuild the timeline "
            "from the profiles"
        ) from None
    return state


def build_timeline(
    folder: str | Path,
    out: str | Path | None = None,
    *,
    baseline: str | None = None,
    load: Callable[[Path], Profile] = Profile.load,
) -> Timeline:
    """The timeline of the profiles in ``folder``, reusing ``out``'s state file if any.

    Parameters
    ----------
    folder : str or Path
        The folder of ``.profile`` files (see :func:`discover` for their order).
    out : str or Path, optional
        The output folder whose ``state.json`` holds earlier metrics (read only here;
        :func:`write_timeline` writes it).
    baseline : str, optional
        The baseline period's name (a file stem in ``folder``); default the first.
    load : callable
        How a profile is read (tests count the loads).

    Raises
    ------
    ConfigError
        For a baseline that names no period.
    CorruptStateError
        For a damaged profile or state file.
    IncompatibleMergeError
        For a profile that shares no column with the baseline (a profile of another
        table), that was made with other sketch sizes than the baseline, or whose quantile
        sketches are too small to judge KS against the baseline (see
        :func:`judge_period`); the message names the file.
    EmptyInputError
        For a baseline period without rows (a period without rows is an alert instead).
    """
    found = discover(folder)
    names = [name for name, _, _ in found]
    base_name = baseline if baseline is not None else names[0]
    if base_name not in names:
        raise ConfigError(
            f"--baseline {base_name!r} names no period of {folder}; periods are: {', '.join(names)}"
        )
    base_path = found[names.index(base_name)][2]
    base_digest = _digest(base_path)
    digests = [_digest(p) for _, _, p in found]
    state = _read_state(Path(out) / STATE_FILE) if out is not None else None
    known: list[Period] = []
    if state is not None and state["baseline"] == {"name": base_name, "sha256": base_digest}:
        kept: list[Period] = state["periods"]
        prefix = [(p.name, p.digest) for p in kept]
        if prefix == list(zip(names, digests, strict=True))[: len(kept)]:
            known = kept
    cache: dict[str, Profile] = {}

    def profile_of(i: int) -> Profile:
        name = names[i]
        if name not in cache:
            cache[name] = load(found[i][2])
        return cache[name]

    from suture.monitor.compare import check_sizes

    periods = list(known)
    computed = []
    for i in range(len(known), len(found)):
        name, time, path = found[i]
        base = profile_of(names.index(base_name))
        previous = profile_of(i - 1) if i > 0 else None
        current = profile_of(i)
        if not any(column in base for column in current):
            raise IncompatibleMergeError(
                f"{path}: shares no column with the baseline {base_path.name} (its columns: "
                f"{', '.join(current) or 'none'}; the baseline's: {', '.join(base) or 'none'}); "
                f"a monitor folder holds profiles of one table: move {path.name} to a folder "
                "of its own"
            )
        if base.row_count == 0:
            raise EmptyInputError(
                f"{base_path}: the baseline period has no rows, so no period can be judged "
                "against it; pick another with --baseline NAME"
            )
        check_sizes(base, f"the baseline {base_path.name}", current, str(path), str(path))
        try:
            verdicts = judge_period(current, base)
        except IncompatibleMergeError as exc:
            raise IncompatibleMergeError(
                f"{path}: against the baseline {base_path.name}, {exc}"
            ) from None
        metrics = period_metrics(current, base, previous)
        periods.append(Period(name, time, path.name, digests[i], metrics, verdicts))
        computed.append(name)
    return Timeline(base_name, base_digest, tuple(periods), tuple(computed))


def write_timeline(timeline: Timeline, out: str | Path) -> list[Path]:
    """Write ``timeline.json``, ``timeline.html`` and ``state.json`` into ``out``.

    All three are written atomically together (:func:`suture.bundle.atomic_outputs`);
    the folder is made if missing.

    Raises
    ------
    OutputError
        When the folder cannot be made or written.
    """
    from suture.bundle import atomic_outputs
    from suture.errors import OutputError
    from suture.monitor.timeline_html import render_timeline_html

    root = Path(out)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"{root}: cannot make the output folder ({exc.strerror or exc})"
        ) from None
    texts = {
        "timeline.json": timeline.to_json(),
        "timeline.html": render_timeline_html(timeline),
        STATE_FILE: json.dumps(timeline.state(), indent=1, allow_nan=False) + "\n",
    }
    paths = [root / name for name in texts]
    with atomic_outputs(paths) as temporary:
        for temp, text in zip(temporary, texts.values(), strict=True):
            Path(temp).write_text(text, encoding="utf-8")
    return paths
