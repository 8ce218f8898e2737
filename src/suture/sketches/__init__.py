"""Column summaries built from exact counters, moments and Apache DataSketches.

:func:`sketch_for` picks the summary for an Arrow type.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from suture.errors import UnsupportedTypeError
from suture.sketches._base import ColumnSketch
from suture.sketches.categorical import BooleanSketch, BooleanSummary, StringSketch, StringSummary
from suture.sketches.correlation import CoMoments, Correlation
from suture.sketches.estimate import Estimate
from suture.sketches.frequent import FrequentItem
from suture.sketches.moments import Moments
from suture.sketches.numeric import NumericSketch, NumericSummary
from suture.sketches.quantiles import Histogram
from suture.sketches.sets import SetSketch, SetSummary
from suture.sketches.sizes import DEFAULT_K, DEFAULT_LG_K, DEFAULT_LG_MAX_MAP
from suture.sketches.temporal import TemporalSketch, TemporalSummary

__all__ = [
    "DEFAULT_K",
    "DEFAULT_LG_K",
    "DEFAULT_LG_MAX_MAP",
    "BooleanSketch",
    "BooleanSummary",
    "CoMoments",
    "ColumnSketch",
    "Correlation",
    "Estimate",
    "FrequentItem",
    "Histogram",
    "Moments",
    "NumericSketch",
    "NumericSummary",
    "SetSketch",
    "SetSummary",
    "StringSketch",
    "StringSummary",
    "TemporalSketch",
    "TemporalSummary",
    "is_numeric",
    "sketch_for",
]


def is_numeric(type_: pa.DataType) -> bool:
    """Whether a column of this type is summarized as numbers (and correlated)."""
    return bool(
        pa.types.is_integer(type_) or pa.types.is_floating(type_) or pa.types.is_decimal(type_)
    )


def sketch_for(field: pa.Field, **options: int) -> ColumnSketch[Any]:
    """The column sketch that summarizes values of ``field``'s type.

    Parameters
    ----------
    field : pyarrow.Field
    **options
        ``k`` (quantiles), ``lg_k`` (distinct), ``lg_max_map`` (frequent items).

    Raises
    ------
    UnsupportedTypeError
        For structs, maps, unions, binaries and other types without a summary.
    """
    t = field.type
    k = options.get("k", DEFAULT_K)
    lg_k = options.get("lg_k", DEFAULT_LG_K)
    lg_max_map = options.get("lg_max_map", DEFAULT_LG_MAX_MAP)
    if pa.types.is_dictionary(t):
        t = t.value_type
    if is_numeric(t):
        return NumericSketch(k=k, lg_k=lg_k)
    if pa.types.is_boolean(t):
        return BooleanSketch()
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t):
        return StringSketch(lg_k=lg_k, lg_max_map=lg_max_map)
    if pa.types.is_temporal(t):
        return TemporalSketch(t, k=k, lg_k=lg_k)
    if (pa.types.is_list(t) or pa.types.is_large_list(t)) and _flat(t.value_type):
        return SetSketch(k=k, lg_k=lg_k, lg_max_map=lg_max_map)
    raise UnsupportedTypeError(
        f"column {field.name!r} has type {field.type}, which suture cannot summarize; "
        f"leave it out with --exclude {field.name} (or exclude=[{field.name!r}])"
    )


def _flat(t: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_boolean(t)
        or pa.types.is_floating(t)
    )
