"""Signed feature hashing of high-cardinality strings, stable across processes.

The key of a string is :func:`suture.sketches.hashing.string_keys`'s (a polynomial hash
of its UTF-8 bytes finalized by MurmurHash3's ``fmix64``), never Python's ``hash()``,
which changes from process to process.  :func:`string_key` computes the same key for one
string in plain Python, so a record lands in the bucket its batch row does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from suture.errors import ConfigError, RecordError, SchemaError
from suture.features.transforms import MISSING, Transform, register_transform
from suture.sketches import StringSummary
from suture.sketches._base import ColumnSummary
from suture.sketches.hashing import string_keys

__all__ = ["Hashing", "string_key"]

_F64 = npt.NDArray[np.float64]
_MASK = (1 << 64) - 1
_POLY = 0x100000001B3
_GOLDEN = 0x9E3779B97F4A7C15
_F1 = 0xFF51AFD7ED558CCD
_F2 = 0xC4CEB9FE1A85EC53
#: How many strings' keys the record path remembers (per column).
MEMO = 4096


def string_key(text: str) -> int:
    """The 64-bit key :func:`~suture.sketches.hashing.string_keys` gives ``text``.

    The polynomial ``sum((byte_i + 1) * P**(i + 1))`` modulo ``2**64``, evaluated by
    Horner's rule from the last byte, mixed with the length and finalized by ``fmix64``.
    """
    data = text.encode("utf-8")
    acc = 0
    for b in reversed(data):
        acc = ((acc + b + 1) * _POLY) & _MASK
    k = acc ^ ((len(data) * _GOLDEN) & _MASK)
    k ^= k >> 33
    k = (k * _F1) & _MASK
    k ^= k >> 33
    k = (k * _F2) & _MASK
    return k ^ (k >> 33)


@register_transform
class Hashing(Transform):
    """A string hashed to one of ``n_buckets`` features, with a sign of ±1.

    Parameters
    ----------
    n_buckets : int, default 32
        The number of hashed features (at least 1).

    Attributes
    ----------
    indicator_ : bool
        Whether the profile saw nulls, so a ``<column>=<missing>`` feature is output.
    feature_names_ : list of str
        ``<column>=<hash i>`` for each bucket, then the missing indicator.

    Notes
    -----
    A value's key ``k`` (:func:`string_key`) sets feature ``k mod n_buckets`` to ``+1``
    when the key's top bit is 0 and to ``-1`` when it is 1: the signs make colliding values
    cancel on average instead of adding up (Weinberger et al., 2009).  Nothing is learned
    from the data but whether it had nulls, so unseen values are as welcome as seen ones.
    A null sets the missing indicator (all zeros when the profile saw none).

    Examples
    --------
    >>> import pyarrow as pa, suture
    >>> p = suture.profile(pa.table({"c": ["a", "b", None]}))
    >>> t = Hashing(n_buckets=4).fit(p["c"])
    >>> t.feature_names_
    ['c=<hash 0>', 'c=<hash 1>', 'c=<hash 2>', 'c=<hash 3>', 'c=<missing>']
    >>> t.transform_array(pa.array(["a", None])).tolist()
    [[0.0, 1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 1.0]]
    """

    kind = "hashing"
    _params = ("n_buckets",)
    indicator_: bool

    def __init__(self, *, n_buckets: int = 32) -> None:
        self.n_buckets = n_buckets

    def _check_params(self) -> None:
        n = self.n_buckets
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"Hashing n_buckets must be a whole number of 1 or more, got {n!r}")

    def fit(self, summary: ColumnSummary) -> Hashing:
        """Learn whether the string column has nulls.

        Raises
        ------
        ConfigError
            For a bad ``n_buckets``, or a summary that is not of strings.
        """
        self._check_params()
        if not isinstance(summary, StringSummary):
            raise ConfigError(
                f"Hashing needs a string column, but {summary.name!r} is {summary.kind}; "
                "use Standardize or Bins for numbers"
            )
        self.column_ = summary.name
        self.indicator_ = summary.nulls > 0
        self._compile()
        return self

    def _compile(self) -> None:
        self._keys: dict[str, int] = {}  # a memo of the record path's keys
        names = [f"{self.column_}=<hash {i}>" for i in range(self.n_buckets)]
        self.feature_names_ = names + [f"{self.column_}={MISSING}"] * self.indicator_

    def transform_array(self, array: pa.Array) -> _F64:
        self._fitted()
        if pa.types.is_dictionary(array.type):
            array = array.dictionary_decode()
        if not (
            pa.types.is_string(array.type)
            or pa.types.is_large_string(array.type)
            or pa.types.is_null(array.type)
        ):
            raise SchemaError(
                f"column {self.column_!r}: expected strings, got Arrow type {array.type}"
            )
        n = len(array)
        width = len(self.feature_names_)
        out = np.zeros((n, width + 1), dtype=np.float64)
        nulls = np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        text = pc.fill_null(array.cast(pa.large_string()), "")
        keys = string_keys(text)
        where = (keys % np.uint64(self.n_buckets)).astype(np.int64)
        sign = np.where(keys >> np.uint64(63), -1.0, 1.0)
        where[nulls] = self.n_buckets if self.indicator_ else width
        sign[nulls] = 1.0
        out[np.arange(n), where] = sign
        return out[:, :width]

    def transform_value(self, value: Any, out: list[float], start: int) -> None:
        if value is None:
            if self.indicator_:
                out[start + self.n_buckets] = 1.0
            return
        if not isinstance(value, str):
            raise RecordError(
                f"column {self.column_!r}: expected a string or None, got {value!r}",
                self.column_,
                "type",
            )
        k = self._keys.get(value)
        if k is None:
            k = string_key(value)
            if len(self._keys) < MEMO:
                self._keys[value] = k
        out[start + k % self.n_buckets] = -1.0 if k >> 63 else 1.0

    def critical_values(self) -> list[Any]:
        """Inputs giving every output: a string for each bucket and sign, and None."""
        wanted = {(b, s) for b in range(self.n_buckets) for s in (0, 1)}
        found: list[Any] = []
        i = 0
        while wanted and i < 1000 * self.n_buckets:
            text = f"<hash probe {i}>"
            k = string_key(text)
            hit = (k % self.n_buckets, k >> 63)
            if hit in wanted:
                wanted.discard(hit)
                found.append(text)
            i += 1
        return [*found, None]

    def _state(self) -> dict[str, Any]:
        return {"indicator": self.indicator_}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.indicator_ = bool(state["indicator"])
        self._compile()
