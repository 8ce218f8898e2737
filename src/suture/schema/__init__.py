"""Typed, unit-aware data contracts: infer from a profile, review, validate, quarantine.

>>> from suture.schema import Schema
>>> schema = Schema.infer(suture.profile("flights.parquet"))   # doctest: +SKIP
>>> schema.save("schema.toml")                                   # doctest: +SKIP
>>> result = Schema.load("schema.toml").validate("flights.csv")  # doctest: +SKIP
>>> result.valid, result.quarantine, result.summary              # doctest: +SKIP

See docs/contracts.md for the file format, the violation kinds and units.  The modules,
one idea each: ``types`` (column specs), ``toml_io`` (the file), ``units``,
``expressions`` (derived columns), ``infer``, ``contract`` (:class:`Schema`),
``checks`` (one column on Arrow arrays), ``quarantine`` (its layout), ``validator``
(one batch), ``summary`` (counts and their aggregator), ``result``, ``run`` (a whole
source on an engine), ``coerce`` (one record), ``messages`` (the words of each rule),
``diff`` and ``cli``.  The text rules themselves live in :mod:`suture.parsing`.
"""

from __future__ import annotations

from suture.errors import ExpressionError, RecordError, SchemaError, UnitError
from suture.schema.coerce import Violation
from suture.schema.contract import Schema
from suture.schema.jsonschema import contract_json_schema
from suture.schema.result import ValidationResult
from suture.schema.summary import ValidationAggregator, ValidationSummary
from suture.schema.types import Column, Derived
from suture.schema.validator import Validator

__all__ = [
    "Column",
    "Derived",
    "ExpressionError",
    "RecordError",
    "Schema",
    "SchemaError",
    "UnitError",
    "ValidationAggregator",
    "ValidationResult",
    "ValidationSummary",
    "Validator",
    "Violation",
    "contract_json_schema",
]
