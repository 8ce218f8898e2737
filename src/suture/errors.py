"""The one exception tree: every error suture raises on purpose, and the exit codes.

Every error is a :class:`SutureError` and also the matching built-in exception, so
``except ValueError`` keeps working.  Messages say what was wrong, where, expected versus
got, and what to do; the command line prints them as one line without a traceback::

    SutureError
    ├── ConfigError (ValueError)            a parameter out of its range or of the wrong kind
    ├── SourceError (OSError)               a data source cannot be found, opened or parsed
    │   └── OutputError                     an output cannot be written where it was asked
    ├── EmptyInputError (ValueError)        no rows where rows are needed
    ├── UnsupportedTypeError (TypeError)    a column type suture cannot summarize
    ├── CorruptStateError (ValueError)      a damaged, foreign or too new state or artifact
    ├── IncompatibleMergeError (ValueError) two states of different configurations
    ├── SchemaError (ValueError)            a malformed contract, or data that breaks it
    │   ├── RecordError                     one record breaks it (names field and rule)
    │   ├── UnitError                       a unit is unknown, or two units do not convert
    │   └── ExpressionError                 a derived expression is malformed or mixes units
    ├── NotFittedError (ValueError, AttributeError)   an estimator used before ``fit``
    └── UnknownIdError (LookupError)        an id that the fitted object never saw

:class:`InternalError` is deliberately *not* a :class:`SutureError`: it reports a bug in
suture (an unexpected failure in a worker process or a Spark executor), never a user's
mistake, and the command line gives it its own exit code.

Errors cross process boundaries (local worker processes, Spark executors) through
:func:`to_wire` and :func:`from_wire`, which rebuild the same class with the same message
and attributes.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "EXIT_FOUND",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "ConfigError",
    "CorruptStateError",
    "EmptyInputError",
    "ExpressionError",
    "IncompatibleMergeError",
    "InternalError",
    "NotFittedError",
    "OutputError",
    "RecordError",
    "SchemaError",
    "SourceError",
    "SutureError",
    "UnitError",
    "UnknownIdError",
    "UnsupportedTypeError",
    "from_wire",
    "to_wire",
]

#: The command succeeded and found nothing to report.
EXIT_OK = 0
#: The check found something: violations above tolerance, a contract diff, drift.
EXIT_FOUND = 1
#: A user mistake or unreadable input; one line on stderr says what, where and the fix.
EXIT_USAGE = 2
#: A bug in suture; the message says so, and ``--debug`` (or SUTURE_DEBUG=1) shows the
#: traceback.
EXIT_INTERNAL = 3
#: Interrupted (Ctrl-C); nothing was written.
EXIT_INTERRUPTED = 130


class SutureError(Exception):
    """Base class of every error suture raises on purpose (a user's mistake or input)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ConfigError(SutureError, ValueError):
    """A parameter is out of its range or of the wrong kind; the message names it."""


class SourceError(SutureError, OSError):
    """A data source cannot be found, opened or parsed."""


class OutputError(SourceError):
    """An output cannot be written: missing folder, a file where a folder is needed, ..."""


class EmptyInputError(SutureError, ValueError):
    """A source has no rows where rows are needed."""


class UnsupportedTypeError(SutureError, TypeError):
    """A column has an Arrow type that suture cannot summarize."""


class CorruptStateError(SutureError, ValueError):
    """Serialized state or an artifact is damaged, foreign or too new."""


class IncompatibleMergeError(SutureError, ValueError):
    """Two states cannot be merged because their configurations differ."""


class SchemaError(SutureError, ValueError):
    """A data contract is malformed, or a value breaks it (names the field and the fix)."""


class RecordError(SchemaError):
    """A record breaks the contract.

    Attributes
    ----------
    field : str
        The column (or derived column) at fault.
    kind : str
        The violation kind: type, null, range, level, unit, parse, derived or missing.
    """

    def __init__(self, message: str, field: str, kind: str) -> None:
        super().__init__(message)
        self.field = field
        self.kind = kind


class UnitError(SchemaError):
    """A unit is unknown, or two units do not convert; the message names both."""


class ExpressionError(SchemaError):
    """A derived column's expression is malformed or its units do not agree."""


class NotFittedError(SutureError, ValueError, AttributeError):
    """An estimator (a model, a transform, a recommender) is used before it is fitted."""


class UnknownIdError(SutureError, LookupError):
    """An id asked about does not occur in what was fitted."""


class InternalError(RuntimeError):
    """A bug in suture, reported from wherever it happened; not a user's mistake."""


def to_wire(exc: BaseException) -> bytes:
    """Encode an exception to cross a process boundary (see :func:`from_wire`).

    A :class:`SutureError` keeps its class, its arguments and its JSON-representable
    attributes; anything else becomes an :class:`InternalError` carrying ``detail``
    (normally the formatted traceback, set by the caller).
    """
    if isinstance(exc, SutureError):
        attrs = {k: v for k, v in vars(exc).items() if _json_safe(v)}
        body = {"class": type(exc).__name__, "args": _safe_args(exc.args), "attrs": attrs}
    else:
        body = {"class": "InternalError", "args": [str(exc)], "attrs": {}}
    return json.dumps(body).encode()


def from_wire(data: bytes) -> BaseException:
    """The exception :func:`to_wire` encoded: the same class, message and attributes."""
    try:
        body = json.loads(data)
        name, args, attrs = body["class"], body["args"], body["attrs"]
    except (ValueError, KeyError, TypeError):
        return InternalError(f"an unreadable error came back from a worker: {data[:200]!r}")
    cls = globals().get(name)
    if not (isinstance(cls, type) and issubclass(cls, SutureError | InternalError)):
        return InternalError(" ".join(map(str, args)))
    exc: BaseException = cls.__new__(cls)
    exc.args = tuple(args)
    vars(exc).update(attrs)
    return exc


def _json_safe(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _safe_args(args: tuple[Any, ...]) -> list[Any]:
    return [a if _json_safe(a) else str(a) for a in args]
