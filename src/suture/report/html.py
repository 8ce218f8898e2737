"""The profile as one self-contained HTML page: inline CSS and SVG, nothing fetched."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from suture.errors import OutputError
from suture.profile import Profile
from suture.report import _format as f
from suture.report._svg import Bar, bars_svg, esc, heatmap_svg, histogram_svg
from suture.sketches import (
    BooleanSummary,
    NumericSummary,
    SetSummary,
    StringSummary,
    TemporalSummary,
)
from suture.sketches._base import ColumnSummary
from suture.sketches.quantiles import KLL_CONFIDENCE, kll_histogram

__all__ = ["render_html", "write_html"]

BINS = 20
MAX_BARS = 40
TOP = 10
QUANTILE_TABLE = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)

CSS = """
:root { --ink:#1f2328; --muted:#6a737d; --line:#e4e7eb; --bg:#f5f6f8; --accent:#3b6ea8; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; }
header { background:#1f2937; color:#fff; padding:22px 32px 18px; }
header h1 { margin:0 0 12px; font-size:22px; font-weight:600; }
header h1 .src { color:#9cc3ef; word-break:break-all; }
.facts { display:flex; flex-wrap:wrap; gap:12px; }
.fact { background:rgba(255,255,255,.08); border-radius:8px; padding:8px 14px; min-width:120px; }
.fact b { display:block; font-size:18px; font-variant-numeric:tabular-nums; }
.fact span { color:#c9d1d9; font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
main { max-width:1180px; margin:0 auto; padding:20px 24px 40px; }
section { background:#fff; border:1px solid var(--line); border-radius:10px; padding:16px 20px;
  margin:0 0 18px; }
h2 { font-size:17px; margin:0 0 10px; }
h2 .type, h2 .hint { font-size:12px; font-weight:500; border-radius:10px; padding:2px 8px;
  margin-left:8px; vertical-align:middle; }
h2 .type { background:#eef2f7; color:#44546a; }
h2 .hint { background:#fff4d6; color:#7a5b00; }
table { border-collapse:collapse; font-variant-numeric:tabular-nums; }
th, td { padding:4px 10px; text-align:left; border-bottom:1px solid var(--line);
  vertical-align:top; }
th { font-size:12px; color:var(--muted); font-weight:600; text-transform:uppercase;
  letter-spacing:.03em; }
table.kv th { text-transform:none; letter-spacing:0; font-size:13px; font-weight:500; }
.corr { display:flex; flex-wrap:wrap; gap:24px; align-items:flex-start; }
.corr ul { margin:4px 0 0; padding-left:18px; }
td.n, th.n { text-align:right; white-space:nowrap; }
table.overview { width:100%; }
table.overview td:first-child a { font-weight:600; color:var(--accent); text-decoration:none;
  word-break:break-all; }
.grid { display:grid; grid-template-columns: minmax(300px, 1fr) minmax(420px, 600px); gap:20px; }
.grid > div > table { margin-bottom:12px; width:100%; }
figure { margin:0; }
figcaption, .note { color:var(--muted); font-size:12.5px; margin-top:6px; }
svg.chart { max-width:100%; height:auto; display:block; }
svg text { font-size:12px; fill:var(--ink); }
svg text.tick, svg text.axis { fill:var(--muted); }
svg text.count { fill:var(--muted); }
svg text.cell { font-size:10px; }
.bounds li { margin-bottom:4px; }
.empty { color:var(--muted); font-style:italic; }
table.quantiles { width:100%; margin-top:14px; }
table.quantiles td.n { white-space:normal; }
table.kv th { white-space:nowrap; }
table.quantiles tr.bound td { color:var(--muted); font-size:12.5px; }
table.quantiles tr.bound th { font-weight:500; }
footer { color:var(--muted); font-size:12px; text-align:center; margin-top:24px; }
"""


def render_html(profile: Profile) -> str:
    """The report of ``profile`` as one self-contained HTML document.

    Parameters
    ----------
    profile : Profile

    Returns
    -------
    str
        An HTML page with inline CSS and inline SVG charts; it references no external
        file, font, script or style sheet, so it opens offline.

    Notes
    -----
    Every column name and value from the data is HTML-escaped.  Approximate numbers are
    shown with their bounds: quantiles with the values at ``q ± rank error`` (99%),
    estimated distinct counts with their 95% interval (exact ones say so), top-value
    counts that are not exact with their deterministic interval ``lower–upper``.  Exact
    integer and decimal extremes are written in full.
    """
    meta = profile.metadata
    source = str(meta.get("source", "unknown source"))
    body = [
        _header(profile, source),
        "<main>",
        _overview(profile),
        _bounds(profile),
        _correlations(profile),
        *(_column(i, s) for i, s in enumerate(profile.values())),
        f"<footer>Made by suture {esc(meta.get('suture_version', ''))}. "
        "Self-contained: no scripts, fonts or images are fetched.</footer>",
        "</main>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>suture profile: {esc(source)}</title><style>{CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )


def write_html(profile: Profile, path: str | Path) -> Path:
    """Write :func:`render_html` of ``profile`` to ``path`` (UTF-8) and return the path.

    Parameters
    ----------
    profile : Profile
    path : str or pathlib.Path
        Any file path, whatever its name or suffix (the CLI passes a temporary path
        from :func:`suture.bundle.atomic_outputs` and renames it into place).  The
        page is rendered in full before the file is opened, so a rendering error
        leaves no file behind.

    Raises
    ------
    OutputError
        When the file cannot be written (a missing folder, a folder in the way, no
        permission); the message names the path and the reason.
    """
    target = Path(path)
    page = render_html(profile)
    try:
        target.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise OutputError(
            f"{target}: cannot write the report ({exc.strerror or exc}); "
            "choose a writable path for the HTML report"
        ) from None
    return target


def _header(profile: Profile, source: str) -> str:
    meta = profile.metadata
    facts = [
        (f.count(profile.row_count), "rows"),
        (f.count(len(profile)), "columns"),
        (str(meta.get("created", f.DASH)), "created"),
        (str(meta.get("suture_version", f.DASH)), "suture version"),
        (str(meta.get("engine", f.DASH)), "engine"),
    ]
    cards = "".join(f'<div class="fact"><b>{esc(v)}</b><span>{k}</span></div>' for v, k in facts)
    return (
        f'<header><h1>Profile of <span class="src">{esc(source)}</span></h1>'
        f'<div class="facts">{cards}</div></header>'
    )


def _overview(profile: Profile) -> str:
    if not len(profile):
        return '<section id="overview"><h2>Columns</h2><p class="empty">No columns.</p></section>'
    rows = "".join(
        f'<tr><td><a href="#col-{i}">{esc(s.name)}</a></td><td>{esc(f.type_name(s))}</td>'
        f'<td class="n">{f.null_share_of(s)}</td>'
        f'<td class="n">{esc(f.distinct_text(f.distinct_of(s)))}</td>'
        f"<td>{esc(_gist(s))}</td><td>{esc(f.hints_text(s))}</td></tr>"
        for i, s in enumerate(profile.values())
    )
    head = (
        '<tr><th>column</th><th>type</th><th class="n">nulls</th><th class="n">distinct</th>'
        "<th>range or most frequent</th><th>hints</th></tr>"
    )
    return (
        f'<section id="overview"><h2>Columns</h2><table class="overview">{head}{rows}</table>'
        "</section>"
    )


def _gist(s: ColumnSummary) -> str:
    if isinstance(s, NumericSummary):
        if not s.finite:
            return f.DASH
        return f"{f.value(s, s.min)} … {f.value(s, s.max)}"
    top = s.top(1) if isinstance(s, StringSummary | BooleanSummary | SetSummary) else []
    if not top:
        return f.DASH
    present = _present(s)
    share = f" ({_share(top[0].count.value, present)})" if present else ""
    return f"{_clip(top[0].value)}{share}"


def _share(part: float, whole: float) -> str:
    share = part / whole
    return "<1%" if 0 < share < 0.01 else f"{share:.0%}"


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _present(s: ColumnSummary) -> int:
    if isinstance(s, SetSummary):
        return int(s.elements.count - s.elements.nulls)
    rows, nulls = f.rows_nulls(s)
    return rows - nulls


def _bounds(profile: Profile) -> str:
    items = "".join(f"<li>{esc(line)}</li>" for line in f.error_bounds(profile).sentences())
    return (
        '<section id="bounds"><h2>How exact these numbers are</h2>'
        f'<ul class="bounds">{items}</ul></section>'
    )


def _correlations(profile: Profile) -> str:
    corr = profile.correlation
    if len(corr.columns) < 2:
        return ""
    if not np.isfinite(corr.matrix).any():
        return (
            '<section id="correlations"><h2>Correlations</h2><p class="empty">No pair of '
            "numeric columns has two rows with values that vary.</p></section>"
        )
    pairs = f.strong_pairs(profile)
    listed = "".join(
        f"<li><b>{esc(p.left)}</b> and <b>{esc(p.right)}</b>: r = {p.r:+.3f} "
        f"({f.count(p.rows)} rows)</li>"
        for p in pairs[:15]
    )
    strongest = (
        f"<p><b>Strongest pairs</b> (|r| ≥ 0.5)</p><ul>{listed}</ul>"
        if pairs
        else '<p class="note">No pair of numeric columns has |r| ≥ 0.5.</p>'
    )
    return (
        '<section id="correlations"><h2>Correlations</h2><div class="corr">'
        f"{heatmap_svg(corr.columns, corr.matrix, corr.pair_counts)}<div>{strongest}</div></div>"
        '<p class="note">Pearson correlation over the rows where both columns are finite, '
        "computed exactly from co-moments. Hover a cell for the pair and its row count.</p>"
        "</section>"
    )


def _kv(rows: list[tuple[str, str]]) -> str:
    body = "".join(f'<tr><th>{esc(k)}</th><td class="n">{esc(v)}</td></tr>' for k, v in rows)
    return f'<table class="kv">{body}</table>'


def _with_share(n: int, whole: int) -> str:
    return f"{f.count(n)} ({f.null_share(n, whole)})" if n else "0"


def _distinct_words(s: ColumnSummary) -> str:
    e = f.distinct_of(s)
    if e.lower == e.upper:
        return f"{f.count(e.value)} (exact)"
    if f.count(e.lower) == f.count(e.upper):
        return f.count(e.value)
    bounds = f"between {f.count(e.lower)} and {f.count(e.upper)}"
    return f"{f.count(e.value)} ({bounds}, {e.confidence:.0%})"


def _column(index: int, s: ColumnSummary) -> str:
    hints = f.hints_text(s)
    title = (
        f'<h2><span class="name">{esc(s.name)}</span>'
        f'<span class="type">{esc(f.type_name(s))}</span>'
        + (f'<span class="hint">{esc(hints)}</span>' if hints else "")
        + "</h2>"
    )
    below = ""
    if isinstance(s, NumericSummary):
        facts, chart, below = _numeric_facts(s), _histogram(s), _quantiles(s)
    elif isinstance(s, StringSummary | BooleanSummary | SetSummary):
        facts, chart = _text_facts(s), _top_chart(s)
    else:  # pragma: no cover - the profile only makes the summaries above
        facts, chart = "", ""
    return (
        f'<section class="column" id="col-{index}">{title}'
        f'<div class="grid"><div>{facts}</div><figure>{chart}</figure></div>{below}</section>'
    )


def _numeric_facts(s: NumericSummary) -> str:
    mean, std = f.mean_std(s)
    rows = [
        ("rows", f.count(s.count)),
        ("nulls", _with_share(s.nulls, s.count)),
        ("distinct", _distinct_words(s)),
    ]
    if not isinstance(s, TemporalSummary):
        rows += [
            ("NaN / +inf / −inf", " / ".join(f.count(n) for n in (s.nans, s.pos_inf, s.neg_inf))),
            ("zeros / negatives", f"{f.count(s.zeros)} / {f.count(s.negatives)}"),
        ]
    rows += [("min / max", f"{f.value(s, s.min)} / {f.value(s, s.max)}")]
    rows += [("mean", mean), ("standard deviation", std)]
    if not isinstance(s, TemporalSummary):
        rows += [("skewness / kurtosis", f"{f.num(s.skewness)} / {f.num(s.kurtosis)}")]
    return _kv(rows)


def _quantiles(s: NumericSummary) -> str:
    """Quantiles across, with the values at ``q ± rank error`` as bounds below them."""
    if not s.finite:
        return ""
    estimates = [s.quantile(q) for q in QUANTILE_TABLE]
    head = "".join(f'<th class="n">{q:.0%}</th>' for q in QUANTILE_TABLE)
    exact_min, exact_max = esc(f.value(s, s.min)), esc(f.value(s, s.max))

    def row(name: str, pick: str, cls: str = "") -> str:
        cells = "".join(
            f'<td class="n">{esc(f.value(s, getattr(e, pick)))}</td>' for e in estimates
        )
        return (
            f'<tr class="{cls}"><th>{name}</th><td class="n">{exact_min}</td>{cells}'
            f'<td class="n">{exact_max}</td></tr>'
        )

    return (
        f'<table class="quantiles"><tr><th>quantile</th><th class="n">min</th>{head}'
        f'<th class="n">max</th></tr>{row("value", "value")}'
        f"{row('lower bound', 'lower', 'bound')}{row('upper bound', 'upper', 'bound')}</table>"
        f'<p class="note">Quantiles from the KLL sketch: the true value at each rank lies between '
        f"the bounds with {KLL_CONFIDENCE:.0%} confidence (rank error ±{s.rank_error:.2%}); "
        "min and max are exact.</p>"
    )


def _histogram(s: NumericSummary) -> str:
    if not s.finite:
        return '<p class="empty">No finite values to chart.</p>'
    lo, hi = float(s.state.min), float(s.state.max)
    whole = not isinstance(s, TemporalSummary) and s.all_integers and hi - lo < MAX_BARS
    if whole:
        # One bar per whole number, centred on it.
        low, high = lo - 0.5, hi + 0.5
        hist = kll_histogram(s.state.quantiles, low, high, round(high - low))
    else:
        hist = s.histogram(BINS)
    counts, edges = hist.counts, hist.edges.tolist()
    bins = len(counts)
    if whole:
        values = [f.num(e + 0.5) for e in edges[:-1]]
        tips = [f"{v}: about {f.count(c)} values" for v, c in zip(values, counts, strict=True)]
        picks = sorted({round(i) for i in np.linspace(0, bins - 1, min(bins, 9))})
        ticks = [((i + 0.5) / bins, values[i]) for i in picks]
    else:
        labels = [_edge(s, e) for e in edges]
        tips = [
            f"{labels[i]} to {labels[i + 1]}: about {f.count(c)} values"
            for i, c in enumerate(counts)
        ]
        picks = sorted({0, bins // 4, bins // 2, (3 * bins) // 4, bins}) if bins > 1 else [0, 1]
        ticks = [(i / bins, labels[i]) for i in picks]
    svg = histogram_svg(counts, ticks, tips, label=f"Histogram of {s.name}")
    spread = hist.rank_error * s.finite
    exact = "exact" if spread < 0.5 else f"within ±{f.count(spread)} values"
    how = "one bar per whole number" if whole else f"{bins} equal-width bins from min to max"
    if bins == 1:
        how = "one bar: every finite value is the same"
    return (
        f"{svg}<figcaption>Histogram, {how}, read from the KLL sketch: each bar's count is "
        f"{exact} at {KLL_CONFIDENCE:.0%} confidence. Hover a bar for its range.</figcaption>"
    )


def _edge(s: NumericSummary, edge: float) -> str:
    if not isinstance(s, TemporalSummary):
        return f.short(edge)
    moment = s.to_value(edge)
    span = (s.max_ticks - s.min_ticks) * f.tick_seconds(s.arrow_type)
    if isinstance(moment, dt.datetime) and span >= 3 * 86400:
        return moment.date().isoformat()  # whole days are precise enough for the axis
    return f.ticks(s, edge)


def _text_facts(s: StringSummary | BooleanSummary | SetSummary) -> str:
    rows = [("rows", f.count(s.count)), ("nulls", _with_share(s.nulls, s.count))]
    if isinstance(s, BooleanSummary):
        rows += [("true", _with_share(s.true, s.count)), ("false", _with_share(s.false, s.count))]
        return _kv(rows)
    text = s.elements if isinstance(s, SetSummary) else s
    if isinstance(s, SetSummary):
        rows += [
            ("elements", f.count(text.count)),
            ("distinct elements", _distinct_words(s)),
            (
                "items per row: min / mean / max",
                _triple(float(s.sizes.min), s.sizes.mean, float(s.sizes.max)),
            ),
        ]
    else:
        rows += [("distinct", _distinct_words(s)), ("empty strings", _with_share(s.empty, s.count))]
    rows.append(
        ("length: min / mean / max", _triple(text.min_length, text.mean_length, text.max_length))
    )
    present = text.count - text.nulls
    for what in ("numeric", "boolean", "timestamp"):
        n = text.looks_like(what)
        if n:
            rows.append((f"looks {what}", _with_share(n, present)))
    if s.parse_failures:
        rows.append(("fail to parse", f.count(s.parse_failures)))
    return _kv(rows)


def _triple(a: float, b: float, c: float) -> str:
    return " / ".join(f.num(x) for x in (a, b, c))


def _top_chart(s: StringSummary | BooleanSummary | SetSummary) -> str:
    items = s.top(TOP)
    if not items:
        return '<p class="empty">No values to chart.</p>'
    present = _present(s)
    bars = [Bar(i.value, i.count.value, i.count.lower, i.count.upper) for i in items]
    rest = present - sum(b.value for b in bars)
    if rest >= 0.5:
        bars.append(Bar("(all other values)", rest, rest, rest, other=True))
    svg = bars_svg(bars, present, label=f"Most frequent values of {s.name}")
    error = (
        0
        if isinstance(s, BooleanSummary)
        else (s.elements.top_error if isinstance(s, SetSummary) else s.top_error)
    )
    words = (
        "Counts are exact."
        if error == 0
        else "Counts come from a frequent-items sketch: the true count lies in the interval "
        f"shown beside it and drawn as a whisker, for certain (each at most {f.count(error)} "
        "wide); the remainder bar is approximate."
    )
    what = "elements" if isinstance(s, SetSummary) else "values"
    return f"{svg}<figcaption>The {len(items)} most frequent {what}. {words}</figcaption>"
