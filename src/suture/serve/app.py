"""The Starlette app of ``suture serve``: routes, authentication, limits, error bodies.

:func:`create_app` builds the app for one :class:`~suture.serve.config.ServeConfig`;
uvicorn runs :func:`create_app_from_env` in every worker.  The lifespan loads the bundle
(a model bundle, or a recommender bundle whose routes come from
:mod:`suture.serve.recommender`), opens the archive and starts the live drift window;
at shutdown it flushes the window and closes the archive after its last commit.

Every error answer has one shape::

    {"error": {"status": 422, "message": "one sentence: what, where, the fix",
               "errors": [{"index": 0, "field": "balance", "rule": "range",
                           "expected": "...", "received": -5, "message": "..."}]}}

``errors`` appears only where there are per-record problems; ``received`` is left out
for columns the contract marks sensitive.  A user's mistake is always a 4xx; a failure of
suture itself is a 500 whose body carries an ``id`` that the traceback on stderr also
carries, and a failing archive is a 503 (nothing was acknowledged).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import sys
import time
import traceback
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from suture.errors import (
    ConfigError,
    CorruptStateError,
    SchemaError,
    SourceError,
    SutureError,
    UnknownIdError,
)
from suture.serve.config import CONFIG_ENV, ServeConfig

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from starlette.types import Message, Receive, Scope, Send

    from suture.serve.metrics import Metrics

__all__ = [
    "EXEMPT",
    "ApiError",
    "ServiceParts",
    "bundle_identity",
    "create_app",
    "create_app_from_env",
    "error_response",
    "json_response",
    "preflight",
    "safe_url",
]

#: Routes that answer without a token (load balancers and orchestrators probe them).
EXEMPT = frozenset({"/healthz", "/readyz"})
_PASSWORD = re.compile(r"(://[^:/@]+):[^@/]*@")


# ----------------------------------------------------------------------------- answers


class ApiError(SutureError):
    """A request the service refuses: its HTTP status and one sentence.

    Parameters
    ----------
    status : int
    message : str
    errors : list of dict, optional
        Per-record problems (422).
    headers : dict, optional
    """

    def __init__(
        self,
        status: int,
        message: str,
        errors: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.errors = errors
        self.headers = dict(headers or {})


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """``body`` as JSON (orjson: NumPy scalars and datetimes included)."""
    content = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
    return Response(content, status, headers=headers, media_type="application/json")


def error_response(
    status: int,
    message: str,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response:
    """The one error body: ``{"error": {"status", "message", "errors"?, ...}}``."""
    error: dict[str, Any] = {"status": status, "message": message, **extra}
    if errors is not None:
        error["errors"] = errors
    return json_response({"error": error}, status, headers)


def safe_url(url: str) -> str:
    """An archive URL with its password replaced by ``***`` (for logs and answers)."""
    return _PASSWORD.sub(r"\1:***@", url)


def _log(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _internal(exc: BaseException, where: str) -> Response:
    """A 500 for a bug: an id in the answer, the same id and the traceback on stderr."""
    ident = uuid.uuid4().hex[:12]
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    _log(f"internal error {ident} in {where}:\n{trace.rstrip()}")
    return error_response(
        500,
        f"internal error {ident}: this is a bug in suture, not in the request; the server's "
        "log has its traceback under this id",
        id=ident,
    )


def _from_suture(exc: SutureError) -> Response:
    """The status a suture error maps to (a user's mistake is never a 5xx)."""
    if isinstance(exc, ApiError):
        return error_response(exc.status, str(exc), exc.errors, exc.headers)
    if isinstance(exc, UnknownIdError):
        return error_response(404, str(exc))
    if isinstance(exc, SchemaError):
        return error_response(422, str(exc))
    return error_response(400, str(exc))


# ----------------------------------------------------------------------------- bundles


def bundle_kind(path: str | Path) -> str:
    """``"model"`` or ``"recommender"``: what the bundle folder's manifest says it holds.

    Raises
    ------
    SourceError
        When the folder has no readable suture manifest, or holds another artifact.
    """
    manifest = Path(path) / "manifest.json"
    try:
        data = json.loads(manifest.read_bytes())
    except OSError:
        raise SourceError(
            f"{path} has no manifest.json; give a folder written by suture train or "
            "suture recommend fit"
        ) from None
    except ValueError:
        raise CorruptStateError(f"{manifest} is not JSON; the bundle is damaged") from None
    kinds = {"suture.model": "model", "suture.recommend": "recommender"}
    found = kinds.get(str(data.get("format"))) if isinstance(data, dict) else None
    if found is None:
        raise SourceError(
            f"{path} holds {data.get('format') if isinstance(data, dict) else 'something'!r}, "
            "not a model or recommender bundle; serve a folder written by suture train or "
            "suture recommend fit"
        )
    return found


def bundle_identity(path: str | Path) -> tuple[str, str]:
    """The bundle's kind and version: the first 12 hex digits of its manifest's SHA-256
    (the manifest holds every part's SHA-256, so the version names the whole bundle)."""
    kind = bundle_kind(path)
    digest = hashlib.sha256((Path(path) / "manifest.json").read_bytes()).hexdigest()
    return kind, digest[:12]


def preflight(config: ServeConfig) -> tuple[str, str]:
    """Load the bundle and open the archive once, before any worker starts.

    Returns
    -------
    (kind, version)

    Raises
    ------
    SutureError
        What a worker would otherwise fail on at startup, as one sentence.
    """
    kind, version = bundle_identity(config.bundle)
    if kind == "model":
        from suture.models.bundle import ModelBundle

        ModelBundle.read(config.bundle)
    else:
        from suture.recommend import Recommender

        Recommender.load(config.bundle)
    archive = _open_archive(config)
    if archive is not None:
        archive.close()
    return kind, version


def _open_archive(config: ServeConfig) -> Any:
    try:
        from suture.serve.archive import open_archive
    except ImportError:  # the archive lands in the same release; until then, none
        return None
    return open_archive(config.archive, synchronous=config.synchronous)


# ----------------------------------------------------------------------------- parts


@dataclass
class ServiceParts:
    """What a kind of bundle adds to the app: routes, their OpenAPI paths, hooks.

    ``startup`` and ``shutdown`` callables may be plain or async; shutdown ones run in
    reverse order.
    """

    routes: list[BaseRoute] = field(default_factory=list)
    openapi_paths: dict[str, Any] = field(default_factory=dict)
    startup: list[Callable[[], Any]] = field(default_factory=list)
    shutdown: list[Callable[[], Any]] = field(default_factory=list)


async def _call(hook: Callable[[], Any]) -> None:
    result = hook()
    if asyncio.iscoroutine(result):
        await result


# ----------------------------------------------------------------------------- the service


class Service:
    """One worker's state: the loaded bundle, the scoring path, archive, window, metrics."""

    def __init__(self, config: ServeConfig) -> None:
        from suture.serve.metrics import Metrics

        self.config = config
        self.worker = uuid.uuid4().hex[:12]
        self.kind, self.version = bundle_identity(config.bundle)
        self.started = time.time()
        self.started_monotonic = time.monotonic()
        self.ready = False
        self.metrics: Metrics = Metrics()
        self.archive: Any = None
        self.window: Any = None
        self.predictor: Any = None
        self.parts = ServiceParts()
        self.openapi: dict[str, Any] = {}
        self.latencies: deque[tuple[float, float]] = deque(maxlen=50_000)
        self.counts: Counter[str] = Counter()

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request (metrics and the ``/v1/stats`` figures)."""
        self.metrics.request(route, method, status, seconds)
        self.counts["requests"] += 1
        self.latencies.append((time.monotonic(), seconds))

    def stats(self) -> dict[str, Any]:
        """The ``/v1/stats`` figures of this worker."""
        import numpy as np

        now = time.monotonic()
        recent = np.array([s for t, s in self.latencies if now - t <= 60.0], dtype=np.float64)
        span = min(60.0, max(now - (self.started_monotonic), 1e-9))
        p50, p99 = (
            (float(np.percentile(recent, 50)) * 1e3, float(np.percentile(recent, 99)) * 1e3)
            if recent.size
            else (None, None)
        )
        return {
            "status": "ok" if self.ready else "starting",
            "kind": self.kind,
            "model_version": self.version,
            "worker": self.worker,
            "uptime_s": round(time.time() - self.started, 3),
            "requests": self.counts["requests"],
            "rate_1m": round(recent.size / span, 3),
            "latency_ms": {"p50": p50, "p99": p99},
            "predictions": self.counts["predictions"],
            "invalid": self.counts["invalid"],
        }

    async def start(self) -> None:
        """Load the bundle, open the archive, start the window and the kind's parts."""
        config = self.config
        self.archive = _open_archive(config)
        if self.kind == "model":
            from suture.models.bundle import ModelBundle

            bundle = ModelBundle.read(config.bundle)
            self.predictor = Predictor(bundle, self)
            self.metrics = self.predictor.metrics
            self.window = self.predictor.open_window()
        else:
            self.parts = _recommender_parts(self)
        self.openapi = _openapi(self)
        for hook in self.parts.startup:
            await _call(hook)
        self.ready = True

    async def stop(self) -> None:
        """Stop taking work: parts' hooks, then the window, then the archive."""
        self.ready = False
        for hook in reversed(self.parts.shutdown):
            await _call(hook)
        if self.window is not None:
            self.window.close()
        if self.archive is not None:
            self.archive.close()
        self.metrics.close()


def _recommender_parts(service: Service) -> ServiceParts:
    try:
        from suture.serve.recommender import recommender_service
    except ImportError:
        return ServiceParts()
    from suture.recommend import Recommender

    recommender = Recommender.load(service.config.bundle)
    parts: ServiceParts = recommender_service(recommender, service.archive, service.config)
    return parts


def _openapi(service: Service) -> dict[str, Any]:
    from suture.serve.openapi import openapi_document

    contract = None if service.predictor is None else service.predictor.contract
    task = None if service.predictor is None else service.predictor.task
    return openapi_document(
        service.config,
        version=service.version,
        contract=contract,
        task=task,
        extra_paths=service.parts.openapi_paths,
    )


# ----------------------------------------------------------------------------- scoring


def _unit_of(contract: Any, name: str) -> str | None:
    for col in (*contract.columns, *contract.derived):
        if col.name == name:
            unit = getattr(col, "unit", None)
            return str(unit) if unit else None
    return None


class Predictor:
    """The scoring path of a model bundle, the objects batch scoring uses.

    Each record is checked by the bundle's contract (every violation reported), its
    feature row made by the pipeline's ``transform_record``; the rows of one request are
    stacked and scored together by the batch :class:`~suture.models.score.Scorer`
    (model link scores, calibrator, contributions summed per input column), so an
    answer equals ``suture score`` on the same rows.
    """

    def __init__(self, bundle: Any, service: Service) -> None:
        from suture.models.score import Scorer
        from suture.schema.coerce import compile_record
        from suture.serve.metrics import Metrics

        self.bundle = bundle
        self.service = service
        self.task = bundle.task
        self.contract = bundle.scoring_contract
        self.scorer = Scorer(bundle.task, bundle.pipeline, bundle.model, bundle.calibrator)
        self.coercer = compile_record(self.contract)
        self.transform = bundle.pipeline.transform_record
        self.classes = list(bundle.task.classes)
        self.sensitive = frozenset(
            c.name for c in bundle.contract.columns if getattr(c, "sensitive", False)
        )
        self.key: str | None = getattr(bundle.contract, "key", None)
        self.inputs = list(self.scorer.inputs)
        self.units = [_unit_of(self.contract, name) for name in self.inputs]
        self.explain = min(service.config.explain, len(self.inputs))
        self.redactor = self._redactor()
        buckets = self._value_buckets() if self.task.kind == "regression" else None
        self.metrics = Metrics(value_buckets=buckets)

    def _redactor(self) -> Any:
        try:
            from suture.serve.redact import Redactor
        except ImportError:
            return None
        config = self.service.config
        return Redactor(self.bundle.contract, config.sensitive, config.hash_key.encode())

    def _value_buckets(self) -> list[float]:
        import numpy as np

        target = next((c for c in self.bundle.contract.columns if c.name == self.task.target), None)
        low = getattr(target, "min", None)
        high = getattr(target, "max", None)
        if isinstance(low, int | float) and isinstance(high, int | float) and high > low:
            return [float(v) for v in np.linspace(float(low), float(high), 21)]
        return [float(v) for v in (-1e6, -1e3, -10, -1, 0, 1, 10, 1e3, 1e6)]

    def open_window(self) -> Any:
        """The live drift window of this worker, started (None until it is available)."""
        try:
            from suture.serve.window import LiveWindow
        except ImportError:
            return None
        service = self.service
        window = LiveWindow(
            self.contract,
            self.bundle.profile,
            service.archive,
            worker=service.worker,
            spec=service.config.window,
        )
        window.start()
        return window

    # -- checking ----------------------------------------------------------------------
    def check(self, record: Mapping[str, Any]) -> tuple[dict[str, Any] | None, list[Any]]:
        """The coerced record, or None and every violation (the contract's objects)."""
        checker = getattr(self.coercer, "check", None)
        if checker is not None:
            coerced, violations = checker(record)
            return coerced, list(violations)
        from suture.errors import RecordError

        try:
            return self.coercer(record), []
        except RecordError as exc:
            return None, [exc]

    def problem(self, index: int, violation: Any) -> dict[str, Any]:
        """One violation as an answer's ``errors`` item (never a sensitive value)."""
        name = str(getattr(violation, "field", ""))
        rule = str(getattr(violation, "rule", getattr(violation, "kind", "")))
        message = str(getattr(violation, "message", violation))
        expected = getattr(violation, "expected", None)
        if expected is None:
            expected = message.split(": ", 1)[-1].split(", got ", 1)[0]
        item: dict[str, Any] = {"index": index, "field": name, "rule": rule}
        item["expected"] = str(expected)
        if name in self.sensitive:
            item["message"] = f"column {name!r} in the record: {expected} (the value is sensitive)"
        else:
            item["received"] = _jsonable(getattr(violation, "received", None))
            item["message"] = message
        return item

    # -- scoring -----------------------------------------------------------------------
    def score(self, coerced: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], Any]:
        """Outputs (prediction and probabilities or value, explanation) of valid records,
        and their feature rows ``(n, features)``."""
        import numpy as np

        X = np.vstack([self.transform(c) for c in coerced])
        scores = np.asarray(self.scorer.model.decision_function(X), dtype=np.float64)
        outputs = self._outputs(scores)
        if self.explain:
            per_column, base = self.scorer.per_column(X)
            order = self.scorer.top(per_column, self.explain)
            rows = np.arange(len(coerced))[:, None]
            amounts = per_column[rows, order].tolist()
            bases = base.reshape(len(coerced), -1)[:, 0].tolist()
            for i, out in enumerate(outputs):
                record = coerced[i]
                out["explanation"] = [
                    {
                        "column": self.inputs[j],
                        "value": _jsonable(record.get(self.inputs[j])),
                        "unit": self.units[j],
                        "contribution": amount,
                    }
                    for j, amount in zip(order[i].tolist(), amounts[i], strict=True)
                ]
                out["explanation_base"] = bases[i]
        return outputs, X

    def _outputs(self, scores: Any) -> list[dict[str, Any]]:
        import numpy as np

        kind = self.task.kind
        if kind == "regression":
            return [{"prediction": v} for v in scores.reshape(-1).tolist()]
        p = self.scorer.probabilities(scores)
        classes = self.classes
        if kind == "binary":
            positive = p[:, 1]
            codes = (positive >= 0.5).astype(np.int64).tolist()
            return [
                {"prediction": classes[c], "probability": v}
                for c, v in zip(codes, positive.tolist(), strict=True)
            ]
        codes = np.argmax(p, axis=1).tolist()
        return [
            {"prediction": classes[c], "probabilities": dict(zip(classes, row, strict=True))}
            for c, row in zip(codes, p.tolist(), strict=True)
        ]

    def records(
        self,
        received: Sequence[Mapping[str, Any]],
        coerced: Sequence[Mapping[str, Any]],
        outputs: Sequence[dict[str, Any]],
        X: Any,
    ) -> list[Any]:
        """The archive's records of scored requests (sensitive values redacted)."""
        from suture.serve.archive import PredictionRecord, new_prediction_id

        now = time.time()
        redact = self.redactor.record if self.redactor is not None else dict
        version, worker = self.service.version, self.service.worker
        rows = X.tolist()
        out = []
        for raw, typed, answer, features in zip(received, coerced, outputs, rows, strict=True):
            output = {k: v for k, v in answer.items() if k not in ("explanation",)}
            explanation = [
                {**e, "value": "<sensitive>"} if e["column"] in self.sensitive else e
                for e in answer.get("explanation", [])
            ]
            key = typed.get(self.key) if self.key else None
            out.append(
                PredictionRecord(
                    id=new_prediction_id(),
                    ts=now,
                    model_version=version,
                    worker=worker,
                    key=None if key is None else str(key),
                    received=redact(raw),
                    coerced=_jsonable(redact(typed)),
                    features=features,
                    output=output,
                    explanation=explanation,
                )
            )
        return out


def _jsonable(value: Any) -> Any:
    """A value as JSON can hold it: dates and times as ISO 8601 text, sets as lists."""
    import datetime as dt

    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return str(value)


# ----------------------------------------------------------------------------- requests

_JSON_TYPES = frozenset({"application/json"})


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "an array"
    return "an object"


async def read_json(request: Request, limit: int) -> Any:
    """The request's JSON body, refused early: 415 not JSON, 413 too big, 400 malformed.

    The size is checked against ``Content-Length`` before reading, and again while the
    body streams in (a chunked body), so an oversized body is never read whole.
    """
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media not in _JSON_TYPES:
        shown = f"{media!r}" if media else "no Content-Type"
        raise ApiError(
            415,
            f"the body must be JSON: send Content-Type: application/json (got {shown})",
        )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, _too_big(int(declared), limit))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, _too_big(size, limit, streamed=True))
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body.strip():
        raise ApiError(400, "the body is empty; send one JSON record or an array of records")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(
            400,
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno} "
            f"(character {exc.pos}); send one JSON record or an array of records",
        ) from None


def _too_big(size: int, limit: int, *, streamed: bool = False) -> str:
    what = f"more than {limit:,}" if streamed else f"{size:,}"
    return (
        f"the body is {what} bytes, over the limit of {limit:,} (--max-body); send fewer "
        "records per request"
    )


def _flag(request: Request, name: str) -> bool:
    text = request.query_params.get(name)
    if text is None:
        return False
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes", ""):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ApiError(400, f"?{name}={text!r}: expected true or false")


def _records(body: Any, max_batch: int) -> tuple[list[dict[str, Any]], bool]:
    """The records of a predict body and whether it was one record (not an array)."""
    if isinstance(body, dict):
        return [body], True
    if not isinstance(body, list):
        raise ApiError(
            422,
            f"the body is {_type_name(body)}; send one record (a JSON object of field: value) "
            "or an array of records",
        )
    if not body:
        raise ApiError(422, "the array of records is empty; send at least one record")
    if len(body) > max_batch:
        raise ApiError(
            413,
            f"the batch has {len(body):,} records, over the limit of {max_batch:,} "
            "(--max-batch); split it into smaller requests",
        )
    for i, item in enumerate(body):
        if not isinstance(item, dict):
            raise ApiError(
                422,
                f"record {i} of the array is {_type_name(item)}; every record must be a JSON "
                "object of field: value",
            )
    return body, False


# ----------------------------------------------------------------------------- handlers


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _predictor(request: Request) -> Predictor:
    service = _service(request)
    if service.predictor is None:
        raise ApiError(
            404,
            f"{request.url.path} serves model bundles; this service serves a {service.kind} bundle",
        )
    predictor: Predictor = service.predictor
    return predictor


def _archive(service: Service) -> Any:
    if service.archive is None:
        raise ApiError(503, "the archive is not available in this build; nothing was archived")
    return service.archive


async def predict(request: Request) -> Response:
    """``POST /v1/predict``: one record or an array; see docs/serve.md."""
    service = _service(request)
    predictor = _predictor(request)
    config = service.config
    body = await read_json(request, config.max_body_bytes)
    whole = _flag(request, "all_or_nothing")
    records, single = _records(body, config.max_batch)
    checked = [predictor.check(r) for r in records]
    problems = {i: v for i, (_, v) in enumerate(checked) if v}
    if problems:
        _count_rejections(service, predictor, problems)
    if problems and (single or whole):
        errors = [predictor.problem(i, v) for i, vs in problems.items() for v in vs]
        raise ApiError(422, _refusal(single, len(problems), len(records), errors), errors)
    valid = [i for i in range(len(records)) if i not in problems]
    answers: list[dict[str, Any]] = [{} for _ in records]
    if valid:
        coerced = [c for c, _ in checked if c is not None]
        outputs, X = predictor.score(coerced)
        ids = await _archive_write(
            service, predictor, [records[i] for i in valid], coerced, outputs, X
        )
        _count_predictions(service, predictor, outputs)
        for i, ident, out in zip(valid, ids, outputs, strict=True):
            answers[i] = {"id": ident, **out, "model_version": service.version}
    for i, violations in problems.items():
        answers[i] = {"index": i, "errors": [predictor.problem(i, v) for v in violations]}
    if single:
        return json_response(answers[0])
    return json_response({"model_version": service.version, "predictions": answers})


def _refusal(single: bool, bad: int, total: int, errors: list[dict[str, Any]]) -> str:
    if single:
        first = errors[0]["message"]
        more = len(errors) - 1
        rest = f"; {more} more problem{'s' if more > 1 else ''} in errors" if more else ""
        return f"the record breaks the model's contract: {first}{rest}"
    return (
        f"{bad} of {total} records break the model's contract and all_or_nothing=true, so "
        "none was scored; errors lists every problem (index is the record's position)"
    )


async def _archive_write(
    service: Service,
    predictor: Predictor,
    received: list[dict[str, Any]],
    coerced: list[dict[str, Any]],
    outputs: list[dict[str, Any]],
    X: Any,
) -> list[str | None]:
    if service.archive is None:
        return [None for _ in outputs]
    rows = predictor.records(received, coerced, outputs, X)
    start = time.perf_counter()
    try:
        await service.archive.write(rows)
    except Exception as exc:  # the archive is down: nothing is acknowledged
        _log(f"archive write failed ({type(exc).__name__}: {exc}); answered 503")
        raise ApiError(
            503,
            f"the archive {safe_url(service.archive.url)} could not record the predictions "
            f"({type(exc).__name__}); nothing was scored for good: retry later",
            headers={"Retry-After": "1"},
        ) from None
    service.metrics.commit.observe(time.perf_counter() - start)
    if service.window is not None:
        for typed in coerced:
            service.window.add(typed)
    return [r.id for r in rows]


def _count_predictions(
    service: Service,
    predictor: Predictor,
    outputs: list[dict[str, Any]],
) -> None:
    service.counts["predictions"] += len(outputs)
    if predictor.task.kind == "regression":
        service.metrics.predicted({}, [o["prediction"] for o in outputs])
    else:
        service.metrics.predicted(Counter(str(o["prediction"]) for o in outputs))


def _count_rejections(
    service: Service, predictor: Predictor, problems: Mapping[int, list[Any]]
) -> None:
    service.counts["invalid"] += len(problems)
    broken: Counter[tuple[str, str]] = Counter()
    for violations in problems.values():
        for v in violations:
            broken[
                (str(getattr(v, "field", "")), str(getattr(v, "rule", getattr(v, "kind", ""))))
            ] += 1
        if service.window is not None:
            service.window.rejected(violations)
    service.metrics.rejected(broken)


_ID = re.compile(r"^[0-9a-f]{32}$")


async def prediction(request: Request) -> Response:
    """``GET /v1/predictions/{id}``: the archived decision."""
    service = _service(request)
    ident = request.path_params["id"]
    archive = _archive(service)
    found = archive.get(ident) if _ID.match(ident) else None
    if found is None:
        shown = ident if len(ident) <= 64 else ident[:61] + "..."
        raise ApiError(
            404,
            f"no prediction {shown!r} in the archive; ids are the 32 hex digits a predict "
            "answer gave (it may have been pruned by --retention)",
        )
    return json_response(found)


async def predictions(request: Request) -> Response:
    """``GET /v1/predictions?limit=20``: the newest archived decisions."""
    service = _service(request)
    limit = _int_param(request, "limit", 20, 1, 1000)
    return json_response({"predictions": _archive(service).recent(limit)})


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ApiError(400, f"?{name}={text!r}: expected a whole number from {low} to {high}")
    return value


async def drift(request: Request) -> Response:
    """``GET /v1/drift``: the live window against the training profile."""
    service = _service(request)
    _predictor(request)
    if service.window is None:
        raise ApiError(503, "the live drift window is not available in this build")
    return json_response(service.window.drift())


async def stats(request: Request) -> Response:
    """``GET /v1/stats``: the figures the dashboard shows."""
    return json_response(_service(request).stats())


async def metrics(request: Request) -> Response:
    """``GET /metrics``: Prometheus text (every worker's, added up)."""
    from suture.serve.metrics import CONTENT_TYPE

    service = _service(request)
    if service.window is not None:
        service.metrics.set_drift(service.window.scores())
    return Response(service.metrics.exposition(), media_type=CONTENT_TYPE)


async def healthz(request: Request) -> Response:
    """``GET /healthz``: the process answers."""
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    """``GET /readyz``: 200 once the bundle is loaded and the archive open, else 503."""
    service: Service | None = getattr(request.app.state, "service", None)
    if service is None or not service.ready:
        return error_response(503, "not ready: the bundle is loading or the service is stopping")
    return json_response(
        {"status": "ready", "kind": service.kind, "model_version": service.version}
    )


async def openapi(request: Request) -> Response:
    """``GET /openapi.json``: the OpenAPI 3.1 document (request schema from the contract)."""
    return json_response(_service(request).openapi)


# ----------------------------------------------------------------------------- the front


class Front:
    """The outermost layer: bearer token, metrics, and no request ever left unanswered.

    Pure ASGI (no per-request task or body copy): it checks the token before anything
    reads the body, times the request, and turns an exception that escaped a handler
    into a 500 with an id (the traceback goes to stderr).
    """

    def __init__(self, app: Any, service: Service) -> None:
        self.app = app
        self.service = service
        token = service.config.token
        self.expected = None if token is None else f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        state = {"status": 500, "started": False}

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                state["started"] = True
            await send(message)

        try:
            if self.expected is not None and not self._allowed(scope):
                await _unauthorized(scope)(scope, receive, sending)
            else:
                await self.app(scope, receive, sending)
        except Exception as exc:
            if state["started"]:
                raise
            await _internal(exc, f"{scope['method']} {scope['path']}")(scope, receive, sending)
        finally:
            route = scope.get("suture.route", "unmatched")
            self.service.observe(
                route, scope["method"], int(state["status"]), time.perf_counter() - start
            )

    def _allowed(self, scope: Scope) -> bool:
        path: str = scope["path"]
        if path in EXEMPT or _public(path):
            return True
        expected = self.expected
        assert expected is not None
        for name, value in scope["headers"]:
            if name == b"authorization":
                return hmac.compare_digest(value, expected)
        return False


def _public(path: str) -> bool:
    """The dashboard's page and its static files hold no data (their data routes do)."""
    return path == "/" or path.startswith("/static/")


def _unauthorized(scope: Scope) -> Response:
    has = any(name == b"authorization" for name, _ in scope["headers"])
    message = (
        "the bearer token is wrong; send Authorization: Bearer <the token the service was "
        "started with>"
        if has
        else "this route needs a token: send Authorization: Bearer <token>"
    )
    return error_response(401, message, headers={"WWW-Authenticate": 'Bearer realm="suture"'})


Handler = Callable[[Request], Awaitable[Response]]


def _labelled(template: str, handler: Handler) -> Handler:
    """``handler`` that names its route template for the metrics and maps suture errors
    to their status (the one place exceptions become answers)."""

    async def endpoint(request: Request) -> Response:
        request.scope["suture.route"] = template
        try:
            return await handler(request)
        except SutureError as exc:
            return _from_suture(exc)

    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint


def route(template: str, handler: Handler, methods: Sequence[str] = ("GET",)) -> Route:
    """A route whose errors come back in the service's one error shape."""
    return Route(template, _labelled(template, handler), methods=list(methods))


def _routes() -> list[BaseRoute]:
    return [
        route("/v1/predict", predict, ["POST"]),
        route("/v1/predictions/{id}", prediction),
        route("/v1/predictions", predictions),
        route("/v1/drift", drift),
        route("/v1/stats", stats),
        route("/metrics", metrics),
        route("/healthz", healthz),
        route("/readyz", readyz),
        route("/openapi.json", openapi),
    ]


def _dashboard() -> list[BaseRoute]:
    try:
        from suture.serve.dashboard import dashboard_routes
    except ImportError:
        return []
    found: list[BaseRoute] = dashboard_routes()
    return found


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"no route {request.url.path}; see /openapi.json for the routes"
    elif exc.status_code == 405:
        allowed = exc.headers.get("Allow", "") if exc.headers else ""
        use = allowed or "another method"
        message = f"{request.method} is not allowed on {request.url.path}; use {use}"
    else:
        message = str(exc.detail)
    return error_response(exc.status_code, message, headers=exc.headers)


# ----------------------------------------------------------------------------- the app


def create_app(config: ServeConfig) -> Starlette:
    """The service for ``config``: every route, the lifespan, the error shape.

    Parameters
    ----------
    config : ServeConfig

    Returns
    -------
    starlette.applications.Starlette
        Wrapped so that the token check and the metrics see every request.
    """
    service = Service(config)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await service.start()
        for extra in service.parts.routes:
            app.router.routes.insert(0, extra)
        try:
            yield
        finally:
            await service.stop()

    app = Starlette(
        routes=[*_routes(), *_dashboard()],
        middleware=[Middleware(Front, service=service)],
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error},
    )
    app.state.service = service
    return app


def create_app_from_env() -> Starlette:
    """The app of the configuration in :data:`~suture.serve.config.CONFIG_ENV` (uvicorn's
    factory in every worker).

    Raises
    ------
    ConfigError
        When the variable is missing (the app is started by ``suture serve``).
    """
    import os

    text = os.environ.get(CONFIG_ENV)
    if not text:
        raise ConfigError(f"{CONFIG_ENV} is not set; start the service with suture serve BUNDLE")
    return create_app(ServeConfig.from_json(text))
