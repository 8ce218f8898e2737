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
from suture.recommend._lsh import _pairs_in_groups, build_neighbours, candidate_pairs


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
