"""The profile as a readable summary in the terminal, with rich tables."""

from __future__ import annotations

from collections.abc import Sequence

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
_NAME_MIN = 14
_NUMERIC_DROP = (("p25", "p75"), ("std",), ("mean",), ("p99",))
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
    error, the HyperLogLog relative error (where a distinct count is estimated: each such
    count also shows it, exact counts show none) and the widest top-value count interval;
    each top-value count that is not exact shows its interval ``lower–upper``.  Values
    from the data are printed as plain text, never interpreted as rich markup.
    """
    out = console if console is not None else Console()
    out.print(_header(profile))
    numeric = [s for s in profile.values() if type(s) is NumericSummary]
    temporal = [s for s in profile.values() if isinstance(s, TemporalSummary)]
    texts = [s for s in profile.values() if f.is_text_like(s)]
    if not len(profile):
        out.print(Text("The profile has no columns.", style="italic"))
    if numeric:
        out.print(_numeric_table(numeric, out.width))
    if temporal:
        out.print(_temporal_table(temporal, out.width))
    if texts:
        out.print(_text_table(texts, max_top, out.width))
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
        show_edge=False,
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


def _fitted(
    title: str,
    columns: Sequence[ColumnSummary],
    cells: dict[str, list[Text]],
    drop: Sequence[tuple[str, ...]],
    width: int,
) -> Table:
    """A table of the columns' cells, leaving out the ``drop`` cells (in order) that do not fit.

    Rich squeezes the wrappable name column to nothing when a table is too wide, so the
    widths are planned here: the name keeps at least ``_NAME_MIN`` characters.
    """

    def need(head: str) -> int:
        lines = [len(line) for cell in cells[head] for line in cell.plain.split("\n")]
        return max([len(head), *lines]) + 2  # one space of padding, one of divider

    kept, hidden = list(cells), list[str]()
    for group in drop:
        if sum(need(h) for h in kept) + _NAME_MIN <= width:
            break
        kept = [h for h in kept if h not in group]
        hidden += group
    table = _table(title)
    if hidden:
        table.caption = f"Left out to fit {width} characters: {', '.join(hidden)}."
        table.caption_justify, table.caption_style = "left", "dim"
    table.add_column("column", overflow="fold", min_width=_NAME_MIN)
    for head in kept:
        left = head.startswith("top values")
        table.add_column(head, justify="left" if left else "right", no_wrap=True)
    for i, summary in enumerate(columns):
        table.add_row(_name(summary), *(cells[head][i] for head in kept))
    return table


def _numeric_table(columns: list[NumericSummary], width: int) -> Table:
    quantiles = {
        name: [Text(f.short(float(s.quantile(q)))) for s in columns]
        for name, q in zip(("p25", "p50", "p75", "p99"), f.QUANTILES, strict=True)
    }
    cells = {
        "nulls": [Text(f.null_share_of(s)) for s in columns],
        "distinct": [_distinct(s) for s in columns],
        "min": [Text(f.short(float(s.min))) for s in columns],
        **quantiles,
        "max": [Text(f.short(float(s.max))) for s in columns],
        "mean": [Text(f.short(s.mean)) for s in columns],
        "std": [Text(f.short(s.std)) for s in columns],
    }
    return _fitted("Numeric columns", columns, cells, _NUMERIC_DROP, width)


def _temporal_table(columns: list[TemporalSummary], width: int) -> Table:
    cells = {
        "nulls": [Text(f.null_share_of(s)) for s in columns],
        "distinct": [_distinct(s) for s in columns],
        "min": [Text(f.value(s, s.min)) for s in columns],
        "median": [Text(f.value(s, s.quantile(0.5).value)) for s in columns],
        "max": [Text(f.value(s, s.max)) for s in columns],
        "std": [Text(f.mean_std(s)[1]) for s in columns],
    }
    return _fitted("Date and time columns", columns, cells, (("std",), ("median",)), width)


def _text_table(columns: list[ColumnSummary], max_top: int, width: int) -> Table:
    value_width = min(_VALUE_WIDTH, max(8, width - 64))
    cells = {
        "nulls": [Text(f.null_share_of(s)) for s in columns],
        "distinct": [_distinct(s) for s in columns],
        "top values (count, share, bounds)": [
            _top_values(s, max_top, value_width) for s in columns
        ],
        "mean len": [Text(_mean_length(s)) for s in columns],
    }
    return _fitted("Text, boolean and set columns", columns, cells, (("mean len",),), width)


def _top_values(s: ColumnSummary, max_top: int, width: int) -> Text:
    if isinstance(s, SetSummary):
        items, total = s.top(max_top), s.elements.count - s.elements.nulls
    elif isinstance(s, StringSummary | BooleanSummary):
        items, total = s.top(max_top), s.count - s.nulls
    else:  # pragma: no cover - only text-like summaries reach here
        return Text()
    text = Text()
    for i, item in enumerate(items):
        label = item.value if len(item.value) <= width else item.value[: width - 1] + "…"
        if i:
            text.append("\n")
        text.append(label.ljust(width + 1))
        text.append(_item_count(item.count.value, item.count.lower, item.count.upper, total))
    return text if items else Text(f.DASH)


def _item_count(value: float, lower: float, upper: float, total: int) -> str:
    share = (
        "" if not total else f" {'<1%' if 0 < value / total < 0.01 else f'{value / total:.0%}':>4}"
    )
    bounds = f.interval(lower, upper)
    return f"{f.count(value):>9}{share}{f' ({bounds})' if bounds else ''}"


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
