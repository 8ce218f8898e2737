"""The offline HTML timeline of ``suture monitor``: per column, one small chart per metric
over the periods, anomalies in red; first the alerts against the baseline (as ``suture
compare`` judges them), the anomalies, and what the timeline cannot tell yet."""

from __future__ import annotations

import math

from suture.monitor._charts import line_svg
from suture.monitor.html import PAGE_CSS
from suture.monitor.series import METRIC_NAMES, MIN_MOVE, Timeline, robust_anomalies
from suture.report._svg import esc

__all__ = ["render_timeline_html"]

_EXTRA_CSS = """
.charts { display:flex; flex-wrap:wrap; gap:14px; }
.charts figure { width:340px; }
.charts figcaption { font-weight:600; color:var(--ink); }
"""
_TITLES = {
    "rows": "rows", "mean": "mean", "p05": "5th percentile", "p50": "median",
    "p95": "95th percentile", "null_rate": "null rate", "distinct": "distinct values",
    "psi_baseline": "PSI vs baseline", "ks_baseline": "KS vs baseline",
    "js_baseline": "JS vs baseline", "psi_previous": "PSI vs previous",
    "ks_previous": "KS vs previous", "js_previous": "JS vs previous",
}  # fmt: skip


def _value(x: float) -> str:
    return "—" if not math.isfinite(x) else f"{x:.4g}"


def _anomaly_table(timeline: Timeline) -> str:
    found = timeline.anomalies()
    if not found:
        return '<section id="anomalies"><h2>Anomalies</h2><p class="note">None.</p></section>'
    rows = "".join(
        f"<tr><td>{esc(a['period'])}</td><td>{esc(a['column'])}</td>"
        f"<td>{esc(_TITLES[a['metric']])}</td><td class=n>{_value(a['value'])}</td>"
        f"<td class=n>{_value(a['z'])}</td></tr>"
        for a in found
    )
    return (
        '<section id="anomalies"><h2>Anomalies</h2><table class="verdicts"><thead><tr>'
        "<th>period</th><th>column</th><th>metric</th><th class=n>value</th>"
        f"<th class=n>robust z</th></tr></thead><tbody>{rows}</tbody></table>"
        '<p class="note">A point is an anomaly when its robust z-score against the '
        "periods before it (median and MAD, at least 5 of them) is beyond ±3.5; the scale "
        "is at least 1% of the median, and drift metrics must move at least 0.1, null "
        "rates one percentage point.</p></section>"
    )


def _alert_table(timeline: Timeline) -> str:
    found = timeline.alerts()
    if not found:
        body = '<p class="note">None.</p>'
    else:
        rows = "".join(
            f"<tr><td>{esc(a['period'])}</td><td>{esc(a['column'])}</td>"
            f"<td>{esc(a['verdict'])}</td><td>{'<br>'.join(esc(r) for r in a['reasons'])}</td>"
            f"<td class=n>{_value(_nan(a['ks_error']))}</td></tr>"
            for a in found
        )
        body = (
            '<table class="verdicts"><thead><tr><th>period</th><th>column</th><th>verdict</th>'
            f"<th>reasons</th><th class=n>KS bound ±</th></tr></thead><tbody>{rows}</tbody>"
            "</table>"
        )
    return (
        '<section id="alerts"><h2>Alerts against the baseline</h2>'
        f"{body}"
        '<p class="note">Each period is compared with the baseline as <code>suture compare'
        "</code> compares two profiles (default thresholds, a metric counts only beyond its "
        "threshold plus the sketches' error bound); a column whose verdict is alert is "
        "listed here.</p></section>"
    )


def _nan(x: float | None) -> float:
    return math.nan if x is None else x


def _notes(timeline: Timeline) -> str:
    if not timeline.notes:
        return ""
    items = "".join(f"<li>{esc(n)}</li>" for n in timeline.notes)
    return f'<section id="notes"><h2>Notes</h2><ul class="note">{items}</ul></section>'


def _column(timeline: Timeline, index: int, column: str) -> str:
    labels = [p.name for p in timeline.periods]
    charts = []
    for metric in METRIC_NAMES:
        values = timeline.series(column, metric)
        if not any(math.isfinite(v) for v in values):
            continue
        flags, _ = robust_anomalies(values, min_move=MIN_MOVE.get(metric, 0.0))
        svg = line_svg(labels, values, flags, label=f"{column}: {_TITLES[metric]}")
        charts.append(f"<figure><figcaption>{esc(_TITLES[metric])}</figcaption>{svg}</figure>")
    return (
        f'<section id="col-{index}"><h2><span class="name">{esc(column)}</span></h2>'
        f'<div class="charts">{"".join(charts)}</div></section>'
    )


def render_timeline_html(timeline: Timeline) -> str:
    """The timeline as one self-contained HTML page (inline CSS and SVG only)."""
    periods = timeline.periods
    span = f"{periods[0].name} to {periods[-1].name}"
    header = (
        f"<header><h1>suture monitor: <span class=src>{esc(span)}</span></h1>"
        '<div class="facts">'
        f'<div class="fact"><b>{len(periods):,}</b><span>periods</span></div>'
        f'<div class="fact"><b>{len(timeline.columns):,}</b><span>columns</span></div>'
        f'<div class="fact"><b>{len(timeline.anomalies()):,}</b><span>anomalies</span></div>'
        f'<div class="fact"><b>{len(timeline.alerts()):,}</b><span>alerts</span></div>'
        f'<div class="fact"><b>{esc(timeline.baseline)}</b><span>baseline</span></div>'
        "</div></header>"
    )
    body = [
        header, "<main>", _notes(timeline), _alert_table(timeline), _anomaly_table(timeline),
        *(_column(timeline, i, c) for i, c in enumerate(timeline.columns)),
        "<footer>Made by suture. Self-contained: no scripts, fonts or images are fetched."
        "</footer></main>",
    ]  # fmt: skip
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>suture monitor: {esc(span)}</title><style>{PAGE_CSS}{_EXTRA_CSS}</style>"
        f"</head><body>{''.join(body)}</body></html>\n"
    )
