"""Exact numbers stay exact: unsigned 64-bit values, integer and decimal extremes, small
distinct counts; against NumPy and Python, through the local engine and the byte format."""

from __future__ import annotations

import statistics
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import suture
from suture.engines import LocalEngine
from suture.errors import CorruptStateError
from suture.sketches import NumericSketch, StringSketch
from suture.sketches.distinct import (
    SMALL_KEYS,
    hll_bound,
    hll_estimate,
    hll_update,
    hll_zero,
    small_keys_union,
    small_keys_zero,
)
from suture.sketches.hashing import int_keys
from suture.testing import ShufflingEngine

GOLDEN = Path(__file__).parent / "golden"
TOP = 2**64 - 1
HALF = 2**63

# Around 2**63 and up to 2**64 - 1, with nulls, zeros and repeats.
UINT64_VALUES = [
    HALF - 1,
    HALF,
    HALF + 1,
    TOP,
    None,
    0,
    5,
    TOP - 1,
    HALF,
    None,
    0,
    2**53 + 1,
]


def _uint64_table(repeat: int) -> pa.Table:
    return pa.table({"u": pa.array(UINT64_VALUES * repeat, pa.uint64())})


def _profile_file(tmp_path: Path, table: pa.Table, workers: int) -> suture.Profile:
    path = tmp_path / f"t{workers}.parquet"
    pq.write_table(table, path, row_group_size=max(1, table.num_rows // 4))
    return suture.profile(str(path), engine=LocalEngine(workers=workers, batch_size=1000))


@pytest.mark.parametrize("workers", [1, 2])
def test_uint64_from_2_63_on_is_profiled_as_unsigned(tmp_path: Path, workers: int) -> None:
    table = _uint64_table(repeat=300)  # 3,600 rows: several batches, and counted batches
    profile = _profile_file(tmp_path, table, workers)
    s = profile["u"]
    present = [v for v in UINT64_VALUES * 300 if v is not None]
    assert (s.count, s.nulls) == (3600, 600)
    assert s.min == 0 and type(s.min) is int
    assert s.max == TOP and type(s.max) is int
    assert s.negatives == 0
    assert s.zeros == present.count(0)
    exact_mean = Fraction(sum(present), len(present))
    assert s.mean > 0
    assert s.mean == pytest.approx(float(exact_mean), rel=1e-12)
    assert s.distinct().value == s.distinct().lower == s.distinct().upper == len(set(present))
    floats = np.sort(np.array(present, dtype=np.uint64).astype(np.float64))
    for q in (0.0, 0.25, 0.5, 0.75, 1.0):
        estimate = s.quantile(q)
        assert estimate.value >= 0
        truth = floats[min(int(q * floats.size), floats.size - 1)]
        assert estimate.lower <= truth <= estimate.upper, (q, estimate, truth)
    assert s.quantile(1.0).value == float(TOP)


@pytest.mark.parametrize("seed", range(6))
def test_exact_parts_do_not_depend_on_splits_order_or_bytes(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 3000
    big = rng.integers(HALF - 50, HALF + 50, n, dtype=np.uint64)  # across 2**63
    wide = rng.integers(-(2**63), 2**63 - 1, n, dtype=np.int64, endpoint=True)
    money = [Decimal(int(c)).scaleb(-2) for c in rng.integers(-(10**12), 10**12, n)]
    table = pa.table(
        {
            "big": pa.array(big),
            "wide": pa.array(wide),
            "money": pa.array(money, pa.decimal128(20, 2)),
        }
    )
    p = suture.profile(table, engine=ShufflingEngine(seed=seed))
    assert (p["big"].min, p["big"].max) == (int(big.min()), int(big.max()))
    assert (p["wide"].min, p["wide"].max) == (int(wide.min()), int(wide.max()))
    assert (p["money"].min, p["money"].max) == (min(money), max(money))
    assert p["big"].distinct().value == len(np.unique(big))
    assert p["big"].negatives == 0 and p["big"].zeros == 0
    assert p["wide"].negatives == int((wide < 0).sum())


def test_uint64_summary_survives_the_byte_round_trip_and_merge() -> None:
    sketch = NumericSketch()
    low = pa.array([0, 7, None, HALF - 1], pa.uint64())
    high = pa.array([HALF, TOP, None, TOP - 1], pa.uint64())
    a = sketch.update(sketch.zero(), low)
    b = sketch.update(sketch.zero(), high)
    a, b = sketch.from_bytes(sketch.to_bytes(a)), sketch.from_bytes(sketch.to_bytes(b))
    merged = sketch.finalize(sketch.merge(a, b))
    assert (merged.min, merged.max, merged.negatives, merged.zeros) == (0, TOP, 0, 1)
    assert merged.distinct().value == 6 and merged.distinct().confidence == 1.0
    one_pass = sketch.update(sketch.zero(), pa.concat_arrays([low, high]))
    split = sketch.merge(sketch.from_bytes(sketch.to_bytes(a)), b)
    assert split.exact == one_pass.exact == (0, TOP)
    assert np.array_equal(split.keys, one_pass.keys)
    assert np.array_equal(split.distinct, one_pass.distinct)


def test_uint64_keys_agree_below_and_above_2_63() -> None:
    # One batch below 2**63 (int64 path), one above (unsigned path): same value, same key.
    sketch = NumericSketch()
    state = sketch.update(sketch.zero(), pa.array([HALF - 1, 3], pa.uint64()))
    state = sketch.update(state, pa.array([HALF - 1, 3, HALF], pa.uint64()))
    assert sketch.finalize(state).distinct().value == 3
    registers = hll_update(hll_zero(), int_keys(np.array([HALF - 1, 3, -HALF], np.int64)))
    assert np.array_equal(state.distinct, registers)


INT_TYPES = [
    pa.int8(),
    pa.int16(),
    pa.int32(),
    pa.int64(),
    pa.uint8(),
    pa.uint16(),
    pa.uint32(),
    pa.uint64(),
]


@pytest.mark.parametrize("arrow_type", INT_TYPES, ids=str)
def test_integer_extremes_of_every_width_are_exact_ints(arrow_type: pa.DataType) -> None:
    info = np.iinfo(arrow_type.to_pandas_dtype())
    lo, hi = int(info.min), int(info.max)
    values = [lo, None, hi, lo + 1, hi - 1, 0] * 200  # 1,200 values: wide-range path
    s = suture.profile(pa.table({"x": pa.array(values, arrow_type)}))["x"]
    assert (s.min, s.max) == (lo, hi)
    assert type(s.min) is int and type(s.max) is int
    assert s.negatives == (400 if lo < 0 else 0)
    assert s.distinct().value == len({lo, hi, lo + 1, hi - 1, 0})


def test_int64_max_prints_as_itself() -> None:
    s = suture.profile(pa.table({"x": pa.array([1, 2**63 - 1, None], pa.int64())}))["x"]
    assert str(s.max) == "9223372036854775807"
    assert float(2**63 - 1) == 2.0**63  # the float a profile used to keep


def test_large_int64_extremes_beside_near_neighbours_are_exact() -> None:
    # Neighbours beyond 2**53 share one float: the extremes must come from the integers.
    values = np.array([2**62 + 1, 2**62 + 3, -(2**62) - 1, 2**62 + 2], dtype=np.int64)
    s = suture.profile(pa.table({"x": pa.array(values)}))["x"]
    assert (s.min, s.max) == (-(2**62) - 1, 2**62 + 3)
    assert (s.min, s.max) == (int(values.min()), int(values.max()))
    assert s.distinct().value == 4


def test_exact_extremes_merge_and_round_trip_through_profiles() -> None:
    rng = np.random.default_rng(7)
    ints = rng.integers(-(2**62), 2**62, size=5000, dtype=np.int64)
    table = pa.table({"x": pa.array(ints)})
    parts = [suture.profile(table.slice(i, 1000)) for i in range(0, 5000, 1000)]
    merged = parts[0]
    for part in parts[1:]:
        merged = suture.Profile.merge(merged, part)
    loaded = suture.Profile.from_bytes(merged.to_bytes())
    for p in (merged, loaded):
        assert (p["x"].min, p["x"].max) == (int(ints.min()), int(ints.max()))


def test_decimal_extremes_are_exact_decimals() -> None:
    low, high = Decimal("-12345678901234567890.0123456789"), Decimal("98765432109876543210.5")
    values = [Decimal("1.25"), high, None, low, Decimal("0")]
    table = pa.table({"d": pa.array(values, pa.decimal128(38, 10))})
    profile = suture.profile(table)
    s = profile["d"]
    assert (s.min, s.max) == (low, high)
    assert type(s.min) is Decimal
    loaded = suture.Profile.from_bytes(profile.to_bytes())
    assert (loaded["d"].min, loaded["d"].max) == (low, high)
    merged = suture.Profile.merge(profile, suture.profile(table.slice(0, 1)))
    assert (merged["d"].min, merged["d"].max) == (low, high)
    assert s.mean == pytest.approx(float(statistics.mean([v for v in values if v is not None])))


def test_float_columns_keep_float_extremes() -> None:
    s = suture.profile(pa.table({"f": pa.array([0.5, -2.25, None, float("nan")])}))["f"]
    assert (s.min, s.max) == (-2.25, 0.5) and type(s.min) is float


def test_old_profile_without_exact_fields_falls_back_to_floats() -> None:
    golden = suture.Profile.load(GOLDEN / "mixed_v1.profile")
    s = golden["count"]
    assert s.state.exact is None and s.state.keys is None
    assert (s.min, s.max) == (0.0, 999.0) and type(s.min) is float
    assert s.distinct().confidence == pytest.approx(0.9545)  # no exact keys were kept
    # Merged with a fresh profile, the exact extremes are unknown for the old part.
    from tests.make_golden import golden_table

    merged = suture.Profile.merge(golden, suture.profile(golden_table(), k=200))
    assert merged["count"].state.exact is None
    assert (merged["count"].min, merged["count"].max) == (0.0, 999.0)


def test_a_state_without_exact_fields_writes_the_bytes_it_read() -> None:
    sketch = NumericSketch()
    state = sketch.update(sketch.zero(), pa.array([0.5, 1.5]))
    state.keys = None  # as read from an old file
    data = sketch.to_bytes(state)
    assert b'"exact"' not in data and b'"keys"' not in data
    assert sketch.to_bytes(sketch.from_bytes(data)) == data


def test_damaged_exact_extremes_are_refused_with_a_clear_message() -> None:
    sketch = NumericSketch()
    data = sketch.to_bytes(sketch.update(sketch.zero(), pa.array([1, 2], pa.int64())))
    assert data.count(b'{"v":"int"}') == 1
    with pytest.raises(CorruptStateError) as caught:
        sketch.from_bytes(data.replace(b'{"v":"int"}', b'{"v":"flt"}'))
    assert str(caught.value) == (
        "possible corruption: numeric state has exact extremes of kind 'flt', "
        "expected 'int' or 'decimal'"
    )
    with pytest.raises(CorruptStateError) as caught:
        sketch.from_bytes(data.replace(b'{"v":"1"}', b'{"v":"x"}'))
    assert str(caught.value) == (
        "possible corruption: numeric state has exact extremes 'x' and '2', "
        "which do not read as int values"
    )


def test_small_distinct_counts_are_exact_and_large_ones_estimated() -> None:
    n = 100_000
    codes = np.arange(n, dtype=np.int64) % 16
    limit = np.arange(n, dtype=np.int64) % SMALL_KEYS
    over = np.arange(n, dtype=np.int64) % (SMALL_KEYS + 1)
    profile = suture.profile(
        pa.table({"codes": codes, "limit": limit, "over": over}),
        engine=LocalEngine(batch_size=7_000),
    )
    for name, truth in (("codes", 16.0), ("limit", float(SMALL_KEYS))):
        e = profile[name].distinct()
        assert (e.value, e.lower, e.upper, e.confidence) == (truth, truth, truth, 1.0)
    e = profile["over"].distinct()
    assert e.confidence == pytest.approx(0.9545)
    assert e.lower <= SMALL_KEYS + 1 <= e.upper


def test_distinct_counts_of_few_strings_are_exact() -> None:
    words = [f"w{i % 40}" for i in range(5000)] + [None]
    many = [f"v{i}" for i in range(5001)]
    profile = suture.profile(pa.table({"few": words, "many": many}))
    e = profile["few"].distinct()
    assert (e.value, e.lower, e.upper, e.confidence) == (40.0, 40.0, 40.0, 1.0)
    assert profile["many"].distinct().confidence == pytest.approx(0.9545)


def test_frequent_items_that_forgot_do_not_claim_an_exact_count() -> None:
    sketch = StringSketch(lg_max_map=4)  # holds 12 values
    state = sketch.update(sketch.zero(), pa.array([f"v{i}" for i in range(12)]))
    assert sketch.finalize(state).distinct().confidence == 1.0
    state = sketch.update(state, pa.array(["v99"]))
    assert sketch.finalize(state).distinct().confidence == pytest.approx(0.9545)


def test_the_stated_distinct_bound_is_the_estimates_own() -> None:
    estimate = hll_estimate(hll_update(hll_zero(12), int_keys(np.arange(200_000) * 7919)))
    half = max(estimate.upper - estimate.value, estimate.value - estimate.lower)
    assert half / estimate.value == pytest.approx(hll_bound(12), rel=1e-9)
    assert f"{hll_bound(12):.1%}" == "3.3%"


def test_inferred_ranges_of_decimal_and_uint64_columns_hold_their_data() -> None:
    # Regression: exact Decimal extremes met float arithmetic in infer (a TypeError).
    from suture.schema.infer import infer_column

    low, high = Decimal("-3.750"), Decimal("1.250")
    table = pa.table(
        {
            "d": pa.array([high, low, None], pa.decimal128(10, 3)),
            "u": pa.array([0, TOP, HALF], pa.uint64()),
        }
    )
    profile = suture.profile(table)
    d, u = (infer_column(profile[name], 3) for name in ("d", "u"))
    assert d.type == "number" and d.min <= low and d.max >= high
    assert u.type == "integer" and u.min >= 0 and u.max >= TOP
    assert "max 18,446,744,073,709,551,615" in u.note


@given(
    st.lists(
        st.lists(
            st.one_of(st.integers(0, 1500), st.integers(2**63, 2**63 + 1500)),
            max_size=700,
            unique=True,
        ),
        max_size=6,
    ),
)
@settings(max_examples=60, deadline=None)
def test_small_keys_union_is_the_set_union_while_small(parts: list[list[int]]) -> None:
    known: np.ndarray | None = small_keys_zero()
    seen: set[int] = set()
    for part in parts:
        known = small_keys_union(known, np.array(part, dtype=np.uint64))
        seen |= set(part)
        if len(seen) > SMALL_KEYS:
            assert known is None
            return
        assert known is not None and known.tolist() == sorted(seen)
