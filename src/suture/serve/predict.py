"""The predict route: a request's records checked, scored, explained and archived.

:class:`Predictor` is the scoring path of a model bundle, made of the objects batch
scoring uses: the contract's :class:`~suture.schema.coerce.RecordCoercer` (every
violation of a record), the feature pipeline's ``transform_record`` and the batch
:class:`~suture.models.score.Scorer` on the stacked rows of one request, so an answer
equals ``suture score`` on the same rows, number for number.

:func:`predict` is ``POST /v1/predict``: the body is read with its limits
(:func:`read_json`), every record checked, the valid ones scored in one call and
archived in one group commit; only then is the answer sent and the records added to
the live drift window.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from suture.serve.app import ApiError, Service, archive_of, json_response, log, safe_url, service_of

if TYPE_CHECKING:
    from suture.schema.coerce import Violation
    from suture.serve.window import LiveWindow

__all__ = ["Predictor", "predict", "read_json"]

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
        self.sensitive = bundle.contract.sensitive
        self.key: str | None = bundle.contract.key
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

    def open_window(self) -> LiveWindow:
        """The live drift window of this worker, started."""
        from suture.serve.window import LiveWindow

        service = self.service
        window = LiveWindow.for_bundle(
            self.bundle, archive_of(service), worker=service.worker, spec=service.config.window
        )
        window.start()
        return window

    # -- checking ----------------------------------------------------------------------
    def check(self, record: Mapping[str, Any]) -> tuple[dict[str, Any] | None, list[Violation]]:
        """The coerced record, or None and every violation, in contract order."""
        return self.coercer.check(record)

    def problem(self, index: int, violation: Violation) -> dict[str, Any]:
        """One violation as an answer's ``errors`` item (never a sensitive value)."""
        item = violation.as_dict()
        if "received" in item:
            item["received"] = _jsonable(item["received"])
        return {"index": index, **item}

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
            key = raw.get(self.key) if self.key else None
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


def _predictor(request: Request) -> Predictor:
    service = service_of(request)
    if service.predictor is None:
        raise ApiError(
            404,
            f"{request.url.path} serves model bundles; this service serves a {service.kind} bundle",
        )
    predictor: Predictor = service.predictor
    return predictor


async def predict(request: Request) -> Response:
    """``POST /v1/predict``: one record or an array; see docs/serve.md."""
    service = service_of(request)
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
    archive = archive_of(service)
    rows = predictor.records(received, coerced, outputs, X)
    start = time.perf_counter()
    try:
        await archive.write(rows)
    except Exception as exc:  # the archive is down: nothing is acknowledged
        log(f"archive write failed ({type(exc).__name__}: {exc}); answered 503")
        raise ApiError(
            503,
            f"the archive {safe_url(archive.url)} could not record the predictions "
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
    service: Service, predictor: Predictor, problems: Mapping[int, list[Violation]]
) -> None:
    service.counts["invalid"] += len(problems)
    broken: Counter[tuple[str, str]] = Counter()
    for violations in problems.values():
        for v in violations:
            broken[(v.field, v.rule)] += 1
        if service.window is not None:
            service.window.rejected(violations)
    service.metrics.rejected(broken)
