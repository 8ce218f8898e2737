"""The routes of a recommender bundle: recommend, similar, and live interactions.

``suture serve recs/`` (a bundle written by ``suture recommend fit``) answers

- ``GET /v1/recommend?user=42&k=10``: a known user's top items from their history, each
  with the user's items that led to it; an unknown user gets the most popular items
  (``because: "popular"``);
- ``GET /v1/similar?item=318&k=10``: the items most similar to one item (404 naming it
  when it is unknown);
- ``POST /v1/interactions``: one ``{"user": .., "item": ..}`` or a list of them, typed as
  the bundle's identifiers.  They are archived (acknowledged after the commit) and merged
  into the running recommender: the signatures are running minima, so a merge touches
  only the items in the batch and the neighbour lists they can change
  (:meth:`suture.recommend.Recommender.merge_state`), never a refit.

Consistency: the archive's ``interactions`` table, in sequence order, is the one log every
worker merges.  A worker merges its own interactions before it answers the POST (it
reads its own writes); every worker polls the archive about every
:data:`POLL_SECONDS` and merges what the others received (eventual, about a second).  A
restart replays the archived interactions onto the bundle, so the running recommender
survives it without a rebuild.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from starlette.concurrency import run_in_threadpool

from suture.recommend import ItemSignatures, Recommender, SignatureState
from suture.serve.app import (
    ApiError,
    ServiceParts,
    bundle_identity,
    json_response,
    log,
    route,
    safe_url,
)
from suture.serve.openapi import responses
from suture.serve.predict import read_json

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from suture.serve.archive import Archive
    from suture.serve.config import ServeConfig

__all__ = ["GAP_SECONDS", "POLL_SECONDS", "RecommenderService", "SeqLog", "recommender_service"]

#: How often each worker merges the interactions other workers archived.
POLL_SECONDS = 1.0
#: The largest ``k`` a query takes.
MAX_K = 1000
#: How long a hole in the archive's interaction sequence may stay open (see SeqLog).
GAP_SECONDS = 10.0
_INT64 = (-(1 << 63), (1 << 63) - 1)


class SeqLog:
    """Which archived interactions this worker merged, by sequence number.

    With several writers (PostgreSQL, several workers) a sequence number can commit after
    a larger one, so "everything after the largest seen" would skip it forever.  The log
    keeps a watermark (every number up to it is merged) and the merged numbers above it;
    a hole older than ``patience`` seconds (a rolled-back insert) is given up.

    Parameters
    ----------
    patience : float
        Seconds a hole may stay open before it is skipped.
    """

    def __init__(self, patience: float = GAP_SECONDS) -> None:
        self.after = 0
        self.patience = patience
        self._done: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self._hole: tuple[int, float] | None = None

    def take(self, seqs: npt.NDArray[np.int64], now: float) -> npt.NDArray[np.bool_]:
        """Mark ``seqs`` (sorted) merged; True for those not merged before."""
        fresh: npt.NDArray[np.bool_] = (seqs > self.after) & ~np.isin(seqs, self._done)
        self._done = np.union1d(self._done, seqs[fresh])
        self._advance(now)
        return fresh

    def _advance(self, now: float) -> None:
        done = self._done
        run = done == self.after + 1 + np.arange(len(done))
        prefix = len(done) if run.all() else int(np.argmin(run))
        self.after += prefix
        self._done = done[prefix:]
        if not len(self._done):
            self._hole = None
            return
        hole = self.after + 1
        if self._hole is None or self._hole[0] != hole:
            self._hole = (hole, now)
        elif now - self._hole[1] >= self.patience:
            log(f"recommender: interactions {hole}..{int(self._done[0]) - 1} never committed")
            self.after = int(self._done[0]) - 1
            self._hole = None
            self._advance(now)


@dataclass(frozen=True)
class IdKind:
    """The type of one identifier column of the bundle: ``integer`` or ``string``."""

    name: str
    integer: bool

    @property
    def expected(self) -> str:
        """What a value must be, in words."""
        return "an integer" if self.integer else "a string"

    def from_json(self, value: Any) -> Any:
        """The identifier, or None when ``value`` has the wrong JSON type."""
        if self.integer:
            ok = isinstance(value, int) and not isinstance(value, bool)
            return value if ok and _INT64[0] <= value <= _INT64[1] else None
        return value if isinstance(value, str) else None

    def from_query(self, request: Request) -> Any:
        """The identifier in ``?name=``; 422 when it is missing or of the wrong type."""
        text = request.query_params.get(self.name)
        if text is None:
            raise ApiError(422, f"?{self.name}= is required: the {self.name} id to look up")
        if not self.integer:
            return text
        try:
            value = int(text.strip())
        except ValueError:
            value = None
        if value is None or not _INT64[0] <= value <= _INT64[1]:
            raise ApiError(
                422,
                f"?{self.name}={text!r}: the {self.name} ids of this recommender are "
                "64-bit integers; send one",
            )
        return value

    def schema(self) -> dict[str, Any]:
        """The JSON Schema of one identifier."""
        if self.integer:
            return {"type": "integer", "minimum": _INT64[0], "maximum": _INT64[1]}
        return {"type": "string"}


def _kind(name: str, ids: pa.Array) -> IdKind:
    return IdKind(name, pa.types.is_integer(ids.type))


def _k(request: Request) -> int:
    text = request.query_params.get("k")
    if text is None:
        return 10
    try:
        k = int(text.strip())
    except ValueError:
        k = 0
    if not 1 <= k <= MAX_K:
        raise ApiError(422, f"?k={text!r}: expected a whole number of items from 1 to {MAX_K}")
    return k


class RecommenderService:
    """One worker's running recommender, merged with the archive's interactions.

    Parameters
    ----------
    recommender : Recommender
        The loaded bundle.
    archive : Archive
        Where interactions are archived and read back from.
    version : str
        The bundle's version (in every answer).
    max_body, max_batch : int
        Request limits (413 beyond them).
    """

    def __init__(
        self,
        recommender: Recommender,
        archive: Archive,
        *,
        version: str,
        max_body: int,
        max_batch: int,
    ) -> None:
        self.model = recommender
        self.archive = archive
        self.version = version
        self.max_body = max_body
        self.max_batch = max_batch
        self.seqs = SeqLog()
        self.merges = 0
        state = recommender.state_
        self.user = _kind("user", state.user_ids)
        self.item = _kind("item", state.item_ids)
        self._arrow = (state.user_ids.type, state.item_ids.type)
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._aggregator = ItemSignatures(
            user="user", item="item", num_perm=recommender.num_perm, seed=recommender.seed
        )

    # -- merging the archive's interactions ------------------------------------------
    def batch_state(self, users: list[Any], items: list[Any]) -> SignatureState:
        """The aggregated state of a batch of interactions (the bundle's id types)."""
        batch = pa.record_batch(
            [pa.array(users, self._arrow[0]), pa.array(items, self._arrow[1])],
            names=["user", "item"],
        )
        agg = self._aggregator
        return agg.finalize(agg.update(agg.zero(), batch))

    def _merge(self, rows: list[tuple[int, Any, Any]]) -> Recommender:
        users = [u for _, u, _ in rows]
        items = [i for _, _, i in rows]
        return self.model.merge_state(self.batch_state(users, items))

    async def catch_up(self) -> int:
        """Merge the archived interactions not merged yet, in sequence order; how many."""
        async with self._lock:
            rows = await run_in_threadpool(self.archive.interactions_after, self.seqs.after)
            seqs = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            fresh = [
                r for r, new in zip(rows, self.seqs.take(seqs, time.time()), strict=True) if new
            ]
            if not fresh:
                return 0
            self.model = await run_in_threadpool(self._merge, fresh)
            self.merges += 1
            return len(fresh)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            try:
                await self.catch_up()
            except Exception as exc:  # the poller must outlive a bad read
                log(f"recommender: merging archived interactions failed: {exc}")

    async def start(self) -> None:
        """Replay the archived interactions, then poll for the other workers' ones."""
        replayed = await self.catch_up()
        if replayed:
            log(f"recommender: replayed {replayed:,} archived interactions")
        self._task = asyncio.get_running_loop().create_task(self._poll())

    async def stop(self) -> None:
        """Stop polling."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # -- handlers ----------------------------------------------------------------------
    async def recommend(self, request: Request) -> Response:
        """``GET /v1/recommend?user=ID&k=10``."""
        user = self.user.from_query(request)
        k = _k(request)
        model = self.model
        answers = model.recommend(user, k)
        return json_response(
            {
                "user": user,
                "known": model.knows_user(user),
                "model_version": self.version,
                "recommendations": [a.to_dict() for a in answers],
            }
        )

    async def similar(self, request: Request) -> Response:
        """``GET /v1/similar?item=ID&k=10``."""
        item = self.item.from_query(request)
        k = _k(request)
        model = self.model
        if not model.knows_item(item):
            raise ApiError(
                404,
                f"item {item!r} is not known to this recommender ({model.state_.num_items:,} "
                "items); check the id, or POST /v1/interactions that include it",
            )
        answers = model.similar(item, k)
        return json_response(
            {
                "item": item,
                "model_version": self.version,
                "similar": [a.to_dict() for a in answers],
            }
        )

    def parse_interactions(self, body: Any) -> list[tuple[Any, Any]]:
        """``(user, item)`` pairs of a body; 422 naming every bad one, 413 over the limit."""
        items = body if isinstance(body, list) else [body]
        if isinstance(body, list) and not body:
            raise ApiError(422, "the array is empty; send at least one interaction")
        if len(items) > self.max_batch:
            raise ApiError(
                413,
                f"the batch has {len(items):,} interactions, over the limit of "
                f"{self.max_batch:,} (--max-batch); send fewer per request",
            )
        pairs: list[tuple[Any, Any]] = []
        errors: list[dict[str, Any]] = []
        for index, entry in enumerate(items):
            problems = _check_entry(index, entry, self.user, self.item)
            if problems:
                errors += problems
            else:
                pairs.append((entry["user"], entry["item"]))
        if errors:
            raise ApiError(422, _refusal(errors, len(items)), errors)
        return pairs

    async def interactions(self, request: Request) -> Response:
        """``POST /v1/interactions``: archive, then merge, then answer."""
        body = await read_json(request, self.max_body)
        pairs = self.parse_interactions(body)
        now = time.time()
        rows = [(now, u, i) for u, i in pairs]
        try:
            seq = await run_in_threadpool(self.archive.write_interactions, rows)
        except Exception as exc:  # the archive is down: nothing is acknowledged
            log(f"archive write failed ({type(exc).__name__}: {exc}); answered 503")
            raise ApiError(
                503,
                f"the archive {safe_url(self.archive.url)} could not record the interactions "
                f"({type(exc).__name__}); nothing was learnt: retry later",
                headers={"Retry-After": "1"},
            ) from None
        await self.catch_up()
        return json_response({"accepted": len(pairs), "seq": seq, "model_version": self.version})

    # -- the OpenAPI paths --------------------------------------------------------------
    def openapi_paths(self) -> dict[str, Any]:
        """The paths of the three routes with their exact response schemas."""
        return _paths(self.user, self.item, self.max_batch)

    def parts(self) -> ServiceParts:
        """Routes, OpenAPI paths and hooks for the app."""
        return ServiceParts(
            routes=[
                route("/v1/recommend", self.recommend),
                route("/v1/similar", self.similar),
                route("/v1/interactions", self.interactions, ["POST"]),
            ],
            openapi_paths=self.openapi_paths(),
            startup=[self.start],
            shutdown=[self.stop],
        )


def _check_entry(index: int, entry: Any, user: IdKind, item: IdKind) -> list[dict[str, Any]]:
    if not isinstance(entry, dict):
        got = "an array" if isinstance(entry, list) else type(entry).__name__
        return [
            _problem(index, "", "type", 'an object {"user": .., "item": ..}', entry, f"got {got}")
        ]
    problems = []
    for kind in (user, item):
        if kind.name not in entry:
            problems.append(_problem(index, kind.name, "missing", kind.expected, None, "missing"))
        elif kind.from_json(entry[kind.name]) is None:
            value = entry[kind.name]
            problems.append(
                _problem(index, kind.name, "type", kind.expected, value, f"got {value!r}")
            )
    extra = sorted(set(entry) - {"user", "item"})
    if extra:
        problems.append(
            _problem(index, extra[0], "unknown", "only user and item", None, "not a field")
        )
    return problems


def _problem(
    index: int, field: str, rule: str, expected: str, received: Any, got: str
) -> dict[str, Any]:
    where = f"interaction {index}" + (f", {field}" if field else "")
    out: dict[str, Any] = {
        "index": index,
        "field": field,
        "rule": rule,
        "expected": expected,
        "message": f"{where}: expected {expected}, {got}",
    }
    if rule == "type":
        out["received"] = received
    return out


def _refusal(errors: list[dict[str, Any]], total: int) -> str:
    bad = len({e["index"] for e in errors})
    first = errors[0]["message"]
    return f"{bad} of {total} interactions are invalid (nothing was archived); first: {first}"


# ----------------------------------------------------------------------------- OpenAPI


def _recommendation(item: IdKind) -> dict[str, Any]:
    number = {"type": "number"}
    return {
        "type": "object",
        "required": ["item", "score", "because", "reasons"],
        "additionalProperties": False,
        "properties": {
            "item": item.schema(),
            "score": number,
            "because": {"type": "string", "enum": ["similar-items", "popular", "similar"]},
            "reasons": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["item", "jaccard", "lower", "upper"],
                    "additionalProperties": False,
                    "properties": {
                        "item": item.schema(),
                        "jaccard": number,
                        "lower": number,
                        "upper": number,
                    },
                },
            },
        },
    }


def _query(kind: IdKind, description: str) -> dict[str, Any]:
    return {
        "name": kind.name,
        "in": "query",
        "required": True,
        "description": description,
        "schema": kind.schema(),
    }


_K = {
    "name": "k",
    "in": "query",
    "required": False,
    "description": f"How many items (1 to {MAX_K}; default 10).",
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": 10},
}


def _answer(fields: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": sorted(fields),
        "additionalProperties": False,
        "properties": fields,
    }


def _get(
    summary: str, operation: str, id_param: dict[str, Any], fields: dict[str, Any], *errors: int
) -> dict[str, Any]:
    """A GET route taking an id and ``k``, answering an object of ``fields``."""
    return {
        "get": {
            "summary": summary,
            "operationId": operation,
            "parameters": [id_param, _K],
            "responses": responses(_answer(fields), *errors, 503),
        }
    }


def _paths(user: IdKind, item: IdKind, max_batch: int) -> dict[str, Any]:
    recs = {"type": "array", "items": _recommendation(item)}
    entry = {
        "type": "object",
        "required": ["user", "item"],
        "additionalProperties": False,
        "properties": {"user": user.schema(), "item": item.schema()},
    }
    return {
        "/v1/recommend": _get(
            "A user's top items with the reasons (popular ones if unknown).",
            "recommend",
            _query(user, "The user to recommend for."),
            {
                "user": user.schema(),
                "known": {"type": "boolean"},
                "model_version": {"type": "string"},
                "recommendations": recs,
            },
            422,
        ),
        "/v1/similar": _get(
            "The items most similar to one item, with Jaccard estimates.",
            "similar",
            _query(item, "The item to find neighbours of."),
            {"item": item.schema(), "model_version": {"type": "string"}, "similar": recs},
            404,
            422,
        ),
        "/v1/interactions": {
            "post": {
                "summary": "Archive interactions and merge them into the running recommender.",
                "operationId": "interactions",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "anyOf": [
                                    entry,
                                    {
                                        "type": "array",
                                        "items": entry,
                                        "minItems": 1,
                                        "maxItems": max_batch,
                                    },
                                ]
                            }
                        }
                    },
                },
                "responses": responses(
                    _answer(
                        {
                            "accepted": {"type": "integer", "minimum": 1},
                            "seq": {"type": "integer"},
                            "model_version": {"type": "string"},
                        }
                    ),
                    400,
                    413,
                    415,
                    422,
                    503,
                ),
            }
        },
    }


def recommender_service(
    recommender: Recommender, archive: Archive | None, config: ServeConfig
) -> ServiceParts:
    """The parts a recommender bundle adds to the app (see the module docstring).

    Parameters
    ----------
    recommender : Recommender
        The loaded bundle.
    archive : Archive
        The service's open archive.
    config : ServeConfig

    Returns
    -------
    ServiceParts
    """
    if archive is None:
        raise ApiError(503, "the archive is not open")
    _, version = bundle_identity(config.bundle)
    service = RecommenderService(
        recommender,
        archive,
        version=version,
        max_body=config.max_body_bytes,
        max_batch=config.max_batch,
    )
    return service.parts()
