"""LSH: parameter choice, pair generation, recall against the S-curve."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suture.recommend import ItemSignatures, LSHParams, candidate_probability, choose_bands
from suture.recommend._lsh import (
    _pairs_in_groups,
    build_index,
    build_neighbours,
    candidate_pairs,
    estimate_jaccard,
)


@pytest.mark.parametrize("threshold", [0.05, 0.2, 0.5, 0.8])
@pytest.mark.parametrize("num_perm", [32, 128])
def test_chosen_bands_fit_the_signature_and_put_the_curve_near_the_threshold(
    threshold: float, num_perm: int
) -> None:
    p = choose_bands(threshold, num_perm)
    assert p.bands * p.rows <= num_perm
    # The S-curve rises through the threshold: well above it pairs are likely candidates.
    above = min(1.0, threshold + 0.3)
    assert p.recall(above) > 0.75
    assert p.recall(threshold / 4) < p.recall(threshold) < p.recall(above)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 5), max_size=40))
def test_pairs_in_groups_lists_every_pair_sharing_a_label_once(labels: list[int]) -> None:
    a, b = _pairs_in_groups(np.array(labels, dtype=np.int64))
    got = sorted(zip(a.tolist(), b.tolist(), strict=True))
    want = sorted(
        (i, j) for i, j in itertools.combinations(range(len(labels)), 2) if labels[i] == labels[j]
    )
    assert got == want


def _pair_table(pairs: int, users: int, shared: int) -> pa.Table:
    """``pairs`` item pairs (2p, 2p+1), each over its own users, with a fixed Jaccard."""
    only = (users - shared) // 2
    a = np.arange(shared + only)
    b = np.r_[np.arange(shared), np.arange(shared + only, shared + 2 * only)]
    us, its = [], []
    for p in range(pairs):
        us += [a + p * 10_000, b + p * 10_000]
        its += [np.full(len(a), 2 * p), np.full(len(b), 2 * p + 1)]
    return pa.table({"u": np.concatenate(us), "i": np.concatenate(its)})


@pytest.mark.parametrize(
    ("shared", "params"), [(40, LSHParams(8, 4, 0.4)), (25, LSHParams(16, 3, 0.3))]
)
def test_lsh_finds_pairs_with_the_recall_of_its_s_curve(shared: int, params: LSHParams) -> None:
    pairs, users = 400, 100
    table = _pair_table(pairs, users, shared)
    agg = ItemSignatures(user="u", item="i", num_perm=params.bands * params.rows)
    state = agg.finalize(agg.update(agg.zero(), table.to_batches()[0]))
    a, b = candidate_pairs(state.signatures, params)
    ids = state.item_ids.to_numpy()
    found = {(min(x, y), max(x, y)) for x, y in zip(ids[a], ids[b], strict=True)}
    hits = sum((2 * p, 2 * p + 1) in found for p in range(pairs))
    jaccard = shared / (users - (users - shared) % 2)
    promised = float(candidate_probability(np.array(jaccard), params.bands, params.rows))
    sigma = math.sqrt(promised * (1 - promised) / pairs)
    assert abs(hits / pairs - promised) <= 4 * sigma + 1e-9


def test_neighbours_are_symmetric_sorted_and_bounded() -> None:
    rng = np.random.default_rng(0)
    users = rng.integers(0, 40, 600)
    items = rng.integers(0, 30, 600)
    agg = ItemSignatures(user="u", item="i", num_perm=64)
    state = agg.finalize(agg.update(agg.zero(), pa.record_batch({"u": users, "i": items})))
    nb = build_neighbours(
        state.signatures, LSHParams(32, 2, 0.1), max_neighbours=5, min_similarity=0.0
    )
    for item in range(state.num_items):
        others, sims = nb.of(item)
        assert len(others) <= 5
        assert item not in others
        assert np.all(np.diff(nb.weights_of(item)) <= 0)
        assert np.all(sims > 0)
    full = build_neighbours(
        state.signatures, LSHParams(32, 2, 0.1), max_neighbours=100, min_similarity=0.0
    )
    pairs = {(i, int(j)) for i in range(state.num_items) for j in full.of(i)[0]}
    assert all((j, i) in pairs for i, j in pairs)


def _reference_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """The criterion evaluated directly: trapezoid areas, first strict minimum wins."""
    grid = np.linspace(0.0, 1.0, 2001)
    below, above = grid[grid <= threshold], grid[grid >= threshold]
    best = (np.inf, 1, 1)
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            fp = np.trapezoid(1.0 - (1.0 - below**rows) ** bands, below)
            fn = np.trapezoid((1.0 - above**rows) ** bands, above)
            error = 0.5 * fp + 0.5 * fn
            if error < best[0]:
                best = (error, bands, rows)
    return best[1], best[2]


@pytest.mark.parametrize("threshold", [0.02, 0.05, 0.1, 0.25, 0.45, 0.7, 0.9])
@pytest.mark.parametrize("num_perm", [16, 64, 256])
def test_chosen_bands_minimize_the_weighted_false_positive_and_negative_areas(
    threshold: float, num_perm: int
) -> None:
    chosen = choose_bands.__wrapped__(threshold, num_perm)
    assert (chosen.bands, chosen.rows) == _reference_bands(threshold, num_perm)


def _signatures(items: int, num_perm: int, values: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, values, (items, num_perm)).astype(np.uint32)


@pytest.mark.parametrize("dense", [True, False])
@pytest.mark.parametrize("params", [LSHParams(8, 1, 0.1), LSHParams(4, 3, 0.3)])
def test_index_candidates_are_exactly_the_pairs_sharing_a_band(
    dense: bool, params: LSHParams, monkeypatch: pytest.MonkeyPatch
) -> None:
    import suture.recommend._lsh as lsh

    if not dense:
        monkeypatch.setattr(lsh, "_DENSE_PAIRS", 0)
    sigs = _signatures(60, 12, 3, seed=params.rows)
    index = build_index(sigs, params)
    a, b = index.candidate_pairs()
    bands = sigs[:, : params.bands * params.rows].reshape(60, params.bands, params.rows)
    want = [
        (i, j)
        for i, j in itertools.combinations(range(60), 2)
        if (bands[i] == bands[j]).all(axis=1).any()
    ]
    assert list(zip(a.tolist(), b.tolist(), strict=True)) == want
    assert np.all(index.keys[:, 1:] >= index.keys[:, :-1])


@pytest.mark.parametrize("num_perm", [64, 60])
def test_estimated_jaccard_is_the_fraction_of_agreeing_positions(num_perm: int) -> None:
    sigs = _signatures(300, num_perm, 4, seed=num_perm)
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 300, 5000), rng.integers(0, 300, 5000)
    want = (sigs[a] == sigs[b]).mean(axis=1)
    np.testing.assert_array_equal(estimate_jaccard(sigs, a, b), want)


@pytest.mark.parametrize("n", [50, 1 << 20])
def test_neighbour_order_is_row_then_strongest_then_index(n: int) -> None:
    # n = 2**20 leaves no room to pack the keys into 64 bits: the lexsort path.
    from suture.recommend._lsh import _strongest_first

    rng = np.random.default_rng(2)
    codes = rng.choice(50 * 50, 1500, replace=False)
    rows, cols = codes // 50, codes % 50
    weights = rng.choice(np.array([0.0, 0.1, 0.25, 1.0, 3.5], dtype=np.float32), 1500)
    order = _strongest_first(rows, cols, weights, n)
    np.testing.assert_array_equal(order, np.lexsort((cols, -weights, rows)))
