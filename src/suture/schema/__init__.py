"""Typed, unit-aware data contracts: infer from a profile, review, validate, quarantine.

>>> from suture.schema import Schema
>>> schema = Schema.infer(suture.profile("flights.parquet"))   # doctest: +SKIP
>>> schema.save("schema.toml")                                   # doctest: +SKIP
>>> result = Schema.load("schema.toml").validate("flights.csv")  # doctest: +SKIP
>>> result.valid, result.quarantine, result.summary              # doctest: +SKIP

See docs/contracts.md for the file format, the violation kinds and units.
"""

from __future__ import annotations

from suture.errors import SchemaError
from suture.schema.coerce import RecordError
from suture.schema.contract import Schema, ValidationResult
from suture.schema.types import Column, Derived
from suture.schema.validate import ValidationAggregator, ValidationSummary, Validator

__all__ = [
    "Column",
    "Derived",
    "RecordError",
    "Schema",
    "SchemaError",
    "ValidationAggregator",
    "ValidationResult",
    "ValidationSummary",
    "Validator",
]
