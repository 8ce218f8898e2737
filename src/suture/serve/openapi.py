"""The OpenAPI 3.1 document of the service, its request schema generated from the contract.

``POST /v1/predict`` takes one record (the JSON Schema of the bundle's scoring contract,
from :func:`suture.schema.jsonschema.contract_json_schema`) or an array of 1 to
``max_batch`` of them.  Every answer is documented with its exact schema, errors
included (the one error shape of :mod:`suture.serve.app`), so a fuzzer can hold the
service to it.  Routes a recommender bundle adds come from its
:class:`~suture.serve.app.ServiceParts`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from suture import __version__
from suture.serve.config import ServeConfig

__all__ = [
    "BODY_ERRORS",
    "ERROR_STATUSES",
    "error_schema",
    "one_or_many",
    "openapi_document",
    "responses",
]

#: What each error status means, as the document describes it.
ERROR_STATUSES = {
    400: "Malformed JSON or a bad query parameter.",
    401: "A missing or wrong bearer token.",
    404: "An unknown route or prediction id.",
    405: "A method the route does not take.",
    413: "A body or batch over the configured limit.",
    415: "A body that is not application/json.",
    422: "Records that break the model's contract (every field named).",
    503: "Not ready, or the archive cannot record (nothing was acknowledged).",
}
_REF = "#/components/schemas/"
#: The error statuses of a route that takes a JSON body.
BODY_ERRORS = (400, 404, 413, 415, 422, 503)


def error_schema() -> dict[str, Any]:
    """The JSON Schema of every error answer."""
    return {
        "type": "object",
        "required": ["error"],
        "additionalProperties": False,
        "properties": {
            "error": {
                "type": "object",
                "required": ["status", "message"],
                "additionalProperties": False,
                "properties": {
                    "status": {"type": "integer"},
                    "message": {"type": "string", "minLength": 1},
                    "errors": {"type": "array", "items": {"$ref": _REF + "Problem"}},
                    "id": {"type": "string"},
                },
            }
        },
    }


def _problem() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["index", "field", "rule", "expected", "message"],
        "additionalProperties": False,
        "properties": {
            "index": {"type": "integer", "minimum": 0},
            "field": {"type": "string"},
            "rule": {"type": "string"},
            "expected": {"type": "string"},
            "received": {},
            "message": {"type": "string"},
        },
    }


def _prediction(task: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
        "model_version": {"type": "string"},
        "explanation": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["column", "value", "unit", "contribution"],
                "additionalProperties": False,
                "properties": {
                    "column": {"type": "string"},
                    "value": {},
                    "unit": {"type": ["string", "null"]},
                    "contribution": {"type": "number"},
                },
            },
        },
        "explanation_base": {"type": "number"},
    }
    required = ["id", "prediction", "model_version"]
    kind = getattr(task, "kind", "binary")
    if kind == "regression":
        props["prediction"] = {"type": "number"}
    else:
        classes = [str(c) for c in getattr(task, "classes", ())]
        props["prediction"] = {"type": "string", **({"enum": classes} if classes else {})}
    if kind == "binary":
        props["probability"] = {"type": "number", "minimum": 0, "maximum": 1}
        required.append("probability")
    elif kind == "multiclass":
        props["probabilities"] = {
            "type": "object",
            "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1},
        }
        required.append("probabilities")
    return {
        "type": "object",
        "required": required,
        "additionalProperties": False,
        "properties": props,
    }


def _record(contract: Any) -> dict[str, Any]:
    if contract is None:
        return {"type": "object"}
    try:
        from suture.schema.jsonschema import contract_json_schema
    except ImportError:
        return {"type": "object"}
    schema: dict[str, Any] = dict(contract_json_schema(contract))
    schema.pop("$schema", None)
    return schema


def responses(
    ok: Mapping[str, Any] | None, *statuses: int, media: str = "application/json"
) -> dict[str, Any]:
    """A route's ``responses``: 200 with ``ok`` (a schema) and each error status."""
    out: dict[str, Any] = {}
    if ok is not None:
        out["200"] = {"description": "OK", "content": {media: {"schema": dict(ok)}}}
    for status in sorted({*statuses, 401, 405}):
        out[str(status)] = {
            "description": ERROR_STATUSES[status],
            "content": {"application/json": {"schema": {"$ref": _REF + "Error"}}},
        }
    return out


def one_or_many(item: Mapping[str, Any], max_items: int) -> dict[str, Any]:
    """A required JSON request body: one ``item``, or an array of 1 to ``max_items``."""
    many = {"type": "array", "items": dict(item), "minItems": 1, "maxItems": max_items}
    return {
        "required": True,
        "content": {"application/json": {"schema": {"anyOf": [dict(item), many]}}},
    }


def _stats() -> dict[str, Any]:
    number_or_null = {"type": ["number", "null"]}
    return {
        "type": "object",
        "required": [
            "status",
            "kind",
            "model_version",
            "worker",
            "workers",
            "uptime_s",
            "requests",
            "rate_1m",
            "latency_ms",
            "predictions",
            "invalid",
        ],
        "additionalProperties": False,
        "properties": {
            "status": {"type": "string"},
            "kind": {"type": "string", "enum": ["model", "recommender"]},
            "model_version": {"type": "string"},
            "worker": {"type": "string"},
            "workers": {"type": "integer", "minimum": 1},
            "uptime_s": {"type": "number"},
            "requests": {"type": "integer"},
            "rate_1m": {"type": "number"},
            "latency_ms": {
                "type": "object",
                "required": ["p50", "p99"],
                "additionalProperties": False,
                "properties": {"p50": number_or_null, "p99": number_or_null},
            },
            "predictions": {"type": "integer"},
            "invalid": {"type": "integer"},
        },
    }


def performance_schema() -> dict[str, Any]:
    """``GET /v1/performance``'s answer: realized metrics per window and overall, and the
    estimate before outcomes beside them (None for a model that is not binary)."""
    number_or_null = {"type": ["number", "null"]}
    metric = {
        "type": "object",
        "required": ["value", "lower", "upper", "confidence", "rows", "reference", "drop"],
        "properties": {
            **{k: number_or_null for k in ("value", "lower", "upper", "reference", "drop")},
            "confidence": {"type": "number"},
            "rows": {"type": "integer"},
        },
    }
    estimated = {
        "type": ["object", "null"],
        "required": ["rows", "threshold", "auc", "accuracy", "complete"],
        "properties": {
            "rows": {"type": "integer"},
            "threshold": {"type": "number"},
            "auc": metric,
            "accuracy": metric,
            "complete": {"type": "boolean"},
        },
    }
    realized = {k: number_or_null for k in ("auc", "accuracy", "brier", "ece", "rmse", "mae")}
    window = {
        "type": "object",
        "required": ["start", "end", "start_time", "end_time", "n", "estimated"],
        "properties": {
            "start": {"type": "number"},
            "end": {"type": "number"},
            "start_time": {"type": "string"},
            "end_time": {"type": "string"},
            "n": {"type": "integer"},
            **realized,
            "estimated": estimated,
        },
    }
    overall = {
        "type": "object",
        "required": ["n", "estimated"],
        "properties": {"n": {"type": "integer"}, **realized, "estimated": estimated},
    }
    estimation = {
        "type": "object",
        "required": ["reason"],
        "properties": {
            "cap": {"type": "integer"},
            "in_span": {"type": "integer"},
            "read": {"type": "integer"},
            "capped": {"type": "boolean"},
            "oldest_read": number_or_null,
            "oldest_read_time": {"type": ["string", "null"]},
            "skipped": {"type": "integer"},
            "confidence": {"type": "number"},
            "draws": {"type": "integer"},
            "reason": {"type": ["string", "null"]},
        },
    }
    return {
        "type": "object",
        "required": [
            "task", "since", "labelled", "window_seconds", "windows", "overall", "skipped",
            "estimation",
        ],
        "properties": {
            "task": {"type": "string"},
            "since": {"type": "number"},
            "labelled": {"type": "integer"},
            "window_seconds": {"type": "number"},
            "windows": {"type": "array", "items": window},
            "overall": overall,
            "skipped": {"type": "integer"},
            "estimation": estimation,
        },
    }  # fmt: skip


def _model_paths(max_batch: int) -> dict[str, Any]:
    record = {"$ref": _REF + "Record"}
    batch_item = {"anyOf": [{"$ref": _REF + "Prediction"}, {"$ref": _REF + "RecordErrors"}]}
    return {
        "/v1/predict": {
            "post": {
                "summary": "Score one record or a batch (checked, explained, archived).",
                "operationId": "predict",
                "parameters": [
                    {
                        "name": "all_or_nothing",
                        "in": "query",
                        "required": False,
                        "description": "Refuse the whole batch (422) when any record is invalid.",
                        "schema": {"type": "boolean"},
                    }
                ],
                "requestBody": one_or_many(record, max_batch),
                "responses": responses(
                    {
                        "anyOf": [
                            {"$ref": _REF + "Prediction"},
                            {
                                "type": "object",
                                "required": ["model_version", "predictions"],
                                "additionalProperties": False,
                                "properties": {
                                    "model_version": {"type": "string"},
                                    "predictions": {"type": "array", "items": batch_item},
                                },
                            },
                        ]
                    },
                    *BODY_ERRORS,
                ),
            }
        },
        "/v1/predictions/{id}": {
            "get": {
                "summary": "The archived decision of one prediction id.",
                "operationId": "getPrediction",
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": responses(
                    {
                        "type": "object",
                        "required": ["id"],
                        "properties": {"id": {"type": "string"}},
                    },
                    404,
                    503,
                ),
            }
        },
        "/v1/predictions": {
            "get": {
                "summary": "The newest archived decisions.",
                "operationId": "listPredictions",
                "parameters": [
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                    }
                ],
                "responses": responses(
                    {
                        "type": "object",
                        "required": ["predictions"],
                        "additionalProperties": False,
                        "properties": {
                            "predictions": {"type": "array", "items": {"type": "object"}}
                        },
                    },
                    400,
                    503,
                ),
            }
        },
        "/v1/outcomes": {
            "post": {
                "summary": "True outcomes of earlier predictions, by id or business key.",
                "operationId": "addOutcomes",
                "requestBody": one_or_many({"$ref": _REF + "OutcomeIn"}, max_batch),
                "responses": responses(
                    {
                        "type": "object",
                        "required": ["matched", "unknown"],
                        "additionalProperties": False,
                        "properties": {
                            "matched": {"type": "integer", "minimum": 0},
                            "unknown": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["index"],
                                    "properties": {
                                        "index": {"type": "integer"},
                                        "id": {"type": "string"},
                                        "key": {"type": "string"},
                                    },
                                },
                            },
                        },
                    },
                    *BODY_ERRORS,
                ),
            }
        },
        "/v1/performance": {
            "get": {
                "summary": (
                    "Realized performance per time window from the joined outcomes, and "
                    "beside it the performance estimated before outcomes (binary models)."
                ),
                "operationId": "performance",
                "parameters": [
                    {
                        "name": "window",
                        "in": "query",
                        "required": False,
                        "description": "The width of each time window, e.g. 1h or 1d.",
                        "schema": {"type": "string"},
                    }
                ],
                "responses": responses(performance_schema(), 400, 503),
            }
        },
        "/v1/drift": {
            "get": {
                "summary": "The live window's drift against the training profile.",
                "operationId": "drift",
                "responses": responses({"type": "object"}, 503),
            }
        },
    }


def _common_paths() -> dict[str, Any]:
    text = {"type": "string"}
    return {
        "/v1/stats": {
            "get": {
                "summary": "Health, request rate, latency and counts of this worker.",
                "operationId": "stats",
                "responses": responses({"$ref": _REF + "Stats"}),
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics of every worker.",
                "operationId": "metrics",
                "responses": responses(text, media="text/plain"),
            }
        },
        "/healthz": {
            "get": {
                "summary": "The process answers (no token needed).",
                "operationId": "healthz",
                "security": [],
                "responses": {
                    "200": {
                        "description": "Alive",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["status"],
                                    "additionalProperties": False,
                                    "properties": {"status": {"const": "ok"}},
                                }
                            }
                        },
                    },
                    "405": responses(None, 405)["405"],
                },
            }
        },
        "/readyz": {
            "get": {
                "summary": "Ready to serve (no token needed); 503 while loading or stopping.",
                "operationId": "readyz",
                "security": [],
                "responses": {
                    "200": {
                        "description": "Ready",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["status", "kind", "model_version"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "status": {"const": "ready"},
                                        "kind": {"type": "string"},
                                        "model_version": {"type": "string"},
                                    },
                                }
                            }
                        },
                    },
                    "405": responses(None, 405)["405"],
                    "503": responses(None, 503)["503"],
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document.",
                "operationId": "openapi",
                "responses": responses({"type": "object"}),
            }
        },
    }


def openapi_document(
    config: ServeConfig,
    *,
    version: str,
    contract: Any = None,
    task: Any = None,
    extra_paths: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of a service.

    Parameters
    ----------
    config : ServeConfig
    version : str
        The bundle's version (the document's ``info.version`` names it).
    contract : Schema, optional
        The model bundle's scoring contract (None for a recommender bundle).
    task : Task, optional
        The model's task: the prediction schema (class labels, probabilities or value).
    extra_paths : mapping, optional
        More paths (a recommender bundle's routes).
    """
    paths: dict[str, Any] = {}
    if contract is not None:
        paths.update(_model_paths(config.max_batch))
    paths.update(extra_paths or {})
    paths.update(_common_paths())
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "suture serve",
            "version": version,
            "description": f"Served by suture {__version__}; see docs/serve.md.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": {
                "Error": error_schema(),
                "Problem": _problem(),
                "Stats": _stats(),
                "Record": _record(contract),
                "Prediction": _prediction(task),
                "OutcomeIn": {
                    "type": "object",
                    "required": ["outcome"],
                    "properties": {
                        "id": {"type": "string"},
                        "key": {"type": ["string", "integer"]},
                        "outcome": {},
                        "ts": {"type": "number"},
                    },
                },
                "RecordErrors": {
                    "type": "object",
                    "required": ["index", "errors"],
                    "additionalProperties": False,
                    "properties": {
                        "index": {"type": "integer", "minimum": 0},
                        "errors": {"type": "array", "items": {"$ref": _REF + "Problem"}},
                    },
                },
            }
        },
    }
    if config.token is not None:
        document["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        document["security"] = [{"bearer": []}]
    return document
