"""Column transforms fitted from a profile's column summary, never from a second data pass.

Each transform follows scikit-learn's contract: keyword-only parameters stored unchanged
in ``__init__`` and validated by ``fit``; ``fit(summary)`` returns ``self``; what was
learned ends in ``_``; :class:`~suture.errors.NotFittedError` before ``fit``.  Each one
has two paths with identical results, element for element:

- ``transform_array(array)``: a whole Arrow column at once (NumPy, no loop over rows);
- ``transform_value(value, out, start)``: one Python value, with floats and one dict
  lookup (no pandas, scikit-learn or pyarrow), for the single-record hot path.

Both paths use the same IEEE-754 operations in the same order (clip, subtract, divide),
so they agree exactly, not approximately.
"""

from __future__ import annotations

import math
import numbers
from decimal import Decimal
from typing import Any, ClassVar, TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from suture.errors import ConfigError, CorruptStateError, NotFittedError, RecordError, SchemaError
from suture.sketches import BooleanSummary, NumericSummary, StringSummary, is_numeric
from suture.sketches._base import ColumnSummary

__all__ = [
    "Clip",
    "Codes",
    "OneHot",
    "Standardize",
    "Transform",
    "register_transform",
    "transform_from_dict",
]

_F64 = npt.NDArray[np.float64]
T = TypeVar("T", bound="Transform")
#: The feature-name suffixes of the extra outputs.
MISSING = "<missing>"
OTHER = "<other>"


def _hex(x: float) -> str:
    return float(x).hex()


def _unhex(s: Any, where: str) -> float:
    try:
        return float.fromhex(s)
    except (TypeError, ValueError):
        raise CorruptStateError(f"{where}: expected a float in hex notation, got {s!r}") from None


def record_number(value: Any, column: str) -> float:
    """One record value as a float: ``nan`` for None, ``±inf`` for an int beyond range.

    Integers become the nearest float (as ``float(int)`` does) and decimals the correctly
    rounded float (as ``float(Decimal)`` does), the conversions :func:`array_numbers`
    makes for a batch.

    Raises
    ------
    RecordError
        For a value that is not a number (booleans included).
    """
    kind = type(value)
    if kind is float:
        return value  # type: ignore[no-any-return]
    if value is None:
        return math.nan
    if kind is not int and (kind is bool or not isinstance(value, _NUMBERS)):
        raise RecordError(
            f"column {column!r}: expected a number or None, got {value!r}", column, "type"
        )
    try:
        return float(value)
    except OverflowError:  # an int beyond float range: clipped like ±inf
        return math.inf if value > 0 else -math.inf


_NUMBERS = (numbers.Real, Decimal)


def array_numbers(array: pa.Array, column: str) -> _F64:
    """A numeric Arrow column as float64 with ``nan`` for nulls, converted as records are.

    Raises
    ------
    SchemaError
        For a column that is not numeric.
    """
    if not (is_numeric(array.type) or pa.types.is_null(array.type)):
        raise SchemaError(f"column {column!r}: expected numbers, got Arrow type {array.type}")
    if pa.types.is_decimal(array.type):
        # Arrow's decimal-to-double cast is not correctly rounded; its string-to-double
        # parse is, and so is float(Decimal) in the record path.
        array = pc.cast(array, pa.string())
    if not pa.types.is_float64(array.type):  # a float64 column needs no cast call
        array = pc.cast(array, pa.float64(), safe=False)
    return np.array(array.to_numpy(zero_copy_only=False), dtype=np.float64)


def log1p_array(x: _F64) -> _F64:
    """``log1p`` of each value, bit for bit the ``math.log1p`` of the record path.

    NumPy's vectorized ``log1p`` may differ from the C library's in the last bit; Arrow's
    calls the C library's, as ``math.log1p`` does.
    """
    out = pc.log1p(pa.array(x, type=pa.float64())).to_numpy(zero_copy_only=False)
    return np.array(out, dtype=np.float64)


def quartiles(summary: NumericSummary) -> tuple[float, float, float]:
    """The profile's quartiles (0.25, 0.5, 0.75) of the finite values; ``nan`` without any."""
    if not summary.finite:
        return (math.nan, math.nan, math.nan)
    q1, q2, q3 = (float(summary.quantile(q)) for q in (0.25, 0.5, 0.75))
    return (q1, q2, q3)


def check_levels(owner: str, lower: Any, upper: Any) -> None:
    """ConfigError unless ``0 <= lower < upper <= 1`` (quantile levels of clipping bounds)."""
    for name, v in (("lower", lower), ("upper", upper)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not 0 <= float(v) <= 1:
            raise ConfigError(f"{owner} {name} must be a quantile level in [0, 1], got {v!r}")
    if not lower < upper:
        raise ConfigError(
            f"{owner} lower must be below upper, got lower={lower!r} and upper={upper!r}"
        )


def clip_bounds(summary: NumericSummary, lower: float, upper: float) -> tuple[float, float]:
    """The profile's quantiles at ``lower`` and ``upper`` (``0, 0`` without finite values)."""
    if not summary.finite:
        return (0.0, 0.0)
    low, high = (float(summary.quantile(q)) for q in (lower, upper))
    return (low, high)


def finite_distinct(summary: NumericSummary) -> float:
    """The profile's distinct count of the finite values."""
    if not summary.finite:
        return 0.0
    special = int(summary.nans > 0) + int(summary.pos_inf > 0) + int(summary.neg_inf > 0)
    return float(summary.distinct()) - special


def needs_number(owner: str, summary: ColumnSummary) -> NumericSummary:
    """The summary as numeric, or ConfigError naming the column and what to use instead."""
    if not isinstance(summary, NumericSummary) or summary.kind != "numeric":
        raise ConfigError(
            f"{owner} needs a numeric column, but {summary.name!r} is {summary.kind}; "
            "use OneHot for categories"
        )
    return summary


class Transform:
    """Base of the column transforms: the parameter and fitted-state plumbing.

    Attributes
    ----------
    column_ : str
        The column the transform was fitted on.
    feature_names_ : list of str
        Names of the output features, in output order.
    """

    kind: ClassVar[str] = "transform"
    _params: ClassVar[tuple[str, ...]] = ()
    column_: str
    feature_names_: list[str]

    def get_params(self) -> dict[str, Any]:
        """The parameters as given to ``__init__``."""
        return {name: getattr(self, name) for name in self._params}

    def clone(self) -> Transform:
        """An unfitted copy with the same parameters."""
        return type(self)(**self.get_params())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    @property
    def n_features_(self) -> int:
        """How many output features the transform makes."""
        return len(self._fitted().feature_names_)

    def _fitted(self) -> Transform:
        if not hasattr(self, "feature_names_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet: call fit(summary) with a "
                "column summary of a profile first"
            )
        return self

    def fit(self, summary: ColumnSummary) -> Transform:  # pragma: no cover - abstract
        """Learn the fitted attributes from one column summary of a profile."""
        raise NotImplementedError

    def transform_array(self, array: pa.Array) -> _F64:  # pragma: no cover - abstract
        """The features of every value of ``array``, shape ``(len(array), n_features_)``."""
        raise NotImplementedError

    def transform_value(self, value: Any, out: list[float], start: int) -> None:
        """Write the features of one value into ``out[start : start + n_features_]``.

        The slice is zero on entry (the pipeline hands every record a fresh list of
        zeros), so a transform writes only its nonzero features.
        """
        raise NotImplementedError  # pragma: no cover - abstract

    def critical_values(self) -> list[Any]:  # pragma: no cover - abstract
        """Finitely many inputs such that every output of the transform is attained by one.

        Where the output is continuous (a clipped number) the list holds the inputs that
        give the ends of its range: an additive model's contribution is extreme there.
        """
        raise NotImplementedError

    def iqr(self) -> float:
        """The interquartile range of the input from the profile (``nan`` if not numeric)."""
        q = getattr(self, "quartiles_", None)
        return math.nan if q is None else q[2] - q[0]

    def _state(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _set_state(self, state: dict[str, Any]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe image of the fitted transform; floats are exact (``float.hex``)."""
        self._fitted()
        return {
            "kind": self.kind,
            "column": self.column_,
            "params": self.get_params(),
            "state": self._state(),
        }


class Standardize(Transform):
    """Clip a number at profile quantiles, then centre and scale it (after ``log1p`` if skewed).

    Parameters
    ----------
    lower, upper : float, default 0.001 and 0.999
        Quantile levels of the clipping bounds, ``0 <= lower < upper <= 1``.  A value
        outside ``[quantile(lower), quantile(upper)]`` (``±inf`` included) is moved to
        the nearer bound, so no input can move the feature beyond a known range.
    log : {"auto", True, False}, default "auto"
        Whether to take ``log1p`` of the clipped value.  ``"auto"`` does for a skewed
        column of positives: its minimum is at least 0 and its skewness above 2.  ``True``
        needs a minimum of at least 0.
    companion : bool, default False
        Also output ``log1p(<column>)``, the standardized ``log1p`` of the clipped value,
        for a column of values of at least 0 with more than two distinct values that is
        not logged itself: a linear model then weighs the number and its logarithm, so
        its contribution can bend (concave or convex between the clip bounds).

    Attributes
    ----------
    low_, high_ : float
        The clipping bounds (KLL quantiles of the finite values), in the input's units.
    log_ : bool
        Whether ``log1p`` is applied after clipping.
    mean_, scale_ : float
        The centre and scale.  Without log: the profile's exact mean and standard deviation
        of the (unclipped) finite values.  With log: the profile has the quantiles of
        ``log1p(x)`` (``log1p`` is monotone, so ``log1p(quantile(q))`` is the
        ``q``-quantile of ``log1p(x)``) but not its moments, so the centre is the robust
        ``log1p(median)`` and the scale ``(log1p(q75) - log1p(q25)) / 1.349`` (the IQR of a
        normal is 1.349 standard deviations).  A zero or undefined scale gives ``1``.
    quartiles_ : tuple of float
        The profile's quartiles (0.25, 0.5, 0.75) in the input's units (``nan`` in images
        written before they were kept).
    constant_ : bool
        Whether the column had at most one distinct finite value: the feature is then a
        constant (``0`` for present values) and carries no information.
    indicator_ : bool
        Whether the profile saw nulls or NaN, so a missing indicator is output.
    companion_ : tuple of float or None
        The centre and scale of the ``log1p`` companion feature (robust, as for ``log``),
        or None when there is none.

    Notes
    -----
    Null and NaN become ``0`` (the centre, after standardizing) and, when ``indicator_``,
    set the indicator feature ``<column>=<missing>`` to ``1``.  A column without any
    finite value gives bounds, mean ``0`` and scale ``1``.  Integers are converted to the
    nearest float (as ``float(int)`` does) and decimals to the correctly rounded float (as
    ``float(Decimal)`` does), both in batches and in records.  Both paths take ``log1p``
    from the C library (Arrow's kernel in batches, ``math.log1p`` in records), so they agree
    bit for bit.

    Examples
    --------
    >>> import pyarrow as pa, suture
    >>> p = suture.profile(pa.table({"x": [1.0, 2.0, 3.0, None]}))
    >>> t = Standardize(lower=0.0, upper=1.0).fit(p["x"])
    >>> t.feature_names_
    ['x', 'x=<missing>']
    >>> t.transform_array(pa.array([3.0, None, 1e12])).tolist()
    [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]
    """

    kind = "standardize"
    _params = ("lower", "upper", "log", "companion")
    low_: float
    high_: float
    log_: bool
    mean_: float
    scale_: float
    quartiles_: tuple[float, float, float]
    constant_: bool
    indicator_: bool
    companion_: tuple[float, float] | None

    def __init__(
        self,
        *,
        lower: float = 0.001,
        upper: float = 0.999,
        log: str | bool = "auto",
        companion: bool = False,
    ) -> None:
        self.lower = lower
        self.upper = upper
        self.log = log
        self.companion = companion

    def _check_params(self) -> None:
        check_levels("Standardize", self.lower, self.upper)
        if not (self.log is True or self.log is False or self.log == "auto"):
            raise ConfigError(f'Standardize log must be "auto", True or False, got {self.log!r}')
        if not isinstance(self.companion, bool):
            raise ConfigError(
                f"Standardize companion must be True or False, got {self.companion!r}"
            )

    def fit(self, summary: ColumnSummary) -> Standardize:
        """Learn bounds, centre and scale from a numeric column summary.

        Raises
        ------
        ConfigError
            For a bad parameter, a summary that is not numeric, or ``log=True`` for a
            column with negative values.
        """
        self._check_params()
        summary = needs_number("Standardize", summary)
        self.column_ = summary.name
        self.low_, self.high_ = clip_bounds(summary, self.lower, self.upper)
        self.quartiles_ = quartiles(summary)
        self.constant_ = finite_distinct(summary) <= 1
        self.indicator_ = summary.nulls + summary.nans > 0
        positive = bool(summary.finite) and summary.min >= 0
        if self.log is True and not positive:
            raise ConfigError(
                f"Standardize log=True needs values of at least 0, but {summary.name!r} has "
                f"a minimum of {summary.min}; use log=False"
            )
        skewed = summary.finite > 0 and float(summary.skewness) > 2
        self.log_ = bool(self.log is True or (self.log == "auto" and positive and skewed))
        if self.log_ and not self.constant_:
            q1, q2, q3 = (math.log1p(q) for q in self.quartiles_)
            mean, std = q2, (q3 - q1) / 1.349
        elif summary.finite:
            mean, std = float(summary.mean), float(summary.std)
        else:
            mean = std = 0.0
        if self.log_ and self.constant_:
            mean = math.log1p(self.low_)
        self.mean_ = mean
        self.scale_ = std if math.isfinite(std) and std > 0 else 1.0
        self.companion_ = None
        if self.companion and positive and not self.log_ and finite_distinct(summary) > 2:
            q1, q2, q3 = (math.log1p(q) for q in self.quartiles_)
            spread = (q3 - q1) / 1.349
            if math.isfinite(q2):
                self.companion_ = (q2, spread if math.isfinite(spread) and spread > 0 else 1.0)
        self._set_names()
        return self

    def _set_names(self) -> None:
        self.feature_names_ = (
            [self.column_]
            + [f"log1p({self.column_})"] * (self.companion_ is not None)
            + [f"{self.column_}={MISSING}"] * self.indicator_
        )

    def transform_array(self, array: pa.Array) -> _F64:
        self._fitted()
        x = array_numbers(array, self.column_)
        missing = np.isnan(x)
        x = np.clip(x, self.low_, self.high_)
        if self.log_:
            x = log1p_array(x)
        z = (x - self.mean_) / self.scale_
        z[missing] = 0.0
        parts = [z]
        if self.companion_ is not None:
            centre, scale = self.companion_
            lz = (log1p_array(x) - centre) / scale
            lz[missing] = 0.0
            parts.append(lz)
        if self.indicator_:
            parts.append(missing.astype(np.float64))
        if len(parts) == 1:
            return np.asarray(z, dtype=np.float64).reshape(-1, 1)
        return np.column_stack(parts)

    def transform_value(self, value: Any, out: list[float], start: int) -> None:
        x = value if type(value) is float else record_number(value, self.column_)
        if x != x:
            if self.indicator_:
                out[start + 1 + (self.companion_ is not None)] = 1.0
            return
        if x < self.low_:
            x = self.low_
        elif x > self.high_:
            x = self.high_
        if self.companion_ is not None:
            out[start + 1] = (math.log1p(x) - self.companion_[0]) / self.companion_[1]
        if self.log_:
            x = math.log1p(x)
        out[start] = (x - self.mean_) / self.scale_

    def critical_values(self) -> list[Any]:
        """Inputs attaining the ends of the feature's range: the clip bounds, and None."""
        return [self.low_, self.high_, None]

    def _state(self) -> dict[str, Any]:
        return {
            "low": _hex(self.low_),
            "high": _hex(self.high_),
            "mean": _hex(self.mean_),
            "scale": _hex(self.scale_),
            "log": self.log_,
            "quartiles": [_hex(q) for q in self.quartiles_],
            "constant": self.constant_,
            "indicator": self.indicator_,
        } | ({} if self.companion_ is None else {"companion": [_hex(v) for v in self.companion_]})

    def _set_state(self, state: dict[str, Any]) -> None:
        where = f"standardize state of {self.column_!r}"
        self.low_, self.high_, self.mean_, self.scale_ = (
            _unhex(state[k], where) for k in ("low", "high", "mean", "scale")
        )
        self.log_ = bool(state.get("log", False))  # images before log had none
        self.quartiles_ = _read_quartiles(state, where)
        self.constant_ = bool(state["constant"])
        self.indicator_ = bool(state["indicator"])
        companion = state.get("companion")  # images before the companion had none
        if companion is not None and (not isinstance(companion, list) or len(companion) != 2):
            raise CorruptStateError(f"{where}: companion must be two floats, got {companion!r}")
        self.companion_ = (
            None
            if companion is None
            else (
                _unhex(companion[0], where),
                _unhex(companion[1], where),
            )
        )
        self._set_names()


def _read_quartiles(state: dict[str, Any], where: str) -> tuple[float, float, float]:
    q = state.get("quartiles", ["nan", "nan", "nan"])
    if not isinstance(q, list) or len(q) != 3:
        raise CorruptStateError(f"{where}: quartiles must be three floats, got {q!r}")
    return (_unhex(q[0], where), _unhex(q[1], where), _unhex(q[2], where))


class Clip(Transform):
    """A number clipped at profile quantiles, unscaled, with NaN for missing (for trees).

    Parameters
    ----------
    lower, upper : float, default 0.001 and 0.999
        Quantile levels of the clipping bounds, ``0 <= lower < upper <= 1``.

    Attributes
    ----------
    low_, high_ : float
        The clipping bounds (KLL quantiles of the finite values).
    quartiles_ : tuple of float
        The profile's quartiles (0.25, 0.5, 0.75).
    constant_ : bool
        Whether the column had at most one distinct finite value.

    Notes
    -----
    The one feature is named after the column.  Null and NaN give NaN, which trees and
    LightGBM treat as missing; every other value (``±inf`` included) is clipped.

    Examples
    --------
    >>> import pyarrow as pa, suture
    >>> p = suture.profile(pa.table({"x": [1.0, 2.0, 3.0, None]}))
    >>> Clip(lower=0.0, upper=1.0).fit(p["x"]).transform_array(pa.array([9.0, None])).tolist()
    [[3.0], [nan]]
    """

    kind = "clip"
    _params = ("lower", "upper")
    low_: float
    high_: float
    quartiles_: tuple[float, float, float]
    constant_: bool

    def __init__(self, *, lower: float = 0.001, upper: float = 0.999) -> None:
        self.lower = lower
        self.upper = upper

    def fit(self, summary: ColumnSummary) -> Clip:
        """Learn the clipping bounds from a numeric column summary.

        Raises
        ------
        ConfigError
            For a bad parameter, or a summary that is not numeric.
        """
        check_levels("Clip", self.lower, self.upper)
        summary = needs_number("Clip", summary)
        self.column_ = summary.name
        self.low_, self.high_ = clip_bounds(summary, self.lower, self.upper)
        self.quartiles_ = quartiles(summary)
        self.constant_ = finite_distinct(summary) <= 1
        self.feature_names_ = [self.column_]
        return self

    def transform_array(self, array: pa.Array) -> _F64:
        self._fitted()
        x = array_numbers(array, self.column_)
        return np.clip(x, self.low_, self.high_).reshape(-1, 1)

    def transform_value(self, value: Any, out: list[float], start: int) -> None:
        x = value if type(value) is float else record_number(value, self.column_)
        if x < self.low_:
            x = self.low_
        elif x > self.high_:
            x = self.high_
        out[start] = x

    def critical_values(self) -> list[Any]:
        """Inputs attaining the ends of the feature's range: the clip bounds, and None."""
        return [self.low_, self.high_, None]

    def _state(self) -> dict[str, Any]:
        return {
            "low": _hex(self.low_),
            "high": _hex(self.high_),
            "quartiles": [_hex(q) for q in self.quartiles_],
            "constant": self.constant_,
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        where = f"clip state of {self.column_!r}"
        self.low_, self.high_ = (_unhex(state[k], where) for k in ("low", "high"))
        self.quartiles_ = _read_quartiles(state, where)
        self.constant_ = bool(state["constant"])
        self.feature_names_ = [self.column_]


class OneHot(Transform):
    """One indicator per frequent level of a category, plus ``other`` (and ``missing``).

    Parameters
    ----------
    max_levels : int, default 20
        Keep at most this many levels, the most frequent ones.
    min_share : float, default 0.01
        Keep a level only if at least this share of the profiled rows (nulls included)
        has it, ``0 <= min_share <= 1``.

    Attributes
    ----------
    levels_ : list of str
        The kept levels, most frequent first (ties in value order).
    indicator_ : bool
        Whether the profile saw nulls, so nulls get their own ``<missing>`` feature.
    feature_names_ : list of str
        ``<column>=<level>`` for each level, then ``<column>=<other>``, then
        ``<column>=<missing>`` when ``indicator_``.

    Notes
    -----
    A value that is not a kept level (a rare or unseen one) sets ``<other>``.  A null sets
    ``<missing>`` when the profile saw nulls, else ``<other>``.  Boolean columns are read
    as the levels ``"true"`` and ``"false"``.  Level counts come from the frequent-items
    sketch, whose count bounds are deterministic; a level within the sketch's error of
    ``min_share`` may be kept or dropped.

    Examples
    --------
    >>> import pyarrow as pa, suture
    >>> p = suture.profile(pa.table({"c": ["a", "a", "b", None]}))
    >>> t = OneHot(min_share=0.3).fit(p["c"])
    >>> t.feature_names_
    ['c=a', 'c=<other>', 'c=<missing>']
    >>> t.transform_array(pa.array(["b", "a", None])).tolist()
    [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """

    kind = "onehot"
    _params = ("max_levels", "min_share")
    levels_: list[str]
    indicator_: bool
    boolean_: bool

    def __init__(self, *, max_levels: int = 20, min_share: float = 0.01) -> None:
        self.max_levels = max_levels
        self.min_share = min_share

    def _check_params(self) -> None:
        m = self.max_levels
        if isinstance(m, bool) or not isinstance(m, int) or m < 0:
            raise ConfigError(f"OneHot max_levels must be a whole number of 0 or more, got {m!r}")
        s = self.min_share
        if isinstance(s, bool) or not isinstance(s, numbers.Real) or not 0 <= float(s) <= 1:
            raise ConfigError(f"OneHot min_share must be a share in [0, 1], got {s!r}")

    def fit(self, summary: ColumnSummary) -> OneHot:
        """Learn the frequent levels from a string or boolean column summary.

        Raises
        ------
        ConfigError
            For a bad parameter, or a summary that is neither string nor boolean.
        """
        self._check_params()
        if not isinstance(summary, StringSummary | BooleanSummary):
            raise ConfigError(
                f"OneHot needs a string or boolean column, but {summary.name!r} is "
                f"{summary.kind}; use Standardize for numbers"
            )
        need = self.min_share * summary.count
        items = [(float(i.count), i.value) for i in summary.top(self.max_levels)]
        items.sort(key=lambda item: (-item[0], item[1]))
        self.column_ = summary.name
        self.levels_ = [v for c, v in items if c > 0 and c >= need]
        self.indicator_ = summary.nulls > 0
        self.boolean_ = isinstance(summary, BooleanSummary)
        self._compile()
        return self

    def _compile(self) -> None:
        self._lookup = {v: i for i, v in enumerate(self.levels_)}
        self._value_sets: dict[pa.DataType, pa.Array] = {}
        self._other = len(self.levels_)
        self._null = self._other + 1 if self.indicator_ else self._other
        names = [f"{self.column_}={v}" for v in self.levels_] + [f"{self.column_}={OTHER}"]
        self.feature_names_ = names + [f"{self.column_}={MISSING}"] * self.indicator_

    def _level_codes(self, array: pa.Array) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """Each value's level index (``len(levels_)`` for other) and the null mask."""
        if pa.types.is_dictionary(array.type):
            array = array.dictionary_decode()
        if pa.types.is_boolean(array.type) and self.boolean_:
            array = pc.if_else(array, "true", "false")
        elif not (
            pa.types.is_string(array.type)
            or pa.types.is_large_string(array.type)
            or pa.types.is_null(array.type)
        ):
            raise SchemaError(
                f"column {self.column_!r}: expected strings, got Arrow type {array.type}"
            )
        n = len(array)
        if pa.types.is_null(array.type):
            return np.full(n, self._other, dtype=np.int64), np.ones(n, dtype=bool)
        # Two Arrow calls, the value set made once per type: a fixed cost of several
        # calls a column was most of a small batch's transform (the service's requests).
        found = pc.index_in(array, value_set=self._value_set(array.type))
        if found.null_count == 0:
            codes = np.array(found.to_numpy(zero_copy_only=False), dtype=np.int64)
            return codes, np.zeros(n, dtype=bool)
        # Null where the value is null or not a kept level; NaN once in NumPy.
        positions = found.to_numpy(zero_copy_only=False)
        codes = np.where(np.isnan(positions), self._other, positions).astype(np.int64)
        if array.null_count == 0:
            return codes, np.zeros(n, dtype=bool)
        return codes, np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)

    def _value_set(self, arrow_type: pa.DataType) -> pa.Array:
        """The kept levels as an Arrow array of ``arrow_type`` (``index_in``'s value set),
        made once.  An array, not ``SetLookupOptions``: transforms travel pickled to
        Spark's executors, and the options object does not pickle."""
        found = self._value_sets.get(arrow_type)
        if found is None:
            found = self._value_sets[arrow_type] = pa.array(self.levels_, type=arrow_type)
        return found

    def _record_level(self, value: Any) -> int | None:
        """The level index of one record value (``len(levels_)`` for other, None for null)."""
        if value is None:
            return None
        if isinstance(value, bool) and self.boolean_:
            value = "true" if value else "false"
        elif not isinstance(value, str):
            raise RecordError(
                f"column {self.column_!r}: expected a string or None, got {value!r}",
                self.column_,
                "type",
            )
        return self._lookup.get(value, self._other)

    def critical_values(self) -> list[Any]:
        """Inputs giving every output: each level, an unseen level, and None."""
        values: list[Any] = [v == "true" for v in self.levels_] if self.boolean_ else []
        values = values if self.boolean_ else list(self.levels_)
        unseen = "<unseen>"
        while unseen in self._lookup:
            unseen += "_"
        return [*values, unseen, None]

    def transform_array(self, array: pa.Array) -> _F64:
        self._fitted()
        codes, nulls = self._level_codes(array)
        n = len(codes)
        out = np.zeros((n, len(self.feature_names_)), dtype=np.float64)
        codes[nulls] = self._null
        out[np.arange(n), codes] = 1.0
        return out

    def transform_value(self, value: Any, out: list[float], start: int) -> None:
        level = self._record_level(value)
        out[start + (self._null if level is None else level)] = 1.0

    def _state(self) -> dict[str, Any]:
        return {
            "levels": list(self.levels_),
            "indicator": self.indicator_,
            "boolean": self.boolean_,
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        levels = state["levels"]
        if not (isinstance(levels, list) and all(isinstance(v, str) for v in levels)):
            raise CorruptStateError(f"onehot state of {self.column_!r}: levels must be strings")
        self.levels_ = levels
        self.indicator_ = bool(state["indicator"])
        self.boolean_ = bool(state["boolean"])
        self._compile()


class Codes(OneHot):
    """A category as one integer code in a float: frequent levels ``0..k-1``, other ``k``.

    For trees and LightGBM (which split on codes as categories).  Parameters and fitted
    attributes are :class:`OneHot`'s; null gives NaN (missing).  The one feature is named
    after the column.

    Examples
    --------
    >>> import pyarrow as pa, suture
    >>> p = suture.profile(pa.table({"c": ["a", "a", "b", None]}))
    >>> t = Codes(min_share=0.3).fit(p["c"])
    >>> t.transform_array(pa.array(["b", "a", None])).tolist()
    [[1.0], [0.0], [nan]]
    """

    kind = "codes"

    def _compile(self) -> None:
        self._lookup = {v: i for i, v in enumerate(self.levels_)}
        self._value_sets = {}
        self._other = self._null = len(self.levels_)
        self.feature_names_ = [self.column_]

    def transform_array(self, array: pa.Array) -> _F64:
        self._fitted()
        codes, nulls = self._level_codes(array)
        out = codes.astype(np.float64)
        out[nulls] = math.nan
        return out.reshape(-1, 1)

    def transform_value(self, value: Any, out: list[float], start: int) -> None:
        level = self._record_level(value)
        out[start] = math.nan if level is None else float(level)


_KINDS: dict[str, type[Transform]] = {}


def register_transform(cls: type[T]) -> type[T]:
    """Class decorator: make ``cls`` readable by :func:`transform_from_dict` as ``cls.kind``."""
    _KINDS[cls.kind] = cls
    return cls


for _cls in (Standardize, OneHot, Clip, Codes):
    register_transform(_cls)


def transform_from_dict(data: dict[str, Any]) -> Transform:
    """The fitted transform of :meth:`Transform.to_dict`.

    Raises
    ------
    CorruptStateError
        For an unknown kind or a damaged image.
    """
    try:
        cls = _KINDS[data["kind"]]
        t = cls(**data["params"])
        t.column_ = str(data["column"])
        t._set_state(data["state"])
    except (KeyError, TypeError) as exc:
        raise CorruptStateError(
            f"cannot read a fitted transform: {type(exc).__name__} {exc} in {str(data)[:200]}"
        ) from None
    return t
