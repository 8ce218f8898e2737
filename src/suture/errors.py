"""The exceptions suture raises for a user's mistake or a damaged input.

Every error is a :class:`SutureError` and also the matching built-in exception, so
``except ValueError`` keeps working.  Messages say what was wrong, where, and what to do;
the command line prints them as one line without a traceback.
"""

from __future__ import annotations

__all__ = [
    "CorruptStateError",
    "EmptyInputError",
    "IncompatibleMergeError",
    "SchemaError",
    "SourceError",
    "SutureError",
    "UnsupportedTypeError",
]


class SutureError(Exception):
    """Base class of every error suture raises on purpose."""


class SourceError(SutureError, OSError):
    """A data source cannot be found, opened or parsed."""


class EmptyInputError(SutureError, ValueError):
    """A source has no rows where rows are needed."""


class UnsupportedTypeError(SutureError, TypeError):
    """A column has an Arrow type that suture cannot summarize."""


class CorruptStateError(SutureError, ValueError):
    """Serialized state (a profile file, a sketch) is damaged, foreign or too new."""


class IncompatibleMergeError(SutureError, ValueError):
    """Two states cannot be merged because their configurations differ."""


class SchemaError(SutureError, ValueError):
    """A data contract is malformed, or a value breaks it (names the field and the fix)."""
