"""The aggregator laws, checked with Hypothesis over tables of every column kind.

Every aggregator class in the package is found by walking suture's modules and must have
an entry in :data:`REGISTRY` (how to build it): the laws then run on a table large enough
for every sketch to compact.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import inspect
import itertools
import pkgutil
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import suture
from suture.aggregate import Columns, Grouped, Joined, RowCount, _OnColumn, copy_state
from suture.models import GramAggregator, NewtonStep
from suture.profile import Profile, ProfileAggregator
from suture.recommend._signatures import ItemSignatures
from suture.schema import Column, Schema
from suture.schema.run import SUMMARY_SCHEMA, ValidationCounts
from suture.schema.summary import ValidationAggregator, ValidationSummary
from suture.sketches import (
    BooleanSketch,
    CoMoments,
    NumericSketch,
    SetSketch,
    StringSketch,
    TemporalSketch,
)
from suture.testing import (
    ShufflingEngine,
    arrow_tables,
    assert_profiles_agree,
    assert_state_close,
    check_aggregator,
    random_split,
)
from tests.features.test_target import target_laws
from tests.models.test_spilled import spilled_laws
from tests.models.test_streaming import streaming_laws
from tests.serve.test_window import window_laws

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _profile_equal(agg: ProfileAggregator) -> Any:
    def check(a: dict[str, Any], b: dict[str, Any]) -> None:
        # Small tables keep every value in KLL, so quantiles agree exactly as well.
        assert_profiles_agree(Profile(agg, a), Profile(agg, b), quantiles_exact=True)

    return check


@SETTINGS
@given(arrow_tables(), st.integers(0, 2**32))
def test_profile_aggregator_obeys_the_laws(table: pa.Table, seed: int) -> None:
    agg = ProfileAggregator(table.schema)
    check_aggregator(agg, table, assert_equal=_profile_equal(agg), seed=seed)


@SETTINGS
@given(arrow_tables(), st.integers(1, 12), st.integers(0, 2**32))
def test_split_anywhere_and_merge_equals_one_pass(table: pa.Table, parts: int, seed: int) -> None:
    agg = ProfileAggregator(table.schema)
    whole = (
        agg.update(agg.zero(), table.combine_chunks().to_batches()[0])
        if table.num_rows
        else agg.zero()
    )
    state = agg.zero()
    for part in random_split(table, parts, random.Random(seed)):
        partial = agg.zero()
        for batch in part.to_batches(max_chunksize=7):
            partial = agg.update(partial, batch)
        state = agg.merge(state, agg.from_bytes(agg.to_bytes(partial)))
    assert_profiles_agree(Profile(agg, state), Profile(agg, whole), quantiles_exact=True)


@SETTINGS
@given(arrow_tables(), st.integers(0, 2**32))
def test_shuffling_engine_agrees_with_one_pass(table: pa.Table, seed: int) -> None:
    agg = ProfileAggregator(table.schema)
    one = agg.zero()
    for batch in table.to_batches():
        one = agg.update(one, batch)
    shuffled = ShufflingEngine(seed=seed).aggregate_state(table, agg)
    assert_profiles_agree(Profile(agg, shuffled), Profile(agg, one), quantiles_exact=True)


@SETTINGS
@given(arrow_tables(), st.integers(0, 2**32))
def test_row_count_and_comoments_laws(table: pa.Table, seed: int) -> None:
    _row_count_and_comoments_laws(table, seed)


def test_comoments_of_opposite_huge_values_agree_within_their_rounding() -> None:
    # Hypothesis: the mean of 9.99999980479e11 and -9.99999810870e11 was -304 in one
    # merge order and -303.99993896 in another, 6e-5 apart out of 1e12.
    f = [None, None, 9.99999980479e11, -9.999999810869999e11]
    table = pa.table({"i": pa.array([None] * 4, pa.int64()), "f": pa.array(f, pa.float64())})
    _row_count_and_comoments_laws(table, 0)


def _row_count_and_comoments_laws(table: pa.Table, seed: int) -> None:
    check_aggregator(RowCount(), table, assert_equal=_equal_ints, seed=seed)
    comoments = CoMoments(["i", "f"])
    # Rounding in a merge order scales with the data, not with the result: the mean of
    # +1e12 and -1e12 is -304 in one order and -303.99994 in another (Hypothesis found
    # it).  Allow a few ulps of the data's magnitude per row, squared for m2 and c.
    values = [pc.cast(table[c], pa.float64()).to_numpy(zero_copy_only=False) for c in ("i", "f")]
    data = np.concatenate([v[np.isfinite(v)] for v in values] + [np.array([1.0])])
    scale = float(np.abs(data).max())
    ulps = 64 * max(table.num_rows, 1) * np.finfo(np.float64).eps
    atol = {"mean": ulps * scale, "m2": ulps * scale**2, "c": ulps * scale**2}

    def close(a: Any, b: Any) -> None:
        assert (a.n == b.n).all()
        for field in ("mean", "m2", "c"):
            x, y = getattr(a, field), getattr(b, field)
            finite = np.concatenate([x[np.isfinite(x)], y[np.isfinite(y)], [1.0]])
            tol = max(1e-7 * float(np.abs(finite).max()), atol[field])
            agree = np.isclose(x, y, rtol=1e-7, atol=tol, equal_nan=True) | (x == y)
            assert agree.all(), f"{field}: {x} != {y}"

    check_aggregator(comoments, table, assert_equal=close, seed=seed)


def _equal_ints(a: int, b: int) -> None:
    assert a == b


def test_zero_state_finalizes_to_an_empty_profile() -> None:
    schema = pa.schema({"x": pa.float64(), "s": pa.string(), "t": pa.timestamp("s")})
    agg = ProfileAggregator(schema)
    profile = agg.finalize(agg.zero())
    assert profile.row_count == 0
    assert profile["x"].count == 0
    assert str(profile["x"].mean) == "nan"
    assert float(profile["s"].distinct()) == 0.0
    assert profile["t"].min is None
    assert profile["x"].hints == ("empty",)


def test_overflowing_values_give_infinite_moments_not_errors() -> None:
    # Regression: values near the float limit overflowed with a RuntimeWarning.
    table = pa.table({"f": [None, 0.0, 1.6375474301492827e77, 1.34e154], "g": [1.0, 2.0, 3.0, 4.0]})
    agg = ProfileAggregator(table.schema)
    profile = agg.finalize(agg.update(agg.zero(), table.to_batches()[0]))
    assert profile["f"].max == 1.34e154
    assert profile["f"].count == 4 and profile["f"].nulls == 1


# -- every aggregator in the package, on a table where every sketch compacts ------------

LAW_ROWS = 20_000


def law_table(rows: int = LAW_ROWS, seed: int = 5) -> pa.Table:
    """Every column kind, with nulls, NaN and infinities, heavy hitters and a long tail.

    20,000 rows: KLL compacts at k=1024 (its one-level capacity is 1,024 items), the
    frequent-items sketch at lg_max_map=8 has to forget, HyperLogLog leaves its sparse
    path.
    """
    rng = np.random.default_rng(seed)
    missing = rng.random(rows) < 0.05
    floats = rng.lognormal(3.0, 1.0, rows)
    floats[rng.random(rows) < 0.01] = np.nan
    floats[rng.random(rows) < 0.005] = np.inf
    words = np.where(
        rng.random(rows) < 0.5,
        rng.choice(["EWR", "JFK", "LGA", ""], rows),
        np.char.add("w", rng.zipf(1.5, rows).astype(str)),
    )
    stamps = dt.datetime(2024, 1, 1, tzinfo=dt.UTC).timestamp() * 1e6 + rng.integers(
        0, 10**13, rows
    )
    tag_lists = [["a", "b", "c"][: int(n)] for n in rng.integers(0, 4, rows)]
    return pa.table(
        {
            "i": pa.array(rng.integers(-500, 5_000, rows), pa.int64(), mask=missing),
            "f": pa.array(floats, pa.float64(), mask=rng.random(rows) < 0.05),
            "s": pa.array(words.tolist(), pa.string(), mask=missing),
            "d": pa.array(rng.choice(["x", "y", "z"], rows).tolist()).dictionary_encode(),
            "b": pa.array(rng.random(rows) < 0.3, pa.bool_(), mask=rng.random(rows) < 0.1),
            "t": pa.array(stamps.astype(np.int64), pa.timestamp("us", "UTC")),
            "l": pa.array(tag_lists, pa.list_(pa.string())),
            "key": pa.array(rng.choice(["yes", "no"], rows).tolist(), mask=rng.random(rows) < 0.1),
            "user": pa.array(rng.integers(0, 400, rows), pa.int64()),
        }
    )


def _validation_counts_equal(a: ValidationSummary, b: ValidationSummary) -> None:
    # Examples keep the left operand's first (documented), so only counts must agree.
    assert (a.rows, a.valid, a.quarantined, a.counts) == (b.rows, b.valid, b.quarantined, b.counts)


def _validation(table: pa.Table) -> ValidationAggregator:
    contract = Schema(
        [
            Column("f", "number", min=0, max=100),
            Column("s", "categorical", levels=("EWR", "JFK", "LGA")),
            Column("key", "categorical", nullable=False, levels=("yes", "no")),
        ]
    )
    return ValidationAggregator(contract, table.schema)


@dataclass(frozen=True)
class Law:
    """How to build an aggregator for the law checks and what to feed it.

    ``equal`` replaces :func:`suture.testing.assert_state_close` where that is not the
    right judge; ``table`` builds the input from the law table; ``commutative`` is False
    for aggregators that keep row order.
    """

    build: Callable[[pa.Table], Any]
    equal: Callable[[Any, Any], None] | None = None
    table: Callable[[pa.Table], pa.Table] | None = None
    commutative: bool = True


def _summary_rows(table: pa.Table) -> pa.Table:
    """Per-batch validation summary rows, as ``ValidatorFn`` writes them."""
    rng = np.random.default_rng(9)
    rows = []
    for _ in range(table.num_rows // 50):
        broken = rng.integers(0, 3)
        violations = [
            {"column": c, "kind": "range", "count": int(rng.integers(1, 9)), "example": f"x{c}"}
            for c in rng.choice(["a", "b", "c"], broken, replace=False).tolist()
        ]
        n = int(rng.integers(1, 100))
        quarantined = min(n, sum(v["count"] for v in violations))
        rows.append({"rows": n, "valid": n - quarantined, "quarantined": quarantined,
                     "violations": violations})  # fmt: skip
    return pa.Table.from_pylist(rows, schema=SUMMARY_SCHEMA)


def _sums_close(a: Any, b: Any) -> None:
    """States of sums (Gram matrix, Newton step): counts equal, sums to rounding."""
    for field in dataclasses.fields(a):
        x = np.asarray(getattr(a, field.name), dtype=float)
        y = np.asarray(getattr(b, field.name), dtype=float)
        if field.name in ("n", "skipped"):
            assert (x == y).all(), f"{field.name}: {x} != {y}"
            continue
        atol = 1e-9 * max(1.0, float(np.abs(y).max(initial=0.0)))
        assert np.allclose(x, y, rtol=1e-9, atol=atol), f"{field.name}: {x} != {y}"


#: Every aggregator class in the package, with how to run the laws on it.
REGISTRY: dict[type, Law] = {
    RowCount: Law(lambda t: RowCount()),
    Joined: Law(lambda t: Joined({"rows": RowCount(), "co": CoMoments(["i", "f"])})),
    Columns: Law(lambda t: Columns({"i": NumericSketch(), "s": StringSketch()})),
    _OnColumn: Law(lambda t: _OnColumn("f", NumericSketch())),
    Grouped: Law(
        lambda t: Grouped("key", Columns({"f": NumericSketch(k=200), "b": BooleanSketch()}))
    ),
    NumericSketch: Law(lambda t: NumericSketch()),
    TemporalSketch: Law(lambda t: TemporalSketch(pa.timestamp("us", "UTC"))),
    StringSketch: Law(lambda t: StringSketch(lg_max_map=8)),
    BooleanSketch: Law(lambda t: BooleanSketch()),
    SetSketch: Law(lambda t: SetSketch(k=200)),
    CoMoments: Law(lambda t: CoMoments(["i", "f", "user"])),
    ProfileAggregator: Law(lambda t: ProfileAggregator(t.schema)),
    ItemSignatures: Law(lambda t: ItemSignatures(user="user", item="s", num_perm=16)),
    ValidationAggregator: Law(_validation, _validation_counts_equal),
    ValidationCounts: Law(
        lambda t: ValidationCounts(), _validation_counts_equal, table=_summary_rows
    ),
    GramAggregator: Law(lambda t: GramAggregator(["i", "user", "b"], "f"), _sums_close),
    NewtonStep: Law(lambda t: NewtonStep(["i", "user"], "b", [0.2, 1e-4, -1e-3]), _sums_close),
    **target_laws(Law),
    **streaming_laws(Law),
    **spilled_laws(Law),
    **window_laws(Law),
}

_ON_COLUMN = {
    NumericSketch: "i",
    TemporalSketch: "t",
    StringSketch: "s",
    BooleanSketch: "b",
    SetSketch: "l",
}

_VERBS = ("config", "zero", "update", "merge", "finalize", "to_bytes", "from_bytes")


def discover_aggregators() -> set[type]:
    """Every concrete class in suture that has the aggregator verbs and a ``kind``."""
    found: set[type] = set()
    for module in pkgutil.walk_packages(suture.__path__, "suture."):
        loaded = importlib.import_module(module.name)
        for _, cls in inspect.getmembers(loaded, inspect.isclass):
            if cls.__module__ != loaded.__name__ or inspect.isabstract(cls):
                continue
            if getattr(cls, "_is_protocol", False):
                continue
            if all(callable(getattr(cls, verb, None)) for verb in _VERBS):
                found.add(cls)
    return found


def test_every_aggregator_class_has_a_law_registry_entry() -> None:
    found = discover_aggregators()
    assert {RowCount, NumericSketch, Grouped, ProfileAggregator} <= found  # discovery works
    missing = sorted(c.__module__ + "." + c.__qualname__ for c in found - set(REGISTRY))
    assert not missing, f"add {', '.join(missing)} to the law registry (tests/test_laws.py)"


@pytest.fixture(scope="module")
def big() -> pa.Table:
    return law_table()


def _wrap(cls: type, aggregator: Any) -> Any:
    """Column aggregators run through the adapter that reads their column."""
    return _OnColumn(_ON_COLUMN[cls], aggregator) if cls in _ON_COLUMN else aggregator


@pytest.mark.parametrize("cls", list(REGISTRY), ids=lambda c: c.__name__)
def test_laws_hold_on_a_table_where_every_sketch_compacts(cls: type, big: pa.Table) -> None:
    law = REGISTRY[cls]
    table = law.table(big) if law.table else big
    aggregator = _wrap(cls, law.build(table))
    check_aggregator(
        aggregator, table, assert_equal=law.equal, seed=11, commutative=law.commutative
    )


# Parametrized by class so that every aggregator gets its own examples: one draw over
# the whole registry gave each class about one split.
@pytest.mark.parametrize("cls", list(REGISTRY), ids=lambda c: c.__name__)
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.floats(0.0, 1.0), max_size=6), st.booleans())
def test_split_anywhere_then_merge_equals_one_pass_for_every_aggregator(
    cls: type, cuts: list[float], through_bytes: bool
) -> None:
    law = REGISTRY[cls]
    table = law.table(_BIG) if law.table else _BIG
    aggregator = _wrap(cls, law.build(table))
    agree = law.equal or (lambda a, b: assert_state_close(aggregator, a, b))
    bounds = [0, *sorted(round(c * table.num_rows) for c in cuts), table.num_rows]
    state = aggregator.zero()
    for lo, hi in itertools.pairwise(bounds):
        part = aggregator.zero()
        for batch in table.slice(lo, hi - lo).to_batches(max_chunksize=4_096):
            part = aggregator.update(part, batch)
        if through_bytes:
            part = aggregator.from_bytes(aggregator.to_bytes(part))
        state = aggregator.merge(state, part)
    one = aggregator.update(aggregator.zero(), table.combine_chunks().to_batches()[0])
    agree(state, one)
    copy = copy_state(aggregator, state)
    agree(aggregator.from_bytes(aggregator.to_bytes(copy)), one)


_BIG = law_table()


def test_laws_hold_for_the_aggregator_suture_compare_builds_for_segments_and_a_contract(
    big: pa.Table,
) -> None:
    # suture.monitor.sides reads a side with --by and --schema as this one Joined
    # aggregator: the segment's profiles beside the contract's counts.
    from suture.monitor.sides import MAX_SEGMENTS

    profile = Grouped("key", ProfileAggregator(big.schema), max_levels=MAX_SEGMENTS)
    aggregator = Joined({"profile": profile, "contract": _validation(big)})

    def agree(a: dict[str, Any], b: dict[str, Any]) -> None:
        assert_state_close(profile, a["profile"], b["profile"], path="profile")
        _validation_counts_equal(a["contract"], b["contract"])

    check_aggregator(aggregator, big, assert_equal=agree, seed=3)
