"""The served recommender's merge of new interactions equals a refit, bit for bit.

:meth:`Recommender.merged` recomputes only the neighbour lists a batch can change; these
tests hold it to :meth:`Recommender.update` (signatures merged, then every list rebuilt).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from suture.recommend import Recommender
from tests.recommend._recdata import assert_states_equal, clustered

PARAMS: list[dict[str, Any]] = [
    {"num_perm": 16, "threshold": 0.1, "neighbours": 8, "seed": 3},
    {"num_perm": 64, "neighbours": 5},
    {"num_perm": 128, "threshold": 0.3, "neighbours": 200, "min_similarity": 0.05},
    {"num_perm": 60, "threshold": 0.2, "neighbours": 20, "alpha": 0.5, "power": 1.0},
]


def _table() -> pa.Table:
    return clustered(users=300, items=80).select(["user", "item"])


def _fit(table: pa.Table, params: dict[str, Any]) -> Recommender:
    return Recommender(user="user", item="item", **params).fit(table)


def assert_same(a: Recommender, b: Recommender) -> None:
    """Every fitted array of two recommenders is equal."""
    assert_states_equal(a.state_, b.state_)
    for name in ("indptr", "items", "similarity", "weight"):
        np.testing.assert_array_equal(
            getattr(a.neighbours_, name), getattr(b.neighbours_, name), err_msg=name
        )
    np.testing.assert_array_equal(a.history_.indptr, b.history_.indptr)
    np.testing.assert_array_equal(a.history_.items, b.history_.items)
    np.testing.assert_array_equal(a.popularity_, b.popularity_)
    np.testing.assert_array_equal(a.popular_order_, b.popular_order_)


#: Known users and items, a repeated pair, a new user, a new item, an existing pair.
BATCH = pa.table(
    {
        "user": [1000, 1001, 5000, 5001, 1002, 1000, 5000],
        "item": [3, 70, 3, 999, 999, 3, 1],
    }
)


@pytest.mark.parametrize("params", PARAMS)
def test_merged_equals_update(params: dict[str, Any]) -> None:
    table = _table()
    model = _fit(table, params)
    merged = model.merged(BATCH)
    assert_same(merged, _fit(table, params).update(BATCH))
    assert_same(merged, _fit(pa.concat_tables([table, BATCH]), params))
    assert merged.last_merge_ is not None
    assert merged.last_merge_.new_pairs >= 5
    assert [r.to_dict() for r in merged.recommend(5000, 5)] == [
        r.to_dict() for r in _fit(table, params).update(BATCH).recommend(5000, 5)
    ]


def test_merged_leaves_the_running_recommender_unchanged() -> None:
    table = _table()
    model = _fit(table, PARAMS[1])
    before = [r.to_dict() for r in model.recommend(1000, 10)]
    model.merged(BATCH)
    assert_same(model, _fit(table, PARAMS[1]))
    assert [r.to_dict() for r in model.recommend(1000, 10)] == before


def test_merges_in_sequence_equal_one_update() -> None:
    table = _table()
    model = _fit(table, PARAMS[2])
    for start in range(0, BATCH.num_rows, 2):
        model = model.merged(BATCH.slice(start, 2))
    assert_same(model, _fit(table, PARAMS[2]).update(BATCH))


def test_a_small_batch_rebuilds_few_lists() -> None:
    rng = np.random.default_rng(0)
    users, items, rows = 4000, 2000, 40_000
    table = pa.table(
        {
            "user": rng.integers(0, users, rows),
            "item": (rng.zipf(1.3, rows) % items).astype(np.int64),
        }
    )
    params = {"num_perm": 64, "threshold": 0.2}
    model = _fit(table, params)
    batch = pa.table({"user": [1, 2, 3], "item": [1500, 1600, 1700]})
    merged = model.merged(batch)
    assert_same(merged, _fit(table, params).update(batch))
    assert merged.last_merge_ is not None
    assert merged.last_merge_.changed_items == 3
    assert merged.last_merge_.rebuilt_lists < model.state_.num_items // 4


def test_a_large_batch_is_merged_by_a_refit() -> None:
    table = _table()
    model = _fit(table.slice(0, 200), PARAMS[0])
    merged = model.merged(table.slice(200))
    assert merged.last_merge_ is None
    assert_same(merged, _fit(table, PARAMS[0]))
