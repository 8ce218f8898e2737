"""``GET /``: the service's own dashboard, a page and three static files from the package.

The page is static HTML; its script (``static/dashboard.js``, no framework, no build)
polls the service's JSON routes (``/readyz``, ``/v1/stats`` every 2 s; ``/v1/drift``,
``/v1/performance``, ``/v1/predictions`` less often) and draws the charts as inline SVG.
It loads nothing from another origin: the answer to ``/`` carries a
``Content-Security-Policy`` whose sources are ``'self'`` only, so a browser refuses any
external script, style, font, image or connection.

The style sheet ``/static/suture.css`` is the HTML reports' own (:data:`suture.monitor.html.
PAGE_CSS`, verdict colours included) with the chart colours of :mod:`suture.report._svg`
and :mod:`suture.monitor._charts` as CSS variables, so the dashboard looks like
``suture profile`` and ``suture compare`` pages without a copy of their style.

Authentication: the page and its static files hold no data and are served without a
token (the app exempts ``/`` and ``/static/``); every data request of the page sends
``Authorization: Bearer <token>``.  The token comes from ``?token=...`` on the first
load (kept in the tab's ``sessionStorage`` and removed from the address bar) or from an
in-page form shown after a 401.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

from starlette.responses import Response

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.routing import BaseRoute

__all__ = ["CSP", "StaticFile", "dashboard_css", "dashboard_routes", "static_files"]

#: The page may load and fetch only from its own origin; no inline script, no frames.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
#: Files of ``static/`` that are not served under ``/static/`` (the page is ``/``).
_PAGE = "index.html"


@dataclass(frozen=True)
class StaticFile:
    """One file the dashboard serves: its bytes, media type and entity tag."""

    body: bytes
    media_type: str
    etag: str

    @classmethod
    def of(cls, name: str, body: bytes) -> StaticFile:
        """``body`` served as ``name`` (the media type follows the extension)."""
        suffix = name[name.rfind(".") :]
        digest = hashlib.sha256(body).hexdigest()[:20]
        return cls(body, _TYPES.get(suffix, "application/octet-stream"), f'"{digest}"')


def dashboard_css() -> str:
    """The reports' style sheet plus the chart colours as CSS variables.

    Returns
    -------
    str
        :data:`suture.monitor.html.PAGE_CSS` followed by ``:root`` variables
        ``--train`` (the baseline's blue), ``--live`` (the current side's orange),
        ``--alert``, ``--grid``, ``--axis`` taken from the Python chart modules.
    """
    from suture.monitor._charts import ALERT, CURRENT
    from suture.monitor.html import PAGE_CSS
    from suture.report._svg import BAR, GRID, MUTED

    return (
        f"{PAGE_CSS}\n:root {{ --train:{BAR}; --live:{CURRENT}; --alert:{ALERT}; "
        f"--grid:{GRID}; --axis:{MUTED}; }}\n"
    )


@cache
def static_files() -> dict[str, StaticFile]:
    """Every file the dashboard serves, by name, read once from the package.

    Returns
    -------
    dict of str to StaticFile
        ``index.html`` (the page), the hand-written files of ``suture/serve/static/``
        and the generated ``suture.css`` (:func:`dashboard_css`).
    """
    folder = resources.files(__package__).joinpath("static")
    found = {
        entry.name: StaticFile.of(entry.name, entry.read_bytes())
        for entry in folder.iterdir()
        if entry.is_file() and entry.name[entry.name.rfind(".") :] in _TYPES
    }
    found["suture.css"] = StaticFile.of("suture.css", dashboard_css().encode())
    return found


def _answer(request: Request, file: StaticFile, headers: dict[str, str]) -> Response:
    """``file``, or 304 when the browser's copy is current (``If-None-Match``)."""
    # no-cache: the browser keeps a copy but asks each time, so an upgrade shows at once.
    common = {"ETag": file.etag, "Cache-Control": "no-cache", **headers}
    common["X-Content-Type-Options"] = "nosniff"
    if file.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=common)
    return Response(file.body, media_type=file.media_type, headers=common)


async def page(request: Request) -> Response:
    """``GET /``: the dashboard page (with its Content-Security-Policy)."""
    headers = {"Content-Security-Policy": CSP, "Referrer-Policy": "no-referrer"}
    return _answer(request, static_files()[_PAGE], headers)


async def static(request: Request) -> Response:
    """``GET /static/{name}``: a style sheet or script of the page; 404 for anything else."""
    name = str(request.path_params["name"])
    file = static_files().get(name) if name != _PAGE else None
    if file is None:
        from suture.serve.app import ApiError

        known = ", ".join(sorted(n for n in static_files() if n != _PAGE))
        raise ApiError(404, f"no static file {name!r}; the dashboard serves {known}")
    return _answer(request, file, {})


def dashboard_routes() -> list[BaseRoute]:
    """The dashboard's routes for the service's app.

    Returns
    -------
    list of starlette.routing.BaseRoute
        ``GET /`` (the page) and ``GET /static/{name}`` (its style sheets and script),
        labelled for the metrics and answered in the service's error shape.
    """
    from suture.serve.app import route

    return [route("/", page), route("/static/{name}", static)]
