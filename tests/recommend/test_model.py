"""The recommender: answers with reasons, cold start, update equals rebuild, bundles."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from suture.errors import CorruptStateError, SourceError
from suture.recommend import (
    InvalidParameterError,
    NotFittedError,
    Recommender,
    UnknownIdError,
    fit,
)
from tests.recommend._recdata import assert_states_equal, clustered

PARAMS = {"num_perm": 64, "threshold": 0.1, "neighbours": 30}


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return clustered()


@pytest.fixture(scope="module")
def model(table: pa.Table) -> Recommender:
    return fit(table, user="user", item="item", **PARAMS)


def _seen(table: pa.Table, user: int) -> set[int]:
    mask = pc.equal(table.column("user"), user)
    return set(table.filter(mask).column("item").to_pylist())


def test_recommendations_are_unseen_and_explained(model: Recommender, table: pa.Table) -> None:
    seen = _seen(table, 1000)
    recs = model.recommend(1000, k=5)
    assert len(recs) == 5
    for rec in recs:
        assert rec.item not in seen
        assert rec.because == "similar-items"
        assert 1 <= len(rec.reasons) <= 3
        assert {r.item for r in rec.reasons} <= seen
        assert rec.score > 0
        assert all(r.jaccard.lower <= r.jaccard.value <= r.jaccard.upper for r in rec.reasons)
        assert rec.explain().startswith("because you chose")
    assert [r.score for r in recs] == sorted((r.score for r in recs), reverse=True)


def test_recommendations_follow_the_taste_groups(model: Recommender) -> None:
    # user 1000 is in group 0, which mostly chooses items 1..15
    hits = [r.item for r in model.recommend(1000, k=5) if 1 <= r.item <= 15]
    assert len(hits) >= 4


def test_reason_similarity_matches_the_signatures(model: Recommender) -> None:
    rec = model.recommend(1001, k=1)[0]
    reason = rec.reasons[0]
    assert float(reason.jaccard) == pytest.approx(model.jaccard(reason.item, rec.item))


def test_unknown_user_gets_popular_items_with_that_reason(model: Recommender) -> None:
    recs = model.recommend(-1, k=4)
    assert [r.because for r in recs] == ["popular"] * 4
    assert [r.item for r in recs] == [r.item for r in model.popular(4)]
    assert recs[0].explain() == "popular with all users"
    assert model.recommend("not a number", k=2)[0].because == "popular"


def test_short_lists_are_padded_with_popular_items() -> None:
    table = pa.table({"u": [1, 1, 2, 2, 3, 4, 5], "i": [10, 11, 10, 11, 12, 12, 13]})
    model = fit(table, user="u", item="i", num_perm=32, threshold=0.3)
    recs = model.recommend(1, k=3)
    # items 10 and 11 are the user's own; only 12 (two users) and 13 remain
    assert [(r.item, r.because) for r in recs] == [(12, "popular"), (13, "popular")]


def test_similar_items_carry_their_estimate(model: Recommender) -> None:
    similar = model.similar(3, k=4)
    assert len(similar) == 4
    assert all(s.because == "similar" and s.reasons[0].item == 3 for s in similar)
    assert [s.score for s in similar] == sorted((s.score for s in similar), reverse=True)
    assert "3" in model.similar("3", k=1)[0].explain()


def test_unknown_item_is_a_clear_error(model: Recommender) -> None:
    with pytest.raises(UnknownIdError, match=r"item 99999 does not occur .* check the id"):
        model.similar(99999)


def test_anonymous_recommendations_from_items(model: Recommender) -> None:
    recs = model.recommend_for_items([1, 2, 3, "nope"], k=3)
    assert all(r.item not in {1, 2, 3} for r in recs)


def test_string_identifiers_work_end_to_end() -> None:
    table = pa.table(
        {"u": ["ann", "ann", "bob", "bob", "cy"], "i": ["tea", "jam", "tea", "jam", "tea"]}
    )
    model = fit(table, user="u", item="i", num_perm=32, threshold=0.3)
    recs = model.recommend("cy", k=1)
    assert recs[0].item == "jam"
    assert recs[0].reasons[0].item == "tea"


def test_update_equals_a_rebuild_on_the_union(table: pa.Table, tmp_path: Path) -> None:
    first, second = table.slice(0, 500), table.slice(500)
    updated = fit(first, user="user", item="item", **PARAMS).update(second)
    rebuilt = fit(table, user="user", item="item", **PARAMS)
    assert_states_equal(updated.state_, rebuilt.state_)
    for name in ("indptr", "items", "similarity"):
        np.testing.assert_array_equal(
            getattr(updated.neighbours_, name), getattr(rebuilt.neighbours_, name)
        )
    a = json.loads((updated.save(tmp_path / "a") / "manifest.json").read_text())
    b = json.loads((rebuilt.save(tmp_path / "b") / "manifest.json").read_text())
    assert a["parts"] == b["parts"]


def test_update_does_not_change_the_loaded_model_on_failure(model: Recommender) -> None:
    before = model.state_.signatures.copy()
    with pytest.raises(SourceError, match="'user' not found"):
        model.update(pa.table({"customer": [1], "item": [2]}))
    np.testing.assert_array_equal(model.state_.signatures, before)


def test_bundle_round_trip_answers_the_same(model: Recommender, tmp_path: Path) -> None:
    loaded = Recommender.load(model.save(tmp_path / "recs"))
    assert loaded.get_params() == model.get_params()
    assert_states_equal(loaded.state_, model.state_)
    for user in (1000, 1005, -1):
        assert loaded.recommend(user, k=5) == model.recommend(user, k=5)
    assert loaded.similar(5, k=5) == model.similar(5, k=5)


def test_bundle_has_no_pickles_and_lists_checksums(model: Recommender, tmp_path: Path) -> None:
    path = model.save(tmp_path / "recs")
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["format"] == "suture.recommend"
    assert set(manifest["parts"]) == {p.name for p in path.iterdir()} - {"manifest.json"}
    for file in path.glob("*.npy"):
        np.load(file, allow_pickle=False)
    assert pq.read_table(path / "item_ids.parquet").num_rows == model.state_.num_items


def test_damaged_bundle_fails_clearly(model: Recommender, tmp_path: Path) -> None:
    path = model.save(tmp_path / "recs")
    target = path / "signatures.npy"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(CorruptStateError, match=r"signatures\.npy: SHA-256 mismatch"):
        Recommender.load(path)
    target.unlink()
    with pytest.raises(CorruptStateError, match="missing"):
        Recommender.load(path)


def test_newer_bundle_format_asks_for_an_upgrade(model: Recommender, tmp_path: Path) -> None:
    path = model.save(tmp_path / "recs")
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["format_version"] = 99
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CorruptStateError, match="upgrade suture"):
        Recommender.load(path)


def test_saving_never_overwrites_a_foreign_folder(model: Recommender, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "precious.csv").write_text("x\n1\n")
    with pytest.raises(SourceError, match="not a recommender bundle"):
        model.save(tmp_path / "data")
    with pytest.raises(SourceError, match="not a recommender bundle"):
        Recommender.load(tmp_path / "data")


def test_parameters_are_validated_at_fit(table: pa.Table) -> None:
    with pytest.raises(InvalidParameterError, match=r"threshold=1\.5 is out of range"):
        fit(table, user="user", item="item", threshold=1.5)
    with pytest.raises(InvalidParameterError, match="pass the weight column"):
        fit(table, user="user", item="item", min_weight=3)
    with pytest.raises(NotFittedError, match="not fitted"):
        Recommender(user="user", item="item").recommend(1)


def test_weight_threshold_keeps_only_liked_items(table: pa.Table) -> None:
    model = fit(table, user="user", item="item", weight="rating", min_weight=4, **PARAMS)
    liked = pc.greater_equal(table.column("rating"), 4)
    assert len(model.state_.pair_users) == table.filter(liked).num_rows
    assert model.state_.dropped == table.num_rows - table.filter(liked).num_rows
