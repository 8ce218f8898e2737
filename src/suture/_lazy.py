"""Packages whose public names load on first use (PEP 562), for a fast command line.

``suture`` and ``suture.monitor`` export functions that share their module's name
(``suture.profile``, ``suture.monitor.compare``).  Importing such a submodule makes Python
set the package attribute to the *module*; :func:`lazy_package` keeps the function there.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_package"]


def lazy_package(
    name: str, lazy: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Make package ``name`` load each attribute of ``lazy`` (attribute -> module) on use.

    Returns the package's ``__getattr__`` and ``__dir__``; assign them in the package.
    An attribute named like its own module stays the attribute when that module loads.
    """
    package = sys.modules[name]

    def __getattr__(attr: str) -> Any:
        module = lazy.get(attr)
        if module is None:
            raise AttributeError(f"module {name!r} has no attribute {attr!r}")
        value = getattr(importlib.import_module(module), attr)
        package.__dict__[attr] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*package.__dict__, *lazy})

    same_named = {attr for attr, module in lazy.items() if module == f"{name}.{attr}"}

    class _Package(types.ModuleType):
        def __setattr__(self, attr: str, value: Any) -> None:
            if attr in same_named and isinstance(value, types.ModuleType):
                value = getattr(value, attr)
            super().__setattr__(attr, value)

    package.__class__ = _Package
    return __getattr__, __dir__
