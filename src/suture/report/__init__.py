"""Reports of a profile: a terminal summary and a self-contained HTML page.

>>> from suture.report import render_terminal, write_html
>>> render_terminal(profile)                         # doctest: +SKIP
>>> write_html(profile, "report.html")               # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from suture.report.html import render_html, write_html
    from suture.report.terminal import render_terminal

__all__ = ["render_html", "render_terminal", "write_html"]

# Each renderer loads on first use (PEP 562): the command line's terminal summary does
# not import the HTML page's code, and the other way round.
_LAZY = {
    "render_html": "suture.report.html",
    "write_html": "suture.report.html",
    "render_terminal": "suture.report.terminal",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'suture.report' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
