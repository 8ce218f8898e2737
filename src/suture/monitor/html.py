"""The offline HTML report of a comparison: the verdict table and, per column, the two
distributions overlaid (numbers on common bins, levels side by side).

The page has inline CSS and inline SVG only (see :mod:`suture.monitor._charts`): it fetches
nothing and opens offline.  Every name and value from the data is escaped.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from suture.monitor import drift
from suture.monitor._charts import overlay_svg, paired_bars_svg
from suture.monitor.compare import SMALL_SAMPLE, ColumnDrift, Comparison
from suture.profile import Profile
from suture.report._svg import esc
from suture.report.html import CSS
from suture.sketches._base import ColumnSummary
from suture.sketches.categorical import BooleanSummary, StringSummary
from suture.sketches.numeric import NumericSummary
from suture.sketches.sets import SetSummary

__all__ = ["OVERLAY_BINS", "PAGE_CSS", "render_comparison_html"]

#: Bins of the numeric overlay (equal width between both sides' 0.5th and 99.5th
#: percentiles).
OVERLAY_BINS = 30

_F = npt.NDArray[np.float64]

#: The report's style sheet plus the verdict colours.
PAGE_CSS = (
    CSS
    + """
.verdict { font-weight:600; border-radius:10px; padding:1px 9px; font-size:12.5px; }
.v-ok { background:#e3f4e8; color:#1e6b35; }
.v-watch { background:#fff4d6; color:#7a5b00; }
.v-alert { background:#b2182b; color:#fff; }
table.verdicts { width:100%; }
ul.reasons { margin:6px 0 0; padding-left:18px; }
"""
)


def _badge(verdict: str) -> str:
    return f'<span class="verdict v-{verdict}">{esc(verdict)}</span>'


def _n(x: float, digits: int = 3) -> str:
    return "—" if not math.isfinite(x) else f"{x:.{digits}f}"


def _share(x: float) -> str:
    return "—" if not math.isfinite(x) else f"{x:.2%}"


def _row(c: ColumnDrift, index: int) -> str:
    from suture.monitor.terminal import chi2_text

    ks = _n(c.ks.value) + (f" ±{c.ks_error:.3f}" if math.isfinite(c.ks_error) else "")
    change = "—" if not math.isfinite(c.null_rate_change) else f"{c.null_rate_change:+.3f}"
    cells = [
        f'<td><a href="#col-{index}">{esc(c.name)}</a></td>',
        f"<td>{esc(c.kind)}</td>",
        f"<td>{_badge(c.verdict)}</td>",
        *(f'<td class="n">{v}</td>'
          for v in (_n(c.psi.value), ks, _n(c.js.value), esc(chi2_text(c)), change,
                    _share(c.out_of_contract))),
    ]  # fmt: skip
    return f"<tr>{''.join(cells)}</tr>"


_HEADERS = ("column", "kind", "verdict", "PSI", "KS", "JS", "χ² (p)", "null Δ", "broken")


def _verdict_table(result: Comparison) -> str:
    head = "".join(f'<th class="{"n" if i > 2 else ""}">{h}</th>' for i, h in enumerate(_HEADERS))
    rows = "".join(_row(c, i) for i, c in enumerate(result.columns))
    extra = []
    for side, names in (("baseline", result.only_in_baseline),
                        ("current side", result.only_in_current)):  # fmt: skip
        if names:
            extra.append(f'<p class="note">Only in the {side}: {esc(", ".join(names))}</p>')
    if math.isfinite(result.out_of_contract):
        extra.append(f'<p class="note">Rows breaking the contract: '
                     f"{_share(result.out_of_contract)} of the current side.</p>")  # fmt: skip
    extra += [f'<p class="note">{esc(note)}</p>' for note in result.notes]
    return (
        '<section id="verdicts"><h2>Verdicts</h2>'
        f'<table class="verdicts"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
        f'{"".join(extra)}<p class="note">A metric counts only when its lower bound (net of '
        "the sketches' error) is above its threshold; KS is shown with its sketch bound; "
        "χ² is the chi-square statistic of homogeneity of a categorical column's levels and "
        f"its p-value, used only to guard samples below {SMALL_SAMPLE:,} values.</p>"
        "</section>"
    )


def _numeric_of(s: ColumnSummary) -> NumericSummary | None:
    if isinstance(s, SetSummary):
        return s.sizes
    return s if isinstance(s, NumericSummary) else None


def _numeric_overlay(a: NumericSummary, b: NumericSummary, name: str) -> str:
    ka, kb = a.state.quantiles, b.state.quantiles
    if ka.n == 0 or kb.n == 0:
        return '<p class="empty">No values on one side.</p>'
    lows = ka.get_quantiles([0.005]) + kb.get_quantiles([0.005])
    highs = ka.get_quantiles([0.995]) + kb.get_quantiles([0.995])
    lo, hi = float(min(lows)), float(max(highs))
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, OVERLAY_BINS + 1)

    def shares(k: object) -> _F:
        cdf = drift.kll_cdf(k, edges)  # type: ignore[arg-type]
        # Values below the first edge count in the first bin, above the last in the last.
        inner = np.diff(cdf)
        inner[0] += cdf[0]
        inner[-1] += 1.0 - cdf[-1]
        return np.asarray(inner, dtype=np.float64)

    label = f"{name}: baseline and current distributions"
    return overlay_svg(edges, shares(ka), shares(kb), label=label)


def _levels_overlay(
    a: StringSummary | BooleanSummary, b: StringSummary | BooleanSummary, name: str
) -> str:
    if a.count - a.nulls == 0 or b.count - b.nulls == 0:
        return '<p class="empty">No values on one side.</p>'
    levels = drift._binned_levels(a, b, drift.MAX_LEVELS)
    p, _ = drift._masses(drift._counts(a, levels))
    q, _ = drift._masses(drift._counts(b, levels))
    labels = [*levels, "(other)"]
    if q[-1] == 0 and p[-1] == 0:
        labels, p, q = labels[:-1], p[:-1], q[:-1]
    return paired_bars_svg(labels, p, q, label=f"{name}: baseline and current level shares")


def _chart(c: ColumnDrift, profiles: tuple[Profile, Profile] | None) -> str:
    if profiles is None or c.kind in ("identifier", "type change"):
        return ""
    a, b = profiles[0][c.name], profiles[1][c.name]
    na, nb = _numeric_of(a), _numeric_of(b)
    if na is not None and nb is not None:
        return _numeric_overlay(na, nb, c.name)
    if isinstance(a, StringSummary | BooleanSummary) and isinstance(
        b, StringSummary | BooleanSummary
    ):
        return _levels_overlay(a, b, c.name)
    return ""


def _column(
    c: ColumnDrift, anchor: str, profiles: tuple[Profile, Profile] | None, where: str = ""
) -> str:
    reasons = "".join(f"<li>{esc(r)}</li>" for r in c.reasons)
    levels = []
    if c.new_levels:
        levels.append(f"New levels ({c.new_count:,}): {esc(', '.join(c.new_levels))}")
    if c.vanished_levels:
        gone = esc(", ".join(c.vanished_levels))
        levels.append(f"Vanished levels ({c.vanished_count:,}): {gone}")
    notes = "".join(f'<p class="note">{x}</p>' for x in levels)
    if c.note:
        notes += f'<p class="note">{esc(c.note)}</p>'
    nulls = " → ".join(_share(x) for x in c.null_rate)
    return (
        f'<section id="{anchor}"><h2>{esc(where)}<span class="name">{esc(c.name)}</span>'
        f'<span class="type">{esc(c.kind)}</span> {_badge(c.verdict)}</h2>'
        f"<figure>{_chart(c, profiles)}<figcaption>Null rate {nulls}; rows "
        f"{c.rows[0]:,} → {c.rows[1]:,}</figcaption></figure>"
        f"{f'<ul class=reasons>{reasons}</ul>' if reasons else ''}{notes}</section>"
    )


def _segments(result: Comparison) -> str:
    if result.by is None:
        return ""
    roll = result.rollup()
    levels = [s.level for s in result.segments]
    head = "".join(f"<th>{esc(x)}</th>" for x in ["column", "whole table", *levels])
    rows = []
    for name, cells in roll.items():
        if name == result.by:
            continue
        tds = [f"<td>{_badge(cells.get('*', 'ok'))}</td>"]
        for i, level in enumerate(levels):
            verdict = cells.get(level, "ok")
            badge = _badge(verdict)
            if verdict != "ok":  # its chart is in the section below
                badge = f'<a href="#{_segment_anchor(i, name)}">{badge}</a>'
            tds.append(f"<td>{badge}</td>")
        rows.append(f"<tr><td>{esc(name)}</td>{''.join(tds)}</tr>")
    only = [f"{side}: {', '.join(lv)}" for side, lv in
            zip(("only in the baseline", "only in the current side"), result.segments_only,
                strict=True) if lv]  # fmt: skip
    extra = f'<p class="note">{esc("; ".join(only))}</p>' if only else ""
    return (
        f'<section id="segments"><h2>Segments by {esc(result.by)}</h2>'
        f'<table class="verdicts"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}'
        f"</tbody></table>{extra}</section>"
    )


def _segment_anchor(index: int, column: str) -> str:
    return f"seg-{index}-{''.join(ch if ch.isalnum() else '_' for ch in column)}"


def _segment_columns(result: Comparison) -> list[str]:
    """A section with the overlay of each column that is not ok within a segment, so drift
    hidden in one segment is seen, not only counted in the roll-up."""
    return [
        _column(
            c, _segment_anchor(i, c.name), s.comparison.profiles, where=f"{result.by} = {s.level}: "
        )
        for i, s in enumerate(result.segments)
        for c in s.comparison.columns
        if c.verdict != "ok"
    ]


def _performance(result: Comparison) -> str:
    if result.performance is None:
        return ""
    from suture.monitor.terminal import performance_lines

    lines = performance_lines(result.performance)
    items = "".join(f"<li>{esc(line.strip())}</li>" for line in lines[1:])
    return (
        f'<section id="performance"><h2>Performance before labels</h2><p>{esc(lines[0])}</p>'
        f"<ul>{items}</ul></section>"
    )


def render_comparison_html(result: Comparison) -> str:
    """The comparison as one self-contained HTML page.

    Parameters
    ----------
    result : Comparison
        From :func:`suture.compare` (which keeps both sides' profiles for the charts;
        without them the page has the tables only).

    Returns
    -------
    str
        An HTML page with inline CSS and SVG; it references no external resource.
    """
    a, b = result.rows
    sources = " vs ".join(esc(s) for s in result.sources)
    header = (
        f"<header><h1>suture compare: <span class=src>{sources}</span></h1>"
        '<div class="facts">'
        f'<div class="fact"><b>{_badge(result.verdict)}</b><span>verdict</span></div>'
        f'<div class="fact"><b>{a:,}</b><span>baseline rows</span></div>'
        f'<div class="fact"><b>{b:,}</b><span>current rows</span></div>'
        f'<div class="fact"><b>{len(result.columns):,}</b><span>columns</span></div>'
        "</div></header>"
    )
    body = [
        header,
        "<main>",
        _verdict_table(result),
        _segments(result),
        _performance(result),
        *(_column(c, f"col-{i}", result.profiles) for i, c in enumerate(result.columns)),
        *_segment_columns(result),
        "<footer>Made by suture. Self-contained: no scripts, fonts or images are fetched."
        "</footer></main>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>suture compare: {sources}</title><style>{PAGE_CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )
