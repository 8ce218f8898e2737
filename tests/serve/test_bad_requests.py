"""Every way a request can be wrong gets its status and one sentence that helps.

Real servers on loopback: the golden model bundle with small limits (``--max-body 4KiB
--max-batch 10``), the same behind a bearer token, and a bundle trained here on three
inputs whose ``salary`` column the contract marks ``sensitive = true``.  Every error
answer has the one shape ``{"error": {"status", "message", "errors"?}}``, is JSON, never
a 5xx, and the server's log never shows a traceback for it.  A sensitive value never
appears in an error answer, nor in clear in the archive.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import re
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.serve._load import running, sensitive_bundle
from tests.serve.conftest import MODEL_BUNDLE, Server

TOKEN = "t0ken-for-the-tests"
HASH_KEY = "hash-key-for-the-tests"
#: Values of the sensitive column that must never be seen in clear.
SECRET_OK, SECRET_LOW, SECRET_TEXT = 4321.75, -777.125, "lots-of-money-xyz"
JSON = {"Content-Type": "application/json"}
NOT_JSON = "; send one JSON record or an array of records"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    text: str

    @property
    def body(self) -> Any:
        return json.loads(self.text)

    @property
    def message(self) -> str:
        message: str = self.body["error"]["message"]
        return message


def call(
    server: Server,
    method: str,
    path: str,
    body: bytes | str | Iterable[bytes] | None = None,
    headers: Mapping[str, str] | None = None,
    *,
    chunked: bool = False,
) -> Answer:
    """One request on a fresh connection; the answer; no traceback in the server's log."""
    logged = len(server.output())
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request(method, path, body, dict(headers or {}), encode_chunked=chunked)
        response = conn.getresponse()
        answer = Answer(
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            response.read().decode(),
        )
    finally:
        conn.close()
    log = server.output()[logged:]
    assert "Traceback" not in log, log
    return answer


def refused(answer: Answer, status: int) -> str:
    """Check the one error shape and the status; return the message."""
    assert answer.status == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    error = answer.body["error"]
    assert error["status"] == status
    assert isinstance(error["message"], str) and error["message"]
    return answer.message


def predict(server: Server, record: Any, headers: Mapping[str, str] | None = None) -> Answer:
    return call(server, "POST", "/v1/predict", json.dumps(record), {**JSON, **(headers or {})})


# ----------------------------------------------------------------------------- servers


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The golden bundle with a 4 KiB body limit and a 10-record batch limit."""
    yield from running(
        tmp_path_factory.mktemp("plain"), MODEL_BUNDLE, "--max-body", "4KiB", "--max-batch", "10"
    )


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The golden bundle behind a bearer token."""
    tmp = tmp_path_factory.mktemp("guarded")
    (tmp / "token").write_text(TOKEN + "\n")
    yield from running(tmp, MODEL_BUNDLE, "--token-file", str(tmp / "token"))


@pytest.fixture(scope="module")
def salary_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sensitive_bundle(tmp_path_factory.mktemp("bundle"))


@pytest.fixture(scope="module")
def secret(tmp_path_factory: pytest.TempPathFactory, salary_bundle: Path) -> Iterator[Server]:
    """The salary bundle, sensitive values hashed with a key from a file."""
    tmp = tmp_path_factory.mktemp("secret")
    (tmp / "key").write_text(HASH_KEY + "\n")
    args = ("--sensitive", "hash", "--hash-key-file", str(tmp / "key"))
    yield from running(tmp, salary_bundle, *args)


@pytest.fixture(scope="module")
def omitted(tmp_path_factory: pytest.TempPathFactory, salary_bundle: Path) -> Iterator[Server]:
    """The salary bundle, sensitive values left out of the archive."""
    yield from running(tmp_path_factory.mktemp("omit"), salary_bundle, "--sensitive", "omit")


# ----------------------------------------------------------------------------- 400


def test_malformed_json_is_400_and_says_where(plain: Server) -> None:
    answer = call(plain, "POST", "/v1/predict", '{"balance": 12,', JSON)
    assert refused(answer, 400) == (
        "the body is not valid JSON: unexpected end of data at line 1, column 16 "
        "(character 15)" + NOT_JSON
    )
    answer = call(plain, "POST", "/v1/predict", '[{"balance": 1},\n {"balance" 2}]', JSON)
    assert refused(answer, 400) == (
        "the body is not valid JSON: unexpected character, expected ':' after key at line 2, "
        "column 13 (character 29)" + NOT_JSON
    )


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_nan_and_infinity_are_not_json_numbers_400(plain: Server, literal: str) -> None:
    answer = call(plain, "POST", "/v1/predict", '{"balance": ' + literal + "}", JSON)
    message = refused(answer, 400)
    assert message.startswith("the body is not valid JSON: ")
    assert re.search(r"at line 1, column 1[34] \(character 1[23]\)", message), message
    assert message.endswith(NOT_JSON)


def test_a_body_that_is_not_utf8_is_400(plain: Server) -> None:
    answer = call(plain, "POST", "/v1/predict", b'{"balance": "\xff\xfe"}', JSON)
    message = refused(answer, 400)
    assert message.startswith("the body is not valid JSON: ")
    assert "UTF-8" in message


def test_an_empty_body_is_400(plain: Server) -> None:
    answer = call(plain, "POST", "/v1/predict", b"", JSON)
    assert refused(answer, 400) == "the body is empty; send one JSON record or an array of records"


def test_deep_nesting_is_4xx_not_a_crash(plain: Server) -> None:
    deep = "[" * 2000 + "]" * 2000  # within --max-body 4KiB
    answer = call(plain, "POST", "/v1/predict", deep, JSON)
    assert refused(answer, 400).startswith("the body is not valid JSON: depth limit exceeded")
    # Nested a thousand deep inside a field's value: parsed fine, but not a number.
    nested = '{"balance": ' + "[" * 1000 + "]" * 1000 + "}"
    answer = call(plain, "POST", "/v1/predict", nested, JSON)
    assert answer.status == 422, answer.text
    assert answer.body["error"]["errors"][0]["field"] == "balance"
    assert answer.body["error"]["errors"][0]["rule"] in ("parse", "type")


def test_bad_query_flags_are_400(plain: Server) -> None:
    answer = call(plain, "POST", "/v1/predict?all_or_nothing=maybe", '[{"balance": 1}]', JSON)
    assert refused(answer, 400) == "?all_or_nothing='maybe': expected true or false"
    answer = call(plain, "GET", "/v1/predictions?limit=abc")
    assert refused(answer, 400) == "?limit='abc': expected a whole number from 1 to 1000"


# ----------------------------------------------------------------------------- 415


@pytest.mark.parametrize(
    ("content_type", "shown"),
    [
        ("text/plain", "'text/plain'"),
        ("application/x-www-form-urlencoded", "'application/x-www-form-urlencoded'"),
        (None, "no Content-Type"),
    ],
)
def test_wrong_content_type_is_415(plain: Server, content_type: str | None, shown: str) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    answer = call(plain, "POST", "/v1/predict", '{"balance": 1}', headers)
    assert refused(answer, 415) == (
        f"the body must be JSON: send Content-Type: application/json (got {shown})"
    )


# ----------------------------------------------------------------------------- 413


def test_body_over_max_body_is_413_declared_or_streamed(plain: Server) -> None:
    big = json.dumps([{"balance": 1.0, "pad": "x" * 500}] * 9).encode()
    assert len(big) > 4096
    answer = call(plain, "POST", "/v1/predict", big, JSON)
    assert refused(answer, 413) == (
        f"the body is {len(big):,} bytes, over the limit of 4,096 (--max-body); send fewer "
        "records per request"
    )
    chunks = [big[i : i + 1000] for i in range(0, len(big), 1000)]
    answer = call(plain, "POST", "/v1/predict", iter(chunks), JSON, chunked=True)
    assert refused(answer, 413) == (
        "the body is more than 4,096 bytes, over the limit of 4,096 (--max-body); send fewer "
        "records per request"
    )


def test_batch_over_max_batch_is_413(plain: Server) -> None:
    answer = predict(plain, [{"balance": 1.0}] * 11)
    assert refused(answer, 413) == (
        "the batch has 11 records, over the limit of 10 (--max-batch); split it into smaller "
        "requests"
    )
    assert predict(plain, [{"balance": 1.0}] * 10).status == 200


# ----------------------------------------------------------------------------- 404 / 405


@pytest.mark.parametrize("ident", ["0123456789abcdef0123456789abcdef", "nope"])
def test_unknown_prediction_id_is_404_and_named(plain: Server, ident: str) -> None:
    answer = call(plain, "GET", f"/v1/predictions/{ident}")
    assert refused(answer, 404) == (
        f"no prediction {ident!r} in the archive; ids are the 32 hex digits a predict answer "
        "gave (it may have been pruned by --retention)"
    )


def test_unknown_route_is_404_and_wrong_method_405(plain: Server) -> None:
    answer = call(plain, "GET", "/v1/nope")
    assert refused(answer, 404) == "no route /v1/nope; see /openapi.json for the routes"
    answer = call(plain, "DELETE", "/v1/predict")
    assert refused(answer, 405) == "DELETE is not allowed on /v1/predict; use POST"


# ----------------------------------------------------------------------------- 401


MISSING = "this route needs a token: send Authorization: Bearer <token>"
WRONG = (
    "the bearer token is wrong; send Authorization: Bearer <the token the service was started with>"
)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/predict"),
        ("GET", "/v1/predictions/abc"),
        ("GET", "/v1/drift"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
        ("GET", "/v1/stats"),
        ("GET", "/v1/nope"),
    ],
)
def test_missing_or_wrong_token_is_401(guarded: Server, method: str, path: str) -> None:
    body = '{"balance": 3}' if method == "POST" else None
    answer = call(guarded, method, path, body, JSON)
    assert refused(answer, 401) == MISSING
    assert answer.headers["www-authenticate"].startswith("Bearer")
    for wrong in ("Bearer nope", f"Bearer {TOKEN}x", f"Basic {TOKEN}", "Bearer "):
        answer = call(guarded, method, path, body, {**JSON, "Authorization": wrong})
        assert refused(answer, 401) == WRONG, wrong


def test_health_routes_need_no_token_and_the_right_one_passes(guarded: Server) -> None:
    assert call(guarded, "GET", "/healthz").status == 200
    assert call(guarded, "GET", "/readyz").status == 200
    answer = predict(guarded, {"balance": 3}, {"Authorization": f"Bearer {TOKEN}"})
    assert answer.status == 200, answer.text


def test_the_auth_scheme_is_case_insensitive(guarded: Server) -> None:
    """RFC 9110 section 11.1: the scheme name is case-insensitive ('bearer', 'BEARER')."""
    for scheme in ("bearer", "BEARER"):
        answer = predict(guarded, {"balance": 3}, {"Authorization": f"{scheme} {TOKEN}"})
        assert answer.status == 200, (scheme, answer.text)


# ----------------------------------------------------------------------------- 422


def test_invalid_record_is_422_with_every_field_rule_and_value(secret: Server) -> None:
    answer = predict(secret, {"age": 5, "salary": 3.5, "region": "west"})
    assert refused(answer, 422).startswith("the record breaks the model's contract: ")
    errors = answer.body["error"]["errors"]
    assert [(e["index"], e["field"], e["rule"], e.get("received")) for e in errors] == [
        (0, "age", "range", 5),
        (0, "region", "level", "west"),
    ]
    assert errors[0]["expected"] == "expected a number between 10 and 90"
    assert errors[1]["expected"] == "expected one of 'east', 'north', 'south'"

    answer = predict(secret, {"age": "old", "region": 3})
    errors = answer.body["error"]["errors"]
    assert [(e["field"], e["rule"]) for e in errors] == [
        ("age", "parse"),
        ("salary", "missing"),
        ("region", "level"),
    ]
    assert errors[0]["message"] == (
        "column 'age' in the record: expected a number between 10 and 90, got 'old'. "
        "Send a number value."
    )


def test_a_batch_reports_each_invalid_record_by_index_and_scores_the_rest(plain: Server) -> None:
    answer = predict(plain, [{"balance": 1}, {"balance": 3000}, {"balance": None}, {}])
    assert answer.status == 200, answer.text
    items = answer.body["predictions"]
    assert "id" in items[0] and "errors" not in items[0]
    assert [(e["index"], e["field"], e["rule"]) for i in items[1:] for e in i["errors"]] == [
        (1, "balance", "range"),
        (2, "balance", "null"),
        (3, "balance", "missing"),
    ]
    answer = call(
        plain,
        "POST",
        "/v1/predict?all_or_nothing=true",
        json.dumps([{"balance": 1}, {"balance": 3000}]),
        JSON,
    )
    assert refused(answer, 422) == (
        "1 of 2 records break the model's contract and all_or_nothing=true, so none was "
        "scored; errors lists every problem (index is the record's position)"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "5",
            "the body is a number; send one record (a JSON object of field: value) or an "
            "array of records",
        ),
        ("[]", "the array of records is empty; send at least one record"),
        (
            '[{"balance": 1}, 7]',
            "record 1 of the array is a number; every record must be a JSON object of field: value",
        ),
    ],
)
def test_a_body_of_the_wrong_shape_is_422(plain: Server, body: str, message: str) -> None:
    assert refused(call(plain, "POST", "/v1/predict", body, JSON), 422) == message


def test_an_error_answer_does_not_grow_with_the_value_it_refuses(plain: Server) -> None:
    """A 4 KB text where a number belongs is refused in a short answer, not echoed whole."""
    answer = predict(plain, {"balance": "9" * 100 + "x" * 3800})
    assert answer.status == 422, answer.text
    assert len(answer.text) < 2000, f"{len(answer.text):,} characters of error answer"


# ----------------------------------------------------------------------------- sensitive


def _archive_rows(server: Server) -> list[tuple[Any, ...]]:
    path = Path(server.archive.removeprefix("sqlite:///"))
    with sqlite3.connect(path) as db:
        return list(db.execute("SELECT received, coerced, explanation FROM predictions"))


def test_a_sensitive_value_never_appears_in_an_error_answer(secret: Server) -> None:
    for value in (SECRET_LOW, SECRET_TEXT, [SECRET_LOW], {"v": SECRET_TEXT}):
        answer = predict(secret, {"age": 40, "salary": value, "region": "north"})
        assert answer.status == 422, answer.text
        (error,) = answer.body["error"]["errors"]
        assert error["field"] == "salary"
        assert "received" not in error or error["received"] == "<sensitive>"
        for text in ("777.125", SECRET_TEXT):
            assert text not in answer.text
        assert "<sensitive value>" in error["message"]
    batch = [
        {"age": 40, "salary": SECRET_LOW, "region": "north"},
        {"age": 40, "salary": 50.0, "region": "north"},
    ]
    answer = predict(secret, batch)
    assert answer.status == 200 and "777.125" not in answer.text
    metrics = call(secret, "GET", "/metrics").text
    assert "777.125" not in metrics and SECRET_TEXT not in metrics


def test_a_sensitive_value_is_hashed_in_the_archive_never_in_clear(secret: Server) -> None:
    answer = predict(secret, {"age": 40, "salary": SECRET_OK, "region": "north"})
    assert answer.status == 200, answer.text
    ident = answer.body["id"]
    rows = _archive_rows(secret)
    assert rows, "nothing archived"
    for row in rows:
        assert all("4321.75" not in str(column) for column in row), row
    archived = call(secret, "GET", f"/v1/predictions/{ident}")
    assert archived.status == 200 and "4321.75" not in archived.text
    decision = archived.body
    keyed = hmac.new(HASH_KEY.encode(), b"4321.75", hashlib.sha256).hexdigest()
    assert decision["received"] == {"age": 40, "salary": f"hmac-sha256:{keyed}", "region": "north"}
    assert decision["coerced"]["salary"] == f"hmac-sha256:{keyed}"
    features = dict(zip(decision["feature_names"], decision["features"], strict=True))
    assert features["salary"] is None, "the feature row would give the salary back"
    assert features["age"] is not None
    (reason,) = [r for r in decision["explanation"] if r["column"] == "salary"]
    assert "4321.75" not in json.dumps(reason)
    drift = call(secret, "GET", "/v1/drift").text
    assert "4321.75" not in drift


def test_omit_leaves_a_sensitive_value_out_of_the_archive(omitted: Server) -> None:
    answer = predict(omitted, {"age": 40, "salary": SECRET_OK, "region": "north"})
    assert answer.status == 200, answer.text
    decision = call(omitted, "GET", f"/v1/predictions/{answer.body['id']}").body
    assert decision["received"] == {"age": 40, "region": "north"}
    assert "salary" not in decision["coerced"]
    assert all("4321.75" not in str(column) for row in _archive_rows(omitted) for column in row)


# ----------------------------------------------------------------------------- outcomes


def outcomes(server: Server, body: Any) -> Answer:
    return call(server, "POST", "/v1/outcomes", json.dumps(body), JSON)


def test_outcomes_that_cannot_be_recorded_are_422_and_none_is_recorded(plain: Server) -> None:
    ident = predict(plain, {"balance": 1500}).body["id"]
    answer = outcomes(plain, [{"id": ident, "outcome": True}, {"outcome": True}])
    assert refused(answer, 422).startswith("1 of the outcomes cannot be recorded, so none was")
    assert [(e["index"], e["field"], e["rule"]) for e in answer.body["error"]["errors"]] == [
        (1, "id", "missing")
    ]
    answer = outcomes(plain, [{"id": ident, "outcome": "maybe"}, {"id": 5, "outcome": False}])
    assert [(e["index"], e["field"], e["rule"]) for e in answer.body["error"]["errors"]] == [
        (0, "outcome", "level"),
        (1, "id", "type"),
    ]
    assert call(plain, "GET", f"/v1/predictions/{ident}").body["outcome"] is None


@pytest.mark.parametrize("body", [[], 7, "yes"])
def test_an_outcomes_body_of_the_wrong_shape_is_422(plain: Server, body: Any) -> None:
    assert refused(outcomes(plain, body), 422) == (
        'send one outcome {"id": ..., "outcome": ...} (or "key" instead of "id"), or a '
        "non-empty array of them"
    )


def test_outcomes_by_key_without_a_contract_key_is_422(plain: Server) -> None:
    assert refused(outcomes(plain, [{"key": "c1", "outcome": True}]), 422) == (
        'outcomes by key need a business key in the contract ([contract] key = "COLUMN"); '
        "this model's contract names none, so send prediction ids"
    )


def test_an_outcome_for_an_unknown_id_is_reported_not_recorded(plain: Server) -> None:
    answer = outcomes(plain, [{"id": "0" * 32, "outcome": True}])
    assert answer.status == 200, answer.text
    assert answer.body == {"matched": 0, "unknown": [{"index": 0, "id": "0" * 32}]}


def test_an_empty_outcome_id_is_an_id_not_a_missing_key(plain: Server) -> None:
    """``{"id": ""}`` names an id (that no prediction has), not a key of None."""
    answer = outcomes(plain, {"id": "", "outcome": True})
    assert answer.status in (404, 422), answer.text
    assert "None" not in answer.message and "key" not in answer.message.split(";")[0]
    ident = predict(plain, {"balance": 1500}).body["id"]
    answer = outcomes(plain, [{"id": "", "outcome": True}, {"id": ident, "outcome": True}])
    if answer.status == 200:
        assert answer.body == {"matched": 1, "unknown": [{"index": 0, "id": ""}]}
    else:
        assert refused(answer, 422)
        assert [(e["index"], e["field"]) for e in answer.body["error"]["errors"]] == [(0, "id")]
