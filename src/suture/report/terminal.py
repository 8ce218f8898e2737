"""The profile as a readable summary in the terminal, with rich tables."""

from __future__ import annotations

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from suture.profile import Profile
from suture.report import _format as f
from suture.sketches import (
    BooleanSummary,
    NumericSummary,
    SetSummary,
    StringSummary,
    TemporalSummary,
)
from suture.sketches._base import ColumnSummary

__all__ = ["render_terminal"]

MAX_PAIRS = 10
_VALUE_WIDTH = 22


def render_terminal(profile: Profile, console: Console | None = None, *, max_top: int = 5) -> None:
    """Print a summary of ``profile``: header, column tables, error bounds, correlations.

    Parameters
    ----------
    profile : Profile
        What to summarize (a fresh or a loaded profile; an empty one works too).
    console : rich.console.Console, optional
        Where to print; a new console on standard output by default.
    max_top : int, default 5
        How many top values to list per text, boolean or set column.

    Notes
    -----
    Numeric columns show quantiles as point estimates; the footer states the KLL rank
    error, the HyperLogLog relative error and the largest top-value count error, so each
    approximate number has its bound.  Values from the data are printed as plain text,
    never interpreted as rich markup.
    """
    out = console if console is not None else Console()
    out.print(_header(profile))
    numeric = [s for s in profile.values() if type(s) is NumericSummary]
    temporal = [s for s in profile.values() if isinstance(s, TemporalSummary)]
    texts = [s for s in profile.values() if f.is_text_like(s)]
    if not len(profile):
        out.print(Text("The profile has no columns.", style="italic"))
    if numeric:
        out.print(_numeric_table(profile, numeric))
    if temporal:
        out.print(_temporal_table(profile, temporal))
    if texts:
        out.print(_text_table(profile, texts, max_top))
    out.print(Text(f.error_bounds(profile).short(), style="dim"))
    pairs = f.strong_pairs(profile)
    if len(profile.correlation.columns) >= 2:
        out.print(_correlations(pairs))


def _header(profile: Profile) -> RenderableType:
    meta = profile.metadata
    title = Text("suture profile", style="bold")
    title.append(f"  {meta.get('source', 'unknown source')}", style="cyan")
    facts = Text()
    facts.append(f"{f.count(profile.row_count)} rows", style="bold")
    facts.append(" × ")
    facts.append(f"{len(profile)} columns", style="bold")
    facts.append(f"   created {meta.get('created', f.DASH)}", style="dim")
    facts.append(f"   suture {meta.get('suture_version', f.DASH)}", style="dim")
    return Group(title, facts, Text())


def _table(title: str) -> Table:
    return Table(
        title=title,
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        header_style="bold",
        pad_edge=False,
        padding=(0, 0, 0, 1),
        expand=False,
    )


def _name(summary: ColumnSummary) -> Text:
    """The column name, and below it, dimmed, its type and hints."""
    text = Text(summary.name, style="bold cyan")
    text.append(f"\n{f.type_name(summary)}", style="dim")
    hints = f.hints_text(summary)
    if hints:
        text.append(" · ", style="dim")
        text.append(hints, style="yellow" if summary.parse_failures else "dim")
    return text


def _distinct(summary: ColumnSummary) -> Text:
    """The distinct estimate, and below it, dimmed, its relative bound when not exact."""
    value, _, bound = f.distinct_text(f.distinct_of(summary)).partition(" ")
    return Text(value) + Text(f"\n{bound}", style="dim") if bound else Text(value)


def _name_column(table: Table) -> None:
    table.add_column("column", overflow="fold", min_width=12, ratio=1)


def _numeric_table(profile: Profile, columns: list[NumericSummary]) -> Table:
    table = _table("Numeric columns")
    _name_column(table)
    for head in ("nulls", "distinct", "min", "p25", "p50", "p75", "p99", "max", "mean", "std"):
        table.add_column(head, justify="right", no_wrap=True)
    for s in columns:
        table.add_row(
            _name(s),
            f.null_share(s.nulls, s.count),
            _distinct(s),
            f.short(s.min),
            *(f.short(float(s.quantile(q))) for q in f.QUANTILES),
            f.short(s.max),
            f.short(s.mean),
            f.short(s.std),
        )
    return table


def _temporal_table(profile: Profile, columns: list[TemporalSummary]) -> Table:
    table = _table("Date and time columns")
    _name_column(table)
    for head in ("nulls", "distinct", "min", "median", "max", "std"):
        table.add_column(head, justify="right", no_wrap=True)
    for s in columns:
        _, std = f.mean_std(s)
        table.add_row(
            _name(s),
            f.null_share(s.nulls, s.count),
            _distinct(s),
            f.value(s, s.min),
            f.value(s, s.quantile(0.5).value),
            f.value(s, s.max),
            std,
        )
    return table


def _text_table(profile: Profile, columns: list[ColumnSummary], max_top: int) -> Table:
    table = _table("Text, boolean and set columns")
    _name_column(table)
    table.add_column("nulls", justify="right", no_wrap=True)
    table.add_column("distinct", justify="right", no_wrap=True)
    table.add_column("top values (count, share, ± bound)", no_wrap=True)
    table.add_column("mean len", justify="right", no_wrap=True)
    for s in columns:
        table.add_row(
            _name(s),
            f.null_share_of(s),
            _distinct(s),
            _top_values(s, max_top),
            _mean_length(s),
        )
    return table


def _top_values(s: ColumnSummary, max_top: int) -> Text:
    if isinstance(s, SetSummary):
        items, total = s.top(max_top), s.elements.count - s.elements.nulls
    elif isinstance(s, StringSummary | BooleanSummary):
        items, total = s.top(max_top), s.count - s.nulls
    else:  # pragma: no cover - only text-like summaries reach here
        return Text()
    text = Text()
    for i, item in enumerate(items):
        label = item.value if len(item.value) <= _VALUE_WIDTH else item.value[: _VALUE_WIDTH - 1]
        if label != item.value:
            label += "…"
        if i:
            text.append("\n")
        text.append(label.ljust(_VALUE_WIDTH + 1))
        text.append(_item_count(item.count.value, item.count.lower, item.count.upper, total))
    return text if items else Text(f.DASH)


def _item_count(value: float, lower: float, upper: float, total: int) -> str:
    share = (
        "" if not total else f" {'<1%' if 0 < value / total < 0.01 else f'{value / total:.0%}':>4}"
    )
    bound = f" ±{f.count(max(upper - value, value - lower))}" if upper > lower else ""
    return f"{f.count(value):>9}{share}{bound}"


def _mean_length(s: ColumnSummary) -> str:
    if isinstance(s, StringSummary):
        return f.num(s.mean_length)
    if isinstance(s, SetSummary):
        return f"{f.num(s.sizes.mean)} items"
    return f.DASH


def _correlations(pairs: list[f.StrongPair]) -> RenderableType:
    title = Text("\nStrongest correlations", style="bold")
    if not pairs:
        return Group(title, Text("No pair of numeric columns has |r| ≥ 0.5.", style="dim"))
    table = Table(box=None, show_header=False, pad_edge=False, padding=(0, 1))
    table.add_column(overflow="fold")
    table.add_column(justify="right", no_wrap=True)
    table.add_column(style="dim", no_wrap=True)
    for p in pairs[:MAX_PAIRS]:
        style = "red" if p.r > 0 else "blue"
        pair = Text(p.left, style="cyan") + Text(" ~ ") + Text(p.right, style="cyan")
        table.add_row(pair, Text(f"r = {p.r:+.3f}", style=style), f"({f.count(p.rows)} rows)")
    more = len(pairs) - MAX_PAIRS
    note = Text(f"… and {more} more pairs with |r| ≥ 0.5", style="dim") if more > 0 else Text()
    return Group(title, table, note)
