"""Inline SVG charts drawn in Python: histogram, top-values bars, correlation heat-map.

Every string from the data passes through :func:`esc`; charts use no scripts, fonts or
external references, so a page that embeds them opens offline.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from suture.report import _format as f

__all__ = ["Bar", "bars_svg", "esc", "heatmap_svg", "histogram_svg"]

BAR = "#3b6ea8"
OTHER = "#b8c2cc"
INK = "#1f2328"
MUTED = "#6a737d"
GRID = "#e4e7eb"
_LABEL_CHARS = 26


def esc(text: object) -> str:
    """``text`` escaped for HTML and SVG text and attribute values."""
    return html.escape(str(text), quote=True)


def _clip(text: str, limit: int = _LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _open(width: float, height: float, kind: str, label: str) -> str:
    return (
        f'<svg class="chart {kind}" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'aria-label="{esc(label)}">'
    )


def _text(x: float, y: float, body: str, *, anchor: str = "start", cls: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{klass}>{esc(body)}</text>'


def histogram_svg(
    counts: npt.NDArray[np.float64],
    ticks: Sequence[tuple[float, str]],
    tips: Sequence[str],
    *,
    label: str,
) -> str:
    """Vertical bars of ``counts``; ``ticks`` are (position 0..1 along the axis, text)."""
    width, height = 560.0, 210.0
    left, right, top, bottom = 58.0, 18.0, 12.0, 30.0
    plot_w, plot_h = width - left - right, height - top - bottom
    bins = len(counts)
    peak = float(counts.max()) if bins and counts.max() > 0 else 1.0
    parts = [_open(width, height, "histogram", label)]
    for frac in (0.0, 0.5, 1.0):
        y = top + plot_h * (1 - frac)
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{GRID}" stroke-width="1"/>'
        )
        parts.append(_text(left - 6, y + 4, f.short(peak * frac), anchor="end", cls="tick"))
    step = plot_w / max(bins, 1)
    gap = 1.0 if step > 4 else 0.0
    for i, c in enumerate(counts.tolist()):
        h = plot_h * max(c, 0.0) / peak
        parts.append(
            f'<rect x="{left + i * step + gap / 2:.1f}" y="{top + plot_h - h:.1f}" '
            f'width="{max(step - gap, 0.5):.1f}" height="{h:.1f}" fill="{BAR}">'
            f"<title>{esc(tips[i])}</title></rect>"
        )
    base = top + plot_h
    parts.append(
        f'<line x1="{left}" x2="{width - right}" y1="{base}" y2="{base}" stroke="{MUTED}"/>'
    )
    for at, text in ticks:
        anchor = "start" if at <= 0.02 else "end" if at >= 0.98 else "middle"
        parts.append(_text(left + at * plot_w, base + 16, text, anchor=anchor, cls="tick"))
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class Bar:
    """One bar of a top-values chart: a label, an estimate and its bounds."""

    label: str
    value: float
    lower: float
    upper: float
    other: bool = False


def bars_svg(bars: Sequence[Bar], total: float, *, label: str) -> str:
    """Horizontal bars, one per value, with whiskers where the count is not exact."""
    row, label_w, bar_w, count_w = 24.0, 190.0, 270.0, 170.0
    width, height = label_w + bar_w + count_w, row * len(bars) + 8
    # The scale follows the listed values; a larger remainder bar is cut and marked.
    peak = max((b.upper for b in bars if not b.other), default=0.0) or 1.0
    parts = [_open(width, height, "topvalues", label)]
    for i, b in enumerate(bars):
        y = 4 + i * row
        mid = y + row / 2
        cut = b.value > peak
        w = bar_w * min(b.value, peak) / peak
        share = f" ({b.value / total:.1%})" if total else ""
        interval = f.interval(b.lower, b.upper)
        bound = f" [{interval}]" if interval else ""
        fill = OTHER if b.other else BAR
        parts.append(
            f"<g><title>{esc(b.label)}: {esc(f.count(b.value))}{esc(share)}"
            f"{esc(f' (between {f.count(b.lower)} and {f.count(b.upper)})' if bound else '')}"
            "</title>"
        )
        parts.append(_text(label_w - 8, mid + 4, _clip(b.label), anchor="end", cls="label"))
        parts.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{max(w, 1):.1f}" height="{row - 6}" '
            f'fill="{fill}" rx="2"/>'
        )
        if cut:
            x = label_w + w - 24
            parts.append(
                f'<path d="M{x:.1f} {y + 2:.1f}l6 {row - 4:.1f}M{x + 6:.1f} {y + 2:.1f}l6 '
                f'{row - 4:.1f}" stroke="#ffffff" stroke-width="2.5"/>'
            )
        if bound:
            x0, x1 = label_w + bar_w * b.lower / peak, label_w + bar_w * b.upper / peak
            parts.append(
                f'<path d="M{x0:.1f} {mid:.1f}H{x1:.1f}M{x0:.1f} {mid - 5:.1f}V{mid + 5:.1f}'
                f'M{x1:.1f} {mid - 5:.1f}V{mid + 5:.1f}" stroke="{INK}" stroke-width="1.2"/>'
            )
        end = label_w + bar_w * min(max(b.value, b.upper), peak) / peak
        parts.append(_text(end + 6, mid + 4, f"{f.count(b.value)}{share}{bound}", cls="count"))
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def _diverging(r: float) -> str:
    if math.isnan(r):
        return "#eeeeee"
    a = min(abs(r), 1.0)
    far = (178, 24, 43) if r > 0 else (33, 102, 172)
    near = (247, 247, 247)
    rgb = (round(n + (x - n) * a) for n, x in zip(near, far, strict=True))
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def heatmap_svg(
    columns: Sequence[str], matrix: npt.NDArray[np.float64], counts: npt.NDArray[np.float64]
) -> str:
    """A correlation heat-map: red for positive, blue for negative, grey where undefined."""
    p = len(columns)
    cell = max(12.0, min(34.0, 620.0 / max(p, 1)))
    names = [_clip(c, 22) for c in columns]
    margin = 14 + 7.4 * max((len(n) for n in names), default=1)
    top = margin * 0.72 + 10
    width, height = margin + cell * p + 150, top + max(cell * p, 185.0) + 12
    parts = [_open(width, height, "heatmap", "Pearson correlations of the numeric columns")]
    for i, name in enumerate(names):
        y = top + (i + 0.5) * cell + 4
        parts.append(_text(margin - 6, y, name, anchor="end", cls="label"))
        x = margin + (i + 0.5) * cell
        parts.append(
            f'<text transform="translate({x:.1f},{top - 6:.1f}) rotate(-45)" '
            f'class="label">{esc(name)}</text>'
        )
    for i in range(p):
        for j in range(p):
            r = float(matrix[i, j])
            x, y = margin + j * cell, top + i * cell
            shown = "undefined" if math.isnan(r) else f"{r:+.3f}"
            tip = f"{columns[i]} × {columns[j]}: r = {shown} over {f.count(counts[i, j])} rows"
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{cell:.1f}" height="{cell:.1f}" '
                f'fill="{_diverging(r)}" stroke="#ffffff"><title>{esc(tip)}</title></rect>'
            )
            if cell >= 28 and not math.isnan(r):
                ink = "#ffffff" if abs(r) > 0.6 else INK
                parts.append(
                    f'<text x="{x + cell / 2:.1f}" y="{y + cell / 2 + 3.5:.1f}" '
                    f'text-anchor="middle" class="cell" fill="{ink}">{_r2(r)}</text>'
                )
    parts.append(_legend(margin + cell * p + 24, top))
    parts.append("</svg>")
    return "".join(parts)


def _r2(r: float) -> str:
    text = f"{r:.2f}"
    return "0.00" if text == "-0.00" else text


def _legend(x: float, y: float) -> str:
    stops = "".join(
        f'<stop offset="{(1 - r) / 2:.2f}" stop-color="{_diverging(r)}"/>'
        for r in (1.0, 0.5, 0.0, -0.5, -1.0)
    )
    return (
        f'<defs><linearGradient id="rscale" x1="0" y1="0" x2="0" y2="1">{stops}'
        f"</linearGradient></defs>"
        f'<rect x="{x:.1f}" y="{y:.1f}" width="14" height="160" fill="url(#rscale)" '
        f'stroke="{GRID}"/>'
        + _text(x + 20, y + 10, "+1", cls="tick")
        + _text(x + 20, y + 84, "0", cls="tick")
        + _text(x + 20, y + 160, "−1", cls="tick")
        + _text(x, y + 180, "Pearson r", cls="tick")
    )
