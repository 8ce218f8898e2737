"""What every column sketch shares: the byte framing of its state (from Framed)."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, TypeVar

import pyarrow as pa

from suture.aggregate import Framed

S = TypeVar("S")


class ColumnSketch(Framed[S]):
    """Base of the column aggregators: subclasses define the state fields.

    Subclasses implement ``zero``, ``update``, ``merge``, ``finalize``, ``config``,
    ``_fields(state) -> dict`` and ``_from_fields(dict) -> state``;
    :class:`~suture.aggregate.Framed` turns the fields into the framed, versioned byte
    image.
    """

    kind = "column"

    @abstractmethod
    def zero(self) -> S:
        """The empty state."""

    @abstractmethod
    def update(self, state: S, array: pa.Array) -> S:
        """Fold one Arrow array in (may reuse ``state``)."""

    @abstractmethod
    def merge(self, a: S, b: S) -> S:
        """Combine two states (may reuse ``a``; never modifies ``b``)."""

    @abstractmethod
    def finalize(self, state: S) -> Any:
        """The summary of the state."""


class ColumnSummary:
    """What every column summary says besides its statistics.

    Attributes
    ----------
    name : str
        The column name (set by the profile).
    arrow_type : pyarrow.DataType or None
        The column's Arrow type (set by the profile).
    hints : tuple of str
        Semantic hints inferred from the statistics: ``numeric``, ``boolean``,
        ``timestamp``, ``identifier``, ``free_text``, ``categorical``, ``constant``,
        ``set``.
    parse_failures : int
        For a string column that looks numeric, boolean or timestamp: how many non-null
        values do not parse as that.
    """

    kind = "column"
    state: Any
    name: str = ""
    arrow_type: pa.DataType | None = None
    hints: tuple[str, ...] = ()
    parse_failures: int = 0

    @property
    def count(self) -> int:
        """Rows seen, nulls included."""
        return int(self.state.count)

    @property
    def nulls(self) -> int:
        """Null values seen."""
        return int(self.state.nulls)
