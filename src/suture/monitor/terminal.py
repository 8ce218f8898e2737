"""The comparison as a rich table in the terminal."""

from __future__ import annotations

import math
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from suture.monitor.compare import ColumnDrift, Comparison

__all__ = ["MAX_SHOWN", "chi2_text", "render_comparison"]

#: How many new or vanished levels the terminal names per column.
MAX_SHOWN = 8
#: How many segments that are not all ok the roll-up table shows.
MAX_SEGMENTS = 12

_STYLE = {"ok": "green", "watch": "yellow", "alert": "bold red"}


def _fmt(x: float, digits: int = 3) -> str:
    return "—" if not math.isfinite(x) else f"{x:.{digits}f}"


def chi2_text(c: ColumnDrift) -> str:
    """The chi-square statistic and its p-value, ``"12.3 p=0.002"``; ``—`` for numbers."""
    if not math.isfinite(c.chi2):
        return "—"
    stat = f"{c.chi2:,.0f}" if c.chi2 >= 1000 else f"{c.chi2:.1f}"
    if not math.isfinite(c.pvalue):
        return stat
    return f"{stat} p<0.001" if c.pvalue < 0.001 else f"{stat} p={c.pvalue:.3f}"


def _levels_cell(c: ColumnDrift) -> str:
    if c.kind not in ("categorical", "boolean"):
        return ""
    parts = []
    if c.new_count:
        parts.append(f"+{c.new_count} new")
    if c.vanished_count:
        parts.append(f"−{c.vanished_count} gone")
    return ", ".join(parts)


def _some(levels: tuple[str, ...], count: int) -> str:
    """The first few levels, and how many there are when that is more."""
    shown = ", ".join(levels[:MAX_SHOWN])
    return shown if count <= MAX_SHOWN else f"{shown}, … ({count:,} in all)"


def _kind_cell(c: ColumnDrift) -> str:
    return c.kind


def _extra_columns(width: int) -> int:
    """How many of the optional columns (levels, kind) fit a terminal this wide."""
    return 2 if width >= 112 else 1 if width >= 92 else 0


def render_comparison(comparison: Comparison, console: Console | None = None) -> None:
    """Print ``comparison`` as a rich table: one row per column, then the verdict.

    Parameters
    ----------
    comparison : Comparison
    console : rich.console.Console, optional
        Where to print; a new console on standard output by default.

    Notes
    -----
    KS is shown with its sketch bound (``±``); a metric counts only when its lower bound
    is above the threshold.  Categorical and boolean columns show the chi-square
    statistic of homogeneity and its p-value (``χ²``), which guards small samples only.
    Column names and levels are printed as plain text, never interpreted as rich markup.
    """
    out = console if console is not None else Console()
    table = Table(
        box=box.SIMPLE_HEAD, title=_title(comparison), title_justify="left", pad_edge=False
    )
    widest = max((len(c.name) for c in comparison.columns), default=6)
    # Names and level counts wrap; the numbers and the verdict never do.
    table.add_column("column", overflow="fold", min_width=min(max(widest, 6), 16))
    table.add_column("verdict", no_wrap=True, min_width=7)
    for header in ("PSI", "KS", "JS", "χ²", "null Δ"):
        table.add_column(header, justify="right", no_wrap=True)
    contract = any(math.isfinite(c.out_of_contract) for c in comparison.columns)
    if contract:
        table.add_column("broken", justify="right", no_wrap=True)
    # On a narrow terminal the kind, then the level counts (listed below too) give way.
    extra = [("levels", _levels_cell), ("kind", _kind_cell)][: _extra_columns(out.width)]
    for header, _ in extra:
        table.add_column(header, overflow="fold")
    for c in comparison.columns:
        ks = _fmt(c.ks.value)
        if math.isfinite(c.ks.value) and c.ks_error > 0:
            ks += f"±{c.ks_error:.3f}"
        change = "—" if not math.isfinite(c.null_rate_change) else f"{c.null_rate_change:+.3f}"
        broken = [_share(c.out_of_contract)] if contract else []
        table.add_row(
            Text(c.name), Text(c.verdict, style=_STYLE[c.verdict]), _fmt(c.psi.value), ks,
            _fmt(c.js.value), chi2_text(c), change, *broken,
            *(Text(cell(c)) for _, cell in extra),
        )  # fmt: skip
    out.print(table)
    for c in comparison.columns:
        for reason in c.reasons:
            out.print(Text(f"  {c.name}: {reason}"))
        if c.new_levels:
            out.print(Text(f"  {c.name}: new levels {_some(c.new_levels, c.new_count)}"))
        if c.vanished_levels:
            vanished = _some(c.vanished_levels, c.vanished_count)
            out.print(Text(f"  {c.name}: vanished levels {vanished}"))
    for side, names in (("baseline", comparison.only_in_baseline),
                        ("current side", comparison.only_in_current)):  # fmt: skip
        if names:
            out.print(Text(f"only in the {side}: {', '.join(names)}", style="yellow"))
    if math.isfinite(comparison.out_of_contract):
        share = _share(comparison.out_of_contract)
        out.print(Text(f"rows breaking the contract: {share} of the current side"))
    for note in comparison.notes:
        out.print(Text(f"note: {note}", style="yellow"))
    if comparison.by is not None:
        _render_segments(comparison, out)
    if comparison.performance is not None:
        for line in performance_lines(comparison.performance):
            out.print(Text(line))
    out.print(Text(f"verdict: {comparison.verdict}", style=_STYLE[comparison.verdict]))


def performance_lines(estimate: Any) -> list[str]:
    """The performance estimate in words: expected value, interval, drop, realized."""
    lines = [f"performance before labels ({estimate.rows:,} scored rows, from the model's "
             "probabilities alone):"]  # fmt: skip
    for metric, name in (("auc", "ROC AUC"), ("accuracy", "accuracy")):
        e = getattr(estimate, metric)
        text = f"  {name} expected {e.value:.4f} ({e.confidence:.0%}: {e.lower:.4f}–{e.upper:.4f})"
        reference = estimate.reference.get(metric, math.nan)
        if math.isfinite(reference):
            text += f", {reference:.4f} on the holdout (drop {estimate.drop(metric):+.4f})"
        realized = estimate.realized.get(metric, math.nan)
        if math.isfinite(realized):
            text += f", realized {realized:.4f}"
        lines.append(text)
    return lines


def _share(x: float) -> str:
    return "—" if not math.isfinite(x) else f"{x:.2%}"


def _render_segments(comparison: Comparison, out: Console) -> None:
    """The roll-up: one row per column, one cell per segment that is not all ok."""
    shown = [s for s in comparison.segments if s.comparison.verdict != "ok"][:MAX_SEGMENTS]
    quiet = len(comparison.segments) - len(shown)
    by = comparison.by
    out.print(Text(f"segments by {by}: {len(comparison.segments)} compared, {quiet} all ok"))
    for side, levels in zip(("baseline", "current side"), comparison.segments_only, strict=True):
        if levels:
            out.print(Text(f"  {by} only in the {side}: {', '.join(levels)}", style="yellow"))
    if not shown:
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("column", overflow="fold")
    for s in shown:
        table.add_column(Text(s.level), overflow="fold")
    roll = comparison.rollup()
    for name, cells in roll.items():
        if name == by:
            continue
        verdicts = [cells.get(s.level, "ok") for s in shown]
        table.add_row(Text(name), *(Text(v, style=_STYLE[v]) for v in verdicts))
    out.print(table)
    for s in shown:
        for c in s.comparison.columns:
            for reason in c.reasons:
                out.print(Text(f"  {by}={s.level} {c.name}: {reason}"))


def _title(comparison: Comparison) -> str:
    a, b = comparison.rows
    return f"drift: {b:,} current rows against {a:,} baseline rows"
