"""Schemathesis against the live OpenAPI document of a real ``suture serve``.

Every operation of ``/openapi.json`` is fuzzed (valid and invalid inputs, bounded by
:data:`EXAMPLES` per operation and no deadline: the server runs in another process)
against a server without a token and one with a token, where requests without it must get
the documented 401.  Every answer must be: not a 5xx, a documented status, of the
documented content type, and of the documented schema.  Then a set of malformed bodies
(invalid JSON, a wrong content type, a huge body, deep nesting, NaN and Infinity literals,
bytes that are not UTF-8) must each get a 4xx with a message, and the server must still
be ready afterwards, with no traceback in its log.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.serve._load import running, sensitive_bundle
from tests.serve.conftest import MODEL_BUNDLE, RECOMMENDER_BUNDLE, Server

TOKEN = "fuzz-token"
EXEMPT = ("/healthz", "/readyz")
#: Examples per operation (each run of the fuzz stays well under a minute on 2 cores).
EXAMPLES = 60

# One worker runs the whole module in order: the servers are module fixtures, and
# test_the_servers_survive_the_fuzz counts the requests the fuzz sent to them (on another
# xdist worker it met fresh servers that had seen 2).  pytest 9.2 broke the grouping
# without a word (pytest-xdist#1386): test_the_module_runs_as_one_xdist_group says so.
pytestmark = pytest.mark.xdist_group("fuzz")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from running(tmp_path_factory.mktemp("fuzz-open"), MODEL_BUNDLE, "--max-batch", "50")


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from running(tmp_path_factory.mktemp("fuzz-token"), MODEL_BUNDLE, "--token", TOKEN)


@pytest.fixture(scope="module")
def salary_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Three inputs (numbers and a categorical), one of them sensitive."""
    tmp = tmp_path_factory.mktemp("fuzz-salary")
    yield from running(tmp, sensitive_bundle(tmp), "--sensitive", "omit")


@pytest.fixture(scope="module")
def recommender_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from running(tmp_path_factory.mktemp("fuzz-recs"), RECOMMENDER_BUNDLE)


def _schema(server: Server, headers: dict[str, str] | None = None) -> Any:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json", headers=headers or {})
    return schema


@pytest.fixture(scope="module")
def open_schema(open_server: Server) -> Any:
    return _schema(open_server)


@pytest.fixture(scope="module")
def token_schema(token_server: Server) -> Any:
    return _schema(token_server, {"Authorization": f"Bearer {TOKEN}"})


def _assert_alive(server: Server) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", "/readyz")
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    assert response.status == 200
    assert server.process.poll() is None
    assert "Traceback" not in server.output(), server.output()


def fuzz(
    schema: Any,
    server: Server,
    mode: GenerationMode,
    *,
    headers: dict[str, str] | None = None,
    examples: int = EXAMPLES,
) -> tuple[list[str], list[str]]:
    """Fuzz every operation of ``schema`` in ``mode``; return (operations fuzzed, failures).

    (The schemathesis pytest plugin does not run under pytest 9, so each operation is a
    Hypothesis test of its own here, with the operation's strategy.)
    """
    labels: list[str] = []
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(FUZZ_SETTINGS, max_examples=examples)
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: Any) -> None:
            response = case.call(base_url=server.url, headers=headers)
            case.validate_response(response, checks=CHECKS, headers=headers)
            if headers is None and schema_has_token(server) and case.path not in EXEMPT:
                assert response.status_code == 401, (case.path, response.text)

        try:
            run()
        except Unsatisfiable:
            # No input breaks this operation's schema (a route without parameters, a path
            # parameter of any text): there is nothing negative to send.
            assert mode is GenerationMode.NEGATIVE, operation.label
            continue
        except (Exception, FailureGroup) as exc:  # every operation; all failures reported
            failures.append(f"{operation.label} ({mode.value}): {type(exc).__name__}: {exc}")
        labels.append(operation.label)
    return labels, failures


def schema_has_token(server: Server) -> bool:
    return "--token" in server.argv


def test_the_module_runs_as_one_xdist_group(request: pytest.FixtureRequest) -> None:
    """Under ``--dist loadgroup`` (the test command's), every test of this module carries
    the group in its node id, which is what keeps them on one worker."""
    if getattr(request.config.option, "loadgroup", False):  # an xdist worker's flag
        assert request.node.nodeid.endswith("@fuzz"), (
            f"{request.node.nodeid}: pytest-xdist did not group this module's tests (with "
            "pytest 9.2 it cannot: pytest-dev/pytest-xdist#1386); pin pytest below 9.2"
        )


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_answers_as_documented(
    open_schema: Any, open_server: Server, mode: GenerationMode
) -> None:
    labels, failures = fuzz(open_schema, open_server, mode)
    assert "POST /v1/predict" in labels and "GET /v1/predictions" in labels
    assert not failures, "\n\n".join(failures)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_a_contract_of_three_inputs_answers_as_documented(
    salary_server: Server, mode: GenerationMode
) -> None:
    labels, failures = fuzz(_schema(salary_server), salary_server, mode)
    assert "POST /v1/predict" in labels
    assert not failures, "\n\n".join(failures)
    _assert_alive(salary_server)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_a_recommender_answers_as_documented(
    recommender_server: Server, mode: GenerationMode
) -> None:
    labels, failures = fuzz(_schema(recommender_server), recommender_server, mode)
    assert {"GET /v1/recommend", "GET /v1/similar", "POST /v1/interactions"} <= set(labels)
    assert not failures, "\n\n".join(failures)
    _assert_alive(recommender_server)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_with_the_token(
    token_schema: Any, token_server: Server, mode: GenerationMode
) -> None:
    _, failures = fuzz(
        token_schema, token_server, mode, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert not failures, "\n\n".join(failures)


def test_every_operation_without_the_token_is_a_documented_401(
    token_schema: Any, token_server: Server
) -> None:
    _, failures = fuzz(token_schema, token_server, GenerationMode.POSITIVE, examples=10)
    assert not failures, "\n\n".join(failures)


def test_the_servers_survive_the_fuzz(open_server: Server, token_server: Server) -> None:
    _assert_alive(open_server)
    _assert_alive(token_server)
    conn = http.client.HTTPConnection("127.0.0.1", open_server.port, timeout=10)
    try:
        conn.request("GET", "/v1/stats")
        stats = json.loads(conn.getresponse().read())
    finally:
        conn.close()
    assert stats["requests"] > 4 * EXAMPLES, stats


# ----------------------------------------------------------------------------- malformed


JSON = {"Content-Type": "application/json"}
MALFORMED: dict[str, tuple[bytes, dict[str, str], int]] = {
    "invalid JSON": (b'{"balance": 1,,}', JSON, 400),
    "truncated JSON": (b'[{"balance": 1}', JSON, 400),
    "wrong content type": (b'{"balance": 1}', {"Content-Type": "text/csv"}, 415),
    "no content type": (b'{"balance": 1}', {}, 415),
    "huge body": (
        b"[" + b'{"balance": 1},' * 80_000 + b"{}]",
        JSON,
        413,
    ),
    "deep nesting": (b"[" * 5000 + b"]" * 5000, JSON, 400),
    "NaN literal": (b'{"balance": NaN}', JSON, 400),
    "Infinity literal": (b'{"balance": Infinity}', JSON, 400),
    "not UTF-8": (b'{"balance": "\xc3\x28"}', JSON, 400),
    "UTF-16": ('{"balance": 1}'.encode("utf-16"), JSON, 400),
    "null bytes": (b"\x00\x00\x00", JSON, 400),
    "a JSON string": (b'"balance"', JSON, 422),
    "null": (b"null", JSON, 422),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_a_malformed_body_gets_a_4xx_with_a_message(open_server: Server, name: str) -> None:
    body, headers, status = MALFORMED[name]
    conn = http.client.HTTPConnection("127.0.0.1", open_server.port, timeout=30)
    try:
        conn.request("POST", "/v1/predict", body, headers)
        response = conn.getresponse()
        text = response.read()
    finally:
        conn.close()
    assert response.status == status, text[:300]
    error = json.loads(text)["error"]
    assert error["status"] == status
    assert len(error["message"]) > 20
    _assert_alive(open_server)
