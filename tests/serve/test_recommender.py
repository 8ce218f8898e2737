"""A recommender bundle served over HTTP: the answers are the in-process Recommender's.

Every test runs a real ``suture serve`` of the golden recommender bundle on loopback.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from suture.recommend import Recommender
from suture.serve.recommender import SeqLog
from tests.recommend._recdata import clustered
from tests.serve.conftest import RECOMMENDER_BUNDLE, ServeFn

KNOWN_USERS = ["u18", "u28", "u12", "u03"]
#: New interactions: a known user chooses two more items, a new user arrives, a new item.
NEW = [
    {"user": "u18", "item": 105},
    {"user": "u18", "item": 110},
    {"user": "newcomer", "item": 102},
    {"user": "newcomer", "item": 101},
    {"user": "u12", "item": 900},
    {"user": "newcomer", "item": 900},
]


def _bundle() -> Recommender:
    return Recommender.load(RECOMMENDER_BUNDLE)


def _updated(interactions: list[dict[str, Any]]) -> Recommender:
    model = _bundle()
    table = pa.table(
        {
            "user": pa.array([i["user"] for i in interactions], pa.large_string()),
            "item": pa.array([i["item"] for i in interactions], pa.int64()),
        }
    )
    return model.update(table)


def _recs(model: Recommender, user: Any, k: int) -> list[dict[str, Any]]:
    return [r.to_dict() for r in model.recommend(user, k)]


def _get(client: httpx.Client, path: str, **params: Any) -> httpx.Response:
    return client.get(path, params=params)


def _answers(client: httpx.Client, users: list[Any], k: int = 5) -> dict[Any, Any]:
    out = {}
    for user in users:
        answer = _get(client, "/v1/recommend", user=user, k=k)
        assert answer.status_code == 200, answer.text
        out[user] = answer.json()["recommendations"]
    return out


def _post(client: httpx.Client, body: Any) -> httpx.Response:
    return client.post("/v1/interactions", json=body)


def test_recommend_and_similar_equal_the_in_process_recommender(serve: ServeFn) -> None:
    server = serve(RECOMMENDER_BUNDLE)
    model = _bundle()
    with httpx.Client(base_url=server.url) as client:
        for user in [*KNOWN_USERS, "stranger"]:
            for k in (1, 3, 12):
                answer = _get(client, "/v1/recommend", user=user, k=k).json()
                assert answer["recommendations"] == _recs(model, user, k)
                assert answer["known"] is (user != "stranger")
                assert answer["user"] == user
        unknown = _get(client, "/v1/recommend", user="stranger", k=3).json()
        assert [r["because"] for r in unknown["recommendations"]] == ["popular"] * 3
        assert [r["item"] for r in unknown["recommendations"]] == [r.item for r in model.popular(3)]
        known = _get(client, "/v1/recommend", user="u18").json()["recommendations"]
        assert known == _recs(model, "u18", 10)  # k defaults to 10; u18 chose 4 of 12 items
        assert len(known) == 8
        assert known[0]["because"] == "similar-items" and known[0]["reasons"]
        for item in model.state_.item_ids.to_pylist():
            answer = _get(client, "/v1/similar", item=item, k=4).json()
            assert answer["item"] == item
            assert answer["similar"] == [r.to_dict() for r in model.similar(item, 4)]


def test_unknown_item_is_404_and_bad_parameters_are_422(serve: ServeFn) -> None:
    server = serve(RECOMMENDER_BUNDLE)
    with httpx.Client(base_url=server.url) as client:
        cases = [
            (
                "/v1/similar?item=318",
                404,
                "item 318 is not known to this recommender (12 items); check the id, or "
                "POST /v1/interactions that include it",
            ),
            (
                "/v1/recommend?user=u18&k=0",
                422,
                "?k='0': expected a whole number of items from 1 to 1000",
            ),
            (
                "/v1/recommend?user=u18&k=ten",
                422,
                "?k='ten': expected a whole number of items from 1 to 1000",
            ),
            (
                "/v1/similar?item=102&k=1001",
                422,
                "?k='1001': expected a whole number of items from 1 to 1000",
            ),
            ("/v1/recommend?k=3", 422, "?user= is required: the user id to look up"),
            (
                "/v1/similar?item=abc",
                422,
                "?item='abc': the item ids of this recommender are 64-bit integers; send one",
            ),
            (
                "/v1/similar?item=99999999999999999999",
                422,
                "?item='99999999999999999999': the item ids of this recommender are 64-bit "
                "integers; send one",
            ),
        ]
        for path, status, message in cases:
            answer = client.get(path)
            assert answer.status_code == status, path
            assert answer.json() == {"error": {"status": status, "message": message}}


def test_interactions_change_the_answers_as_update_does(serve: ServeFn) -> None:
    server = serve(RECOMMENDER_BUNDLE)
    updated = _updated(NEW)
    users = [*KNOWN_USERS, "newcomer", "stranger"]
    with httpx.Client(base_url=server.url) as client:
        before = _answers(client, users)
        first = _post(client, NEW[0])
        assert first.status_code == 200
        assert first.json()["accepted"] == 1
        rest = _post(client, NEW[1:])
        assert rest.status_code == 200
        assert rest.json()["accepted"] == len(NEW) - 1
        assert rest.json()["seq"] == len(NEW)
        after = _answers(client, users)
        assert after == {u: _recs(updated, u, 5) for u in users}
        assert after != before
        assert _get(client, "/v1/recommend", user="newcomer").json()["known"] is True
        similar = _get(client, "/v1/similar", item=900, k=5).json()["similar"]
        assert similar == [r.to_dict() for r in updated.similar(900, 5)]


def test_invalid_interactions_are_refused_whole_and_name_every_problem(serve: ServeFn) -> None:
    server = serve(RECOMMENDER_BUNDLE, "--max-batch", "3")
    model = _bundle()
    with httpx.Client(base_url=server.url) as client:
        body = [{"user": "u18", "item": 105}, {"user": 7, "item": "x"}, {"item": 101}]
        answer = _post(client, body)
        assert answer.status_code == 422
        error = answer.json()["error"]
        assert error["message"] == (
            "2 of 3 interactions are invalid (nothing was archived); first: interaction 1, "
            "user: expected a string, got 7"
        )
        assert [(e["index"], e["field"], e["rule"]) for e in error["errors"]] == [
            (1, "user", "type"),
            (1, "item", "type"),
            (2, "user", "missing"),
        ]
        assert error["errors"][1]["received"] == "x"
        assert _get(client, "/v1/recommend", user="u18", k=5).json()["recommendations"] == (
            _recs(model, "u18", 5)
        )
        big = _post(client, [NEW[0]] * 4)
        assert big.status_code == 413
        assert big.json()["error"]["message"] == (
            "the batch has 4 interactions, over the limit of 3 (--max-batch); send fewer per "
            "request"
        )
        text = client.post(
            "/v1/interactions", content=b"user=u18", headers={"content-type": "text/plain"}
        )
        assert text.status_code == 415
        empty = _post(client, [])
        assert empty.status_code == 422
        assert empty.json()["error"]["message"] == (
            "the array is empty; send at least one interaction"
        )
        flag = _post(client, {"user": "u18", "item": True})
        assert flag.status_code == 422
        assert flag.json()["error"]["errors"][0]["expected"] == "an integer"


def test_merged_interactions_survive_a_restart(serve: ServeFn, tmp_path: Path) -> None:
    archive = f"sqlite:///{tmp_path / 'recs.db'}"
    server = serve(RECOMMENDER_BUNDLE, archive=archive)
    users = [*KNOWN_USERS, "newcomer"]
    with httpx.Client(base_url=server.url) as client:
        assert _post(client, NEW).status_code == 200
        live = _answers(client, users)
    server.stop()
    again = serve(RECOMMENDER_BUNDLE, archive=archive)
    updated = _updated(NEW)
    with httpx.Client(base_url=again.url) as client:
        assert _answers(client, users) == live == {u: _recs(updated, u, 5) for u in users}
        assert _post(client, {"user": "newcomer", "item": 103}).json()["seq"] == len(NEW) + 1


def _latest_by_worker(url: str, tries: int) -> dict[str, Any]:
    """The newcomer's answer from each worker that answered one of ``tries`` fresh
    connections (the kernel spreads new connections over the workers)."""
    latest: dict[str, Any] = {}
    for _ in range(tries):
        with httpx.Client(base_url=url) as client:
            worker = client.get("/v1/stats").json()["worker"]
            answer = client.get("/v1/recommend", params={"user": "newcomer", "k": 5})
        latest[worker] = answer.json()["recommendations"]
    return latest


def test_two_workers_converge(serve: ServeFn) -> None:
    server = serve(RECOMMENDER_BUNDLE, "--workers", "2")
    updated = _recs(_updated(NEW), "newcomer", 5)
    with httpx.Client(base_url=server.url) as client:
        assert _post(client, NEW).status_code == 200
    latest: dict[str, Any] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        latest.update(_latest_by_worker(server.url, 16))
        if len(latest) == 2 and all(a == updated for a in latest.values()):
            break
        time.sleep(0.25)
    assert len(latest) == 2, "both workers answered"
    assert list(latest.values()) == [updated, updated]


def _schema(document: dict[str, Any], path: str, method: str) -> jsonschema_rs.Validator:
    schema = document["paths"][path][method]["responses"]["200"]["content"]["application/json"]
    return jsonschema_rs.validator_for({**schema["schema"], "components": document["components"]})


def test_answers_match_their_openapi_schemas(serve: ServeFn) -> None:
    server = serve(RECOMMENDER_BUNDLE)
    with httpx.Client(base_url=server.url) as client:
        document = client.get("/openapi.json").json()
        assert {"/v1/recommend", "/v1/similar", "/v1/interactions"} <= set(document["paths"])
        recommend = _schema(document, "/v1/recommend", "get")
        similar = _schema(document, "/v1/similar", "get")
        posted = _schema(document, "/v1/interactions", "post")
        for user in [*KNOWN_USERS, "stranger"]:
            recommend.validate(_get(client, "/v1/recommend", user=user, k=12).json())
        similar.validate(_get(client, "/v1/similar", item=102).json())
        posted.validate(_post(client, NEW).json())
        with pytest.raises(jsonschema_rs.ValidationError):
            recommend.validate({"user": "u18"})


def test_the_sequence_log_merges_each_interaction_once_and_waits_for_late_commits() -> None:
    seqs = SeqLog(patience=10.0)
    assert seqs.take(np.array([1, 2, 3]), now=0.0).tolist() == [True, True, True]
    assert seqs.after == 3
    # 5 committed before 4 (two writers): 5 is merged, the watermark waits at 3.
    assert seqs.take(np.array([5]), now=1.0).tolist() == [True]
    assert seqs.after == 3
    # 4 commits late: merged once; 5 is not merged again.
    assert seqs.take(np.array([4, 5, 6]), now=2.0).tolist() == [True, False, True]
    assert seqs.after == 6
    # 7 never commits (rolled back): given up after the patience, not before.
    assert seqs.take(np.array([8]), now=3.0).tolist() == [True]
    assert seqs.take(np.array([8]), now=12.0).tolist() == [False]
    assert seqs.after == 6
    assert seqs.take(np.array([8, 9]), now=13.5).tolist() == [False, True]
    assert seqs.after == 9


def test_a_weighted_bundle_with_integer_users_takes_posted_interactions(
    serve: ServeFn, tmp_path: Path
) -> None:
    """Posted interactions carry no weight: they count as kept ones (the fit's filter was
    applied at fit time), and ids keep the bundle's types (integer users, string items)."""
    table = clustered(users=60, items=40).select(["user", "item", "rating"])
    table = table.set_column(1, "item", pc.cast(table["item"], pa.string()))
    bundle = tmp_path / "weighted"
    model = Recommender(
        user="user", item="item", weight="rating", min_weight=3.0, num_perm=32, neighbours=6
    )
    model.fit(table).save(bundle)
    server = serve(bundle)
    posted = [{"user": 1000, "item": "5"}, {"user": 77, "item": "5"}, {"user": 77, "item": "9"}]
    batch = pa.table(
        {
            "user": [p["user"] for p in posted],
            "item": [p["item"] for p in posted],
            "rating": [5.0] * len(posted),
        }
    )
    expected = Recommender.load(bundle).merged(batch)
    with httpx.Client(base_url=server.url) as client:
        wrong = _post(client, {"user": "1000", "item": 5})
        assert [e["expected"] for e in wrong.json()["error"]["errors"]] == [
            "an integer",
            "a string",
        ]
        assert _post(client, posted).status_code == 200
        for user in (1000, 1001, 77):
            answer = _get(client, "/v1/recommend", user=user, k=5).json()
            assert answer["recommendations"] == _recs(expected, user, 5)
        assert _get(client, "/v1/similar", item="5", k=3).json()["similar"] == [
            r.to_dict() for r in expected.similar("5", 3)
        ]
