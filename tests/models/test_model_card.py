"""The model card: offline HTML with the candidates, calibration, effects in input units,
shapes, winnowing, sensitivity and lineage; rendered by a real headless Chromium."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np

from suture.models.bundle import ModelBundle
from suture.report import _format as f
from suture.report.model_card import render_model_card
from tests.models.test_bundle import (
    default_bundle,
    default_table,
    diamonds_bundle,
    iris_bundle,
    train_result,
)
from tests.test_report import _decode_png, _Page


def _page(bundle: ModelBundle) -> _Page:
    page = _Page()
    page.feed(render_model_card(bundle))
    page.close()
    return page


def test_the_card_fetches_nothing() -> None:
    html = render_model_card(default_bundle())
    page = _page(default_bundle())
    for tag, attrs in page.tags:
        assert tag not in {"script", "link", "img", "iframe", "object", "embed", "image"}
        for key in ("src", "href", "xlink:href", "action"):
            target = attrs.get(key) or ""
            assert not re.match(r"(?i)\s*(https?:|//|ftp:|data:)", target), (tag, key, target)
    assert page.style and "@import" not in page.style
    assert not re.search(r"url\((?!#)", html)


def test_the_card_is_the_same_for_the_same_bundle(tmp_path: Path) -> None:
    bundle = default_bundle()
    assert render_model_card(bundle) == render_model_card(bundle)
    loaded = ModelBundle.read(bundle.write(tmp_path / "model"))
    assert render_model_card(loaded) == render_model_card(bundle)
    assert (tmp_path / "model" / "model_card.html").read_text() == render_model_card(bundle)


def test_candidates_are_listed_against_the_baseline_with_intervals() -> None:
    bundle = default_bundle()
    text = _page(bundle).text("candidates")
    holdout = {c["name"]: c["holdout"]["metrics"]["auc"] for c in bundle.candidates}
    for name, m in holdout.items():
        assert name in text
        interval = f"{f.num(m['value'])} [{f.num(m['low'])}, {f.num(m['high'])}]"
        assert interval in text
    lift = holdout["logistic"]["value"] - holdout["baseline"]["value"]
    assert f"{lift:+.4f}" in text
    assert "baseline baseline" in text  # the baseline row is tagged
    assert "logistic chosen" in text
    assert bundle.given_up in text
    assert "The tolerance was 0.005." in text


def test_warnings_come_first() -> None:
    page = _page(default_bundle())
    assert list(page.sections)[:2] == ["warnings", "candidates"]
    assert "class imbalance" in page.text("warnings")


def test_calibration_plot_has_one_dot_per_bin() -> None:
    bundle = default_bundle()
    assert bundle.holdout is not None
    html = render_model_card(bundle)
    chart = re.search(r'<svg class="chart calibration".*?</svg>', html, re.S)
    assert chart is not None
    assert chart.group(0).count("<circle") == len(bundle.holdout.calibration) > 2
    text = _page(bundle).text("calibration")
    for b in bundle.holdout.calibration:
        assert f"{f.num(b.predicted)} {f.num(b.observed)}" in text


def test_coefficients_are_given_per_unit_of_the_input() -> None:
    bundle = default_bundle()
    text = _page(bundle).text("effects")
    described = bundle.model.describe()
    coef = next(r["coefficient"] for r in described["coefficients"] if r["feature"] == "balance")
    scale = bundle.pipeline.transforms_["balance"].scale_  # type: ignore[attr-defined]
    per_unit = f.num(coef / scale)
    assert f"balance balance {f.num(coef)} {per_unit} per unit of balance between" in text
    # a dollar of balance raises the log-odds of default; so does nothing else as much
    assert coef / scale > 0


def test_multiclass_coefficients_show_one_value_per_class() -> None:
    text = _page(iris_bundle()).text("effects")
    assert "setosa:" in text and "versicolor:" in text and "virginica:" in text


def test_additive_models_get_a_shape_plot_per_numeric_input() -> None:
    html = render_model_card(diamonds_bundle())
    shapes = re.findall(r'<svg class="chart shape"[^>]*aria-label="contribution of ([^"]+)"', html)
    assert shapes == ["carat", "depth"]


def test_the_shape_is_the_input_contribution_and_flat_beyond_the_clip() -> None:
    bundle = default_bundle()
    html = render_model_card(bundle)
    chart = re.search(r'aria-label="contribution of balance".*?</svg>', html, re.S)
    assert chart is not None
    path = re.search(r'<path d="(M[^"]+)" fill="none"', chart.group(0))
    assert path is not None
    ys = [float(p.split()[1]) for p in path.group(1)[1:].split("L")]
    assert ys[0] == ys[1] and ys[-1] == ys[-2]  # clipped: flat at both ends
    assert ys[-1] < ys[0]  # SVG y grows downward: the contribution rises with balance


def test_a_tree_has_no_shape_plots_and_shows_its_rules_in_input_units() -> None:
    from suture.models.tree import DecisionTree

    result = train_result(default_table(), "default", [("tree", DecisionTree(max_depth=2))])
    bundle = ModelBundle.from_result(result, created="2026-01-01T00:00:00+00:00")
    page = _page(bundle)
    assert "shapes" not in page.sections
    root = bundle.model.describe()["tree"]
    t = bundle.pipeline.transforms_[root["feature"]]
    x = root["threshold"] * t.scale_ + t.mean_  # type: ignore[attr-defined]
    text = page.text("effects")
    rows = f.count(root["samples"])
    assert f"if {root['feature']} <= {f.num(x)} (or missing) ({rows} rows)" in text
    assert x > 1000  # a balance in dollars, not a standardized value
    assert len(re.findall(r"score -?\d", text)) == 4  # the leaves of a depth-2 tree


def test_winnowing_sensitivity_and_lineage_are_shown_with_their_numbers() -> None:
    bundle = default_bundle()
    page = _page(bundle)
    winnowing = page.text("winnowing")
    for d in bundle.decisions:
        assert d.message in winnowing
    assert "balance yes kept 0.2 0.01 balance informs" in winnowing
    assert "default no target" in winnowing
    sensitivity = page.text("sensitivity")
    for s in bundle.sensitivity:
        assert f"{s.column} {f.num(s.largest)} {f.num(s.perturbation)} exact" in sensitivity
    assert "rows 10000" in page.text("lineage")
    assert "versions.suture" in page.text("lineage")


def test_names_from_the_data_are_escaped() -> None:
    from suture.models.linear import Logistic

    table = (
        default_table()
        .slice(0, 2000)
        .rename_columns(["default", "student", "<b>balance</b>", "income"])
    )
    result = train_result(table, "default", [("logistic", Logistic())])
    html = render_model_card(ModelBundle.from_result(result, created=""))
    assert "<b>balance</b>" not in html
    assert "&lt;b&gt;balance&lt;/b&gt;" in html


def test_chromium_renders_the_card_offline(tmp_path: Path) -> None:
    chromium = shutil.which("chromium")
    assert chromium, "chromium is missing: run .ci/install-browser"
    page = tmp_path / "card.html"
    page.write_text(render_model_card(default_bundle()), encoding="utf-8")
    shot = tmp_path / "card.png"
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={tmp_path / 'chromium'}",
        f"--screenshot={shot}",
        "--window-size=1200,2400",
        page.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    pixels = _decode_png(shot.read_bytes())
    assert pixels.shape == (2400, 1200, 3)
    colors, counts = np.unique(pixels.reshape(-1, 3), axis=0, return_counts=True)
    assert len(colors) > 100

    def share(rgb: tuple[int, int, int]) -> float:
        hit = (colors == rgb).all(axis=1)
        return float(counts[hit].sum()) / pixels.shape[0] / pixels.shape[1]

    assert share((0x1F, 0x29, 0x37)) > 0.01  # the dark header: the inline CSS applied
    assert share((0x3B, 0x6E, 0xA8)) > 0.0001  # calibration dots and shape lines drew
    assert share((0xEE, 0xF6, 0xEE)) > 0.001  # the chosen candidate's row is highlighted


def test_an_empty_bundle_section_is_left_out() -> None:
    bundle = default_bundle()
    empty = dataclasses.replace(bundle, decisions=[], sensitivity=[], lineage={}, warnings=[])
    sections = set(_page(empty).sections)
    assert not sections & {"winnowing", "sensitivity", "lineage", "warnings"}
    assert {"candidates", "calibration", "effects", "shapes"} <= sections


def test_a_scorecard_shows_its_points_per_bin_with_rounded_edges() -> None:
    from suture.features import FeaturePipeline
    from suture.models.additive import Scorecard
    from suture.models.base import Design, encode_target

    bundle = default_bundle()
    table = bundle.contract.validate(default_table()).valid
    pipeline = FeaturePipeline(style="binned").fit(bundle.profile, ["balance", "income"])
    design = pipeline.design(bundle.task)
    assert isinstance(design, Design)
    y = encode_target(table.column("default"), bundle.task)
    model = Scorecard().fit(pipeline.transform(table), y, design=design)
    card = render_model_card(dataclasses.replace(bundle, pipeline=pipeline, model=model))
    text = " ".join(re.sub(r"<[^>]+>", " ", card).split())
    points = model.describe()["points"]["balance"]
    label, value = points[1]
    low, high = (float(x) for x in label.strip("[)").split(", "))
    assert f"[{low:.4g}, {high:.4g}) {f.num(value)}" in text
    shapes = re.findall(r'aria-label="contribution of ([^"]+)"', card)
    assert shapes == ["balance", "income"]


def test_a_logged_input_states_its_effect_per_log_unit_and_at_the_median() -> None:
    from suture.features import Standardize
    from suture.models.linear import Logistic

    result = train_result(
        default_table(), "default", [("logistic", Logistic())], numeric=Standardize(log=True)
    )
    bundle = ModelBundle.from_result(result, created="")
    t = bundle.pipeline.transforms_["income"]
    assert t.log_  # type: ignore[attr-defined]
    coef = next(
        r["coefficient"]
        for r in bundle.model.describe()["coefficients"]
        if r["feature"] == "income"
    )
    slope = coef / t.scale_  # type: ignore[attr-defined]
    median = t.quartiles_[1]  # type: ignore[attr-defined]
    text = _page(bundle).text("effects")
    assert f"income income {f.num(coef)} {f.num(slope)} per unit of log(1 + income)" in text
    assert (
        f"at the median {f.num(median)}, {f.num(slope / (1 + median))} per unit of income" in text
    )


def test_a_number_with_a_log1p_companion_states_both_terms_together_at_its_quartiles() -> None:
    # Regression: the card gave the linear term's per-unit effect alone, as if the
    # log1p(income) term beside it did not bend the effect.
    from suture.features import Standardize
    from suture.models.linear import Logistic

    result = train_result(
        default_table(), "default", [("logistic", Logistic())],
        numeric=Standardize(companion=True),
    )  # fmt: skip
    bundle = ModelBundle.from_result(result, created="")
    t = bundle.pipeline.transforms_["income"]
    assert t.companion_ is not None  # type: ignore[attr-defined]
    coefs = {r["feature"]: r["coefficient"] for r in bundle.model.describe()["coefficients"]}
    b1, b2 = coefs["income"], coefs["log1p(income)"]
    centre, scale = t.companion_  # type: ignore[attr-defined]
    text = _page(bundle).text("effects")
    assert "per unit of income between" in text
    assert "plus the log1p(income) term below: the effect bends" in text
    joint = ", ".join(
        f"{f.num(b1 / t.scale_ + b2 / scale / (1 + q))} at {f.num(q)}"  # type: ignore[attr-defined]
        for q in t.quartiles_  # type: ignore[attr-defined]
    )
    assert (
        f"log1p(income) {f.num(b2)} {f.num(b2 / scale)} per unit of log(1 + income) (centred "
        f"at {f.num(centre)}); both terms together, per unit of income: {joint} (the quartiles)"
    ) in text


def test_other_models_show_their_description_as_tables() -> None:
    from suture.models.baseline import Baseline
    from suture.models.gbm import GradientBoosting
    from suture.models.naive_bayes import NaiveBayes

    models = [
        ("baseline", Baseline()),
        ("naive_bayes", NaiveBayes()),
        ("lightgbm", GradientBoosting()),
    ]
    result = train_result(default_table().slice(0, 3000), "default", models)
    for name, model in models:
        chosen = dataclasses.replace(result, winner=name)
        page = _page(ModelBundle.from_result(chosen, created=""))
        text = page.text("effects")
        assert "{" not in text  # tables, not JSON
        for key, value in model.describe().items():
            if isinstance(value, dict | list):
                assert key in text
    gain = models[2][1].describe()["gain"]
    top = next(iter(gain))
    assert f"{top} {f.num(gain[top])}" in _page(
        ModelBundle.from_result(dataclasses.replace(result, winner="lightgbm"), created="")
    ).text("effects")
    yard = _page(ModelBundle.from_result(result, created="")).text("candidates")
    assert "lightgbm yardstick" in yard


def test_a_date_column_in_an_additive_model_gets_no_float_grid() -> None:
    # DateParts has low_ and high_ in ticks: the shape plot fed it floats and the card
    # failed with a SchemaError.
    import datetime as dt

    import numpy as np
    import pyarrow as pa

    import suture
    from suture.report.model_card import render_model_card

    rng = np.random.default_rng(0)
    n = 600
    x = rng.normal(size=n)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    when = [start + dt.timedelta(hours=int(h)) for h in rng.integers(0, 24 * 365, n)]
    table = pa.table(
        {
            "x": x,
            "when": pa.array(when, pa.timestamp("us", tz="UTC")),
            "y": np.where(x + rng.normal(size=n) > 0, "yes", "no"),
        }
    )
    bundle = suture.train(table, "y", seed=0, candidates=["baseline", "scorecard"])
    assert "when" in bundle.pipeline.columns_
    html = render_model_card(bundle)
    assert "<svg" in html and "when" in html
