"""Inline SVG charts of the drift pages: two distributions overlaid, paired level bars, and
a metric's time series.  Every data string passes through :func:`suture.report._svg.esc`;
no scripts, fonts or external references, so the pages open offline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from suture.report import _format as f
from suture.report._svg import BAR, GRID, INK, MUTED, esc

__all__ = ["ALERT", "CURRENT", "line_svg", "overlay_svg", "paired_bars_svg"]

#: The current side's colour (the baseline's is the report's blue).
CURRENT = "#d9822b"
#: Anomalies and alerts.
ALERT = "#b2182b"

_F = npt.NDArray[np.float64]


def _open(width: float, height: float, kind: str, label: str) -> str:
    return (
        f'<svg class="chart {kind}" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'aria-label="{esc(label)}">'
    )


def _text(x: float, y: float, body: str, *, anchor: str = "start", cls: str = "tick") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" class="{cls}">{esc(body)}</text>'


def _legend(x: float, y: float) -> str:
    return (
        f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" fill="{BAR}" '
        f'fill-opacity="0.55"/>{_text(x + 14, y, "baseline", cls="axis")}'
        f'<rect x="{x + 84:.1f}" y="{y - 9:.1f}" width="10" height="10" fill="{CURRENT}"/>'
        f"{_text(x + 98, y, 'current', cls='axis')}"
    )


def overlay_svg(edges: _F, baseline: _F, current: _F, *, label: str) -> str:
    """Baseline shares as bars and current shares as a step line, on common ``edges``."""
    width, height = 560.0, 220.0
    left, right, top, bottom = 52.0, 16.0, 22.0, 30.0
    plot_w, plot_h = width - left - right, height - top - bottom
    bins = len(baseline)
    peak = float(max(baseline.max(initial=0.0), current.max(initial=0.0))) or 1.0
    parts = [_open(width, height, "overlay", label), _legend(left, 13)]
    for frac in (0.0, 0.5, 1.0):
        y = top + plot_h * (1 - frac)
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="{GRID}"/>')  # fmt: skip
        parts.append(_text(left - 6, y + 4, f"{peak * frac:.0%}", anchor="end"))
    step = plot_w / max(bins, 1)
    for i in range(bins):
        h = plot_h * float(baseline[i]) / peak
        tip = (f"{f.short(float(edges[i]))} to {f.short(float(edges[i + 1]))}: baseline "
               f"{float(baseline[i]):.1%}, current {float(current[i]):.1%}")  # fmt: skip
        parts.append(
            f'<rect x="{left + i * step + 0.5:.1f}" y="{top + plot_h - h:.1f}" '
            f'width="{max(step - 1, 0.5):.1f}" height="{h:.1f}" fill="{BAR}" '
            f'fill-opacity="0.55"><title>{esc(tip)}</title></rect>'
        )
    path = [f"M{left:.1f} {top + plot_h:.1f}"]
    for i in range(bins):
        y = top + plot_h * (1 - float(current[i]) / peak)
        path.append(f"V{y:.1f}H{left + (i + 1) * step:.1f}")
    path.append(f"V{top + plot_h:.1f}")
    parts.append(f'<path d="{"".join(path)}" fill="none" stroke="{CURRENT}" stroke-width="2"/>')
    base = top + plot_h
    parts.append(f'<line x1="{left}" x2="{width - right}" y1="{base}" y2="{base}" '
                 f'stroke="{MUTED}"/>')  # fmt: skip
    for at in (0, bins // 2, bins):
        anchor = "start" if at == 0 else "end" if at == bins else "middle"
        parts.append(_text(left + at * step, base + 16, f.short(float(edges[at])), anchor=anchor))
    parts.append("</svg>")
    return "".join(parts)


def paired_bars_svg(
    labels: Sequence[str], baseline: _F, current: _F, *, label: str
) -> str:  # fmt: skip
    """Two horizontal bars per level: the baseline's share above the current's."""
    row, label_w, bar_w, share_w = 30.0, 170.0, 280.0, 110.0
    width, height = label_w + bar_w + share_w, row * len(labels) + 26
    peak = float(max(baseline.max(initial=0.0), current.max(initial=0.0))) or 1.0
    parts = [_open(width, height, "paired", label), _legend(label_w, 13)]
    for i, name in enumerate(labels):
        y = 22 + i * row
        shown = name if len(name) <= 24 else name[:23] + "…"
        parts.append(f"<g><title>{esc(name)}: baseline {float(baseline[i]):.1%}, current "
                     f"{float(current[i]):.1%}</title>")  # fmt: skip
        parts.append(_text(label_w - 8, y + 17, shown, anchor="end", cls="label"))
        for j, (share, color, opacity) in enumerate(
            ((baseline[i], BAR, 0.55), (current[i], CURRENT, 1.0))
        ):
            w = bar_w * float(share) / peak
            parts.append(
                f'<rect x="{label_w}" y="{y + 3 + j * 12:.1f}" width="{max(w, 0.5):.1f}" '
                f'height="10" fill="{color}" fill-opacity="{opacity}"/>'
            )
        text = f"{float(baseline[i]):.1%} → {float(current[i]):.1%}"
        parts.append(_text(label_w + bar_w + 6, y + 17, text, cls="count"))
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def line_svg(
    labels: Sequence[str], values: Sequence[float], flags: Sequence[bool], *, label: str
) -> str:
    """A metric over periods: a line, its points, anomalies as larger red points."""
    width, height = 340.0, 120.0
    left, right, top, bottom = 58.0, 10.0, 10.0, 22.0
    plot_w, plot_h = width - left - right, height - top - bottom
    finite = [v for v in values if math.isfinite(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if hi == lo:
        lo, hi = lo - 0.5 * (abs(lo) or 1.0), hi + 0.5 * (abs(hi) or 1.0)
    n = len(values)

    def at(i: int, v: float) -> tuple[float, float]:
        x = left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)
        return x, top + plot_h * (1 - (v - lo) / (hi - lo))

    parts = [_open(width, height, "series", label)]
    for v in (lo, hi):
        _, y = at(0, v)
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="{GRID}"/>')  # fmt: skip
        parts.append(_text(left - 4, y + 4, f"{v:.3g}" if abs(v) < 1e4 else f.short(v),
                           anchor="end"))  # fmt: skip
    points = [(i, v) for i, v in enumerate(values) if math.isfinite(v)]
    if len(points) > 1:
        d = "".join(f"{'M' if k == 0 else 'L'}{at(i, v)[0]:.1f} {at(i, v)[1]:.1f}"
                    for k, (i, v) in enumerate(points))  # fmt: skip
        parts.append(f'<path d="{d}" fill="none" stroke="{BAR}" stroke-width="1.5"/>')
    for i, v in points:
        x, y = at(i, v)
        color, r = (ALERT, 4.5) if flags[i] else (INK, 2.0)
        tip = f"{labels[i]}: {f.short(v)}" + (" (anomaly)" if flags[i] else "")
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="{color}">'
                     f"<title>{esc(tip)}</title></circle>")  # fmt: skip
    if labels:
        base = top + plot_h + 15
        parts.append(_text(left, base, labels[0], anchor="start"))
        if n > 1:
            parts.append(_text(width - right, base, labels[-1], anchor="end"))
    parts.append("</svg>")
    return "".join(parts)
