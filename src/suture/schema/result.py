"""What a validation of a whole source gives back: valid rows, quarantine, summary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from suture.schema.summary import ValidationSummary

__all__ = ["ValidationResult"]


@dataclass
class ValidationResult:
    """What :meth:`Schema.validate <suture.schema.Schema.validate>` found.

    The rows come as the engine's own dataset: a ``pyarrow.Table`` (in memory) on the
    local engine, a lazy Spark DataFrame on Spark, which nothing collects to the driver;
    each use of it (``count()``, ``write``, ``toArrow()``) runs the check again over the
    source, with the same verdicts and ``__row`` numbers (persist a source that is costly
    to recompute).  The summary is computed before ``validate`` returns, on every engine.

    Attributes
    ----------
    valid : pyarrow.Table or pyspark.sql.DataFrame
        The rows that keep the contract, typed and unit-converted, with derived columns,
        in input order.
    quarantine : pyarrow.Table or pyspark.sql.DataFrame
        The rows that break it, as they came, in input order, with ``__row``,
        ``__reasons`` and one ``__reason_<kind>_<column>`` column per rule.
    summary : ValidationSummary
        Counts by column and kind; ``summary.rows == valid rows + quarantined rows``.
    """

    valid: Any
    quarantine: Any
    summary: ValidationSummary

    @property
    def ok(self) -> bool:
        """Whether no row was quarantined."""
        return self.summary.quarantined == 0
