"""The Arrow compute kernels the sketches call, by name, without ``pyarrow.compute``.

Importing ``pyarrow.compute`` builds a documented Python wrapper for each of Arrow's
~290 kernels: 25-30 ms, a fifteenth of a whole ``suture profile`` of a small file, and
``Array.cast``, ``Array.take`` and ``Array.drop_null`` import it on first use.  These
functions run the same kernels with the same defaults through ``call_function``, the
function those wrappers call, so profiling never imports it.
"""

from __future__ import annotations

from typing import Any

try:
    from pyarrow._compute import CastOptions, MatchSubstringOptions, call_function
except ImportError:  # pragma: no cover - a pyarrow that moved its private module
    from pyarrow.compute import CastOptions, MatchSubstringOptions, call_function

__all__ = ["call", "cast", "match_regex"]


def call(kernel: str, *args: Any) -> Any:
    """Run the compute kernel named ``kernel`` on ``args`` with its default options.

    ``call("drop_null", a)`` is ``pyarrow.compute.drop_null(a)`` (and ``a.drop_null()``).
    """
    return call_function(kernel, list(args))


def cast(array: Any, to: Any) -> Any:
    """``array`` cast to the Arrow type ``to``, refusing lossy casts (``array.cast(to)``)."""
    return call_function("cast", [array], CastOptions.safe(to))


def match_regex(values: Any, pattern: str) -> Any:
    """Whether each string of ``values`` contains a match of the regular expression
    ``pattern`` (``pyarrow.compute.match_substring_regex``)."""
    return call_function("match_substring_regex", [values], MatchSubstringOptions(pattern))
