"""Interaction tables for the recommender tests."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from suture.recommend import SignatureState


def clustered(
    users: int = 120, items: int = 60, groups: int = 4, per_user: int = 8, seed: int = 0
) -> pa.Table:
    """Users in taste groups; each group mostly chooses its own slice of the items."""
    rng = np.random.default_rng(seed)
    group_of_user = np.arange(users) % groups
    slice_size = items // groups
    rows_u, rows_i = [], []
    for u in range(users):
        own = group_of_user[u] * slice_size + rng.choice(slice_size, per_user - 1, replace=False)
        stray = rng.integers(0, items, 1)
        chosen = np.unique(np.r_[own, stray])
        rows_u.append(np.full(len(chosen), u))
        rows_i.append(chosen)
    user = np.concatenate(rows_u)
    item = np.concatenate(rows_i)
    rating = rng.integers(1, 6, len(user)).astype(np.float64)
    stamp = np.arange(len(user), dtype=np.int64)
    order = rng.permutation(len(user))
    return pa.table(
        {
            "user": user[order] + 1000,
            "item": item[order] + 1,
            "rating": rating[order],
            "ts": stamp[order],
        }
    )


def assert_states_equal(a: SignatureState, b: SignatureState) -> None:
    """Exact equality of two signature states (after compaction)."""
    a.compact()
    b.compact()
    for name in (
        "item_keys",
        "signatures",
        "counts",
        "user_keys",
        "pair_users",
        "pair_items",
    ):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    if len(a.item_keys):
        assert a.item_ids.equals(b.item_ids)
    if len(a.user_keys):
        assert a.user_ids.equals(b.user_ids)
    assert a.dropped == b.dropped
