"""suture: machine learning on structured business data from summaries and sketches.

>>> import suture
>>> p = suture.profile("flights.parquet")          # doctest: +SKIP
>>> p["dep_delay"].quantile(0.99)                   # doctest: +SKIP

Importing :mod:`suture` is cheap: :func:`profile` and :class:`Profile` (and with them
pyarrow, NumPy and the sketches) load on first use (PEP 562), so ``suture --version``
and ``suture --help`` answer without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from suture._lazy import lazy_package
from suture.errors import SutureError

__version__ = "0.1.0"

if TYPE_CHECKING:
    from suture.monitor.compare import compare
    from suture.profile import Profile, profile
    from suture.train import train

__all__ = ["Profile", "SutureError", "__version__", "compare", "profile", "train"]

__getattr__, __dir__ = lazy_package(
    __name__,
    {
        "Profile": "suture.profile",
        "compare": "suture.monitor.compare",
        "profile": "suture.profile",
        "train": "suture.train",
    },
)
