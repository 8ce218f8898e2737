"""``suture serve`` answers over real sockets: predict, archive, metrics, auth, workers.

Each module-level server is a real ``suture serve`` process on a loopback port (the
harness in conftest.py), shared by the tests of one concern and stopped at the end.
Expected predictions come from batch scoring of the same bundle in this process.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest

from suture.models.bundle import ModelBundle
from tests.serve.conftest import (
    MODEL_BUNDLE,
    RECOMMENDER_BUNDLE,
    ServeFn,
    Server,
    run_suture,
    start_server,
)

RECORD = {"student": "No", "balance": 1500.0, "income": 30000.0}
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(MODEL_BUNDLE, tmp_path_factory.mktemp("serve"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    return ModelBundle.read(MODEL_BUNDLE)


def batch_scored(bundle: ModelBundle, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What ``suture score`` gives for these records (batch scoring, explain=3)."""
    table = pa.Table.from_pylist(records)
    scored: list[dict[str, Any]] = bundle.score(table, explain=3).to_pylist()
    return scored


def predict(client: httpx.Client, body: Any, **params: str) -> httpx.Response:
    return client.post("/v1/predict", json=body, params=params)


# ----------------------------------------------------------------------------- predict


def test_one_record_gets_an_id_the_batch_prediction_and_its_explanation(
    client: httpx.Client, bundle: ModelBundle
) -> None:
    answer = predict(client, RECORD)
    assert answer.status_code == 200
    body = answer.json()
    expected = batch_scored(bundle, [RECORD])[0]
    assert re.fullmatch(r"[0-9a-f]{32}", body["id"])
    assert body["prediction"] == expected["prediction"] == "false"
    assert body["probability"] == expected["probability"]
    assert body["model_version"] == client.get("/readyz").json()["model_version"]
    (reason,) = body["explanation"]  # the golden model has one input column
    assert reason["column"] == "balance"
    assert reason["value"] == 1500
    assert reason["unit"] is None
    assert reason["contribution"] == expected["explanation"][0]["contribution"]
    assert body["explanation_base"] == expected["explanation_base"]


def test_a_batch_scores_the_valid_records_and_reports_the_invalid_ones(
    client: httpx.Client, bundle: ModelBundle
) -> None:
    records = [RECORD, {"balance": -4}, {**RECORD, "balance": 2400}, {"student": "No"}]
    answer = predict(client, records)
    assert answer.status_code == 200
    body = answer.json()
    first, bad, third, missing = body["predictions"]
    expected = batch_scored(bundle, [RECORD, {**RECORD, "balance": 2400}])
    assert [first["probability"], third["probability"]] == [e["probability"] for e in expected]
    assert first["id"] != third["id"]
    assert bad == {
        "index": 1,
        "errors": [
            {
                "index": 1,
                "field": "balance",
                "rule": "range",
                "expected": "expected a number between 0 and 2,800",
                "received": -4,
                "message": bad["errors"][0]["message"],
            }
        ],
    }
    assert bad["errors"][0]["message"].startswith(
        "column 'balance' in the record: expected a number between 0 and 2,800, got -4."
    )
    assert missing["index"] == 3
    assert [(e["field"], e["rule"]) for e in missing["errors"]] == [("balance", "missing")]


def test_all_or_nothing_refuses_the_whole_batch_naming_every_problem(
    client: httpx.Client,
) -> None:
    before = client.get("/v1/predictions", params={"limit": 1}).json()["predictions"]
    answer = predict(
        client, [RECORD, {"balance": "lots"}, {"balance": None}], all_or_nothing="true"
    )
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["status"] == 422
    assert error["message"] == (
        "2 of 3 records break the model's contract and all_or_nothing=true, so none was "
        "scored; errors lists every problem (index is the record's position)"
    )
    assert [(e["index"], e["field"], e["rule"]) for e in error["errors"]] == [
        (1, "balance", "parse"),
        (2, "balance", "null"),
    ]
    after = client.get("/v1/predictions", params={"limit": 1}).json()["predictions"]
    assert after == before  # nothing of the refused batch was archived


def test_one_invalid_record_is_a_422_that_says_what_and_where(client: httpx.Client) -> None:
    answer = predict(client, {"balance": 9000})
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["message"].startswith(
        "the record breaks the model's contract: column 'balance' in the record: expected a "
        "number between 0 and 2,800, got 9000."
    )
    assert [(e["index"], e["field"], e["rule"], e["received"]) for e in error["errors"]] == [
        (0, "balance", "range", 9000)
    ]


def test_units_are_converted_before_scoring(client: httpx.Client, bundle: ModelBundle) -> None:
    # balance has no unit: a text number is read as the number, as batch scoring reads it
    answer = predict(client, {"balance": "1500"})
    assert answer.status_code == 200
    assert answer.json()["probability"] == batch_scored(bundle, [RECORD])[0]["probability"]


# ----------------------------------------------------------------------------- archive


def test_a_prediction_id_returns_the_archived_decision(client: httpx.Client) -> None:
    made = predict(client, {**RECORD, "balance": 1234.5}).json()
    archived = client.get(f"/v1/predictions/{made['id']}")
    assert archived.status_code == 200
    decision = archived.json()
    assert decision["id"] == made["id"]
    assert decision["received"] == {**RECORD, "balance": 1234.5}
    assert decision["coerced"] == {"balance": 1234.5}
    assert decision["output"]["prediction"] == made["prediction"]
    assert decision["output"]["probability"] == made["probability"]
    assert decision["explanation"] == made["explanation"]
    assert decision["model_version"] == made["model_version"]
    assert len(decision["features"]) == 1
    recent = client.get("/v1/predictions", params={"limit": 1}).json()["predictions"]
    assert [r["id"] for r in recent] == [made["id"]]


def test_an_unknown_prediction_id_is_a_404_that_says_where_ids_come_from(
    client: httpx.Client,
) -> None:
    answer = client.get("/v1/predictions/0123456789abcdef0123456789abcdef")
    assert answer.status_code == 404
    assert answer.json()["error"]["message"] == (
        "no prediction '0123456789abcdef0123456789abcdef' in the archive; ids are the 32 hex "
        "digits a predict answer gave (it may have been pruned by --retention)"
    )


# ----------------------------------------------------------------------------- bad requests


@pytest.mark.parametrize(
    ("content", "headers", "status", "message"),
    [
        (
            b'{"balance": 1',
            JSON,
            400,
            "the body is not valid JSON: unexpected end of data at line 1, column 14 "
            "(character 13); send one JSON record or an array of records",
        ),
        (
            b"balance=1",
            {"content-type": "application/x-www-form-urlencoded"},
            415,
            "the body must be JSON: send Content-Type: application/json (got "
            "'application/x-www-form-urlencoded')",
        ),
        (b"", JSON, 400, "the body is empty; send one JSON record or an array of records"),
        (
            b"[]",
            JSON,
            422,
            "the array of records is empty; send at least one record",
        ),
        (
            b'[{"balance": 1}, 7]',
            JSON,
            422,
            "record 1 of the array is a number; every record must be a JSON object of field: value",
        ),
        (
            b'"balance"',
            JSON,
            422,
            "the body is a string; send one record (a JSON object of field: value) or an "
            "array of records",
        ),
    ],
    ids=["malformed", "not-json", "empty", "empty-array", "not-an-object", "a-string"],
)
def test_bad_bodies_get_their_status_and_one_sentence(
    client: httpx.Client, content: bytes, headers: dict[str, str], status: int, message: str
) -> None:
    answer = client.post("/v1/predict", content=content, headers=headers)
    assert answer.status_code == status
    assert answer.json() == {"error": {"status": status, "message": message}}


def test_a_body_over_the_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    server = start_server(MODEL_BUNDLE, tmp_path, "--max-body", "1KiB", "--max-batch", "3")
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            big = client.post("/v1/predict", content=b"[" + b" " * 2000 + b"]", headers=JSON)
            assert big.status_code == 413
            assert big.json()["error"]["message"] == (
                "the body is 2,002 bytes, over the limit of 1,024 (--max-body); send fewer "
                "records per request"
            )

            def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
                yield b"["
                for _ in range(50):
                    yield b" " * 100

            streamed = client.post("/v1/predict", content=chunks(), headers=JSON)
            assert streamed.status_code == 413
            assert streamed.json()["error"]["message"].startswith(
                "the body is more than 1,024 bytes, over the limit of 1,024 (--max-body)"
            )
            many = predict(client, [RECORD] * 4)
            assert many.status_code == 413
            assert many.json()["error"]["message"] == (
                "the batch has 4 records, over the limit of 3 (--max-batch); split it into "
                "smaller requests"
            )
    finally:
        server.stop()


def test_unknown_routes_and_methods_get_404_and_405_in_the_error_shape(
    client: httpx.Client,
) -> None:
    missing = client.get("/v2/predict")
    assert missing.status_code == 404
    assert missing.json() == {
        "error": {
            "status": 404,
            "message": "no route /v2/predict; see /openapi.json for the routes",
        }
    }
    wrong = client.get("/v1/predict")
    assert wrong.status_code == 405
    assert wrong.json() == {
        "error": {"status": 405, "message": "GET is not allowed on /v1/predict; use POST"}
    }


# ----------------------------------------------------------------------------- metrics


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the Prometheus text (0 when absent)."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        found = dict(re.findall(r'(\w+)="([^"]*)"', head))
        if head.split("{")[0] == name and all(found.get(k) == v for k, v in labels.items()):
            return float(value)
    return 0.0


def test_metrics_count_requests_predictions_and_broken_rules(client: httpx.Client) -> None:
    before = client.get("/metrics").text
    predict(client, [RECORD, RECORD, {"balance": -1}])
    after = client.get("/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    text = after.text

    def grew(name: str, **labels: str) -> float:
        return metric(text, name, **labels) - metric(before, name, **labels)

    assert grew("suture_requests_total", route="/v1/predict", method="POST", status="200") == 1
    assert grew("suture_predictions_total", **{"class": "false"}) == 2
    assert grew("suture_validation_failures_total", field="balance", rule="range") == 1
    assert grew("suture_request_seconds_count", route="/v1/predict") == 1
    assert grew("suture_archive_commit_seconds_count") == 1
    assert 'suture_feature_drift{feature="balance"}' in text


def test_stats_report_the_services_counts_rate_and_latency(client: httpx.Client) -> None:
    before = client.get("/v1/stats").json()
    predict(client, [RECORD, {"balance": -1}])
    after = client.get("/v1/stats").json()
    assert after["status"] == "ok"
    assert after["kind"] == "model"
    assert after["predictions"] - before["predictions"] == 1
    assert after["invalid"] - before["invalid"] == 1
    assert after["requests"] - before["requests"] == 2  # the predict and the first stats
    assert 0 < after["latency_ms"]["p50"] <= after["latency_ms"]["p99"]
    assert after["rate_1m"] > 0


def test_the_openapi_request_schema_is_the_contracts(client: httpx.Client) -> None:
    document = client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    record = document["components"]["schemas"]["Record"]
    number = record["properties"]["balance"]["anyOf"][0]
    assert (number["type"], number["minimum"], number["maximum"]) == ("number", 0, 2800)
    assert record["required"] == ["balance"]
    body = document["paths"]["/v1/predict"]["post"]["requestBody"]["content"]
    batch = body["application/json"]["schema"]["anyOf"][1]
    assert batch["maxItems"] == 1000
    responses = document["paths"]["/v1/predict"]["post"]["responses"]
    assert set(responses) == {"200", "400", "401", "404", "405", "413", "415", "422", "503"}


# ----------------------------------------------------------------------------- auth


def test_a_token_guards_every_route_but_health(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("s3cret-token\n")
    server = start_server(MODEL_BUNDLE, tmp_path, "--token-file", str(tmp_path / "token"))
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            assert client.get("/healthz").status_code == 200
            assert client.get("/readyz").status_code == 200
            none = predict(client, RECORD)
            assert none.status_code == 401
            assert none.headers["www-authenticate"] == 'Bearer realm="suture"'
            assert none.json()["error"]["message"] == (
                "this route needs a token: send Authorization: Bearer <token>"
            )
            wrong = client.get("/metrics", headers={"authorization": "Bearer nope"})
            assert wrong.status_code == 401
            assert "s3cret" not in wrong.text
            good = {"authorization": "Bearer s3cret-token"}
            assert client.post("/v1/predict", json=RECORD, headers=good).status_code == 200
            assert client.get("/metrics", headers=good).status_code == 200
            assert client.get("/v2/nothing", headers=good).status_code == 404
            assert client.get("/v2/nothing").status_code == 401  # no route map for strangers
    finally:
        server.stop()


# ----------------------------------------------------------------------------- workers


def test_two_workers_both_answer_and_metrics_add_up(tmp_path: Path) -> None:
    server = start_server(MODEL_BUNDLE, tmp_path, "--workers", "2")
    try:
        workers: set[str] = set()
        sent = 0
        for _ in range(40):  # a new connection each time: the kernel picks a worker
            with httpx.Client(base_url=server.url, timeout=30) as client:
                assert predict(client, RECORD).status_code == 200
                sent += 1
                workers.add(client.get("/v1/stats").json()["worker"])
            if len(workers) == 2 and sent >= 10:
                break
        assert len(workers) == 2
        with httpx.Client(base_url=server.url, timeout=30) as client:
            text = client.get("/metrics").text
            for _ in range(4):  # whichever worker answers, it counts the whole service
                whole = client.get("/v1/stats").json()
                assert (whole["workers"], whole["predictions"]) == (2, sent)
        assert metric(text, "suture_predictions_total", **{"class": "false"}) == sent
        assert (
            metric(text, "suture_requests_total", route="/v1/predict", method="POST", status="200")
            == sent
        )
    finally:
        assert server.stop() == 0


# ----------------------------------------------------------------------------- the command


def test_serving_a_missing_bundle_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = run_suture("serve", str(tmp_path / "nope"), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == (
        f"error: {tmp_path / 'nope'} does not exist; give the folder suture train or suture "
        "recommend fit wrote\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--window", "soon"),
            "error: --window 'soon': expected a time span (1h, 30m, 3600s) or a record count "
            "(10000)\n",
        ),
        (
            ("--max-body", "big"),
            "error: --max-body 'big': expected a size such as 1MiB, 512KiB or 65536\n",
        ),
        (("--workers", "0"), "error: --workers must be 1 or more (worker processes), got 0\n"),
        (("--sensitive", "drop"), "error: --sensitive must be hash or omit, got 'drop'\n"),
        (
            ("--token", "a", "--token-file", "t"),
            "error: give --token or --token-file, not both\n",
        ),
    ],
    ids=["window", "max-body", "workers", "sensitive", "two-tokens"],
)
def test_bad_options_are_one_line_and_exit_2(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    done = run_suture("serve", str(MODEL_BUNDLE), *args, cwd=tmp_path)
    assert (done.returncode, done.stderr) == (2, message)
    assert list(tmp_path.iterdir()) == []  # nothing written, no archive created


def test_a_taken_port_is_one_line(server: Server, tmp_path: Path) -> None:
    done = run_suture("serve", str(MODEL_BUNDLE), "--port", str(server.port), cwd=tmp_path)
    assert (done.returncode, done.stderr) == (
        2,
        f"error: port {server.port} on 127.0.0.1 is already in use; stop what listens there "
        "or pass another --port\n",
    )


# ----------------------------------------------------------------------------- outcomes


def test_outcomes_join_the_archive_and_realized_auc_appears(serve: ServeFn) -> None:
    server = serve(MODEL_BUNDLE)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert math.isnan(metric(client.get("/metrics").text, "suture_realized_auc"))  # not 0
        balances = [500.0, 1000.0, 2000.0, 2500.0]
        made = predict(client, [{"balance": b} for b in balances]).json()["predictions"]
        truth = ["false", "true", "false", "true"]
        sent = [True if t == "true" else "No" for t in truth]  # booleans and yes/no words
        answer = client.post(
            "/v1/outcomes",
            json=[{"id": m["id"], "outcome": s} for m, s in zip(made, sent, strict=True)]
            + [{"id": "f" * 32, "outcome": True}],
        )
        assert answer.status_code == 200
        assert answer.json() == {"matched": 4, "unknown": [{"index": 4, "id": "f" * 32}]}
        archived = client.get(f"/v1/predictions/{made[1]['id']}").json()
        assert archived["outcome"]["value"] == "true"

        overall = client.get("/v1/performance").json()["overall"]
        # positives score 1000 and 2500, negatives 500 and 2000: 3 of 4 pairs ordered
        assert overall["n"] == 4
        assert overall["auc"] == 0.75
        hits = [m["prediction"] == t for m, t in zip(made, truth, strict=True)]
        assert overall["accuracy"] == sum(hits) / 4
        text = client.get("/metrics").text
        assert metric(text, "suture_realized_auc") == 0.75
        assert metric(text, "suture_realized_outcomes") == 4
        assert metric(text, "suture_outcomes_total", result="matched") == 4
        assert metric(text, "suture_outcomes_total", result="unknown") == 1


def test_outcome_mistakes_are_named(client: httpx.Client) -> None:
    unknown = client.post("/v1/outcomes", json={"id": "e" * 32, "outcome": True})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["message"] == (
        f"no archived prediction has id {'e' * 32!r}; nothing was recorded (check the id a "
        "predict answer gave, or the key's value)"
    )
    bad = client.post("/v1/outcomes", json={"id": "e" * 32, "outcome": "maybe"})
    assert bad.status_code == 422
    assert bad.json()["error"]["message"] == (
        "the outcome cannot be recorded: outcome 0: outcome: expected one of 'false', "
        "'true', got \"maybe\""
    )
    neither = client.post("/v1/outcomes", json={"outcome": True})
    assert neither.json()["error"]["message"] == (
        "the outcome cannot be recorded: outcome 0 names no prediction: give id (the id a "
        "predict answer gave) or key (the business key's value), one of them"
    )
    by_key = client.post("/v1/outcomes", json={"key": "C-17", "outcome": True})
    assert by_key.status_code == 422
    assert by_key.json()["error"]["message"].startswith(
        "outcomes by key need a business key in the contract"
    )


# ----------------------------------------------------------------------------- recommender


def test_a_recommender_bundle_is_served_with_its_own_routes(serve: ServeFn) -> None:
    server = serve(RECOMMENDER_BUNDLE)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        ready = client.get("/readyz").json()
        assert ready["kind"] == "recommender"
        answer = client.get("/v1/recommend", params={"user": "1", "k": "3"})
        assert answer.status_code == 200
        assert len(answer.json()["recommendations"]) == 3
        paths = set(client.get("/openapi.json").json()["paths"])
        assert {"/v1/recommend", "/v1/similar", "/v1/interactions"} <= paths
        assert "/v1/predict" not in paths
        assert client.post("/v1/predict", json=RECORD).status_code == 404
        assert client.get("/v1/stats").json()["kind"] == "recommender"
    assert "serving " in server.output() and "(recommender " in server.output()


def test_suture_help_does_not_load_the_service_stack() -> None:
    code = (
        "import sys\n"
        "from suture.cli import main\n"
        "try:\n"
        "    main(['serve', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('numpy', 'pyarrow', 'starlette', 'uvicorn', 'prometheus_client', 'orjson')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.stdout.splitlines()[-1] == "[]", done.stderr
    assert "--max-body" in done.stdout


def test_retention_prunes_decisions_older_than_it_at_start(tmp_path: Path) -> None:
    from suture.serve.archive import PredictionRecord, new_prediction_id, open_archive

    url = f"sqlite:///{tmp_path / 'archive.db'}"
    archive = open_archive(url)
    now = time.time()
    old, recent = new_prediction_id(), new_prediction_id()
    archive.write_now(
        [
            PredictionRecord(old, now - 3 * 86400, "v", "w", None, {}, {}, [0.0], {}, []),
            PredictionRecord(recent, now - 3600, "v", "w", None, {}, {}, [0.0], {}, []),
        ]
    )
    archive.close()
    server = start_server(MODEL_BUNDLE, tmp_path, "--retention", "2d", archive=url)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            deadline = time.monotonic() + 30
            while client.get(f"/v1/predictions/{old}").status_code != 404:
                assert time.monotonic() < deadline, "the old decision was never pruned"
                time.sleep(0.1)
            assert client.get(f"/v1/predictions/{recent}").status_code == 200
    finally:
        server.stop()
    assert "pruned 1 archived decision older than 2 days" in server.output()


# ----------------------------------------------------------------------------- direct routes


def test_direct_routes_are_the_fixed_paths_before_any_other_kind_of_route() -> None:
    from starlette.responses import Response
    from starlette.routing import Mount, Route

    from suture.serve.app import direct_routes, route

    async def handler(request: Any) -> Response:
        return Response(b"")

    own = [
        route("/v1/predict", handler, ["POST"]),
        route("/v1/predictions/{id}", handler),  # a path parameter: the router's
        route("/v1/stats", handler),
        route("/v1/stats", handler, ["POST"]),  # a path two routes share: the router's
        Route("/plain", handler),  # not made by route(): ends the direct run
        route("/metrics", handler),
    ]
    table = direct_routes(own)
    assert sorted(table) == ["/v1/predict"]
    assert table["/v1/predict"].methods == {"POST"}
    after_mount = direct_routes([route("/healthz", handler), Mount("/static", routes=[])])
    assert sorted(after_mount) == ["/healthz"]
