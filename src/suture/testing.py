"""Tools to test aggregators: law checks, a shuffling engine, Hypothesis strategies.

Use them on your own aggregators as suture's tests do::

    from suture.testing import ShufflingEngine, check_aggregator
    check_aggregator(MyAggregator(), table, assert_equal=my_assert)

``ShufflingEngine`` catches distributed bugs without Spark: it splits the input into
random parts, reorders them, round-trips each partial state through bytes and merges the
states in a random tree.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from suture.aggregate import Aggregator
from suture.sources import open_source

__all__ = [
    "ShufflingEngine",
    "arrow_tables",
    "assert_profiles_agree",
    "check_aggregator",
    "random_split",
]

AssertEqual = Callable[[Any, Any], None]


def random_split(table: pa.Table, parts: int, rng: random.Random) -> list[pa.Table]:
    """Cut ``table`` at ``parts - 1`` random places (parts may be empty)."""
    cuts = sorted(rng.randint(0, table.num_rows) for _ in range(parts - 1))
    bounds = [0, *cuts, table.num_rows]
    return [table.slice(a, b - a) for a, b in itertools.pairwise(bounds)]


def _fold(aggregator: Aggregator[Any, Any], table: pa.Table, batch_size: int) -> Any:
    state = aggregator.zero()
    for batch in table.to_batches(max_chunksize=max(1, batch_size)):
        state = aggregator.update(state, batch)
    return state


def _copy(aggregator: Aggregator[Any, Any], state: Any) -> Any:
    return aggregator.from_bytes(aggregator.to_bytes(state))


class ShufflingEngine:
    """An engine that splits, reorders and round-trips states through bytes.

    Parameters
    ----------
    seed : int
        Seeds the splits, the order and the merge tree.
    max_parts : int
        Up to this many partial states.
    """

    name = "shuffling"

    def __init__(self, seed: int = 0, max_parts: int = 8) -> None:
        self.seed = seed
        self.max_parts = max_parts

    def open(self, source: Any) -> Any:
        return open_source(source)

    def schema_of(self, source: Any) -> pa.Schema:
        return open_source(source).schema

    def describe(self, source: Any) -> str:
        return "shuffled " + open_source(source).name

    def aggregate_state(self, source: Any, aggregator: Aggregator[Any, Any], **_: Any) -> Any:
        rng = random.Random(self.seed)
        table = pa.Table.from_batches(
            list(open_source(source).batches()), open_source(source).schema
        )
        parts = random_split(table, rng.randint(1, self.max_parts), rng)
        rng.shuffle(parts)
        states = [_copy(aggregator, _fold(aggregator, p, rng.randint(1, 1000))) for p in parts]
        while len(states) > 1:
            i = rng.randrange(len(states) - 1)
            merged = aggregator.merge(states[i], states[i + 1])
            states[i : i + 2] = [_copy(aggregator, merged)]
        return states[0]

    def aggregate(self, source: Any, aggregator: Aggregator[Any, Any], **kw: Any) -> Any:
        return aggregator.finalize(self.aggregate_state(source, aggregator, **kw))


def check_aggregator(
    aggregator: Aggregator[Any, Any],
    table: pa.Table,
    *,
    assert_equal: AssertEqual,
    seed: int = 0,
) -> None:
    """Check the aggregator laws on ``table``; raise ``AssertionError`` on a violation.

    Checks identity (``merge(zero, s)`` and ``merge(s, zero)``), associativity,
    commutativity, the homomorphism (split anywhere, merge, equals one pass) and the
    byte round trip (``from_bytes(to_bytes(s))`` agrees with ``s``; bytes themselves may
    differ where a sketch's image depends on insertion order, as DataSketches' frequent
    items does).
    ``assert_equal(a, b)`` decides when two states agree (exactly, or within bounds).
    """
    rng = random.Random(seed)
    whole = _fold(aggregator, table, table.num_rows or 1)
    assert_equal(aggregator.from_bytes(aggregator.to_bytes(whole)), whole)
    assert_equal(aggregator.merge(aggregator.zero(), _copy(aggregator, whole)), whole)
    assert_equal(aggregator.merge(_copy(aggregator, whole), aggregator.zero()), whole)
    a, b, c = (_fold(aggregator, t, rng.randint(1, 64)) for t in random_split(table, 3, rng))
    left = aggregator.merge(aggregator.merge(_copy(aggregator, a), b), c)
    right = aggregator.merge(_copy(aggregator, a), aggregator.merge(_copy(aggregator, b), c))
    assert_equal(left, right)
    assert_equal(left, whole)
    swapped = aggregator.merge(aggregator.merge(_copy(aggregator, c), b), a)
    assert_equal(swapped, whole)
    shuffled = ShufflingEngine(seed=seed).aggregate_state(table, aggregator)
    assert_equal(shuffled, whole)


def assert_profiles_agree(a: Any, b: Any, *, quantiles_exact: bool = False) -> None:
    """Assert two profiles of the same data agree: exact parts equal, sketches in bounds.

    Exact: row count, per-column counts, nulls, NaN/inf/zero/negative counts, extremes,
    string "looks like" counts, boolean counts, distinct-count registers (byte for byte)
    and frequent-item counts whose bounds are exact.  Up to floating rounding: moments
    and correlations.  Quantiles: equal when ``quantiles_exact`` (small inputs, where KLL
    keeps every value), else within the sum of both rank errors.
    """
    assert a.row_count == b.row_count, f"rows {a.row_count} != {b.row_count}"
    assert list(a) == list(b), "columns differ"
    for name in a:
        _assert_summary_agree(name, a[name], b[name], quantiles_exact)
    ma, mb = a.correlation.matrix, b.correlation.matrix
    assert np.array_equal(a.correlation.pair_counts, b.correlation.pair_counts)
    both = np.isfinite(ma) & np.isfinite(mb)
    # Merge order changes rounding; r amplifies it where magnitudes differ widely.
    assert np.allclose(ma[both], mb[both], rtol=1e-5, atol=1e-5), "correlations differ"


def _assert_summary_agree(name: str, x: Any, y: Any, quantiles_exact: bool) -> None:
    assert x.kind == y.kind, f"{name}: kind {x.kind} != {y.kind}"
    assert (x.count, x.nulls) == (y.count, y.nulls), f"{name}: counts differ"
    if x.kind in ("numeric", "temporal"):
        _assert_numeric_agree(name, x, y, quantiles_exact)
    elif x.kind == "string":
        _assert_string_agree(name, x, y)
    elif x.kind == "boolean":
        assert x.true == y.true, f"{name}: true counts differ"
    elif x.kind == "set":
        _assert_numeric_agree(name + ".sizes", x.sizes, y.sizes, quantiles_exact)
        _assert_string_agree(name + ".elements", x.elements, y.elements)


def _assert_numeric_agree(name: str, x: Any, y: Any, quantiles_exact: bool) -> None:
    sx, sy = x.state, y.state
    exact = ("nans", "pos_inf", "neg_inf", "zeros", "negatives", "integers", "min", "max")
    for field in exact:
        assert getattr(sx, field) == getattr(sy, field), f"{name}: {field} differs"
    assert sx.moments.n == sy.moments.n, f"{name}: finite counts differ"
    _assert_moments_agree(name, sx.moments, sy.moments)
    assert np.array_equal(sx.distinct, sy.distinct), f"{name}: distinct registers differ"
    if sx.quantiles.n == 0:
        assert sy.quantiles.n == 0
        return
    for q in (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0):
        qa = sx.quantiles.get_quantile(q)
        qb = sy.quantiles.get_quantile(q)
        if quantiles_exact:
            assert qa == qb, f"{name}: quantile {q} {qa} != {qb}"
        else:
            eps = sx.quantiles.normalized_rank_error(False)
            eps += sy.quantiles.normalized_rank_error(False)
            assert qa == qb or _rank_near(sx.quantiles, qb, q, eps), (
                f"{name}: quantile {q} differs beyond the rank error ({qa} vs {qb})"
            )


def _rank_near(sketch: Any, value: float, q: float, eps: float) -> bool:
    """Whether ``q`` lies within ``eps`` of the rank interval of ``value`` in ``sketch``."""
    low, high = sketch.get_rank(value, False), sketch.get_rank(value, True)
    return bool(low - eps - 1e-12 <= q <= high + eps + 1e-12)


def _assert_moments_agree(name: str, a: Any, b: Any) -> None:
    with np.errstate(over="ignore", invalid="ignore"):
        spread = np.sqrt(np.float64(max(a.m2, b.m2, 0.0)))
        scales = {
            "mean": abs(a.mean) + spread / math.sqrt(max(a.n, 1)),
            "m2": spread**2,
            "m3": spread**3,
            "m4": spread**4,
        }
    for field, scale in scales.items():
        x, y = getattr(a, field), getattr(b, field)
        if x == y or (math.isnan(x) and math.isnan(y)) or not math.isfinite(scale):
            continue
        assert abs(x - y) <= 1e-8 * scale + 1e-12, f"{name}: moment {field} {x} != {y}"


def _assert_string_agree(name: str, x: Any, y: Any) -> None:
    sx, sy = x.state, y.state
    assert sx.empty == sy.empty and sx.looks == sy.looks, f"{name}: string counts differ"
    assert (sx.min_length, sx.max_length) == (sy.min_length, sy.max_length)
    assert sx.lengths.n == sy.lengths.n
    _assert_moments_agree(name + " lengths", sx.lengths, sy.lengths)
    assert np.array_equal(sx.distinct, sy.distinct), f"{name}: distinct registers differ"
    if x.top_error == 0 and y.top_error == 0:
        top_x = {i.value: i.count.value for i in x.top(10_000)}
        top_y = {i.value: i.count.value for i in y.top(10_000)}
        assert top_x == top_y, f"{name}: frequent items differ"


def arrow_tables(max_rows: int = 60) -> Any:
    """A Hypothesis strategy of Arrow tables with every column kind suture summarizes.

    Columns: int64 with nulls, float64 with nulls/NaN/±inf, strings with nulls, booleans,
    UTC timestamps and lists of strings.
    """
    import datetime as dt

    from hypothesis import strategies as st

    floats = st.one_of(
        st.none(),
        st.floats(-1e12, 1e12, allow_subnormal=False),
        st.sampled_from([0.0, -0.0, 1.5, -2.0, math.nan, math.inf, -math.inf]),
    )
    ints = st.one_of(st.none(), st.integers(-(2**40), 2**40), st.sampled_from([0, 1, -1]))
    words = st.one_of(
        st.none(),
        st.sampled_from(["a", "b", "", "3.5", "true", "2024-01-02", "x y z w"]),
        st.text(max_size=6),
    )
    stamps = st.one_of(
        st.none(),
        st.datetimes(dt.datetime(1970, 1, 1), dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC)),
    )
    lists = st.one_of(st.none(), st.lists(st.sampled_from(["x", "y", "z"]), max_size=4))

    @st.composite
    def tables(draw: Any) -> pa.Table:
        n = draw(st.integers(0, max_rows))
        return pa.table(
            {
                "i": pa.array(draw(st.lists(ints, min_size=n, max_size=n)), pa.int64()),
                "f": pa.array(draw(st.lists(floats, min_size=n, max_size=n)), pa.float64()),
                "s": pa.array(draw(st.lists(words, min_size=n, max_size=n)), pa.string()),
                "b": pa.array(
                    draw(st.lists(st.one_of(st.none(), st.booleans()), min_size=n, max_size=n)),
                    pa.bool_(),
                ),
                "t": pa.array(
                    draw(st.lists(stamps, min_size=n, max_size=n)), pa.timestamp("us", "UTC")
                ),
                "l": pa.array(draw(st.lists(lists, min_size=n, max_size=n)), pa.list_(pa.string())),
            }
        )

    return tables()
