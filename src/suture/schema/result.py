"""What a validation of a whole source gives back: valid rows, quarantine, summary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from suture.schema.summary import ValidationSummary

__all__ = ["ValidationResult"]


@dataclass
class ValidationResult:
    """What :meth:`Schema.validate <suture.schema.Schema.validate>` found.

    Attributes
    ----------
    valid : pyarrow.Table (or Spark DataFrame)
        The rows that keep the contract, typed and unit-converted, with derived columns.
    quarantine : pyarrow.Table (or Spark DataFrame)
        The rows that break it, as they came, with ``__row``, ``__reasons`` and one
        ``__reason_<kind>_<column>`` column per rule.
    summary : ValidationSummary
        Counts by column and kind; ``summary.rows == valid rows + quarantined rows``.
    """

    _valid: Any
    quarantine: Any
    summary: ValidationSummary

    @property
    def valid(self) -> Any:
        """The valid rows (selected from the checked batches on first use, then kept)."""
        if callable(self._valid):
            self._valid = self._valid()
        return self._valid

    @property
    def ok(self) -> bool:
        """Whether no row was quarantined."""
        return self.summary.quarantined == 0
