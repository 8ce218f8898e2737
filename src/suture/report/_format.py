"""What both reports say, as text: numbers, values of a column, bounds, strong pairs."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa

from suture.profile import Profile
from suture.sketches import (
    BooleanSummary,
    NumericSummary,
    SetSummary,
    StringSummary,
    TemporalSummary,
)
from suture.sketches._base import ColumnSummary
from suture.sketches.distinct import HLL_CONFIDENCE, SMALL_KEYS, hll_bound
from suture.sketches.estimate import Estimate
from suture.sketches.quantiles import KLL_CONFIDENCE
from suture.sketches.sizes import DEFAULT_LG_K

__all__ = [
    "DASH",
    "QUANTILES",
    "ErrorBounds",
    "StrongPair",
    "count",
    "distinct_of",
    "distinct_text",
    "duration",
    "error_bounds",
    "exact_number",
    "hints_text",
    "interval",
    "null_share",
    "null_share_of",
    "num",
    "rows_nulls",
    "short",
    "strong_pairs",
    "type_name",
    "value",
]

DASH = "—"
QUANTILES = (0.25, 0.5, 0.75, 0.99)
_SAID_BY_TYPE = {"numeric": "numeric", "temporal": "timestamp", "boolean": "boolean", "set": "set"}
_UNIT_SECONDS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


def num(x: float | None) -> str:
    """A number for people: thousands separators, about four significant digits.

    >>> num(1234567), num(0.012345), num(3.14159), num(-12345.6), num(0.2), num(float("nan"))
    ('1,234,567', '0.01235', '3.142', '-12,346', '0.2', '—')
    """
    if x is None or math.isnan(x):
        return DASH
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    if x == 0:
        return "0"
    magnitude = abs(x)
    if magnitude >= 1e15 or magnitude < 1e-4:
        return f"{x:.3e}"
    if float(x).is_integer():
        return f"{int(x):,}"
    decimals = max(0, 3 - math.floor(math.log10(magnitude)))
    text = f"{x:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def short(x: float | None) -> str:
    """Like :func:`num`, with k/M/G/T suffixes from 100,000 on to stay narrow.

    >>> short(336776), short(-1234567.0), short(12345.6)
    ('336.8k', '-1.235M', '12,346')
    """
    if x is None or not math.isfinite(x) or abs(x) < 1e5 or abs(x) >= 1e15:
        return num(x)
    for size, suffix in ((1e3, "k"), (1e6, "M"), (1e9, "G"), (1e12, "T")):
        scaled = x / size
        decimals = max(0, 3 - math.floor(math.log10(abs(scaled))))
        text = f"{scaled:.{decimals}f}"
        if abs(float(text)) < 1000 or suffix == "T":
            return (text.rstrip("0").rstrip(".") if "." in text else text) + suffix
    return num(x)  # pragma: no cover - the loop returns at "T"


def count(n: float) -> str:
    """A count with thousands separators."""
    return f"{round(n):,}"


def exact_number(x: int | Decimal) -> str:
    """An exact integer or decimal in full, with thousands separators.

    >>> exact_number(2**64 - 1), exact_number(Decimal("-1234.500"))
    ('18,446,744,073,709,551,615', '-1,234.500')
    """
    return f"{x:,}"


def interval(lower: float, upper: float) -> str:
    """The interval of a count that is not exact, as text ("336–809"); "" when exact.

    >>> interval(336.0, 809.0), interval(12.0, 12.0)
    ('336–809', '')
    """
    return f"{count(lower)}–{count(upper)}" if upper > lower else ""


def null_share(nulls: int, rows: int) -> str:
    """The share of nulls as a short percentage ("0%", "<0.1%", "12.5%")."""
    if nulls == 0 or rows == 0:
        return "0%"
    share = nulls / rows
    if share < 0.001:
        return "<0.1%"
    return f"{share:.1%}" if share < 1 else "100%"


def duration(seconds: float) -> str:
    """A length of time in the largest sensible unit ("250 ms", "3.5 h", "12.1 d")."""
    if math.isnan(seconds):
        return DASH
    if seconds == 0:
        return "0 s"
    sign, s = ("-" if seconds < 0 else ""), abs(seconds)
    for limit, unit, size in (
        (1e-3, "µs", 1e-6),
        (1.0, "ms", 1e-3),
        (120.0, "s", 1.0),
        (7200.0, "min", 60.0),
        (172800.0, "h", 3600.0),
    ):
        if s < limit:
            return f"{sign}{num(s / size)} {unit}"
    return f"{sign}{num(s / 86400.0)} d"


def tick_seconds(type_: pa.DataType | None) -> float:
    """How many seconds one tick of a temporal type lasts (1 for unknown types)."""
    if type_ is None:
        return 1.0
    if pa.types.is_date32(type_):
        return 86400.0
    if pa.types.is_date64(type_):
        return 1e-3
    return _UNIT_SECONDS.get(getattr(type_, "unit", "s"), 1.0)


def _temporal(v: Any) -> str:
    if v is None:
        return DASH
    if isinstance(v, dt.timedelta):
        return duration(v.total_seconds())
    if isinstance(v, dt.datetime):
        if v.microsecond:
            return v.isoformat(sep=" ", timespec="milliseconds")
        if v.second:
            return v.isoformat(sep=" ", timespec="seconds")
        if v.hour or v.minute or v.tzinfo is not None:
            return v.isoformat(sep=" ", timespec="minutes")
        return v.date().isoformat()
    if isinstance(v, dt.date | dt.time):
        return v.isoformat()
    return str(v)


def value(summary: ColumnSummary, x: Any) -> str:
    """A value of the column, as text: a number, a date, a time or a duration.

    Exact extremes (a Python ``int`` or ``Decimal``) are written in full.
    """
    if isinstance(summary, TemporalSummary):
        return _temporal(x)
    if isinstance(x, int | Decimal) and not isinstance(x, bool):
        return exact_number(x)
    if isinstance(x, float | np.floating | np.integer):
        return num(float(x))
    return DASH if x is None else str(x)


def ticks(summary: TemporalSummary, t: float) -> str:
    """A tick count of a temporal column, as text of the column's kind."""
    return _temporal(summary.to_value(t))


def mean_std(summary: NumericSummary) -> tuple[str, str]:
    """The mean and standard deviation, temporal ones as a date and a duration."""
    if isinstance(summary, TemporalSummary):
        spread = summary.std * tick_seconds(summary.arrow_type)
        return ticks(summary, summary.mean), duration(spread)
    return num(summary.mean), num(summary.std)


def distinct_text(estimate: Estimate[float]) -> str:
    """A distinct estimate with its relative half-width when that exceeds one value.

    >>> distinct_text(Estimate(1000.0, 980.0, 1030.0, 0.95))
    '1,000 ±3.0%'
    >>> distinct_text(Estimate(3.0, 3.0, 3.0001, 0.95))
    '3'
    """
    v = float(estimate.value)
    half = max(float(estimate.upper) - v, v - float(estimate.lower))
    if half < 0.5 or v <= 0:
        return count(v)
    return f"{count(v)} ±{half / v:.1%}"


def type_name(summary: ColumnSummary) -> str:
    """A short name of the column's Arrow type ("int64", "dict<string>", "list<string>")."""
    t = summary.arrow_type
    if t is None:
        return summary.kind
    if pa.types.is_dictionary(t):
        return f"dict<{t.value_type}>"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return f"list<{t.value_type}>"
    return str(t)


def hints_text(summary: ColumnSummary) -> str:
    """The hints that add to the type, and how many values fail to parse as what they look like."""
    said = _SAID_BY_TYPE.get(summary.kind)
    text = ", ".join(h for h in summary.hints if h != said)
    if summary.parse_failures:
        text += f" ({count(summary.parse_failures)} fail to parse)"
    return text


@dataclass(frozen=True)
class ErrorBounds:
    """The worst-case sketch errors of a profile, for the report's footer.

    Attributes
    ----------
    rank_error : float or None
        Largest KLL normalized rank error over the numeric columns (99% confidence), or
        ``None`` when the profile has no quantile sketch with values.
    distinct_error : float or None
        Relative half-width of the 95% interval of the distinct counts that are
        estimated (:func:`~suture.sketches.distinct.hll_bound`, the figure each such
        column states), or ``None`` when every column's count is exact.
    frequent_error : int or None
        Widest interval of a top-value count (upper minus lower bound), or ``None``
        without text columns.
    """

    rank_error: float | None
    distinct_error: float | None
    frequent_error: int | None

    def sentences(self) -> list[str]:
        """The bounds in words, one sentence each."""
        out = []
        if self.rank_error is not None:
            out.append(
                f"Quantiles and histograms (KLL sketch): the true rank of each value is "
                f"within ±{self.rank_error:.2%} of the stated rank, at "
                f"{KLL_CONFIDENCE:.0%} confidence."
            )
        exact = (
            f"exact where a column has few distinct values (up to {count(SMALL_KEYS)} numbers "
            "or times, or every text value held by the frequent-items sketch)"
        )
        if self.distinct_error is None:
            out.append("Distinct counts: exact in every column.")
        else:
            out.append(
                f"Distinct counts: {exact}; otherwise estimated by HyperLogLog, within "
                f"±{self.distinct_error:.1%} of the truth at {HLL_CONFIDENCE:.0%} confidence. "
                "Each column states its own interval."
            )
        if self.frequent_error is not None:
            how = (
                "exact"
                if self.frequent_error == 0
                else "the true count lies between the lower and upper bound shown, an "
                f"interval at most {count(self.frequent_error)} wide"
            )
            out.append(f"Top-value counts (frequent-items sketch): {how}, with certainty.")
        out.append("Row counts, nulls, min, max, mean and standard deviation are exact.")
        return out

    def short(self) -> str:
        """The bounds in one line for the terminal."""
        parts = []
        if self.rank_error is not None:
            parts.append(f"quantiles ±{self.rank_error:.2%} rank (KLL, {KLL_CONFIDENCE:.0%})")
        if self.distinct_error is None:
            parts.append("distinct exact")
        else:
            parts.append(
                f"distinct ±{self.distinct_error:.1%} where estimated (HLL, {HLL_CONFIDENCE:.0%})"
            )
        if self.frequent_error == 0:
            parts.append("top counts exact")
        elif self.frequent_error is not None:
            widest = count(self.frequent_error)
            parts.append(f"top counts within intervals ≤ {widest} wide (certain)")
        return "Error bounds: " + "; ".join(parts) + "; counts, min, max, mean, std exact."


def _numeric_parts(summary: ColumnSummary) -> list[NumericSummary]:
    if isinstance(summary, NumericSummary):
        return [summary]
    if isinstance(summary, SetSummary):
        return [summary.sizes]
    return []


def _string_parts(summary: ColumnSummary) -> list[StringSummary]:
    if isinstance(summary, StringSummary):
        return [summary]
    if isinstance(summary, SetSummary):
        return [summary.elements]
    return []


def error_bounds(profile: Profile) -> ErrorBounds:
    """The worst sketch errors over all columns of ``profile``."""
    summaries = list(profile.values())
    ranks = [n.rank_error for s in summaries for n in _numeric_parts(s) if n.finite]
    texts = [t for s in summaries for t in _string_parts(s)]
    lg_k = int(profile.aggregator.options.get("lg_k", DEFAULT_LG_K))
    estimated = any(distinct_of(s).confidence < 1.0 for s in summaries)
    return ErrorBounds(
        rank_error=max(ranks) if ranks else None,
        distinct_error=hll_bound(lg_k) if estimated else None,
        frequent_error=max((t.top_error for t in texts), default=0) if texts else None,
    )


@dataclass(frozen=True)
class StrongPair:
    """Two numeric columns, their Pearson correlation and the rows it is computed from."""

    left: str
    right: str
    r: float
    rows: int


def strong_pairs(profile: Profile, threshold: float = 0.5) -> list[StrongPair]:
    """Pairs of numeric columns with ``|r| >= threshold``, strongest first."""
    corr = profile.correlation
    if len(corr.columns) < 2:
        return []
    r = corr.matrix
    n = corr.pair_counts
    i, j = np.triu_indices(len(corr.columns), k=1)
    values = r[i, j]
    keep = np.isfinite(values) & (np.abs(values) >= threshold)
    order = np.argsort(-np.abs(values[keep]), kind="stable")
    rows = zip(i[keep][order].tolist(), j[keep][order].tolist(), strict=True)
    return [
        StrongPair(corr.columns[a], corr.columns[b], float(r[a, b]), int(n[a, b])) for a, b in rows
    ]


_Summaries = NumericSummary | StringSummary | BooleanSummary | SetSummary


def rows_nulls(summary: ColumnSummary) -> tuple[int, int]:
    """The rows a column summary saw (nulls included) and its nulls."""
    if isinstance(summary, _Summaries):
        return int(summary.count), int(summary.nulls)
    return 0, 0


def null_share_of(summary: ColumnSummary) -> str:
    """The share of nulls of a column, as :func:`null_share` writes it."""
    rows, nulls = rows_nulls(summary)
    return null_share(nulls, rows)


def distinct_of(summary: ColumnSummary) -> Estimate[float]:
    """The distinct-count estimate of any column summary (0 when it has none)."""
    if isinstance(summary, _Summaries):
        estimate: Estimate[float] = summary.distinct()
        return estimate
    return Estimate(0.0, 0.0, 0.0, 1.0)


def is_numeric_like(summary: ColumnSummary) -> bool:
    """Whether the column is shown with quantiles and a histogram."""
    return isinstance(summary, NumericSummary)


def is_text_like(summary: ColumnSummary) -> bool:
    """Whether the column is shown with its top values."""
    return isinstance(summary, StringSummary | BooleanSummary | SetSummary)
