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

import asyncio
import dataclasses
import math
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from suture.errors import SutureError
from suture.serve.app import (
    ApiError,
    Service,
    archive_down,
    archive_of,
    json_response,
    service_of,
)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pyarrow as pa

    from suture.schema.coerce import Violation
    from suture.serve.archive import Outcome
    from suture.serve.redact import Redactor
    from suture.serve.window import LiveWindow

__all__ = ["Predictor", "outcome_label", "outcomes", "performance", "predict", "read_json"]

# ----------------------------------------------------------------------------- scoring


def _unit_of(contract: Any, name: str) -> str | None:
    for col in (*contract.columns, *contract.derived):
        if col.name == name:
            unit = getattr(col, "unit", None)
            return str(unit) if unit else None
    return None


#: From this many valid records on, a request's records are typed as one Arrow batch
#: (:meth:`Predictor.typed`) that the window folds without converting them again: the
#: batch costs ~0.2 ms a request plus ~2.5 µs a record, the window's own conversion
#: ~8 µs a record.
TYPED_ROWS = 32
#: From this many valid records on, a request's features come from the pipeline's batch
#: transform; below, from ``transform_record`` per record.  The two are equal number for
#: number; the batch transform costs a fixed ~10-20 µs a column whatever the rows (Arrow
#: calls), the record path ~0.3 µs a column a record, so they meet near 64 rows whatever
#: the columns (wa_churn's 17 columns, 2026-12-03: 302 against 346 µs at 64 records,
#: 480 against 356 µs at 100).
BATCH_TRANSFORM_ROWS = 64


def _exact_kinds(arrow_type: Any) -> frozenset[type] | None:
    """The Python types of coerced values that ``pa.array(values, arrow_type)`` holds as
    the record path reads them (None: a type the typed batch does not handle).  Floats
    are not among an integer type's (Arrow would truncate 1.5), nor booleans among a
    float type's (the record path refuses them)."""
    import pyarrow as pa

    none = type(None)
    value_type = arrow_type.value_type if pa.types.is_dictionary(arrow_type) else arrow_type
    if pa.types.is_integer(value_type):
        return frozenset({int, none})
    if pa.types.is_floating(value_type):
        return frozenset({float, int, none})
    if pa.types.is_string(value_type) or pa.types.is_large_string(value_type):
        return frozenset({str, none})
    if pa.types.is_boolean(value_type):
        return frozenset({bool, none})
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
        #: Features made from sensitive columns: archived as null.
        self.hidden = [j for j, c in enumerate(bundle.model.design_.columns) if c in self.sensitive]
        self.units = [_unit_of(self.contract, name) for name in self.inputs]
        self.explain = min(service.config.explain, len(self.inputs))
        self.redactor = self._redactor()
        buckets = self._value_buckets() if self.task.kind == "regression" else None
        self.metrics = Metrics(value_buckets=buckets)
        self._plan, self._schema = self._typed_plan()

    def _typed_plan(self) -> tuple[list[tuple[str, frozenset[type], Any]], Any]:
        """For :meth:`typed`: per column the pipeline or the window reads, the Python
        types of coerced values its training-profile Arrow type takes exactly, and the
        batch's schema (empty when a column has a type not handled here)."""
        import pyarrow as pa

        from suture.serve.window import monitored_columns

        pipeline_columns = list(self.bundle.pipeline.columns_)
        watched = monitored_columns(self.contract, self.bundle.profile)
        names = list(dict.fromkeys([*pipeline_columns, *watched]))
        schema = self.bundle.profile.schema
        plan: list[tuple[str, frozenset[type], Any]] = []
        for name in names:
            if name not in schema.names:
                return [], None
            arrow_type = schema.field(name).type
            kinds = _exact_kinds(arrow_type)
            if kinds is None:
                return [], None
            plan.append((name, kinds, arrow_type))
        return plan, pa.schema([schema.field(n) for n in names])

    def _redactor(self) -> Redactor:
        from suture.serve.redact import Redactor

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
        """The live drift window of this worker, started; called on the worker's event
        loop, the window folds in steps on it (:class:`~suture.serve.window.LoopSteps`)."""
        from suture.serve.window import LiveWindow, running_loop

        service = self.service
        window = LiveWindow.for_bundle(
            self.bundle, archive_of(service), worker=service.worker, spec=service.config.window
        )
        window.start(running_loop())
        return window

    # -- checking ----------------------------------------------------------------------
    def check(self, record: Mapping[str, Any]) -> tuple[dict[str, Any] | None, list[Violation]]:
        """The coerced record, or None and every violation, in contract order."""
        return self.coercer.check(record)

    def check_many(
        self, records: Sequence[Any]
    ) -> list[tuple[dict[str, Any] | None, list[Violation]]]:
        """:meth:`check` of each record (the same results), column by column when the
        values allow (:meth:`~suture.schema.coerce.RecordCoercer.check_many`)."""
        return self.coercer.check_many(records)

    def problem(self, index: int, violation: Violation) -> dict[str, Any]:
        """One violation as an answer's ``errors`` item (never a sensitive value)."""
        item = violation.as_dict()
        if "received" in item:
            item["received"] = bounded(item["received"])
        return {"index": index, **item}

    # -- scoring -----------------------------------------------------------------------
    def typed(self, coerced: Sequence[Mapping[str, Any]]) -> pa.RecordBatch | None:
        """The coerced records as one Arrow batch typed like the training profile (the
        pipeline's columns and the window's), or None for fewer than
        :data:`TYPED_ROWS` records or when a value is of a kind the batch would not
        hold exactly as the record path reads it (then the records go through
        ``transform_record`` and into the window one by one, as before)."""
        import pyarrow as pa

        if not self._plan or len(coerced) < TYPED_ROWS:
            return None
        arrays = []
        for name, kinds, arrow_type in self._plan:
            values = [c.get(name) for c in coerced]
            if not set(map(type, values)) <= kinds:
                return None
            try:
                arrays.append(pa.array(values, type=arrow_type))
            except (pa.ArrowException, TypeError, ValueError, OverflowError):
                return None
        return pa.RecordBatch.from_arrays(arrays, schema=self._schema)

    def features(
        self, coerced: Sequence[Mapping[str, Any]], batch: pa.RecordBatch | None
    ) -> npt.NDArray[np.float64]:
        """The feature rows ``(n, features)``: the pipeline's batch transform of the typed
        batch when it has :data:`BATCH_TRANSFORM_ROWS` rows or more (property-tested
        equal to the stacked ``transform_record`` rows), else the record path."""
        import numpy as np

        if batch is not None and batch.num_rows >= BATCH_TRANSFORM_ROWS:
            return self.scorer.pipeline.transform(batch)
        return np.vstack([self.transform(c) for c in coerced])

    def score(self, coerced: Sequence[Mapping[str, Any]]) -> Scored:
        """The outputs (prediction, probabilities or value, ``explanation_base``), the
        explanations, the feature rows ``(n, features)`` and the typed batch of valid
        records."""
        import numpy as np

        batch = self.typed(coerced)
        X = self.features(coerced, batch)
        scores = np.asarray(self.scorer.model.decision_function(X), dtype=np.float64)
        outputs = self._outputs(scores)
        if not self.explain:
            return Scored(outputs, None, X, batch)
        return Scored(outputs, self._explanations(coerced, X, outputs), X, batch)

    def _explanations(
        self, coerced: Sequence[Mapping[str, Any]], X: Any, outputs: list[dict[str, Any]]
    ) -> list[list[dict[str, Any]]]:
        """Each record's top contributions (and its output's ``explanation_base``): the
        reasons of all records made in one flat pass, then cut per record."""
        import numpy as np

        n = len(coerced)
        per_column, base = self.scorer.per_column(X)
        order = self.scorer.top(per_column, self.explain)
        k = order.shape[1]
        amounts = np.take_along_axis(per_column, order, axis=1).ravel().tolist()
        for out, b in zip(outputs, base.reshape(n, -1)[:, 0].tolist(), strict=True):
            out["explanation_base"] = b
        picked = order.ravel().tolist()
        names = [self.inputs[j] for j in picked]
        units = [self.units[j] for j in picked]
        owners = [record for record in coerced for _ in range(k)]
        reasons = [
            {"column": c, "value": r.get(c), "unit": u, "contribution": a}
            for c, r, u, a in zip(names, owners, units, amounts, strict=True)
        ]
        return [reasons[i : i + k] for i in range(0, n * k, k)]

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

    def rows(
        self, received: Sequence[dict[str, Any]], coerced: Sequence[dict[str, Any]], scored: Scored
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """The new prediction ids and the archive's rows of scored records (sensitive
        values redacted), encoded for :meth:`~suture.serve.archive.SqlArchive.write_rows`
        in bulk."""
        from suture.serve.archive import (
            _dumps_features,
            encode_features,
            encode_rows,
            new_prediction_ids,
        )

        n = len(coerced)
        redactor = self.redactor
        if self.hidden:  # a sensitive column's feature would reveal its value
            rows = scored.X.tolist()
            for j in self.hidden:
                for row in rows:
                    row[j] = None
            features = [_dumps_features(row) for row in rows]
        else:
            features = encode_features(scored.X)
        explanations = scored.explanations or [[] for _ in range(n)]
        if self.sensitive:
            received = [redactor.record(r) for r in received]
            coerced = [redactor.record(c) for c in coerced]
            explanations = [redactor.explanation(e) for e in explanations]
        keys = [redactor.key(r.get(self.key)) for r in received] if self.key else [None] * n
        ids = new_prediction_ids(n)
        service = self.service
        encoded = encode_rows(
            ids, time.time(), service.version, service.worker, keys, received, coerced,
            features, scored.outputs, explanations,
        )  # fmt: skip
        return ids, encoded


@dataclass(frozen=True)
class Scored:
    """What :meth:`Predictor.score` gives for the valid records of one request."""

    outputs: list[dict[str, Any]]
    explanations: list[list[dict[str, Any]]] | None
    X: Any
    #: The valid records as a typed Arrow batch (:meth:`Predictor.typed`), or None.
    batch: Any = None


#: The longest text of a refused value an error answer shows.
SHOWN = 200


def bounded(value: Any) -> Any:
    """A received value as an error answer may echo it: scalars as they came, long text
    and containers cut to :data:`SHOWN` characters of their JSON (so an answer never
    grows with the value it refuses, and a deeply nested one cannot break it)."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value if len(value) <= SHOWN else value[:SHOWN] + "..."
    try:
        text = orjson.dumps(value, default=str).decode()
    except (orjson.JSONEncodeError, RecursionError):
        text = f"{_type_name(value)} nested too deeply to show"
    return text if len(text) <= SHOWN else text[:SHOWN] + "..."


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
    checked = predictor.check_many(records)
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
        scored = predictor.score(coerced)
        ids = await _archive_write(service, predictor, [records[i] for i in valid], coerced, scored)
        _count_predictions(service, predictor, scored.outputs)
        version = service.version
        if scored.explanations is None:
            for i, ident, out in zip(valid, ids, scored.outputs, strict=True):
                answers[i] = {"id": ident, **out, "model_version": version}
        else:
            for i, ident, out, reasons in zip(
                valid, ids, scored.outputs, scored.explanations, strict=True
            ):
                answers[i] = {"id": ident, **out, "explanation": reasons, "model_version": version}
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
        first = first.rstrip(".") if rest else first
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
    scored: Scored,
) -> list[str]:
    """Archive the scored records; return their ids once committed (503 if not)."""
    archive = archive_of(service)
    ids, rows = predictor.rows(received, coerced, scored)
    start = time.perf_counter()
    try:
        await archive.write_rows(rows)
    except Exception as exc:  # the archive is down: nothing is acknowledged
        raise archive_down(archive, exc, "predictions", "nothing was scored for good") from None
    service.metrics.commit.observe(time.perf_counter() - start)
    window = service.window
    taken = window is None or (scored.batch is not None and window.add_batch(ids, scored.batch))
    if window is not None and not taken:
        for typed, ident in zip(coerced, ids, strict=True):
            window.add(typed, ident)
    return ids


def _count_predictions(
    service: Service,
    predictor: Predictor,
    outputs: list[dict[str, Any]],
) -> None:
    if predictor.task.kind == "regression":
        service.metrics.predicted({}, [o["prediction"] for o in outputs])
    else:
        service.metrics.predicted(Counter(str(o["prediction"]) for o in outputs))


def _count_rejections(
    service: Service, predictor: Predictor, problems: Mapping[int, list[Violation]]
) -> None:
    service.metrics.invalid.inc(len(problems))
    broken: Counter[tuple[str, str]] = Counter()
    for violations in problems.values():
        for v in violations:
            broken[(v.field, v.rule)] += 1
        if service.window is not None:
            service.window.rejected(violations)
    service.metrics.rejected(broken)


# ----------------------------------------------------------------------------- outcomes


def outcome_label(task: Any, value: Any) -> str | float | None:
    """An outcome as the archive keeps it: the class label (text) or the value; None
    when it is neither a class of the model nor, for regression, a number."""
    if task.kind == "regression":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value) if math.isfinite(value) else None
    classes = tuple(task.classes)
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        text = str(int(value))
    elif isinstance(value, str):
        text = value
    else:
        return None
    if text in classes:
        return text
    if set(classes) == {"false", "true"}:
        from suture.parsing import read_boolean

        read = read_boolean(text)
        if read is not None:
            return "true" if read else "false"
    return None


def _outcome_items(body: Any) -> tuple[list[dict[str, Any]], bool]:
    if isinstance(body, dict) and "outcomes" not in body:
        return [body], True
    items = body.get("outcomes") if isinstance(body, dict) else body
    if not isinstance(items, list) or not items:
        raise ApiError(
            422,
            'send one outcome {"id": ..., "outcome": ...} (or "key" instead of "id"), '
            "or a non-empty array of them",
        )
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ApiError(
                422, f"outcome {i} of the array is {_type_name(item)}; each must be a JSON object"
            )
    return items, False


def _outcome(task: Any, index: int, item: Mapping[str, Any]) -> tuple[Any, dict[str, Any] | None]:
    """The archive's Outcome of one item, or the problem with it."""
    from suture.serve.archive import Outcome

    ident, key, ts = item.get("id"), item.get("key"), item.get("ts")

    def problem(name: str, rule: str, expected: str) -> dict[str, Any]:
        shown = bounded(item.get(name))
        got = "nothing" if name not in item else orjson.dumps(shown).decode()
        return {
            "index": index,
            "field": name,
            "rule": rule,
            "expected": expected,
            "received": shown,
            "message": f"outcome {index}: {name}: {expected}, got {got}",
        }

    if (ident is None) == (key is None):
        return None, {
            **problem("id", "missing", "expected id (a prediction id) or key, one of them"),
            "message": (
                f"outcome {index} names no prediction: give id (the id a predict answer "
                "gave) or key (the business key's value), one of them"
                if ident is None
                else f"outcome {index} gives both id and key: give one of them"
            ),
        }
    if ident is not None and not isinstance(ident, str):
        return None, problem("id", "type", "expected the 32 hex digits of a prediction id")
    if key is not None and (isinstance(key, bool) or not isinstance(key, str | int)):
        return None, problem("key", "type", "expected the business key's value (text or integer)")
    if ts is not None and (isinstance(ts, bool) or not isinstance(ts, int | float)):
        return None, problem("ts", "type", "expected Unix seconds")
    if "outcome" not in item:
        return None, problem("outcome", "missing", "expected the true outcome")
    label = outcome_label(task, item["outcome"])
    if label is None:
        if task.kind == "regression":
            expected = "expected a finite number"
        else:
            expected = "expected one of " + ", ".join(map(repr, task.classes))
        return None, problem("outcome", "level", expected)
    found = Outcome(
        value=label,
        prediction_id=ident,
        key=None if key is None else str(key),
        ts=None if ts is None else float(ts),
    )
    return found, None


async def outcomes(request: Request) -> Response:
    """``POST /v1/outcomes``: true outcomes of earlier predictions, by id or business key."""
    service = service_of(request)
    predictor = _predictor(request)
    archive = archive_of(service)
    body = await read_json(request, service.config.max_body_bytes)
    items, single = _outcome_items(body)
    if len(items) > service.config.max_batch:
        raise ApiError(
            413,
            f"the array has {len(items):,} outcomes, over the limit of "
            f"{service.config.max_batch:,} (--max-batch); split it into smaller requests",
        )
    checked = [_outcome(predictor.task, i, item) for i, item in enumerate(items)]
    errors = [p for _, p in checked if p is not None]
    if errors:
        raise ApiError(422, _outcome_refusal(single, errors), errors)
    found = [_keyed(predictor, o) for o, _ in checked if o is not None]
    if any(o.key is not None for o in found) and predictor.key is None:
        raise ApiError(
            422,
            "outcomes by key need a business key in the contract ([contract] key = "
            '"COLUMN"); this model\'s contract names none, so send prediction ids',
        )
    report = await asyncio.to_thread(archive.add_outcomes, found)
    unknown = [
        {
            "index": i,
            **(
                {"id": found[i].prediction_id}
                if found[i].prediction_id is not None
                else {"key": found[i].key}
            ),
        }
        for i in report.unknown
    ]
    service.metrics.outcomes.labels("matched").inc(len(report.matched))
    service.metrics.outcomes.labels("unknown").inc(len(unknown))
    if report.matched:
        service.realized_stale = True  # the next /metrics scrape recomputes the gauges
    if single and unknown:
        what = (
            f"id {found[0].prediction_id!r}"
            if found[0].prediction_id is not None
            else f"key {found[0].key!r}"
        )
        raise ApiError(
            404,
            f"no archived prediction has {what}; nothing was recorded (check the id a predict "
            "answer gave, or the key's value)",
        )
    return json_response({"matched": len(report.matched), "unknown": unknown})


def _keyed(predictor: Predictor, outcome: Outcome) -> Outcome:
    """An outcome by key with the key as archived (hashed when its column is sensitive)."""
    if outcome.key is None:
        return outcome
    return dataclasses.replace(outcome, key=predictor.redactor.key(outcome.key))


def _outcome_refusal(single: bool, errors: list[dict[str, Any]]) -> str:
    first = errors[0]["message"]
    if single:
        return f"the outcome cannot be recorded: {first}"
    return (
        f"{len({e['index'] for e in errors})} of the outcomes cannot be recorded, so none was "
        f"(first: {first}); errors lists each"
    )


def _window_seconds(request: Request) -> float:
    text = request.query_params.get("window")
    if text is None:
        return 3600.0
    from suture.serve.cli import parse_duration

    try:
        return parse_duration("?window=", text)
    except SutureError:
        raise ApiError(
            400, f"?window={bounded(text)}: expected a positive time span such as 1h, 1d or 30m"
        ) from None


#: ``GET /v1/performance`` shows this many windows, the newest last.
PERFORMANCE_WINDOWS = 48
#: The ``suture_realized_*`` gauges judge the predictions of this many last seconds.
REALIZED_SECONDS = 7 * 86400.0


def performance_payload(
    service: Service, window_seconds: float, *, span: float | None = None
) -> dict[str, Any]:
    """Realized performance of the labelled predictions of the last
    :data:`PERFORMANCE_WINDOWS` windows (or of the last ``span`` seconds), per window
    and overall, and for a binary model beside it the performance estimated from the
    probabilities of every archived prediction of the span (the most recent
    :data:`~suture.serve.performance.ESTIMATE_ROWS` of them)."""
    from suture.serve.performance import (
        ESTIMATE_ROWS,
        estimated_performance,
        realized_performance,
        with_estimates,
    )

    predictor = service.predictor
    assert predictor is not None
    now = time.time()
    if span is None:
        since = (math.floor(now / window_seconds) - PERFORMANCE_WINDOWS + 1) * window_seconds
    else:
        since = now - span
    archive = archive_of(service)
    rows = archive.labelled(since=since)
    task = predictor.task
    found = realized_performance(task, rows, window_seconds=window_seconds)
    estimated = None
    if task.kind == "binary":
        archived = archive.probabilities(since=since, limit=ESTIMATE_ROWS)
        estimated = estimated_performance(
            archived,
            window_seconds=window_seconds,
            reference=_holdout(predictor.bundle),
            limit=ESTIMATE_ROWS,
        )
    reason = (
        f"performance before outcomes is estimated for binary models only; this model "
        f"predicts {task.target!r} ({task.kind}): wait for the realized values"
    )
    return {
        "task": task.kind,
        "since": since,
        "labelled": len(rows),
        "window_seconds": window_seconds,
        **with_estimates(task, found, estimated, window_seconds=window_seconds, reason=reason),
    }


def _holdout(bundle: Any) -> dict[str, float]:
    """The bundle's holdout ``auc`` and ``accuracy`` (the reference of the drop)."""
    holdout = getattr(bundle, "holdout", None)
    if holdout is None:
        return {}
    return {m: float(holdout.metrics[m].value) for m in ("auc", "accuracy") if m in holdout.metrics}


def refresh_realized(service: Service) -> None:
    """Set the ``suture_realized_*`` gauges from the labelled predictions of the last
    :data:`REALIZED_SECONDS` (NaN where a metric is undefined, e.g. AUC with one class),
    and the ``suture_estimated_*`` gauges from every prediction of that span."""
    service.realized_stale = False
    payload = performance_payload(service, REALIZED_SECONDS, span=REALIZED_SECONDS)
    overall = payload.get("overall", {})
    values = {
        name: float(v) if isinstance(v, int | float) else math.nan
        for name, v in overall.items()
        if name not in ("n", "estimated")
    }
    values["outcomes"] = float(payload["labelled"])
    service.metrics.set_realized(values)
    estimated = overall.get("estimated") or {}
    service.metrics.set_estimated(
        {
            name: math.nan if (estimated.get(name) or {}).get("value") is None
            else float(estimated[name]["value"])
            for name in ("auc", "accuracy")
        }
    )  # fmt: skip


async def performance(request: Request) -> Response:
    """``GET /v1/performance?window=1h``: realized performance from the joined outcomes."""
    service = service_of(request)
    _predictor(request)
    seconds = _window_seconds(request)
    return json_response(await asyncio.to_thread(performance_payload, service, seconds))
