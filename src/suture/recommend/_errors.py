"""Errors specific to the recommender (all are :class:`suture.errors.SutureError`)."""

from __future__ import annotations

from suture.errors import SutureError

__all__ = ["InvalidParameterError", "NotFittedError", "UnknownIdError"]


class InvalidParameterError(SutureError, ValueError):
    """A recommender parameter is out of its range."""


class NotFittedError(SutureError, ValueError):
    """The recommender is used before :meth:`fit` or :meth:`load`."""


class UnknownIdError(SutureError, LookupError):
    """An item asked about does not occur in the fitted interactions."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""
