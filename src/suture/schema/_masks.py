"""Small Arrow helpers the column checks share: masks, text clean-up, tolerant casts.

A *mask* here is a null-free ``BooleanArray``: true marks a row that breaks a rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "all_valid",
    "any_of",
    "blank_to_null",
    "cast_each",
    "decode",
    "false_mask",
    "is_text",
    "mask",
    "null_out",
    "try_cast",
]


def decode(a: Any) -> pa.Array:
    """One contiguous array, dictionary-decoded."""
    if isinstance(a, pa.ChunkedArray):
        a = a.combine_chunks()
    return a.dictionary_decode() if pa.types.is_dictionary(a.type) else a


def is_text(t: pa.DataType) -> bool:
    """Whether ``t`` is a string type."""
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


_FALSE: dict[int, pa.BooleanArray] = {}


def false_mask(n: int) -> pa.BooleanArray:
    """An all-false mask of length ``n`` (cached: validators ask for it often)."""
    m = _FALSE.get(n)
    if m is None:
        if len(_FALSE) > 64:
            _FALSE.clear()
        m = _FALSE[n] = pa.array(np.zeros(n, dtype=bool))
    return m


def mask(m: Any) -> pa.BooleanArray:
    """A null-free boolean mask (null counts as 'rule holds')."""
    m = pc.fill_null(m, False)
    return m.combine_chunks() if isinstance(m, pa.ChunkedArray) else m


def any_of(masks: Iterable[pa.BooleanArray], n: int) -> pa.BooleanArray:
    """The rows that any of ``masks`` marks."""
    out: pa.BooleanArray | None = None
    for m in masks:
        out = m if out is None else pc.or_(out, m)
    return out if out is not None else false_mask(n)


def all_valid(arrays: list[pa.Array], n: int) -> pa.BooleanArray:
    """The rows where every one of ``arrays`` has a value."""
    out = pa.array(np.ones(n, dtype=bool))
    for a in arrays:
        out = pc.and_(out, pc.is_valid(a))
    return out


def null_out(values: pa.Array, bad: pa.BooleanArray) -> pa.Array:
    """``values`` with the rows ``bad`` marks set to null."""
    if not pc.any(bad).as_py():
        return values
    return pc.if_else(bad, pa.scalar(None, values.type), values)


def blank_to_null(a: pa.Array) -> pa.Array:
    """Text trimmed of white space, with blank values as nulls (missing)."""
    text = pc.utf8_trim_whitespace(a)
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, text.type), text)


def try_cast(a: pa.Array, target: pa.DataType) -> pa.Array | None:
    """``a`` cast to ``target``, or None when some value does not convert."""
    try:
        return pc.cast(a, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def cast_each(text: pa.Array, target: pa.DataType) -> pa.Array:
    """Cast text to ``target``; values Arrow cannot read (``2013-02-30``) become null."""
    try:
        return pc.cast(text, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        distinct = pc.unique(text.drop_null())
        parsed = []
        for value in distinct.to_pylist():  # only after a failure, per distinct value
            try:
                parsed.append(pc.cast(pa.array([value]), target)[0].as_py())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                parsed.append(None)
        return pc.take(pa.array(parsed, target), pc.index_in(text, value_set=distinct))
