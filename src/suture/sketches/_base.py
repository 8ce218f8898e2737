"""What every column sketch shares: the framing of its state as bytes."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Generic, TypeVar

import pyarrow as pa

from suture._codec import Field, frame, pack, unframe, unpack

S = TypeVar("S")


class ColumnSketch(ABC, Generic[S]):
    """Base of the column aggregators: subclasses define the state fields.

    Subclasses implement ``zero``, ``update``, ``merge``, ``finalize``, ``config``,
    ``_fields(state) -> dict`` and ``_from_fields(dict) -> state``; this class turns the
    fields into the framed, versioned byte image.
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

    @abstractmethod
    def config(self) -> str: ...

    @abstractmethod
    def _fields(self, state: S) -> dict[str, Field]: ...

    @abstractmethod
    def _from_fields(self, fields: dict[str, Any]) -> S: ...

    def to_bytes(self, state: S) -> bytes:
        """Serialize ``state`` (framed with kind, format version and config fingerprint)."""
        return frame(self.kind, self.config(), pack(self._fields(state)))

    def from_bytes(self, data: bytes) -> S:
        """Read a state written by :meth:`to_bytes` of an equally configured sketch."""
        return self._from_fields(unpack(unframe(data, self.kind, self.config()), self.kind))

    def __repr__(self) -> str:
        return self.config()


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
