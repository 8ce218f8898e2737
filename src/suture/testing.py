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
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from suture.aggregate import Aggregator, copy_state, merge_all
from suture.sources import open_source

__all__ = [
    "ShufflingEngine",
    "arrow_tables",
    "assert_profiles_agree",
    "assert_state_close",
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

    It implements :class:`suture.engines.base.Engine` with the same signatures as
    ``LocalEngine`` and ``SparkEngine``, so any code that takes an engine can be run on
    it to catch distributed bugs without Spark.

    Parameters
    ----------
    seed : int
        Seeds the splits, the order and the merge tree.
    max_parts : int
        Up to this many partial states (and about four times as many batches for
        :meth:`map_batches`).

    Notes
    -----
    :meth:`aggregate_state` cuts the input at random places (parts may be empty), folds
    each part in batches of a random size, shuffles the parts, round-trips every partial
    state through ``to_bytes``/``from_bytes`` and merges them in a random tree: the
    result must not depend on any of that.  :meth:`map_batches` hands ``fn`` batches of
    random sizes (empty ones included) with their true first row, writes the outputs as
    the local engine does (Parquet files, atomically, in input order) and folds each
    aggregator over its output in random parts merged in a random tree through bytes,
    keeping the parts in order (outputs such as collected rows are ordered).  The input
    is held in memory: this engine is for tests.
    """

    name = "shuffling"

    def __init__(self, seed: int = 0, max_parts: int = 8) -> None:
        self.seed = seed
        self.max_parts = max_parts

    def open(self, source: Any) -> Any:
        """The :class:`~suture.sources.Source` of ``source``."""
        return open_source(source)

    def schema_of(self, source: Any) -> pa.Schema:
        """The Arrow schema of ``source``."""
        return open_source(source).schema

    def describe(self, source: Any) -> str:
        """``"shuffled "`` and the name of ``source``."""
        return "shuffled " + open_source(source).name

    def aggregate_state(
        self,
        source: Any,
        aggregator: Aggregator[Any, Any],
        *,
        columns: list[str] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> Any:
        """Fold ``source`` in shuffled random parts merged in a random tree."""
        rng = random.Random(self.seed)
        table = _read(source)
        parts = random_split(table, rng.randint(1, self.max_parts), rng)
        rng.shuffle(parts)
        states = [_copy(aggregator, _fold(aggregator, p, rng.randint(1, 1000))) for p in parts]
        if progress is not None:
            progress(table.num_rows)
        return _merge_tree(aggregator, states, rng)

    def aggregate(
        self,
        source: Any,
        aggregator: Aggregator[Any, Any],
        *,
        columns: list[str] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> Any:
        """The result of :meth:`aggregate_state`."""
        state = self.aggregate_state(source, aggregator, columns=columns, progress=progress)
        return aggregator.finalize(state)

    def map_batches(
        self,
        source: Any,
        fn: Callable[[pa.RecordBatch, int], Mapping[str, pa.RecordBatch]],
        *,
        schema: Mapping[str, pa.Schema],
        sink: Mapping[str, Any] | None = None,
        aggregators: Mapping[str, Aggregator[Any, Any]] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> dict[str, Any]:
        """Run ``fn`` over batches of random sizes; write and fold its outputs."""
        from suture.engines.local import LocalEngine
        from suture.sources import Source

        rng = random.Random(self.seed)
        table = _read(source)
        pieces = [
            batch
            for part in random_split(table, rng.randint(1, 4 * self.max_parts), rng)
            for batch in (part.to_batches() or [pa.RecordBatch.from_pylist([], table.schema)])
        ]
        folds = dict(aggregators or {})
        kept: dict[str, list[pa.RecordBatch]] = {name: [] for name in folds}

        def recording(batch: pa.RecordBatch, first: int) -> Mapping[str, pa.RecordBatch]:
            outputs = fn(batch, first)
            for name, batches in kept.items():
                batches.append(outputs[name])
            return outputs

        shuffled = Source("shuffled", table.schema, table.num_rows, None, lambda n: iter(pieces))
        writer = LocalEngine(workers=1, batch_size=max(1, table.num_rows))
        tables = writer.map_batches(
            shuffled, recording, schema=schema, sink=sink, progress=progress
        )
        # Outputs with neither sink nor aggregator come back as tables, as on LocalEngine.
        results: dict[str, Any] = {n: t for n, t in tables.items() if n not in folds}
        for name, agg in folds.items():
            out = pa.Table.from_batches(kept[name], schema=schema[name])
            parts = random_split(out, rng.randint(1, self.max_parts), rng)
            states = [_copy(agg, _fold(agg, p, rng.randint(1, 1000))) for p in parts]
            results[name] = agg.finalize(_merge_tree(agg, states, rng))
        return results


def _read(source: Any) -> pa.Table:
    opened = open_source(source)
    return pa.Table.from_batches(list(opened.batches()), opened.schema)


def _merge_tree(aggregator: Aggregator[Any, Any], states: list[Any], rng: random.Random) -> Any:
    """Merge neighbours in a random order, through bytes, until one state is left."""
    states = list(states) or [aggregator.zero()]
    while len(states) > 1:
        i = rng.randrange(len(states) - 1)
        merged = aggregator.merge(states[i], states[i + 1])
        states[i : i + 2] = [_copy(aggregator, merged)]
    return states[0]


def _batch_size(rows: int, rng: random.Random) -> int:
    """A batch size between ``rows / 256`` and ``rows``, log-uniform: folds stay cheap on
    large tables and still cut them unevenly."""
    low = max(1, rows // 256)
    high = max(low, rows)
    return min(high, int(2 ** rng.uniform(math.log2(low), math.log2(high) + 1)))


def check_aggregator(
    aggregator: Aggregator[Any, Any],
    table: pa.Table,
    *,
    assert_equal: AssertEqual | None = None,
    seed: int = 0,
    commutative: bool = True,
) -> None:
    """Check the aggregator laws on ``table``; raise ``AssertionError`` on a violation.

    Checks the byte round trip (``from_bytes(to_bytes(s))`` agrees with ``s``; the bytes
    themselves may differ where a sketch's image depends on the order its hash map was
    filled in, as DataSketches' frequent items' does), identity (``merge(zero, s)`` and
    ``merge(s, zero)``), that ``merge`` leaves its second argument unchanged (bytes before
    and after) and that :func:`~suture.aggregate.copy_state` is independent of its
    source, associativity, commutativity, the homomorphism (split anywhere, merge, equals
    one pass, also through :func:`~suture.aggregate.merge_all`) and the shuffling engine.

    With ``commutative=False`` (an aggregator that keeps row order, such as collected
    batches), merges keep the parts in order and the shuffling engine is not used.

    ``assert_equal(a, b)`` decides when two states agree; the default is
    :func:`assert_state_close` (exact parts exactly, sketches within their bounds).  Use
    tables large enough for every sketch to compact (tens of thousands of rows for KLL at
    k=1024): batch sizes are drawn between ``rows / 256`` and ``rows``.
    """
    agree = assert_equal or (lambda a, b: assert_state_close(aggregator, a, b))
    rng = random.Random(seed)
    whole = _fold(aggregator, table, table.num_rows or 1)
    agree(aggregator.from_bytes(aggregator.to_bytes(whole)), whole)
    agree(aggregator.merge(aggregator.zero(), copy_state(aggregator, whole)), whole)
    agree(aggregator.merge(copy_state(aggregator, whole), aggregator.zero()), whole)
    a, b, c = (
        _fold(aggregator, t, _batch_size(t.num_rows, rng)) for t in random_split(table, 3, rng)
    )
    _check_merge_reads_only(aggregator, a, b, c)
    left = aggregator.merge(aggregator.merge(copy_state(aggregator, a), b), c)
    right = aggregator.merge(
        copy_state(aggregator, a), aggregator.merge(copy_state(aggregator, b), c)
    )
    agree(left, right)
    agree(left, whole)
    if not commutative:
        agree(merge_all(aggregator, [a, b, c]), whole)
        return
    agree(aggregator.merge(aggregator.merge(copy_state(aggregator, c), b), a), whole)
    agree(merge_all(aggregator, [b, c, a]), whole)
    shuffled = ShufflingEngine(seed=seed).aggregate_state(table, aggregator)
    agree(shuffled, whole)


def _check_merge_reads_only(aggregator: Aggregator[Any, Any], a: Any, b: Any, c: Any) -> None:
    """``merge(x, b)`` leaves ``b`` as it was, and a copy shares nothing with its source."""
    before = [aggregator.to_bytes(s) for s in (a, b, c)]
    copied = copy_state(aggregator, a)
    copied = aggregator.merge(copied, b)
    copied = aggregator.merge(copied, c)
    merge_all(aggregator, [a, b, c])
    after = [aggregator.to_bytes(s) for s in (a, b, c)]
    for name, old, new in zip("abc", before, after, strict=True):
        assert old == new, f"merging changed an argument ({name}): merge must only read b"


def assert_state_close(aggregator: Any, a: Any, b: Any, *, path: str = "state") -> None:
    """Assert two states of ``aggregator`` agree: exact parts exactly, sketches in bounds.

    Row counts, counters, extremes, distinct-count registers and boolean counts must be
    equal; moments and co-moments agree up to floating rounding (1e-8 of their scale,
    1e-7 for co-moments); quantiles are equal where both sketches still hold every value,
    else each one's quantile lies within the sum of both rank errors of the other's rank;
    frequent-item counts are equal where both are exact.  Products (:class:`Joined`,
    :class:`Columns`, profiles) and :class:`Grouped` are compared part by part; any other
    aggregator's states must have the same bytes.  Neither state is modified.
    """
    from suture.aggregate import Grouped, RowCount, _OnColumn, _Product
    from suture.sketches import BooleanSketch, CoMoments, NumericSketch, SetSketch, StringSketch
    from suture.sketches.categorical import StringSummary
    from suture.sketches.numeric import NumericSummary

    if isinstance(aggregator, _Product):
        for name, part in aggregator._parts.items():
            assert_state_close(part, a[name], b[name], path=f"{path}.{name}")
    elif isinstance(aggregator, _OnColumn):
        assert_state_close(aggregator.inner, a, b, path=path)
    elif isinstance(aggregator, Grouped):
        assert list(a) == list(b) or set(a) == set(b), f"{path}: levels {list(a)} != {list(b)}"
        for level in a:
            assert_state_close(aggregator.aggregator, a[level], b[level], path=f"{path}[{level!r}]")
    elif isinstance(aggregator, RowCount):
        assert a == b, f"{path}: {a} rows != {b} rows"
    elif isinstance(aggregator, NumericSketch):
        x, y = (NumericSummary(copy_state(aggregator, s)) for s in (a, b))
        _assert_numeric_agree(path, x, y, _holds_all(x) and _holds_all(y))
    elif isinstance(aggregator, StringSketch):
        sx, sy = (StringSummary(copy_state(aggregator, s)) for s in (a, b))
        assert (sx.count, sx.nulls) == (sy.count, sy.nulls), f"{path}: counts differ"
        _assert_string_agree(path, sx, sy)
    elif isinstance(aggregator, SetSketch):
        assert (a.count, a.nulls) == (b.count, b.nulls), f"{path}: row counts differ"
        assert_state_close(aggregator.sizes, a.sizes, b.sizes, path=f"{path}.sizes")
        assert_state_close(aggregator.elements, a.elements, b.elements, path=f"{path}.elements")
    elif isinstance(aggregator, BooleanSketch):
        assert a == b, f"{path}: {a} != {b}"
    elif isinstance(aggregator, CoMoments):
        _assert_comoments_close(path, a, b)
    else:
        assert aggregator.to_bytes(a) == aggregator.to_bytes(b), f"{path}: states differ"


def _holds_all(summary: Any) -> bool:
    """Whether a numeric summary's quantile sketch still holds every value (exact)."""
    sketch = summary.state.quantiles
    return bool(sketch.num_retained == sketch.n)


def _assert_comoments_close(path: str, a: Any, b: Any) -> None:
    assert np.array_equal(a.n, b.n), f"{path}: pair counts differ"
    for field in ("mean", "m2", "c"):
        x, y = getattr(a, field), getattr(b, field)
        finite = np.concatenate([x[np.isfinite(x)], y[np.isfinite(y)], [1.0]])
        atol = 1e-7 * float(np.abs(finite).max())
        agree = np.isclose(x, y, rtol=1e-7, atol=atol, equal_nan=True) | (x == y)
        assert agree.all(), f"{path}: co-moment {field} differs: {x} != {y}"


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
