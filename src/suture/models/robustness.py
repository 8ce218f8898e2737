"""How far one input column can move a model's score: bounds the model card can state.

For every input column of a fitted :class:`~suture.features.FeaturePipeline` and model,
:func:`sensitivity` gives two numbers in link units (log-odds, logits or the value):

- ``largest``: the largest change of the score that any value the contract allows can
  cause, the other inputs held fixed;
- ``perturbation``: the largest change from moving a number by 1% of its interquartile
  range (``nan`` for a column that is not a number).

For an *additive* model (``model.additive``: linear, naive Bayes, scorecard) a column's
contribution does not depend on the other columns, and its transform (clipped at profile
quantiles, binned at edges, one-hot over levels) attains every output at one of the
pipeline's :meth:`~suture.features.FeaturePipeline.critical_values`; so the range of the
score over those values is the exact ``largest``, whatever the other inputs are.  A
number with a ``log1p`` companion feature (:class:`~suture.features.transforms.Standardize`
``companion``) bends between its clip bounds (convex or concave): its turning point is
found by golden-section search and tried too.  The
perturbation is exact too: between consecutive critical values a transform is monotone
(linear, ``log1p``) or constant (a bin), so the change over a window of fixed width is
extreme where the window starts or ends at a critical value; both sides of each such
point are tried.  These results are labelled ``method = "exact"``.

Trees and LightGBM are not additive: the answer depends on the other inputs.  It is then
*searched*: over reference rows (a seeded sample), the critical values, the model's own
split thresholds on the column's features (both sides of each), profile quantiles and the
values seen in the reference rows; labelled ``method = "search"``.  A searched bound is
attained by the search and exact for the rows searched; other rows may exceed it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from suture.errors import ConfigError
from suture.models.result import Sensitivity

if TYPE_CHECKING:
    from suture.features import FeaturePipeline
    from suture.models.base import Model
    from suture.profile import Profile
    from suture.schema.contract import Schema
    from suture.schema.types import Column

__all__ = ["sensitivity"]

F64 = npt.NDArray[np.float64]

#: The perturbation: this share of a column's interquartile range.
PERTURBATION = 0.01
#: Profile quantiles tried as values of a number in a search.
SEARCH_QUANTILES = tuple(np.linspace(0.0, 1.0, 21).tolist())
#: The quantiles of the profile-made reference rows a search uses when none are given.
SYNTHETIC_QUANTILES = (0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95)
#: At most this many records are scored per column in a search (rows are subsampled).
SEARCH_BUDGET = 10_000


def sensitivity(
    pipeline: FeaturePipeline,
    model: Model,
    *,
    profile: Profile,
    contract: Schema | None = None,
    reference: pa.Table | pa.RecordBatch | Sequence[Mapping[str, Any]] | None = None,
    seed: int = 0,
    max_rows: int = 64,
) -> list[Sensitivity]:
    """The largest score change per input column, exact for additive models.

    Parameters
    ----------
    pipeline : FeaturePipeline
        The fitted pipeline that builds the model's matrix.
    model : Model
        The fitted model.
    profile : Profile
        The training profile (quantiles for the search).
    contract : Schema, optional
        Limits the values tried: a number's ``min``/``max``, a closed category's levels,
        whether a null is allowed.  Without it every value the transform can see counts.
    reference : table, batch or sequence of records, optional
        Rows whose other inputs are held fixed (a seeded sample of ``max_rows`` is used in
        a search).  By default rows made from the profile: for an additive model one
        (any row gives the same answer), for a search one per
        :data:`SYNTHETIC_QUANTILES` (numbers at that quantile, other columns walking
        their critical values).  Pass real rows (the training table) for a better search.
    seed : int
        Seeds the sample of reference rows.
    max_rows : int
        The most reference rows a search uses.

    Returns
    -------
    list of Sensitivity
        One per input column of the pipeline, in its order.

    Raises
    ------
    ConfigError
        For a model fitted on other features than the pipeline's, or bad arguments.
    """
    pipeline._fitted()
    model._fitted()
    if list(model.design_.features) != list(pipeline.feature_names_):
        raise ConfigError(
            "sensitivity: the model was fitted on other features than the pipeline makes "
            f"({model.design_.n_features} vs {len(pipeline.feature_names_)}); pass the "
            "pipeline that built its matrix"
        )
    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1:
        raise ConfigError(f"sensitivity max_rows must be a positive whole number, got {max_rows!r}")
    exact = bool(model.additive)
    rows = _reference(pipeline, profile, reference, seed, 1 if exact else max_rows)
    out = []
    for column in pipeline.columns_:
        spec = _spec(contract, column)
        values = _allowed(pipeline.critical_values(column), spec)
        if exact:
            values = _allowed([*values, *_turning_points(pipeline, model, column, rows)], spec)
        numeric = _is_numeric(profile, column)
        if not exact:
            values = _allowed(
                [*values, *_search_values(pipeline, model, profile, column, rows, numeric)], spec
            )
        largest = _largest(pipeline, model, column, rows, values, seed)
        delta = PERTURBATION * float(pipeline.iqr(column)) if numeric else math.nan
        moved = (
            _perturbation(pipeline, model, column, rows, values, delta, spec, seed, exact)
            if math.isfinite(delta)
            else math.nan
        )
        out.append(Sensitivity(column, largest, moved, "exact" if exact else "search"))
    return out


# -- what is tried ---------------------------------------------------------------------


def _reference(
    pipeline: FeaturePipeline,
    profile: Profile,
    reference: pa.Table | pa.RecordBatch | Sequence[Mapping[str, Any]] | None,
    seed: int,
    limit: int,
) -> list[dict[str, Any]]:
    if reference is None:
        return _synthetic(pipeline, profile, 1 if limit == 1 else len(SYNTHETIC_QUANTILES))
    n = reference.num_rows if isinstance(reference, pa.Table | pa.RecordBatch) else len(reference)
    if n == 0:
        raise ConfigError("sensitivity: the reference rows are empty; pass at least one row")
    chosen = np.arange(n)
    if n > limit:
        chosen = np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))
    if isinstance(reference, pa.Table | pa.RecordBatch):
        return list(reference.take(pa.array(chosen)).to_pylist())
    return [dict(reference[i]) for i in chosen.tolist()]


def _synthetic(pipeline: FeaturePipeline, profile: Profile, n: int) -> list[dict[str, Any]]:
    """Rows made from the profile when none are given: row ``i`` puts every number at the
    ``i``-th of :data:`SYNTHETIC_QUANTILES` and walks the other columns' critical values."""
    rows: list[dict[str, Any]] = [{} for _ in range(n)]
    for column in pipeline.columns_:
        values = [v for v in pipeline.critical_values(column) if v is not None] or [None]
        for i, row in enumerate(rows):
            row[column] = values[i % len(values)]
            if n > 1 and _is_numeric(profile, column):
                try:
                    q = float(profile[column].quantile(SYNTHETIC_QUANTILES[i]))  # type: ignore[attr-defined]
                except (ValueError, TypeError):  # an empty summary has no quantiles
                    continue
                row[column] = q if math.isfinite(q) else row[column]
    return rows


def _budget(rows: list[dict[str, Any]], n_values: int, seed: int) -> list[dict[str, Any]]:
    """At most :data:`SEARCH_BUDGET` scored records: fewer rows for many values."""
    keep = max(1, SEARCH_BUDGET // max(1, n_values))
    if len(rows) <= keep:
        return rows
    chosen = np.sort(np.random.default_rng(seed).choice(len(rows), keep, replace=False))
    return [rows[i] for i in chosen.tolist()]


def _is_numeric(profile: Profile, column: str) -> bool:
    return column in profile and profile[column].kind == "numeric"


def _search_values(
    pipeline: FeaturePipeline,
    model: Model,
    profile: Profile,
    column: str,
    rows: list[dict[str, Any]],
    numeric: bool,
) -> list[Any]:
    """Values a search adds: thresholds of the model, profile quantiles, observed values."""
    values: list[Any] = [r.get(column) for r in rows]
    if not numeric:
        return values
    summary = profile[column]
    for q in SEARCH_QUANTILES:
        try:
            values.append(float(summary.quantile(q)))  # type: ignore[attr-defined]
        except (ValueError, TypeError):  # an empty summary has no quantiles
            break
    thresholds = getattr(model, "thresholds", None)
    if thresholds is not None:
        blocks = model.design_.blocks().get(column, [])
        for feature in blocks:
            for t in thresholds(feature):
                t32 = np.float32(t)
                values += [
                    t,
                    float(np.nextafter(t, math.inf)),
                    float(np.nextafter(t32, np.float32(math.inf))),
                ]
    return values


def _spec(contract: Schema | None, column: str) -> Column | None:
    if contract is None:
        return None
    try:
        return contract[column]
    except (KeyError, ValueError):  # a column the contract does not list (derived)
        return None


def _allowed(values: Iterable[Any], spec: Column | None) -> list[Any]:
    """The values the contract allows (numbers clamped into its range), deduplicated."""
    out: list[Any] = []
    seen: set[Any] = set()
    closed = spec is not None and spec.type == "categorical" and spec.levels and not spec.open
    extra: list[Any] = list(spec.levels) if closed and spec is not None else []
    for v in [*values, *extra]:
        if spec is not None:
            if v is None or (isinstance(v, float) and math.isnan(v)):
                if not spec.nullable:
                    continue
            elif closed and isinstance(v, str) and v not in spec.levels:
                continue
            elif spec.type in ("number", "integer") and _is_real(v):
                v = _clamp(float(v), spec)
        key = (type(v).__name__, repr(v))
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out


def _is_real(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _clamp(v: float, spec: Column) -> float:
    low = spec.min if _is_real(spec.min) else None
    high = spec.max if _is_real(spec.max) else None
    if low is not None and v < float(low):
        v = float(low)
    if high is not None and v > float(high):
        v = float(high)
    return v


def _inside(v: float, spec: Column | None) -> bool:
    if spec is None or spec.type not in ("number", "integer"):
        return math.isfinite(v)
    return math.isfinite(v) and _clamp(v, spec) == v


# -- scoring what is tried -------------------------------------------------------------


def _scores(
    pipeline: FeaturePipeline,
    model: Model,
    column: str,
    rows: list[dict[str, Any]],
    values: list[Any],
    seed: int,
) -> F64:
    """Scores ``(len(values), rows, outputs)`` with ``column`` set to each value.

    Each transform sees only its own column, so the rows are transformed once and the
    column's block of features is replaced by each value's block (computed by the
    column's transform, as the record path does).  Values with equal blocks are scored
    once, and the rows are subsampled to :data:`SEARCH_BUDGET` scored records.
    """
    transform = pipeline.transforms_[column]
    width = transform.n_features_
    blocks = np.empty((len(values), width), dtype=np.float64)
    for i, v in enumerate(values):
        out = [0.0] * width  # fresh, as the record path gives every transform
        transform.transform_value(v, out, 0)
        blocks[i] = out
    unique, inverse = np.unique(blocks, axis=0, return_inverse=True)
    rows = _budget(rows, unique.shape[0], seed)
    base = np.array([pipeline.transform_record(r) for r in rows], dtype=np.float64)
    block = model.design_.blocks()[column]
    x = np.repeat(base[None, :, :], unique.shape[0], axis=0)
    x[:, :, block] = unique[:, None, :]
    scores = model.decision_function(x.reshape(unique.shape[0] * len(rows), -1))
    shaped = np.asarray(scores, dtype=np.float64).reshape(unique.shape[0], len(rows), -1)
    return shaped[inverse.reshape(-1)]


#: Golden-section steps for the turning point of a bending contribution: the bracket
#: shrinks by 0.618 a step, so 80 steps take any clip range below a float's resolution.
GOLDEN_STEPS = 80


def _turning_points(
    pipeline: FeaturePipeline, model: Model, column: str, rows: list[dict[str, Any]]
) -> list[float]:
    """Where a number whose transform adds a ``log1p`` companion feature turns.

    An additive model's contribution of such a column is ``a z(x) + b z(log1p x)``
    between the clip bounds: convex or concave, so each output has at most one interior
    extreme, found by golden-section search on the score (the bound stays exact to the
    float's resolution).  Other transforms have none: an empty list.
    """
    transform = pipeline.transforms_[column]
    if getattr(transform, "companion_", None) is None:
        return []
    low, high = float(transform.low_), float(transform.high_)  # type: ignore[attr-defined]
    if not low < high:
        return []
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    points = []
    outputs = _scores(pipeline, model, column, rows[:1], [low], 0).shape[-1]
    for k in range(outputs):
        for sign in (1.0, -1.0):  # the largest, then the smallest score

            def f(v: float, k: int = k, sign: float = sign) -> float:
                return sign * float(_scores(pipeline, model, column, rows[:1], [v], 0)[0, 0, k])

            a, b = low, high
            c, d = b - ratio * (b - a), a + ratio * (b - a)
            fc, fd = f(c), f(d)
            for _ in range(GOLDEN_STEPS):
                if fc > fd:
                    b, d, fd = d, c, fc
                    c = b - ratio * (b - a)
                    fc = f(c)
                else:
                    a, c, fc = c, d, fd
                    d = a + ratio * (b - a)
                    fd = f(d)
                if not b - a > 0.0:
                    break
            points.append((a + b) / 2.0)
    return points


def _largest(
    pipeline: FeaturePipeline,
    model: Model,
    column: str,
    rows: list[dict[str, Any]],
    values: list[Any],
    seed: int,
) -> float:
    if len(values) < 2:
        return 0.0
    s = _scores(pipeline, model, column, rows, values, seed)
    return float(np.max(s.max(axis=0) - s.min(axis=0)))


def _perturbation(
    pipeline: FeaturePipeline,
    model: Model,
    column: str,
    rows: list[dict[str, Any]],
    values: list[Any],
    delta: float,
    spec: Column | None,
    seed: int,
    exact: bool,
) -> float:
    """The largest change from ``v`` to ``v + delta`` over windows starting or ending at
    a critical value (both sides of each, when exact), within the contract's range."""
    if delta == 0.0:
        return 0.0
    points = sorted({float(v) for v in values if _is_real(v) and math.isfinite(float(v))})
    starts: set[float] = set()
    for c in points:
        if not exact:  # the values hold both sides of every threshold already
            starts.update((c, c - delta))
            continue
        for s in (c, c - delta, float(np.nextafter(c, math.inf)) - delta):
            starts.update((s, float(np.nextafter(s, math.inf)), float(np.nextafter(s, -math.inf))))
    pairs = [
        (s, s + delta) for s in sorted(starts) if _inside(s, spec) and _inside(s + delta, spec)
    ]
    if not pairs:
        return 0.0
    flat: list[Any] = [v for pair in pairs for v in pair]
    scores = _scores(pipeline, model, column, rows, flat, seed)
    return float(np.max(np.abs(scores[1::2] - scores[0::2])))
