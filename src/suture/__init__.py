"""suture: machine learning on structured business data from summaries and sketches.

>>> import suture
>>> p = suture.profile("flights.parquet")          # doctest: +SKIP
>>> p["dep_delay"].quantile(0.99)                   # doctest: +SKIP
"""

from __future__ import annotations

__version__ = "0.1.0"

from suture.errors import SutureError
from suture.profile import Profile, profile

__all__ = ["Profile", "SutureError", "__version__", "profile"]
