"""Where the batch validator's names used to live; kept so old imports keep working.

The validator is split into rooms of one idea each:

* :mod:`suture.parsing`: how text reads as a number, boolean, timestamp, time of day;
* :mod:`suture.schema.checks`: the checks of one column on Arrow arrays;
* :mod:`suture.schema.quarantine`: the quarantine layout (``__row``, ``__reasons``, ...);
* :mod:`suture.schema.validator`: :class:`Validator`, one batch into valid and
  quarantined rows;
* :mod:`suture.schema.summary`: :class:`ValidationSummary` and the mergeable
  :class:`ValidationAggregator`;
* :mod:`suture.schema.result`: :class:`ValidationResult`.
"""

from __future__ import annotations

from suture.parsing import FALSE, NUMBER, TRUE
from suture.schema.checks import ColumnCheck
from suture.schema.quarantine import LINE, REASONS, ROW, Rule, reason_column
from suture.schema.result import ValidationResult
from suture.schema.summary import ValidationAggregator, ValidationSummary
from suture.schema.validator import Checked, Validator

__all__ = [
    "FALSE",
    "LINE",
    "NUMBER",
    "REASONS",
    "ROW",
    "TRUE",
    "Checked",
    "ColumnCheck",
    "Rule",
    "ValidationAggregator",
    "ValidationResult",
    "ValidationSummary",
    "Validator",
    "reason_column",
]
