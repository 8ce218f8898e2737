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
import dataclasses
import gc
import hashlib
import hmac
import json
import os
import re
import sys
import time
import traceback
import uuid
from collections import deque
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

    from suture.serve.archive import Archive
    from suture.serve.metrics import Metrics, Totals
    from suture.serve.predict import Predictor
    from suture.serve.window import LiveWindow

__all__ = [
    "EXEMPT",
    "WORKER_ENV",
    "ApiError",
    "ServiceParts",
    "archive_down",
    "archive_of",
    "bundle_identity",
    "create_app",
    "create_app_from_env",
    "direct_routes",
    "error_response",
    "json_response",
    "log",
    "preflight",
    "route",
    "safe_url",
    "service_of",
]

#: Routes that answer without a token (load balancers and orchestrators probe them).
EXEMPT = frozenset({"/healthz", "/readyz"})
#: The worker id the supervisor gives a worker process (else the worker makes one).
WORKER_ENV = "SUTURE_SERVE_WORKER"
#: How often the archive is pruned when a retention is set.
PRUNE_SECONDS = 3600.0
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
    """``body`` as JSON (orjson: NumPy scalars and datetimes as ISO 8601; other objects as
    their text)."""
    content = orjson.dumps(
        body, default=str, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
    )
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


def log(text: str) -> None:
    """One line (or a traceback) on the server's stderr, flushed at once."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _internal(exc: BaseException, where: str) -> Response:
    """A 500 for a bug: an id in the answer, the same id and the traceback on stderr."""
    ident = uuid.uuid4().hex[:12]
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    log(f"internal error {ident} in {where}:\n{trace.rstrip()}")
    return error_response(
        500,
        f"internal error {ident}: this is a bug in suture, not in the request; the server's "
        "log has its traceback under this id",
        id=ident,
    )


def archive_down(archive: Archive, exc: Exception, what: str, lost: str) -> ApiError:
    """The 503 of an archive that could not commit ``what`` (logged on stderr); ``lost``
    says what did not happen, e.g. ``"nothing was scored for good"``."""
    log(f"archive write failed ({type(exc).__name__}: {exc}); answered 503")
    return ApiError(
        503,
        f"the archive {safe_url(archive.url)} could not record the {what} "
        f"({type(exc).__name__}); {lost}: retry later",
        headers={"Retry-After": "1"},
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


def preflight(config: ServeConfig) -> tuple[ServeConfig, str, str]:
    """Load the bundle and open the archive once, before any worker starts.

    The hash key of sensitive columns is settled here too
    (:func:`suture.serve.redact.resolve_hash_key`), so that every worker hashes alike.

    Returns
    -------
    (config, kind, version)
        The configuration with its hash key, the bundle's kind and version.

    Raises
    ------
    SutureError
        What a worker would otherwise fail on at startup, as one sentence.
    """
    kind, version = bundle_identity(config.bundle)
    if kind == "model":
        from suture.models.bundle import ModelBundle
        from suture.serve.redact import Redactor, resolve_hash_key

        bundle = ModelBundle.read(config.bundle)
        if bundle.contract.sensitive:
            key = resolve_hash_key(config.archive, config.hash_key, mode=config.sensitive)
            config = dataclasses.replace(config, hash_key=key)
        Redactor(bundle.contract, config.sensitive, config.hash_key.encode())
    else:
        from suture.recommend import Recommender

        Recommender.load(config.bundle)
    archive = _open_archive(config)
    try:
        if kind == "model":
            from suture.serve.window import LiveWindow

            # refuses a bundle it cannot watch, as one sentence instead of a dead worker
            LiveWindow.for_bundle(bundle, archive, worker="preflight", spec=config.window)
    finally:
        archive.close()
    return config, kind, version


def _open_archive(config: ServeConfig) -> Archive:
    from suture.serve.archive import open_archive

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
        self.worker = os.environ.get(WORKER_ENV) or uuid.uuid4().hex[:12]
        self.kind, self.version = bundle_identity(config.bundle)
        self.started = time.time()
        self.ready = False
        self.metrics: Metrics = Metrics()
        self.archive: Archive | None = None
        self.window: LiveWindow | None = None
        self.predictor: Predictor | None = None
        self.parts = ServiceParts()
        self.pruning: asyncio.Task[None] | None = None
        self.openapi: dict[str, Any] = {}
        self.snapshots: deque[Totals] = deque(maxlen=4096)
        #: Outcomes arrived since the realized-performance gauges were computed.
        self.realized_stale = False
        #: The routes :class:`Front` answers without the router (see :func:`direct_routes`);
        #: filled once the lifespan has added every route.
        self.direct: dict[str, Route] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        self.metrics.request(route, method, status, seconds)

    def stats(self) -> dict[str, Any]:
        """The ``/v1/stats`` figures: every worker's counts, the last minute's rate and
        latency (quantiles interpolated in the latency histogram's buckets)."""
        from suture.serve.metrics import quantile

        now = self.metrics.totals()
        snapshots = self.snapshots
        if not snapshots:
            snapshots.append(now)
        while len(snapshots) > 1 and snapshots[1].at <= now.at - 60.0:
            snapshots.popleft()  # keep the newest snapshot at least a minute old
        recent = now.minus(snapshots[0])
        snapshots.append(now)
        p50, p99 = quantile(recent.latency, 0.5), quantile(recent.latency, 0.99)
        return {
            "status": "ok" if self.ready else "starting",
            "kind": self.kind,
            "model_version": self.version,
            "worker": self.worker,
            "workers": self.config.workers,
            "uptime_s": round(time.time() - self.started, 3),
            "requests": int(now.requests),
            "rate_1m": round(recent.requests / recent.at, 3) if recent.at > 0 else 0.0,
            "latency_ms": {
                "p50": None if p50 is None else round(p50 * 1e3, 4),
                "p99": None if p99 is None else round(p99 * 1e3, 4),
            },
            "predictions": int(now.predictions),
            "invalid": int(now.invalid),
        }

    async def start(self) -> None:
        """Load the bundle, open the archive, start the window and the kind's parts."""
        config = self.config
        self.archive = _open_archive(config)
        if self.kind == "model":
            from suture.models.bundle import ModelBundle
            from suture.serve.predict import Predictor, refresh_realized

            bundle = ModelBundle.read(config.bundle)
            self.predictor = Predictor(bundle, self)
            self.archive.set_feature_names(self.version, list(bundle.pipeline.feature_names_))
            self.metrics = self.predictor.metrics
            self.window = self.predictor.open_window()
            await asyncio.to_thread(refresh_realized, self)
        else:
            self.parts = _recommender_parts(self)
        self.openapi = _openapi(self)
        self.snapshots.append(self.metrics.totals())
        for hook in self.parts.startup:
            await _call(hook)
        if config.retention_days is not None:
            self.pruning = asyncio.create_task(self._prune_every(PRUNE_SECONDS))
        _freeze_heap()
        self.ready = True

    async def _prune_every(self, seconds: float) -> None:
        """Delete archived decisions older than the retention, now and every ``seconds``."""
        days = self.config.retention_days
        assert days is not None and self.archive is not None
        while True:
            try:
                gone = await asyncio.to_thread(self.archive.prune, time.time() - days * 86400.0)
            except Exception as exc:  # a failed prune must not stop the service; retried
                log(f"pruning the archive failed ({type(exc).__name__}: {exc}); retried later")
            else:
                if gone:
                    plural = "s" if gone != 1 else ""
                    log(f"pruned {gone:,} archived decision{plural} older than {days:g} days")
            await asyncio.sleep(seconds)

    async def stop(self) -> None:
        """Stop taking work: parts' hooks, then the window, then the archive."""
        self.ready = False
        if self.pruning is not None:
            self.pruning.cancel()
        for hook in reversed(self.parts.shutdown):
            await _call(hook)
        if self.window is not None:
            self.window.close()
        if self.archive is not None:
            self.archive.close()
        self.metrics.close()
        gc.unfreeze()  # what is left is collected at exit (no leak warnings from extensions)


def _freeze_heap() -> None:
    """Collect once, then leave every object alive after start-up (the bundle, the
    modules, the window's sketches) out of later collections (:func:`gc.freeze`).

    Without it a full collection walks all of them, holding the GIL while every
    request in flight waits: 47 to 93 ms measured in each worker under serve_bench's
    open loop (docs/serve.md).  Frozen, a full collection walks only what was allocated
    since (0.8 to 2.8 ms measured).
    """
    gc.collect()
    gc.freeze()


def _recommender_parts(service: Service) -> ServiceParts:
    from suture.recommend import Recommender
    from suture.serve.recommender import recommender_service

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


# ----------------------------------------------------------------------------- handlers


def service_of(request: Request) -> Service:
    """The worker's :class:`Service` a request is answered by."""
    service: Service = request.app.state.service
    return service


def archive_of(service: Service) -> Archive:
    """The open archive (503 while the service starts or stops)."""
    if service.archive is None:
        raise ApiError(503, "the service is starting or stopping; retry in a moment")
    return service.archive


_ID = re.compile(r"^[0-9a-f]{32}$")


async def prediction(request: Request) -> Response:
    """``GET /v1/predictions/{id}``: the archived decision."""
    service = service_of(request)
    ident = request.path_params["id"]
    archive = archive_of(service)
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
    service = service_of(request)
    limit = _int_param(request, "limit", 20, 1, 1000)
    return json_response({"predictions": archive_of(service).recent(limit)})


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
    service = service_of(request)
    if service.predictor is None:
        raise ApiError(404, f"{request.url.path} serves model bundles; this is a {service.kind}")
    if service.window is None:
        raise ApiError(503, "the live drift window is not available in this build")
    # Off the loop: the answer may need the window's lock, which a fold holds while
    # it hands its steps to this very loop.
    return json_response(await asyncio.to_thread(service.window.drift))


async def stats(request: Request) -> Response:
    """``GET /v1/stats``: the figures the dashboard shows."""
    return json_response(service_of(request).stats())


async def metrics(request: Request) -> Response:
    """``GET /metrics``: Prometheus text (every worker's, added up)."""
    from suture.serve.metrics import CONTENT_TYPE

    service = service_of(request)
    if service.window is not None:
        service.metrics.set_drift(await asyncio.to_thread(service.window.scores))
    if service.realized_stale:
        from suture.serve.predict import refresh_realized

        await asyncio.to_thread(refresh_realized, service)
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
    return json_response(service_of(request).openapi)


# ----------------------------------------------------------------------------- the front


class Front:
    """The outermost layer: bearer token, metrics, and no request ever left unanswered.

    Pure ASGI (no per-request task or body copy): it checks the token before anything
    reads the body, times the request, and turns an exception that escaped a handler
    into a 500 with an id (the traceback goes to stderr).  A request for one of the
    service's own routes with a fixed path (``POST /v1/predict``, ...) and a method the
    route takes goes straight to its handler (:func:`direct_routes`); everything else
    (path parameters, a wrong method, an unknown path, the dashboard's files) goes
    through Starlette's router, which answers those the same way.
    """

    def __init__(self, app: Any, service: Service) -> None:
        self.app = app
        self.service = service
        token = service.config.token
        self.expected = None if token is None else token.encode()

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
            elif (direct := self.service.direct.get(scope["path"])) is not None and (
                scope["method"] in direct.methods  # type: ignore[operator]
            ):
                await _answer_directly(direct, scope, receive, sending)
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
                scheme, _, given = value.partition(b" ")
                # the scheme is case-insensitive (RFC 9110 section 11.1); the token is not
                return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), expected)
        return False


async def _answer_directly(route: Route, scope: Scope, receive: Receive, send: Send) -> None:
    """What the router would do for a full match of ``route`` (a :func:`route` handler:
    suture's errors are already answers), without matching every route's pattern and
    wrapping the call in two more exception layers; an ``HTTPException`` gets the
    answer the app's handler gives it."""
    scope["route"] = route
    scope["endpoint"] = route.endpoint
    scope["path_params"] = {}
    request = Request(scope, receive, send)
    try:
        response = await route.endpoint(request)
    except HTTPException as exc:
        response = await _http_error(request, exc)
    await response(scope, receive, send)


def direct_routes(routes: Sequence[BaseRoute]) -> dict[str, Route]:
    """The routes :class:`Front` may answer without the router, by exact path.

    Only the leading run of :func:`route` routes with a fixed path (no ``{param}``),
    up to the first other kind of route (a mount could claim any path behind it); a path
    that two routes share is left to the router, which picks by method.
    """
    table: dict[str, Route] = {}
    shared: set[str] = set()
    for r in routes:
        if not isinstance(r, Route) or not getattr(r.endpoint, _DIRECT, False):
            break
        if r.param_convertors or not r.methods:
            continue
        if r.path in table or r.path in shared:
            shared.add(r.path)
            table.pop(r.path, None)
            continue
        table[r.path] = r
    return table


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
    setattr(endpoint, _DIRECT, True)
    return endpoint


#: Marks the endpoints :func:`route` makes (they turn suture's errors into answers).
_DIRECT = "suture_direct"


def route(template: str, handler: Handler, methods: Sequence[str] = ("GET",)) -> Route:
    """A route whose errors come back in the service's one error shape."""
    return Route(template, _labelled(template, handler), methods=list(methods))


def _routes(kind: str) -> list[BaseRoute]:
    """The routes of a ``kind`` bundle (a recommender's own come from its parts)."""
    from suture.serve.predict import outcomes, performance, predict

    model = [
        route("/v1/predict", predict, ["POST"]),
        route("/v1/outcomes", outcomes, ["POST"]),
        route("/v1/performance", performance),
        route("/v1/predictions/{id}", prediction),
        route("/v1/predictions", predictions),
        route("/v1/drift", drift),
    ]
    return [
        *(model if kind == "model" else []),
        route("/v1/stats", stats),
        route("/metrics", metrics),
        route("/healthz", healthz),
        route("/readyz", readyz),
        route("/openapi.json", openapi),
    ]


def _dashboard() -> list[BaseRoute]:
    from suture.serve.dashboard import dashboard_routes

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
        service.direct = direct_routes(app.router.routes)
        try:
            yield
        finally:
            await service.stop()

    app = Starlette(
        routes=[*_routes(service.kind), *_dashboard()],
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
    text = os.environ.get(CONFIG_ENV)
    if not text:
        raise ConfigError(f"{CONFIG_ENV} is not set; start the service with suture serve BUNDLE")
    return create_app(ServeConfig.from_json(text))
