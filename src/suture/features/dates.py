"""Date and time parts of a timestamp or date column, fitted from its profile summary.

The parts (hour of day, day of week, month) are read in the column's time zone (wall
clock for a column without one).  Cyclic encodings take their sines and cosines from
tables built once with :mod:`math`, indexed by the part in both paths, so a batch and a
record agree bit for bit; the elapsed time is standardized like
:class:`~suture.features.Standardize` on the column's integer ticks.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import zoneinfo
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from suture.errors import ConfigError, CorruptStateError, RecordError, SchemaError
from suture.features.bins import bin_names, quantile_edges
from suture.features.transforms import (
    MISSING,
    Transform,
    _hex,
    _unhex,
    check_levels,
    register_transform,
)
from suture.sketches import NumericSummary, TemporalSummary
from suture.sketches._base import ColumnSummary

__all__ = ["ENCODINGS", "DateParts"]

_F64 = npt.NDArray[np.float64]
_I64 = npt.NDArray[np.int64]
#: The encodings of :class:`DateParts`, one per pipeline style.
ENCODINGS = ("cyclic", "binned", "raw")
_PERIODS = {"hour": 24, "dow": 7, "month": 12}
_OFFSET = {"hour": 0, "dow": 0, "month": 1}  # month 1..12 is stored as 0..11
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_US = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 1}
_EPOCH = dt.datetime(1970, 1, 1)
_EPOCH_UTC = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_EPOCH_DAY = dt.date(1970, 1, 1).toordinal()
_DAY_US = 86_400_000_000
_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000, "d": 1}


def _offsets(zone: zoneinfo.ZoneInfo, utc: _I64, span: int) -> _I64:
    """The zone's offset at each UTC second, read once per block of ``span`` seconds
    where the offset is the same at both ends of the block, finer where it is not."""
    if span == 1:
        return np.array([_offset(zone, s) for s in utc.tolist()], dtype=np.int64)
    blocks, inverse = np.unique(utc // span, return_inverse=True)
    starts = (blocks * span).tolist()
    first = np.array([_offset(zone, s) for s in starts], dtype=np.int64)
    last = np.array([_offset(zone, s + span - 1) for s in starts], dtype=np.int64)
    out = first[inverse]
    for i in np.flatnonzero(first != last).tolist():
        rows = np.flatnonzero(inverse == i)
        out[rows] = _offsets(zone, utc[rows], 3600 if span > 3600 else 1)
    return out


def _offset(zone: zoneinfo.ZoneInfo, utc_seconds: int) -> int:
    """The zone's UTC offset in whole seconds at an instant."""
    instant = _EPOCH_UTC + dt.timedelta(seconds=utc_seconds)
    offset = instant.astimezone(zone).utcoffset()
    return 0 if offset is None else int(offset.total_seconds())


def _table(period: int) -> tuple[list[float], list[float]]:
    angles = [2.0 * math.pi * k / period for k in range(period)]
    return [math.sin(a) for a in angles], [math.cos(a) for a in angles]


#: (sin, cos) of each value of each part, computed once with math.sin and math.cos.
_TRIG = {part: _table(period) for part, period in _PERIODS.items()}


def _is_supported(type_: pa.DataType | None) -> bool:
    return type_ is not None and (pa.types.is_timestamp(type_) or pa.types.is_date(type_))


@register_transform
class DateParts(Transform):
    """Hour, day of week and month of a timestamp or date, plus elapsed time.

    Parameters
    ----------
    encoding : {"cyclic", "binned", "raw"}, default "cyclic"
        ``cyclic`` (for linear models): a sine and cosine per part, so 23:00 is next to
        00:00, and the elapsed time standardized.  ``binned`` (for additive models): one
        indicator per hour, day and month, and quantile bins of the elapsed time.  ``raw``
        (for trees): each part as a number (hour 0-23, day 0-6 from Monday, month 1-12)
        and the elapsed ticks clipped, NaN for missing.
    n_bins : int, default 16
        Elapsed-time bins of the ``binned`` encoding (as :class:`~suture.features.Bins`).
    lower, upper : float, default 0.001 and 0.999
        Quantile levels where the elapsed time is clipped (``cyclic`` and ``raw``).

    Attributes
    ----------
    type_ : pyarrow.DataType
        The column's type (a timestamp with its unit and time zone, or a date).
    parts_ : list of str
        The parts encoded, in order: ``hour`` (when the column has times of day), ``dow``,
        ``month``.
    low_, high_ : float
        The elapsed-time clipping bounds, in ticks of the column's unit since 1970-01-01.
    mean_, scale_ : float
        The profile's mean and standard deviation of the ticks (``scale_ = 1`` if zero).
    edges_ : list of float
        The elapsed-time bin edges in ticks (``binned``; else empty).
    indicator_ : bool
        Whether the profile saw nulls, so a ``<column>=<missing>`` feature is output.

    Notes
    -----
    A column has times of day when one of the profile's quantiles (at 1/32 steps) is
    not at midnight.  Features are named ``<column>:<part>_sin``/``_cos``,
    ``<column>:hour=7``, ``<column>:dow=Mon``, ``<column>:month=12``,
    ``<column>:elapsed`` or ``<column>:elapsed=[a, b)`` (ticks).  A null gives zeros and
    sets the missing indicator (NaN everywhere for ``raw``).  A record's value is a
    ``datetime`` (naive ones are taken as UTC for a column with a time zone, as Arrow
    does) or, for a date column, a ``date``; it is reduced to the column's ticks as Arrow
    does (rounding down to the unit) before its parts are read.
    """

    kind = "dateparts"
    _params = ("encoding", "n_bins", "lower", "upper")
    type_: pa.DataType
    parts_: list[str]
    low_: float
    high_: float
    mean_: float
    scale_: float
    edges_: list[float]
    indicator_: bool

    def __init__(
        self,
        *,
        encoding: str = "cyclic",
        n_bins: int = 16,
        lower: float = 0.001,
        upper: float = 0.999,
    ) -> None:
        self.encoding = encoding
        self.n_bins = n_bins
        self.lower = lower
        self.upper = upper

    def _check_params(self) -> None:
        if self.encoding not in ENCODINGS:
            raise ConfigError(
                f"DateParts encoding must be one of {', '.join(ENCODINGS)}, got {self.encoding!r}"
            )
        n = self.n_bins
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"DateParts n_bins must be a whole number of 1 or more, got {n!r}")
        check_levels("DateParts", self.lower, self.upper)

    def fit(self, summary: ColumnSummary) -> DateParts:
        """Learn the parts, the elapsed-time bounds, centre, scale and bins from a summary.

        Raises
        ------
        ConfigError
            For a bad parameter, or a summary that is not of timestamps or dates.
        """
        self._check_params()
        if not isinstance(summary, TemporalSummary) or not _is_supported(summary.type):
            raise ConfigError(
                f"DateParts needs a timestamp or date column, but {summary.name!r} is "
                f"{summary.kind} ({summary.arrow_type}); use Standardize for numbers"
            )
        self.column_ = summary.name
        self.type_ = summary.type
        self.indicator_ = summary.nulls > 0

        def ticks(q: float) -> float:
            return float(NumericSummary.quantile(summary, q))

        if summary.finite:
            self.low_, self.high_ = ticks(self.lower), ticks(self.upper)
            mean, std = float(summary.mean), float(summary.std)
            points = [ticks(i / 32) for i in range(33)]
        else:
            self.low_ = self.high_ = mean = std = 0.0
            points = []
        self.mean_ = mean
        self.scale_ = std if math.isfinite(std) and std > 0 else 1.0
        timed = pa.types.is_timestamp(self.type_) and self._has_times(points)
        self.parts_ = ["hour", "dow", "month"] if timed else ["dow", "month"]
        self.edges_ = []
        if self.encoding == "binned" and summary.finite:
            self.edges_ = quantile_edges(lambda q: ticks(q), summary.min_ticks, self.n_bins)
        self._compile()
        return self

    def _has_times(self, points: list[float]) -> bool:
        if not points:
            return False
        ticks = np.array([round(p) for p in points], dtype=np.int64)
        per_second = _PER_SECOND[self._unit_of()]
        seconds = self._local_seconds(ticks // per_second)
        return bool((seconds % 86_400 != 0).any() or (ticks % per_second != 0).any())

    def _unit_of(self) -> str:
        return str(getattr(self.type_, "unit", "ms" if pa.types.is_date64(self.type_) else "d"))

    def _local_seconds(self, utc: _I64) -> _I64:
        """Wall-clock seconds since 1970 in the column's time zone, of UTC seconds.

        The zone's offset is read with :mod:`zoneinfo` (as the record path reads it) at
        both ends of each distinct UTC day; a day whose ends differ is read hour by hour,
        and an hour whose ends differ second by second.  (A zone that changed its offset
        and changed it back within one day would be missed; none in the tz database has.)
        """
        tz = getattr(self.type_, "tz", None)
        if not tz:
            return utc
        return utc + _offsets(zoneinfo.ZoneInfo(tz), utc, 86_400)

    # -- names and layout ---------------------------------------------------------------

    def _part_names(self, part: str) -> list[str]:
        c = self.column_
        if self.encoding == "cyclic":
            return [f"{c}:{part}_sin", f"{c}:{part}_cos"]
        if self.encoding == "raw":
            return [f"{c}:{part}"]
        labels: list[Any] = list(range(1, 13))
        if part != "month":
            labels = list(range(24)) if part == "hour" else list(_DAYS)
        return [f"{c}:{part}={v}" for v in labels]

    def _compile(self) -> None:
        names: list[str] = []
        self._starts: dict[str, int] = {}
        for part in self.parts_:
            self._starts[part] = len(names)
            names += self._part_names(part)
        self._elapsed = len(names)
        c = self.column_
        if self.encoding == "binned":
            names += bin_names(f"{c}:elapsed", self.edges_)
        else:
            names.append(f"{c}:elapsed")
        self._width = len(names)
        self.feature_names_ = names + [f"{c}={MISSING}"] * (
            self.indicator_ and self.encoding != "raw"
        )
        self._edges = np.array(self.edges_, dtype=np.float64)
        tz = getattr(self.type_, "tz", None)
        self._zone = zoneinfo.ZoneInfo(tz) if tz else None
        self._unit = self._unit_of()

    # -- batch path ---------------------------------------------------------------------

    def _batch_parts(self, array: pa.Array) -> tuple[dict[str, _I64], _F64, npt.NDArray[Any]]:
        """Each part as 0-based integers, the ticks as floats, and the null mask."""
        if pa.types.is_dictionary(array.type):
            array = array.dictionary_decode()
        if array.type != self.type_ and not pa.types.is_null(array.type):
            raise SchemaError(
                f"column {self.column_!r}: expected Arrow type {self.type_}, got {array.type}"
            )
        array = array.cast(self.type_)
        nulls = np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        physical = pa.int32() if pa.types.is_date32(self.type_) else pa.int64()
        raw = pc.fill_null(array.view(physical), 0).to_numpy(zero_copy_only=False)
        ints = np.asarray(raw, dtype=np.int64)
        if self._unit == "d":
            days = ints
            seconds = days * 86_400
        else:
            seconds = self._local_seconds(ints // _PER_SECOND[self._unit])
            days = seconds // 86_400
        parts = {
            "hour": seconds // 3600 % 24,
            "dow": (days + 3) % 7,  # 1970-01-01 was a Thursday; Monday is 0
            "month": days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12,
        }
        return {p: parts[p] for p in self.parts_}, ints.astype(np.float64), nulls

    def transform_array(self, array: pa.Array) -> _F64:
        self._fitted()
        parts, ticks, nulls = self._batch_parts(array)
        n = len(ticks)
        out = np.zeros((n, len(self.feature_names_)), dtype=np.float64)
        rows = np.arange(n)
        for part, codes in parts.items():
            s = self._starts[part]
            if self.encoding == "cyclic":
                sin, cos = (np.array(t, dtype=np.float64) for t in _TRIG[part])
                out[:, s] = sin[codes]
                out[:, s + 1] = cos[codes]
            elif self.encoding == "raw":
                out[:, s] = codes + _OFFSET[part]
            else:
                out[rows, s + codes] = 1.0
        e = self._elapsed
        clipped = np.clip(ticks, self.low_, self.high_)
        if self.encoding == "cyclic":
            out[:, e] = (clipped - self.mean_) / self.scale_
        elif self.encoding == "raw":
            out[:, e] = clipped
        else:
            out[rows, e + np.searchsorted(self._edges, ticks, side="right")] = 1.0
        if self.encoding == "raw":
            out[nulls] = math.nan
            return out
        out[nulls] = 0.0
        if self.indicator_:
            out[:, self._width] = nulls
        return out

    # -- record path --------------------------------------------------------------------

    def _record_ticks(self, value: Any) -> tuple[int, dt.datetime]:
        """The column's integer ticks of one value and the wall-clock datetime they give."""
        if self._unit == "d" or pa.types.is_date64(self.type_):
            if not isinstance(value, dt.date):
                raise RecordError(
                    f"column {self.column_!r}: expected a date or None, got {value!r}",
                    self.column_,
                    "type",
                )
            day = value.toordinal() - _EPOCH_DAY
            if self._unit != "d" and isinstance(value, dt.datetime) and day < 0:
                # Arrow makes a datetime milliseconds, then days rounded toward zero
                clock_ms = (value.hour * 60 + value.minute) * 60_000 + value.second * 1000
                day += bool(clock_ms + value.microsecond // 1000)
            clock = _EPOCH + dt.timedelta(days=day)
            return (day if self._unit == "d" else day * 86_400_000), clock
        if not isinstance(value, dt.datetime):
            raise RecordError(
                f"column {self.column_!r}: expected a datetime or None, got {value!r}",
                self.column_,
                "type",
            )
        delta = value - (_EPOCH if value.tzinfo is None else _EPOCH_UTC)
        us = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        ticks = us * 1000 if self._unit == "ns" else us // _US[self._unit]
        kept = ticks // 1000 if self._unit == "ns" else ticks * _US[self._unit]
        if self._zone is None:
            return ticks, _EPOCH + dt.timedelta(microseconds=kept)
        utc = _EPOCH_UTC + dt.timedelta(microseconds=kept)
        return ticks, utc.astimezone(self._zone)

    def transform_value(self, value: Any, out: list[float], start: int) -> None:
        width = len(self.feature_names_)
        if value is None:
            if self.encoding == "raw":
                out[start : start + width] = [math.nan] * width
            if self.indicator_ and self.encoding != "raw":
                out[start + self._width] = 1.0
            return
        ticks, clock = self._record_ticks(value)
        codes = {"hour": clock.hour, "dow": clock.weekday(), "month": clock.month - 1}
        for part in self.parts_:
            s, code = start + self._starts[part], codes[part]
            if self.encoding == "cyclic":
                sin, cos = _TRIG[part]
                out[s], out[s + 1] = sin[code], cos[code]
            elif self.encoding == "raw":
                out[s] = float(code + _OFFSET[part])
            else:
                out[s + code] = 1.0
        x = float(ticks)
        e = start + self._elapsed
        if self.encoding == "binned":
            out[e + bisect.bisect_right(self.edges_, x)] = 1.0
            return
        x = self.low_ if x < self.low_ else self.high_ if x > self.high_ else x
        out[e] = (x - self.mean_) / self.scale_ if self.encoding == "cyclic" else x

    # -- bounds -------------------------------------------------------------------------

    def critical_values(self) -> list[Any]:
        """Inputs giving every combination of hour, day and month at each end of the
        elapsed range (before the low clip bound and after the high one) and, for the
        ``binned`` encoding, within each elapsed bin; and None.

        Within a year of days every (day of week, month) pair occurs, so 371 days from
        each end (or across each bin, as far as it reaches) cover every combination.
        """
        self._fitted()
        day = self._ticks_per_day()
        if self.encoding == "binned":
            starts = [self.low_ - 371 * day, *self.edges_]
            stops = [*self.edges_, self.high_ + 372 * day]
        else:
            starts = [self.low_ - 372 * day, self.high_ + day]
            stops = [self.low_, self.high_ + 372 * day]
        step = day / 24 if "hour" in self.parts_ else day
        candidates = [
            np.arange(a, min(b, a + 371 * day), step, dtype=np.float64)
            for a, b in zip(starts, stops, strict=True)
        ]
        ticks = np.unique(np.round(np.concatenate(candidates)))
        # datetime holds years 1 to 9999; int64 nanoseconds 1677 to 2262
        seconds = (-9.2e9, 9.2e9) if self._unit == "ns" else (-6.2e10, 2.5e11)
        per_second = day / 86_400
        ticks = ticks[(ticks > seconds[0] * per_second) & (ticks < seconds[1] * per_second)]
        physical = pa.int32() if pa.types.is_date32(self.type_) else pa.int64()
        values = pa.array(ticks.astype(np.int64), physical).cast(self.type_)
        out = self.transform_array(values)
        _, first = np.unique(out, axis=0, return_index=True)
        return [*values.take(pa.array(np.sort(first))).to_pylist(), None]

    def _ticks_per_day(self) -> float:
        if self._unit == "d":
            return 1.0
        return 86_400 * {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}[self._unit]

    # -- image --------------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        return {
            "type": str(self.type_),
            "unit": self._unit,
            "tz": getattr(self.type_, "tz", None),
            "parts": list(self.parts_),
            "low": _hex(self.low_),
            "high": _hex(self.high_),
            "mean": _hex(self.mean_),
            "scale": _hex(self.scale_),
            "edges": [_hex(e) for e in self.edges_],
            "indicator": self.indicator_,
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        where = f"dateparts state of {self.column_!r}"
        unit, tz = state["unit"], state["tz"]
        if unit == "d":
            self.type_ = pa.date32()
        elif state["type"].startswith("date64"):
            self.type_ = pa.date64()
        elif unit in _US:
            self.type_ = pa.timestamp(unit, tz=tz)
        else:
            raise CorruptStateError(f"{where}: unknown time unit {unit!r}")
        parts = state["parts"]
        if not isinstance(parts, list) or not set(parts) <= set(_PERIODS):
            raise CorruptStateError(f"{where}: parts must be of {sorted(_PERIODS)}, got {parts!r}")
        self.parts_ = parts
        self.low_, self.high_, self.mean_, self.scale_ = (
            _unhex(state[k], where) for k in ("low", "high", "mean", "scale")
        )
        self.edges_ = [_unhex(e, where) for e in state["edges"]]
        self.indicator_ = bool(state["indicator"])
        self._compile()
