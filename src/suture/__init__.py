"""suture: machine learning on structured business data from summaries and sketches.

>>> import suture
>>> p = suture.profile("flights.parquet")          # doctest: +SKIP
>>> p["dep_delay"].quantile(0.99)                   # doctest: +SKIP

Importing :mod:`suture` is cheap: :func:`profile` and :class:`Profile` (and with them
pyarrow, NumPy and the sketches) load on first use (PEP 562), so ``suture --version``
and ``suture --help`` answer without them.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from suture.errors import SutureError

__version__ = "0.1.0"

if TYPE_CHECKING:
    from suture.monitor.compare import compare
    from suture.profile import Profile, profile

__all__ = ["Profile", "SutureError", "__version__", "compare", "profile"]

_LAZY = {"Profile": "suture.profile", "compare": "suture.monitor.compare",
         "profile": "suture.profile"}  # fmt: skip


def __getattr__(name: str) -> Any:
    """Load :data:`_LAZY` attributes on first access (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'suture' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


class _Package(types.ModuleType):
    """The package object: ``suture.profile`` stays the function once its module loads.

    Importing the submodule :mod:`suture.profile` sets the package attribute ``profile``
    to the module; this keeps the public function there instead.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "profile" and isinstance(value, types.ModuleType):
            value = value.profile
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
