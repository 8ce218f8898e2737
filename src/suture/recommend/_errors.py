"""The recommender's errors, re-exported from the one tree in :mod:`suture.errors`."""

from __future__ import annotations

from suture.errors import ConfigError, NotFittedError, UnknownIdError

#: The recommender's name for :class:`~suture.errors.ConfigError` (kept for old imports).
InvalidParameterError = ConfigError

__all__ = ["InvalidParameterError", "NotFittedError", "UnknownIdError"]
