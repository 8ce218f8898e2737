"""The offline HTML report of a comparison, parsed and rendered in a headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from suture.monitor import compare
from suture.monitor.cli import compare_command
from suture.monitor.html import OVERLAY_BINS, render_comparison_html
from tests.test_report import _decode_png


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parsed(page: str) -> _Tags:
    tags = _Tags()
    tags.feed(page)
    tags.close()
    return tags


def _tables(seed: int, rows: int = 5_000) -> tuple[pa.Table, pa.Table]:
    rng = np.random.default_rng(seed)
    levels = np.array(["a", "b", "<c&d>"])
    a = pa.table({"price": rng.normal(0, 1, rows), "cut": levels[rng.integers(0, 3, rows)],
                  "region": levels[rng.integers(0, 2, rows)]})  # fmt: skip
    b = pa.table({"price": rng.normal(1, 1, rows), "cut": levels[rng.integers(0, 3, rows)],
                  "region": levels[rng.integers(0, 2, rows)]})  # fmt: skip
    return a, b


def test_the_page_overlays_both_distributions_per_column_and_fetches_nothing() -> None:
    a, b = _tables(0)
    page = render_comparison_html(compare(a, b))
    tags = _parsed(page)
    for tag, attrs in tags.tags:
        assert tag not in {"script", "link", "img", "iframe", "object", "embed", "image"}
        for key in ("src", "href", "xlink:href", "action"):
            assert not re.match(r"(?i)\s*(https?:|//|data:)", attrs.get(key) or "")
    overlays = [a for t, a in tags.tags if t == "svg" and "overlay" in (a.get("class") or "")]
    paired = [a for t, a in tags.tags if t == "svg" and "paired" in (a.get("class") or "")]
    assert [o["aria-label"] for o in overlays] == ["price: baseline and current distributions"]
    assert len(paired) == 2
    # One bar per bin for the baseline, and the current side's step line.
    svg = page[page.index('class="chart overlay"') :]
    svg = svg[: svg.index("</svg>")]
    assert svg.count("<rect") == OVERLAY_BINS + 2  # bins and the two legend swatches
    assert svg.count('stroke="#d9822b"') == 1
    # Names and levels from the data are escaped, never markup.
    assert "<c&d>" not in page and "&lt;c&amp;d&gt;" in page
    text = " ".join(tags.text)
    assert "alert" in text and "price" in text


def test_the_verdict_table_and_segment_rollup_are_on_the_page() -> None:
    a, b = _tables(1)
    page = render_comparison_html(compare(a, b, by="region"))
    assert page.count('<span class="verdict v-alert">alert</span>') >= 3
    assert '<section id="segments"><h2>Segments by region</h2>' in page


def test_compare_html_writes_the_page_atomically(tmp_path: Path) -> None:
    a, b = _tables(2)
    pq.write_table(a, tmp_path / "a.parquet")
    pq.write_table(b, tmp_path / "b.parquet")
    out = tmp_path / "drift.html"
    code = compare_command(tmp_path / "a.parquet", tmp_path / "b.parquet", html_path=out)
    assert code == 1
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def screenshot(page: Path, tmp_path: Path, width: int, height: int) -> np.ndarray:
    """The page rendered by a headless, offline Chromium, as RGB pixels."""
    chromium = shutil.which("chromium")
    assert chromium, "chromium is missing: run .ci/install-browser"
    shot = tmp_path / "shot.png"
    command = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--hide-scrollbars", "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={tmp_path / 'chromium'}", f"--screenshot={shot}",
        f"--window-size={width},{height}", page.as_uri(),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    pixels = _decode_png(shot.read_bytes())
    assert pixels.shape == (height, width, 3)
    return pixels


def test_chromium_renders_the_comparison_offline(tmp_path: Path) -> None:
    a, b = _tables(3)
    page = tmp_path / "drift.html"
    page.write_text(render_comparison_html(compare(a, b)), encoding="utf-8")
    pixels = screenshot(page, tmp_path, 1200, 1600)
    colors, counts = np.unique(pixels.reshape(-1, 3), axis=0, return_counts=True)

    def share(rgb: tuple[int, int, int]) -> float:
        hit = (colors == rgb).all(axis=1)
        return float(counts[hit].sum()) / pixels.shape[0] / pixels.shape[1]

    assert share((0x1F, 0x29, 0x37)) > 0.03  # the dark header: the inline CSS applied
    assert share((0xD9, 0x82, 0x2B)) > 0.002  # the current side's line and bars drew
    assert share((0xB2, 0x18, 0x2B)) > 0.0002  # an alert badge
