"""The model card: one self-contained HTML page about a trained model (inline CSS and SVG).

It says, for the people who review a model before it is used: how every candidate did
against the baseline and the yardstick (with intervals), what the chosen one gave up, how
well its probabilities are calibrated, what it does with each input in the input's own
units, which columns were left out and why (with the number behind each decision), how far
each input can move a score, and where the model came from.  Like the profile report it
references no external file, font, script or style sheet, so it opens offline, and every
name and value from the data is escaped.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from suture.features.transforms import Standardize
from suture.report import _format as f
from suture.report._svg import BAR, GRID, MUTED, _open, _text, esc
from suture.report.html import CSS

if TYPE_CHECKING:
    from suture.models.bundle import ModelBundle
    from suture.models.result import CalibrationBin, Evaluation

__all__ = ["render_model_card"]

#: Points along a numeric input in a shape plot.
SHAPE_POINTS = 41
BASELINE_KINDS = ("baseline",)
YARDSTICK_KINDS = ("lightgbm",)

CARD_CSS = """
td.good { color:#1a7f37; } td.bad { color:#b42318; }
tr.winner td { background:#eef6ee; font-weight:600; }
.tag { font-size:11px; border-radius:8px; padding:1px 7px; margin-left:6px; background:#eef2f7;
  color:#44546a; font-weight:500; }
.warn { background:#fff4d6; border-color:#f0d48a; }
.shapes { display:grid; grid-template-columns:repeat(auto-fill, minmax(360px, 1fr)); gap:18px; }
pre { background:#f6f8fa; padding:10px; border-radius:6px; overflow:auto; font-size:12px; }
table.wide { width:100%; }
ul.tree, ul.tree ul { list-style:none; padding-left:18px; margin:2px 0; }
ul.tree { padding-left:0; }
.scroll { overflow-x:auto; }
.ci { display:block; color:var(--muted); font-size:11.5px; font-weight:400; }
.scroll td, .scroll th { white-space:nowrap; }
"""


def render_model_card(bundle: ModelBundle) -> str:
    """The model card of ``bundle`` as one self-contained HTML document.

    Parameters
    ----------
    bundle : ModelBundle

    Returns
    -------
    str
        The page; the same bundle always gives the same text.
    """
    task = bundle.task
    title = f"Model card: {task.target} ({task.kind})"
    body = [
        _header(bundle),
        "<main>",
        _warnings(bundle.warnings),
        _candidates(bundle),
        _calibration(bundle.holdout),
        _effects(bundle),
        _shapes(bundle),
        _winnowing(bundle),
        _sensitivity(bundle),
        _lineage(bundle.lineage),
        f"<footer>Made by suture {esc(_version(bundle))}. Self-contained: no scripts, fonts or "
        "images are fetched.</footer>",
        "</main>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}{CARD_CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )


def _version(bundle: ModelBundle) -> str:
    versions = bundle.lineage.get("versions")
    if isinstance(versions, Mapping) and "suture" in versions:
        return str(versions["suture"])
    from suture import __version__

    return __version__


# -- header and warnings -----------------------------------------------------------------


def _header(bundle: ModelBundle) -> str:
    task = bundle.task
    holdout = bundle.holdout
    facts = [(bundle.winner, "chosen model"), (task.kind, "task")]
    if task.positive is not None:
        facts.append((task.positive, "positive class"))
    if holdout is not None and holdout.primary in holdout.metrics:
        m = holdout.metrics[holdout.primary]
        facts.append((f"{f.num(m.value)}", f"holdout {m.name}"))
        facts.append((f.count(holdout.n), "holdout rows"))
    facts.append((f.count(len(bundle.pipeline.columns_)), "inputs"))
    facts.append((f.count(len(bundle.pipeline.feature_names_)), "features"))
    if bundle.created:
        facts.append((bundle.created, "created"))
    cards = "".join(
        f'<div class="fact"><b>{esc(v)}</b><span>{esc(k)}</span></div>' for v, k in facts
    )
    return (
        f'<header><h1>Model card: <span class="src">{esc(task.target)}</span></h1>'
        f'<div class="facts">{cards}</div></header>'
    )


def _warnings(warnings: Sequence[str]) -> str:
    if not warnings:
        return ""
    items = "".join(f"<li>{esc(w)}</li>" for w in warnings)
    return f'<section id="warnings" class="warn"><h2>Warnings</h2><ul>{items}</ul></section>'


# -- candidates ------------------------------------------------------------------------


def _metric_cell(m: Mapping[str, Any] | None) -> str:
    if not m or m.get("value") is None:
        return f'<td class="n">{f.DASH}</td>'
    low, high = m.get("low"), m.get("high")
    bounds = f" [{f.num(low)}, {f.num(high)}]" if low is not None and high is not None else ""
    shown = f'<span class="ci">{esc(bounds)}</span>' if bounds else ""
    return f'<td class="n">{esc(f.num(m["value"]))}{shown}</td>'


def _metric_names(candidates: Sequence[Mapping[str, Any]]) -> list[str]:
    names: list[str] = []
    for c in candidates:
        for side in ("cv", "holdout"):
            ev = c.get(side) or {}
            for name in ev.get("metrics", {}):
                if name not in names:
                    names.append(name)
    return names


def _primary(candidates: Sequence[Mapping[str, Any]]) -> str:
    for c in candidates:
        for side in ("cv", "holdout"):
            ev = c.get(side)
            if ev:
                return str(ev["primary"])
    return ""


def _hybrid_rows(bundle: ModelBundle) -> dict[str, Any] | None:
    """The row counts of a bundle trained on the hybrid path, else None."""
    lineage = bundle.lineage or {}
    if lineage.get("path") != "hybrid":
        return None
    return dict(lineage.get("rows") or {})


def _rows(rows: dict[str, Any], name: str) -> str:
    value = rows.get(name)
    return f"{value:,}" if isinstance(value, int) else f.DASH


def _streamed(bundle: ModelBundle) -> bool:
    """Whether the bundle was trained by streaming (its lineage's parameters say so)."""
    parameters = (bundle.lineage or {}).get("parameters") or {}
    return bool(parameters.get("streaming"))


def _candidates(bundle: ModelBundle) -> str:
    candidates = bundle.candidates
    if not candidates:
        return ""
    primary = _primary(candidates)
    others = [n for n in _metric_names(candidates) if n != primary]
    baseline = next((c for c in candidates if c.get("kind") in BASELINE_KINDS), None)
    base_value = _value(baseline, "holdout", primary) if baseline else None
    yardstick = next((c for c in candidates if c.get("kind") in YARDSTICK_KINDS), None)
    yard_value = _value(yardstick, "holdout", primary) if yardstick else None
    streamed = _streamed(bundle)
    compared = "validation" if streamed else "cv"
    head = (
        '<tr><th>candidate</th><th class="n">complexity</th>'
        f'<th class="n">{compared} {esc(primary)}</th><th class="n">holdout {esc(primary)}</th>'
        '<th class="n">vs baseline</th><th class="n">vs yardstick</th>'
        + "".join(f'<th class="n">holdout {esc(n)}</th>' for n in others)
        + "</tr>"
    )
    rows = []
    for c in candidates:
        name = str(c.get("name", ""))
        kind = str(c.get("kind", ""))
        shown_kind = "" if kind in ("", name) else f" ({kind})"
        tags = ""
        if kind in BASELINE_KINDS:
            tags += '<span class="tag">baseline</span>'
        if kind in YARDSTICK_KINDS:
            tags += '<span class="tag">yardstick</span>'
        if name == bundle.winner:
            tags += '<span class="tag">chosen</span>'
        cv = (c.get("cv") or {}).get("metrics", {})
        ho = (c.get("holdout") or {}).get("metrics", {})
        mine = _value(c, "holdout", primary)
        lift = _lift(mine, base_value, ho.get(primary, {}))
        lift += _lift(mine, yard_value, ho.get(primary, {}))
        klass = ' class="winner"' if name == bundle.winner else ""
        rows.append(
            f"<tr{klass}><td>{esc(name)}{esc(shown_kind)}{tags}</td>"
            f'<td class="n">{esc(c.get("complexity", f.DASH))}</td>'
            f"{_metric_cell(cv.get(primary))}{_metric_cell(ho.get(primary))}{lift}"
            + "".join(_metric_cell(ho.get(n)) for n in others)
            + "</tr>"
        )
    given_up = f"<p>{esc(bundle.given_up)}</p>" if bundle.given_up else ""
    tolerance = (
        f" The tolerance was {esc(f.num(bundle.tolerance))}."
        if math.isfinite(bundle.tolerance)
        else ""
    )
    bracket = (
        "the holdout AUC's bracket is the exact AUC's bound from the 65,536-bin score "
        "histograms, not a bootstrap interval, and the other metrics are exact sums without "
        "intervals"
        if primary == "auc"
        else "the holdout metrics are exact sums without intervals"
    )
    hybrid = _hybrid_rows(bundle)
    if streamed:
        intervals = (
            "Streamed training: the validation column is one hash-split share of 20% of the "
            f"training rows (no cross-validation); {bracket}. The chosen model is the simplest "
            f"whose validation {esc(primary)} is within the tolerance of the best."
        )
    elif hybrid is not None:
        intervals = (
            "Hybrid training: the candidates were cross-validated on a seeded sample of "
            f"{_rows(hybrid, 'compared_on')} training rows and scored on a holdout sample of "
            f"{_rows(hybrid, 'holdout_sample')} rows, with 95% intervals (bootstrap; the "
            "spread of the folds); the chosen model's holdout figures are on the whole "
            f"holdout of {_rows(hybrid, 'holdout')} rows, where "
            + bracket.replace("the holdout AUC's bracket", "its AUC's bracket").replace(
                "the holdout metrics", "its metrics"
            )
            + ". The chosen model is the simplest whose cross-validated "
            f"{esc(primary)} is within the tolerance of the best."
        )
    else:
        intervals = (
            "Intervals are 95% (bootstrap on the holdout; the spread of the folds in "
            "cross-validation). The chosen model is the simplest whose cross-validated "
            f"{esc(primary)} is within the tolerance of the best."
        )
    return (
        '<section id="candidates"><h2>Candidates</h2>'
        f'<div class="scroll"><table class="wide">{head}{"".join(rows)}</table></div>{given_up}'
        f'<p class="note">Simplest first. {intervals}{tolerance} '
        f"“vs baseline” and “vs yardstick” are the holdout {esc(primary)} minus the baseline's "
        "and the yardstick's (LightGBM's), when they were fitted.</p></section>"
    )


def _value(c: Mapping[str, Any] | None, side: str, metric: str) -> float | None:
    if not c:
        return None
    m = ((c.get(side) or {}).get("metrics") or {}).get(metric)
    value = None if not m else m.get("value")
    return None if value is None else float(value)


def _lift(value: float | None, base: float | None, metric: Mapping[str, Any]) -> str:
    if value is None or base is None:
        return f'<td class="n">{f.DASH}</td>'
    diff = value - base
    better = diff > 0 if metric.get("higher_is_better", True) else diff < 0
    klass = "good" if better else "bad" if diff != 0 else ""
    return f'<td class="n {klass}">{diff:+.4f}</td>'


# -- calibration -----------------------------------------------------------------------


def _calibration(holdout: Evaluation | None) -> str:
    if holdout is None or not holdout.calibration:
        return ""
    bins = holdout.calibration
    rows = "".join(
        f'<tr><td class="n">{f.num(b.lower)}–{f.num(b.upper)}</td><td class="n">'
        f'{f.count(b.count)}</td><td class="n">{f.num(b.predicted)}</td><td class="n">'
        f"{f.num(b.observed)}</td></tr>"
        for b in bins
    )
    table = (
        '<table><tr><th class="n">predicted in</th><th class="n">rows</th>'
        f'<th class="n">mean predicted</th><th class="n">observed</th></tr>{rows}</table>'
    )
    return (
        '<section id="calibration"><h2>Calibration on the holdout</h2><div class="grid">'
        f"<div>{table}</div><figure>{calibration_svg(bins)}<figcaption>Each dot is a bin of "
        "holdout rows: its mean predicted probability against the share that was positive. "
        "Dots on the diagonal are well calibrated.</figcaption></figure></div></section>"
    )


def _tip(b: CalibrationBin) -> str:
    return f"{f.count(b.count)} rows: predicted {f.num(b.predicted)}, observed {f.num(b.observed)}"


def calibration_svg(bins: Sequence[CalibrationBin]) -> str:
    """Observed rate against mean prediction per bin, with the diagonal, in SVG."""
    size, pad = 300.0, 40.0
    plot = size - 2 * pad

    def x(v: float) -> float:
        return pad + plot * min(max(v, 0.0), 1.0)

    def y(v: float) -> float:
        return size - pad - plot * min(max(v, 0.0), 1.0)

    parts = [_open(size, size, "calibration", "calibration plot")]
    for t in (0.0, 0.5, 1.0):
        parts.append(
            f'<line x1="{x(0):.1f}" x2="{x(1):.1f}" y1="{y(t):.1f}" y2="{y(t):.1f}" '
            f'stroke="{GRID}"/>'
        )
        parts.append(_text(x(t), size - pad + 16, f.num(t), anchor="middle", cls="tick"))
        parts.append(_text(pad - 6, y(t) + 4, f.num(t), anchor="end", cls="tick"))
    parts.append(
        f'<line x1="{x(0):.1f}" y1="{y(0):.1f}" x2="{x(1):.1f}" y2="{y(1):.1f}" '
        f'stroke="{MUTED}" stroke-dasharray="4 3"/>'
    )
    shown = [b for b in bins if b.count > 0 and math.isfinite(b.predicted + b.observed)]
    if shown:
        path = " ".join(
            f"{'M' if i == 0 else 'L'}{x(b.predicted):.1f} {y(b.observed):.1f}"
            for i, b in enumerate(shown)
        )
        parts.append(f'<path d="{path}" fill="none" stroke="{BAR}" stroke-width="1.5"/>')
    for b in shown:
        parts.append(
            f'<circle cx="{x(b.predicted):.1f}" cy="{y(b.observed):.1f}" r="4" fill="{BAR}">'
            f"<title>{esc(_tip(b))}</title></circle>"
        )
    parts.append(_text(size / 2, size - 6, "mean predicted", anchor="middle", cls="axis"))
    parts.append(_text(8, pad - 14, "observed", cls="axis"))
    parts.append("</svg>")
    return "".join(parts)


# -- what the model does with each input ------------------------------------------------


def _effects(bundle: ModelBundle) -> str:
    described = bundle.model.describe()
    coefficients = described.get("coefficients")
    if isinstance(coefficients, list):
        body = _coefficients(bundle, coefficients, described.get("intercept"))
    elif "points" in described:
        body = _points(described["points"])
    elif isinstance(described.get("tree"), Mapping):
        body = _tree(bundle, described["tree"])
    elif described:
        body = _generic(described)
    else:
        return ""
    return f'<section id="effects"><h2>What the model does with each input</h2>{body}</section>'


def _generic(described: Mapping[str, Any]) -> str:
    """Any other model's description: its scalars, its tables of numbers, its lists of rows."""
    scalars = [(k, v) for k, v in described.items() if not isinstance(v, Mapping | list)]
    out = []
    if scalars:
        rows = "".join(
            f"<tr><th>{esc(k)}</th><td>{esc(_coef_text(v))}</td></tr>" for k, v in scalars
        )
        out.append(f'<table class="kv">{rows}</table>')
    for key, value in described.items():
        if isinstance(value, Mapping):
            cells = "".join(
                f'<tr><td>{esc(k)}</td><td class="n">{esc(_coef_text(v))}</td></tr>'
                for k, v in value.items()
            )
            out.append(f"<h3>{esc(key)}</h3><table>{cells}</table>")
        elif isinstance(value, list) and value and all(isinstance(r, Mapping) for r in value):
            names = list(dict.fromkeys(k for r in value for k in r))
            head = "".join(f"<th>{esc(n)}</th>" for n in names)
            body = "".join(
                "<tr>" + "".join(f"<td>{esc(_coef_text(r.get(n)))}</td>" for n in names) + "</tr>"
                for r in value
            )
            out.append(
                f'<h3>{esc(key)}</h3><div class="scroll"><table><tr>{head}</tr>{body}</table></div>'
            )
        elif isinstance(value, list):
            text = json.dumps(value, default=str)
            out.append(f"<h3>{esc(key)}</h3><pre>{esc(text)}</pre>")
    return "".join(out)


def _tree(bundle: ModelBundle, root: Mapping[str, Any]) -> str:
    """A decision tree as nested rules, thresholds in the units of the inputs."""
    link = {"binary": "log-odds", "multiclass": "logits", "regression": "value"}[bundle.task.kind]
    return (
        f"<p>The tree's rules; each leaf gives its score ({link}) and the training rows that "
        f'reach it.</p><ul class="tree">{_node(bundle, root)}</ul>'
    )


def _node(bundle: ModelBundle, node: Mapping[str, Any]) -> str:
    rows = f" ({f.count(float(node.get('samples', 0)))} rows)" if "samples" in node else ""
    if "then" not in node or "else" not in node:
        value = node.get("value")
        shown = (
            _coef_text(dict(zip(bundle.task.classes, value, strict=False)))
            if isinstance(value, list) and len(value) > 1
            else _coef_text(value[0] if isinstance(value, list) and value else value)
        )
        return f"<li>score {esc(shown)}{esc(rows)}</li>"
    feature, threshold = str(node.get("feature", "")), node.get("threshold")
    test = _threshold_text(bundle, feature, threshold) if threshold is not None else ""
    test = test or str(node.get("rule", ""))
    missing = " (or missing)"
    yes = missing if node.get("missing") == "then" else ""
    no = missing if node.get("missing") == "else" else ""
    return (
        f"<li>if {esc(test)}{esc(yes)}{esc(rows)}<ul>{_node(bundle, node['then'])}</ul></li>"
        f"<li>else{esc(no)}<ul>{_node(bundle, node['else'])}</ul></li>"
    )


def _threshold_text(bundle: ModelBundle, feature: str, threshold: float) -> str:
    """``feature <= threshold`` in the input's units when the feature is a standardized
    input (its transform inverted), else in the feature's own units."""
    t = bundle.pipeline.transforms_.get(feature)
    if not isinstance(t, Standardize) or t.constant_:
        return f"{feature} <= {f.num(float(threshold))}"
    x = float(threshold) * float(t.scale_) + float(t.mean_)
    if getattr(t, "log_", False):
        x = math.expm1(x)
    return f"{feature} <= {f.num(x)}"


def _coefficients(bundle: ModelBundle, rows: list[dict[str, Any]], intercept: Any) -> str:
    transforms = bundle.pipeline.transforms_
    head = (
        '<tr><th>input</th><th>feature</th><th class="n">coefficient (link)</th>'
        '<th class="n">per unit of the input</th><th>where</th></tr>'
    )
    coefficients = {str(row["feature"]): row["coefficient"] for row in rows}
    out = []
    for row in rows:
        column, feature, coef = str(row["column"]), str(row["feature"]), row["coefficient"]
        t = transforms.get(column)
        per_unit, where = f.DASH, ""
        if (
            isinstance(t, Standardize)
            and feature == column
            and isinstance(coef, int | float)
            and t.scale_
        ):
            per_unit, where = _per_unit(bundle, column, t, float(coef))
            if getattr(t, "companion_", None) is not None:
                where += f"; plus the log1p({column}) term below: the effect bends"
        elif (
            isinstance(t, Standardize)
            and getattr(t, "companion_", None) is not None
            and feature == f"log1p({column})"
            and isinstance(coef, int | float)
        ):
            linear = coefficients.get(column)
            per_unit, where = _companion_per_unit(
                bundle, column, t, float(coef), linear if isinstance(linear, int | float) else 0.0
            )
        elif "=" in feature:
            where = "when the input is this level"
        out.append(
            f"<tr><td>{esc(column)}</td><td>{esc(feature)}</td>"
            f'<td class="n">{esc(_coef_text(coef))}</td><td class="n">{esc(per_unit)}</td>'
            f"<td>{esc(where)}</td></tr>"
        )
    link = {"binary": "log-odds", "multiclass": "logit", "regression": "the value"}[
        bundle.task.kind
    ]
    return (
        f"<p>Intercept: {esc(_coef_text(intercept))}. Coefficients are in {link} per "
        "feature; a standardized input's effect per unit is the coefficient divided by its "
        f'training spread.</p><table class="wide">{head}{"".join(out)}</table>'
    )


def _per_unit(bundle: ModelBundle, column: str, t: Standardize, coef: float) -> tuple[str, str]:
    """The effect per unit of the input of a standardized feature, and where it holds."""
    slope = coef / float(t.scale_)
    unit = _unit(bundle, column)
    span = f"between {f.num(float(t.low_))} and {f.num(float(t.high_))} (clipped outside)"
    if not getattr(t, "log_", False):
        return f.num(slope), f"per {unit} {span}"
    median = float(t.quartiles_[1]) if len(getattr(t, "quartiles_", ())) == 3 else math.nan
    at_median = (
        f"; at the median {f.num(median)}, {f.num(slope / (1.0 + median))} per {unit}"
        if math.isfinite(median)
        else ""
    )
    return f.num(slope), f"per unit of log(1 + {column}) {span}{at_median}"


def _companion_per_unit(
    bundle: ModelBundle, column: str, t: Standardize, coef: float, linear: float
) -> tuple[str, str]:
    """The effect per unit of ``log(1 + column)`` of a number's ``log1p`` companion, and
    the two terms' joint effect per unit of the input at its quartiles (it bends: the
    slope of ``log1p`` falls as the input grows)."""
    centre, scale = t.companion_ or (0.0, 1.0)
    slope = coef / float(scale)
    unit = _unit(bundle, column)
    own = f"per unit of log(1 + {column}) (centred at {f.num(float(centre))})"
    quartiles = tuple(float(q) for q in getattr(t, "quartiles_", ()))
    if len(quartiles) != 3 or not t.scale_:
        return f.num(slope), own
    lo, hi = float(t.low_), float(t.high_)
    joint = ", ".join(
        f"{f.num(linear / float(t.scale_) + slope / (1.0 + x))} at {f.num(x)}"
        for x in quartiles
        if lo <= x <= hi
    )
    return f.num(slope), f"{own}; both terms together, per {unit}: {joint} (the quartiles)"


def _unit(bundle: ModelBundle, column: str) -> str:
    try:
        unit = bundle.contract[column].unit
    except KeyError:
        unit = ""
    return f"{unit} of {column}" if unit else f"unit of {column}"


def _coef_text(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {f.num(float(v))}" for k, v in value.items())
    if isinstance(value, int | float):
        return f.num(float(value))
    return f.DASH if value is None else str(value)


def _points(points: Any) -> str:
    if not isinstance(points, Mapping):
        return f"<pre>{esc(json.dumps(points, default=str))}</pre>"
    tables = []
    for column, rows in points.items():
        cells = "".join(
            f'<tr><td>{esc(_bin_label(label))}</td><td class="n">{esc(_coef_text(value))}</td></tr>'
            for label, value in _pairs(rows)
        )
        tables.append(
            f'<div><h3>{esc(column)}</h3><table><tr><th>bin</th><th class="n">points</th></tr>'
            f"{cells}</table></div>"
        )
    return f'<div class="shapes">{"".join(tables)}</div>'


_NUMBER = re.compile(r"-?\d+\.\d+(?:[eE][-+]?\d+)?")


def _bin_label(label: str) -> str:
    """A bin label with its edges rounded for people: ``[30.82445, 1064.148)`` as
    ``[30.82, 1064)`` (no thousands separators beside the comma between the edges).

    Labels of levels are left as they are."""
    if not label.startswith(("[", "(")):
        return label
    return _NUMBER.sub(lambda m: f"{float(m.group(0)):.4g}", label)


def _pairs(rows: Any) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for row in rows or ():
        if isinstance(row, Mapping):
            label = row.get("bin", row.get("label", row.get("level", "")))
            out.append((str(label), row.get("points", row.get("value"))))
        elif isinstance(row, list | tuple) and len(row) == 2:
            out.append((str(row[0]), row[1]))
    return out


# -- shape plots of additive models ----------------------------------------------------


def _shapes(bundle: ModelBundle) -> str:
    if not bundle.model.additive:
        return ""
    plots = [s for c in bundle.pipeline.columns_ if (s := _shape(bundle, c))]
    if not plots:
        return ""
    return (
        '<section id="shapes"><h2>Shape of each numeric input</h2>'
        f'<div class="shapes">{"".join(plots)}</div><p class="note">The contribution of '
        "one input to the link score over its training range (a little beyond, where "
        "clipping holds it flat), all else equal: for an additive model it does not depend on "
        "the other inputs.</p></section>"
    )


def _shape(bundle: ModelBundle, column: str) -> str:
    grid = _grid(bundle, column)
    if grid is None:
        return ""
    contribution = _column_contribution(bundle, column, grid)
    chart = shape_svg(grid, contribution, label=column)
    return f"<figure>{chart}<figcaption>{esc(column)}</figcaption></figure>"


def _grid(bundle: ModelBundle, column: str) -> np.ndarray[Any, np.dtype[np.float64]] | None:
    from suture.features.bins import Bins
    from suture.features.transforms import Clip, Standardize

    t: Any = bundle.pipeline.transforms_[column]
    # Only numeric transforms read a float grid; DateParts also has low_/high_, in ticks.
    if not isinstance(t, Standardize | Bins | Clip):
        return None
    low, high = getattr(t, "low_", None), getattr(t, "high_", None)
    if low is None or high is None:
        return None
    low, high = float(low), float(high)
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return None
    margin = 0.1 * (high - low)
    return np.linspace(low - margin, high + margin, SHAPE_POINTS)


def _column_contribution(
    bundle: ModelBundle, column: str, grid: np.ndarray[Any, np.dtype[np.float64]]
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """The contribution of ``column`` at each grid value (the other inputs null)."""
    n = len(grid)
    schema = bundle.profile.schema
    arrays = {}
    for c in bundle.pipeline.columns_:
        if c == column:
            arrays[c] = pa.array(grid, pa.float64())
        else:
            kind = schema.field(c).type if c in schema.names else pa.float64()
            arrays[c] = pa.nulls(n, kind)
    X = bundle.pipeline.transform(pa.table(arrays))
    contributions, _ = bundle.model.contributions(X)
    mine = [j for j, c in enumerate(bundle.model.design_.columns) if c == column]
    out: np.ndarray[Any, np.dtype[np.float64]] = np.asarray(contributions, dtype=np.float64)
    return np.asarray(out[:, mine].sum(axis=1), dtype=np.float64)


def shape_svg(
    xs: np.ndarray[Any, np.dtype[np.float64]],
    ys: np.ndarray[Any, np.dtype[np.float64]],
    *,
    label: str,
) -> str:
    """A line of ``ys`` over ``xs`` with a zero line, in SVG."""
    width, height = 360.0, 180.0
    left, right, top, bottom = 52.0, 12.0, 10.0, 26.0
    pw, ph = width - left - right, height - top - bottom
    lo, hi = float(min(ys.min(), 0.0)), float(max(ys.max(), 0.0))
    if hi - lo < 1e-12:
        lo, hi = lo - 1.0, hi + 1.0
    x0, x1 = float(xs[0]), float(xs[-1])

    def px(v: float) -> float:
        return left + pw * (v - x0) / (x1 - x0)

    def py(v: float) -> float:
        return top + ph * (hi - v) / (hi - lo)

    parts = [_open(width, height, "shape", f"contribution of {label}")]
    parts.append(
        f'<line x1="{left}" x2="{width - right}" y1="{py(0):.1f}" y2="{py(0):.1f}" '
        f'stroke="{GRID}"/>'
    )
    for v in (lo, 0.0, hi):
        parts.append(_text(left - 6, py(v) + 4, f.num(v), anchor="end", cls="tick"))
    for v, anchor in ((x0, "start"), (x1, "end")):
        parts.append(_text(px(v), height - 8, f.num(v), anchor=anchor, cls="tick"))
    path = " ".join(
        f"{'M' if i == 0 else 'L'}{px(float(a)):.1f} {py(float(b)):.1f}"
        for i, (a, b) in enumerate(zip(xs, ys, strict=True))
    )
    parts.append(f'<path d="{path}" fill="none" stroke="{BAR}" stroke-width="2"/>')
    parts.append("</svg>")
    return "".join(parts)


# -- winnowing, sensitivity, lineage -------------------------------------------------------


def _winnowing(bundle: ModelBundle) -> str:
    if not bundle.decisions:
        return ""
    head = (
        '<tr><th>column</th><th>kept</th><th>reason</th><th class="n">value</th>'
        '<th class="n">threshold</th><th>why</th></tr>'
    )
    rows = "".join(
        f"<tr><td>{esc(d.column)}</td><td>{'yes' if d.keep else 'no'}</td>"
        f'<td>{esc(d.reason)}</td><td class="n">{esc(_opt(d.value))}</td>'
        f'<td class="n">{esc(_opt(d.threshold))}</td><td>{esc(d.message)}'
        + (f" (with {esc(d.related)})" if d.related else "")
        + "</td></tr>"
        for d in bundle.decisions
    )
    return (
        '<section id="winnowing"><h2>Which columns were used, and why</h2>'
        f'<table class="wide">{head}{rows}</table></section>'
    )


def _opt(value: float | None) -> str:
    return f.DASH if value is None else f.num(float(value))


def _sensitivity(bundle: ModelBundle) -> str:
    if not bundle.sensitivity:
        return ""
    head = (
        '<tr><th>input</th><th class="n">largest change</th>'
        '<th class="n">change from a 1%-IQR move</th><th>how it was found</th></tr>'
    )
    said = {"exact": "exact (additive model)", "search": "measured by search"}
    rows = "".join(
        f'<tr><td>{esc(s.column)}</td><td class="n">{esc(f.num(s.largest))}</td>'
        f'<td class="n">{esc(f.num(s.perturbation))}</td>'
        f"<td>{esc(said.get(s.method, s.method))}</td></tr>"
        for s in bundle.sensitivity
    )
    return (
        '<section id="sensitivity"><h2>How far each input can move a score</h2>'
        f'<table class="wide">{head}{rows}</table><p class="note">In link units. The largest '
        "change any value the contract allows can cause, and the largest change from moving "
        "the input by 1% of its interquartile range.</p></section>"
    )


def _lineage(lineage: Mapping[str, Any]) -> str:
    if not lineage:
        return ""
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in _flat(lineage))
    return f'<section id="lineage"><h2>Lineage</h2><table class="kv">{rows}</table></section>'


def _flat(value: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for key in sorted(value):
        v = value[key]
        name = f"{prefix}{key}"
        if isinstance(v, Mapping) and v:
            out += _flat(v, name + ".")
        elif isinstance(v, list | tuple):
            out.append((name, ", ".join(map(str, v)) or f.DASH))
        else:
            out.append((name, f.DASH if v is None else str(v)))
    return out
