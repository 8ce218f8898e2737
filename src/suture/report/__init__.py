"""Reports of a profile: a terminal summary and a self-contained HTML page.

>>> from suture.report import render_terminal, write_html
>>> render_terminal(profile)                         # doctest: +SKIP
>>> write_html(profile, "report.html")               # doctest: +SKIP
"""

from __future__ import annotations

from suture.report.html import render_html, write_html
from suture.report.terminal import render_terminal

__all__ = ["render_html", "render_terminal", "write_html"]
