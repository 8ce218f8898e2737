"""MinHash signatures: aggregator laws, exactness, Jaccard error bound, bad input."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suture.engines import LocalEngine
from suture.errors import CorruptStateError, SourceError, UnsupportedTypeError
from suture.recommend import ItemSignatures
from suture.testing import check_aggregator
from tests.recommend._recdata import assert_states_equal, clustered

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _fold(agg: ItemSignatures, table: pa.Table, chunk: int) -> object:
    state = agg.zero()
    for batch in table.to_batches(max_chunksize=chunk):
        state = agg.update(state, batch)
    return agg.finalize(state)


interactions = st.lists(
    st.tuples(st.integers(0, 30), st.integers(0, 15), st.floats(0, 5)), min_size=0, max_size=80
)


def _table(rows: list[tuple[int, int, float]], strings: bool = False) -> pa.Table:
    users = [u for u, _, _ in rows]
    items = [f"item-{i}" if strings else i for _, i, _ in rows]
    return pa.table(
        {
            "u": pa.array(users, pa.int32()),
            "i": pa.array(items, pa.string() if strings else pa.int64()),
            "w": pa.array([w for _, _, w in rows], pa.float64()),
        }
    )


@SETTINGS
@given(interactions, st.booleans(), st.integers(0, 2**32))
def test_signatures_obey_the_aggregator_laws(rows: list, strings: bool, seed: int) -> None:
    agg = ItemSignatures(user="u", item="i", weight="w", min_weight=1.0, num_perm=16)
    check_aggregator(agg, _table(rows, strings), assert_equal=assert_states_equal, seed=seed)


@SETTINGS
@given(interactions, st.integers(1, 80), st.integers(1, 80))
def test_split_anywhere_and_merge_equals_one_pass_exactly(rows: list, cut: int, chunk: int) -> None:
    agg = ItemSignatures(user="u", item="i", num_perm=32)
    table = _table(rows)
    whole = _fold(agg, table, max(table.num_rows, 1))
    cut = min(cut, table.num_rows)
    left = _fold(agg, table.slice(0, cut), chunk)
    right = _fold(agg, table.slice(cut), chunk)
    assert_states_equal(agg.merge(right, left), whole)


@SETTINGS
@given(interactions)
def test_bytes_round_trip(rows: list) -> None:
    agg = ItemSignatures(user="u", item="i", num_perm=8)
    state = _fold(agg, _table(rows, strings=True), 7)
    assert_states_equal(agg.from_bytes(agg.to_bytes(state)), state)


def test_signature_is_the_minimum_hash_of_the_item_users() -> None:
    from suture.recommend import permutation_hashes
    from suture.recommend._ids import id_keys

    table = pa.table({"u": [5, 7, 9, 5], "i": [1, 1, 1, 2]})
    agg = ItemSignatures(user="u", item="i", num_perm=12, seed=3)
    state = _fold(agg, table, 2)
    hashes = permutation_hashes(id_keys(pa.array([5, 7, 9], pa.int64())), 12, 3)
    np.testing.assert_array_equal(
        state.signatures[state.item_ids.to_pylist().index(1)], hashes.min(0)
    )
    np.testing.assert_array_equal(state.signatures[state.item_ids.to_pylist().index(2)], hashes[0])
    assert state.counts.tolist() == [3, 1] or state.counts.tolist() == [1, 3]


def _two_items(intersection: int, only_a: int, only_b: int, offset: int) -> pa.Table:
    a = np.arange(intersection + only_a)
    b = np.r_[
        np.arange(intersection), np.arange(intersection + only_a, intersection + only_a + only_b)
    ]
    users = np.r_[a, b] + offset
    items = np.r_[np.zeros(len(a)), np.ones(len(b))].astype(np.int64)
    return pa.table({"u": users, "i": items})


@pytest.mark.parametrize(
    ("intersection", "only_a", "only_b"),
    [(0, 50, 50), (10, 45, 45), (100, 100, 100), (300, 100, 200), (500, 10, 10), (80, 0, 0)],
)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_estimated_jaccard_is_within_four_standard_errors(
    intersection: int, only_a: int, only_b: int, seed: int
) -> None:
    # The count of agreeing positions is Binomial(num_perm, J): the standard error of the
    # estimate is sqrt(J (1 - J) / num_perm); 4 of them bound a failure at 6e-5 per case.
    num_perm = 256
    table = _two_items(intersection, only_a, only_b, offset=seed * 10_000)
    state = _fold(ItemSignatures(user="u", item="i", num_perm=num_perm, seed=seed), table, 1000)
    truth = intersection / (intersection + only_a + only_b)
    estimate = float(np.mean(state.signatures[0] == state.signatures[1]))
    bound = 4 * math.sqrt(truth * (1 - truth) / num_perm) + 1e-12
    assert abs(estimate - truth) <= bound


def test_jaccard_errors_have_the_binomial_spread() -> None:
    # Over many independent pairs at J = 0.3 the errors' spread matches the MinHash bound.
    num_perm, pairs = 64, 150
    tables = [_two_items(30, 35, 35, offset=p * 1000) for p in range(pairs)]
    errors = []
    for p, table in enumerate(tables):
        state = _fold(ItemSignatures(user="u", item="i", num_perm=num_perm, seed=p), table, 500)
        errors.append(np.mean(state.signatures[0] == state.signatures[1]) - 0.3)
    sigma = math.sqrt(0.3 * 0.7 / num_perm)
    assert abs(np.mean(errors)) < 4 * sigma / math.sqrt(pairs)
    assert 0.7 * sigma < np.std(errors) < 1.3 * sigma


def test_weight_filter_and_nulls_are_counted_as_dropped() -> None:
    table = pa.table(
        {
            "u": pa.array([1, 2, None, 4, 5], pa.int64()),
            "i": pa.array(["a", "a", "b", None, "b"]),
            "w": pa.array([5.0, 3.0, 5.0, 5.0, float("nan")]),
        }
    )
    agg = ItemSignatures(user="u", item="i", weight="w", min_weight=4, num_perm=8)
    state = _fold(agg, table, 2)
    assert state.item_ids.to_pylist() == ["a"]
    assert state.dropped == 4
    assert state.counts.tolist() == [1]


def test_missing_column_names_it_and_lists_the_available_ones() -> None:
    agg = ItemSignatures(user="customer", item="i", num_perm=8)
    with pytest.raises(SourceError, match=r"'customer' not found; available columns: u, i"):
        agg.update(agg.zero(), pa.record_batch({"u": [1], "i": [2]}))


def test_identifier_type_is_checked() -> None:
    agg = ItemSignatures(user="u", item="i", num_perm=8)
    with pytest.raises(UnsupportedTypeError, match="'i' has type double"):
        agg.update(agg.zero(), pa.record_batch({"u": [1], "i": [2.5]}))
    state = agg.update(agg.zero(), pa.record_batch({"u": [1], "i": [2]}))
    with pytest.raises(SourceError, match="change type between batches"):
        agg.update(state, pa.record_batch({"u": [1], "i": ["x"]}))


def test_damaged_or_foreign_bytes_fail_clearly() -> None:
    agg = ItemSignatures(user="user", item="item", num_perm=8)
    data = agg.to_bytes(_fold(agg, clustered(), 100))
    with pytest.raises(CorruptStateError, match="possible corruption"):
        agg.from_bytes(data[:-10])
    foreign = r"written by minhash_items\(.*num_perm=8,.*read by minhash_items\(.*num_perm=16,"
    with pytest.raises(CorruptStateError, match=foreign):
        ItemSignatures(user="user", item="item", num_perm=16).from_bytes(data)


def test_local_engine_agrees_with_a_direct_fold() -> None:
    table = clustered()
    agg = ItemSignatures(user="user", item="item", num_perm=32)
    direct = _fold(agg, table, table.num_rows)
    assert_states_equal(LocalEngine(workers=1, batch_size=97).aggregate(table, agg), direct)


def _naive_minima(hashes: np.ndarray, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    return np.stack([hashes[users[items == i]].min(axis=0) for i in np.unique(items)])


@SETTINGS
@given(
    st.lists(st.integers(1, 150), min_size=1, max_size=120),
    st.integers(1, 40),
    st.integers(0, 2**32),
)
def test_segment_minima_equal_the_minimum_over_each_items_users(
    sizes: list[int], num_users: int, seed: int
) -> None:
    # Item sizes from 1 to 150 over up to 120 items cover the pass loop, the switch to
    # item-by-item reduction after fewer than 64 items remain, and tiny catalogues.
    from suture.recommend._signatures import _segment_minima

    rng = np.random.default_rng(seed)
    counts = np.array(sizes, dtype=np.int64)
    items = np.repeat(np.arange(len(counts)), counts)
    users = rng.integers(0, num_users, len(items))
    hashes = rng.integers(0, 2**32, (num_users, 8), dtype=np.uint64).astype(np.uint32)
    got = _segment_minima(hashes, users, counts)
    np.testing.assert_array_equal(got, _naive_minima(hashes, users, items))


def test_group_is_unique_with_inverse_and_grouping_order() -> None:
    from suture.recommend._signatures import _group

    keys = np.random.default_rng(4).integers(0, 30, 500).astype(np.uint64)
    groups = _group(keys)
    distinct, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(groups.keys, distinct)
    np.testing.assert_array_equal(groups.inverse, inverse)
    np.testing.assert_array_equal(groups.sizes, counts)
    np.testing.assert_array_equal(keys[groups.first], distinct)
    np.testing.assert_array_equal(keys[groups.order], np.repeat(distinct, counts))


def test_merge_into_an_empty_state_leaves_the_other_state_alone() -> None:
    agg = ItemSignatures(user="user", item="item", num_perm=16)
    table = clustered()
    b = _fold(agg, table, table.num_rows)
    before = b.signatures.copy(), b.counts.copy()
    merged = agg.merge(agg.zero(), b)
    agg.update(merged, pa.record_batch({"user": [1, 2], "item": [1, 999]}))
    np.testing.assert_array_equal(b.signatures, before[0])
    np.testing.assert_array_equal(b.counts, before[1])
