"""``GET /openapi.json``: the OpenAPI 3.1 description of the serving endpoints.

Written by hand (the app is plain Starlette, for speed) and filled in with the loaded model's
signature, so the ``Row`` schema lists the real input columns and their JSON types.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopml.core.version import __version__
from loopml.serving.decode import METHODS

if TYPE_CHECKING:
    from loopml.serving.config import ServingConfig
    from loopml.serving.model import ServedModel

_JSON_TYPES = {
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "string": {"type": "string"},
    "datetime": {"type": "string", "format": "date-time"},
}
_V2 = {"int": "INT64", "float": "FP64", "bool": "BOOL", "string": "BYTES", "datetime": "BYTES"}


def v2_datatype(dtype: str) -> str:
    """The Open Inference Protocol datatype for a signature dtype."""
    return _V2.get(dtype, "BYTES")


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_body(schema: dict[str, Any], example: Any = None) -> dict[str, Any]:
    content: dict[str, Any] = {"schema": schema}
    if example is not None:
        content["example"] = example
    return {"required": True, "content": {"application/json": content}}


def _responses(ok: str, schema: dict[str, Any], *codes: int) -> dict[str, Any]:
    out: dict[str, Any] = {"200": {"description": ok, "content": {"application/json": {"schema": schema}}}}
    reasons = {
        404: "Unknown model name or version",
        408: "The request body stopped arriving (LOOPML_BODY_TIMEOUT)",
        413: "Body larger than --max-body-bytes",
        415: "Unsupported Content-Type (details name content-type)",
        422: "Invalid input (details name each field)",
        503: "The model is still loading, or the worker holds LOOPML_SERVE_MAX_INFLIGHT_BYTES of requests; retry",
    }
    retry = {"Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "string"}}}
    for code in codes:
        out[str(code)] = {"description": reasons[code], "content": {"application/json": {"schema": _ref("Error")}}}
        if code == 503:
            out[str(code)]["headers"] = retry
    return out


def openapi_document(model: ServedModel | None, config: ServingConfig) -> dict[str, Any]:
    """The document for the model being served (or a generic one while it loads)."""
    signature = model.signature if model is not None else None
    columns = {} if signature is None else {c.name: _JSON_TYPES.get(c.dtype, {}) for c in signature.inputs}
    row: dict[str, Any] = {"type": "object", "additionalProperties": True}
    if columns:
        row.update(properties=columns, required=list(columns))
    example_row = {name: 0 if schema.get("type") in ("integer", "number") else "" for name, schema in columns.items()}
    served = f"{model.name} version {model.version} ({model.uri})" if model is not None else config.model_uri
    predict_errors = (408, 413, 422, 503)
    scalar = {"type": ["number", "integer", "string", "boolean", "null"]}
    method = {"enum": list(METHODS), "default": "predict", "description": "The model method that answers"}
    schemas: dict[str, Any] = {
        "Row": row,
        "Error": {
            "type": "object",
            "required": ["error", "type", "details"],
            "properties": {
                "error": {"type": "string"},
                "type": {"type": "string"},
                "details": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"field": {"type": "string"}, "problem": {"type": "string"}},
                    },
                },
            },
        },
        "Params": {
            "type": ["object", "null"],
            "description": "Inference params: only the method (a model without it answers 422 naming params.method)",
            "properties": {"method": method},
            "additionalProperties": False,
        },
        "PredictRequest": {
            "oneOf": [
                {
                    "type": "object",
                    "required": ["inputs"],
                    "properties": {
                        "inputs": {"type": "array", "minItems": 1, "items": _ref("Row")},
                        "params": _ref("Params"),
                    },
                    "additionalProperties": False,
                },
                {
                    "type": "object",
                    "required": ["columns", "data"],
                    "properties": {
                        "columns": {"type": "array", "items": {"type": "string"}},
                        "data": {"type": "array", "items": {"type": "array", "items": scalar}},
                        "params": _ref("Params"),
                    },
                    "additionalProperties": False,
                },
            ]
        },
        "PredictResponse": {
            "type": "object",
            "required": ["predictions", "model", "request_id"],
            "properties": {
                "predictions": {
                    "type": "array",
                    "description": "predict: one value per row; predict_proba: one array per row, one probability per "
                    "class (in the order of classes); decision_function: one score per row for a binary classifier "
                    "(the score of positive_class), else one array of per-class scores per row",
                },
                "classes": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "The class labels of the columns (predict_proba, decision_function)",
                },
                "positive_class": {
                    "type": "string",
                    "description": "The class a binary decision_function scores",
                },
                "model": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "version": {"type": ["integer", "null"]},
                        "uri": {"type": "string"},
                    },
                },
                "request_id": {
                    "type": "string",
                    "description": "32 hex characters, the first 12 the Unix ms of arrival; also the x-request-id "
                    "header, and the key POST /feedback takes",
                },
            },
        },
        "InvocationsRequest": {
            "type": "object",
            "description": "MLflow scoring protocol: exactly one of the four keys.",
            "properties": {
                "dataframe_split": {
                    "type": "object",
                    "properties": {"columns": {"type": "array"}, "data": {"type": "array"}, "index": {"type": "array"}},
                },
                "dataframe_records": {"type": "array", "items": _ref("Row")},
                "instances": {"type": "array"},
                "inputs": {"type": ["array", "object"]},
                "params": _ref("Params"),
            },
        },
        "InvocationsResponse": {
            "type": "object",
            "required": ["predictions"],
            "properties": {
                "predictions": {
                    "type": "array",
                    "description": "predict: one value per row; predict_proba and multi-class decision_function: one "
                    'record per row keyed by class label ({"<class>": value, ...}), as MLflow returns a DataFrame; '
                    "binary decision_function: one score per row (the second class's)",
                }
            },
        },
        "Tensor": {
            "type": "object",
            "required": ["name", "shape", "datatype"],
            "properties": {
                "name": {"type": "string"},
                "parameters": {"type": "object", "description": "content_type, binary_data_size, classes"},
                "shape": {"type": "array", "items": {"type": "integer"}},
                "datatype": {
                    "enum": [
                        "BOOL",
                        "INT8",
                        "INT16",
                        "INT32",
                        "INT64",
                        "UINT8",
                        "UINT16",
                        "UINT32",
                        "UINT64",
                        "FP16",
                        "FP32",
                        "FP64",
                        "BYTES",
                    ]
                },
                "data": {"type": "array"},
            },
        },
        "InferRequest": {
            "type": "object",
            "required": ["inputs"],
            "properties": {
                "id": {"type": "string"},
                "parameters": {"type": "object", "description": "content_type (np or pd), binary_data_output"},
                "inputs": {"type": "array", "items": _ref("Tensor")},
                "outputs": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {
                            "name": {"enum": ["predict", "predict_proba", "decision_function"]},
                            "parameters": {"type": "object", "description": "binary_data"},
                        },
                    },
                },
            },
        },
        "InferResponse": {
            "type": "object",
            "properties": {
                "model_name": {"type": "string"},
                "model_version": {"type": ["string", "null"]},
                "id": {"type": "string"},
                "outputs": {"type": "array", "items": _ref("Tensor")},
            },
        },
        "FeedbackItem": {
            "type": "object",
            "required": ["request_id", "label"],
            "properties": {
                "request_id": {"type": "string", "minLength": 1, "maxLength": 128},
                "label": {
                    "description": "A JSON scalar, or a list of them labelling rows 0..n-1 (then no row)",
                    "oneOf": [
                        {"type": ["number", "integer", "string", "boolean"]},
                        {"type": "array", "minItems": 1, "items": {"type": ["number", "integer", "string", "boolean"]}},
                    ],
                },
                "row": {"type": "integer", "minimum": 0, "default": 0},
            },
            "additionalProperties": False,
        },
        "FeedbackRequest": {
            "oneOf": [
                _ref("FeedbackItem"),
                {
                    "type": "object",
                    "required": ["feedback"],
                    "properties": {"feedback": {"type": "array", "minItems": 1, "items": _ref("FeedbackItem")}},
                    "additionalProperties": False,
                },
            ]
        },
        "FeedbackResponse": {
            "type": "object",
            "required": ["accepted", "unknown", "unknown_count"],
            "properties": {
                "accepted": {"type": "integer"},
                "unknown": {"type": "array", "items": {"type": "string"}, "description": "at most 100 shown"},
                "unknown_count": {"type": "integer"},
            },
        },
        "ModelMetadata": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "versions": {"type": "array", "items": {"type": "string"}},
                "platform": {"type": "string"},
                "inputs": {"type": "array"},
                "outputs": {"type": "array"},
            },
        },
    }
    status = {"type": "object"}
    name_param = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    version_param = {"name": "version", "in": "path", "required": True, "schema": {"type": "string"}}
    infer: dict[str, Any] = {
        "summary": "Open Inference Protocol v2 inference: one tensor per input column, or one 2-D tensor",
        "description": "parameters.content_type np (one tensor is the whole input) or pd (one per column). "
        "Binary tensor data extension: with the Inference-Header-Content-Length header the body is that many "
        "bytes of JSON then each input's raw little-endian bytes (parameters.binary_data_size); outputs are "
        "binary when parameters.binary_data_output or an output's parameters.binary_data asks. Outputs: "
        "predict, predict_proba, decision_function (docs/serving.md).",
        "requestBody": _json_body(_ref("InferRequest")),
        "responses": _responses("Output tensors", _ref("InferResponse"), 404, 415, *predict_errors),
    }
    metadata = {
        "summary": "Model metadata: name, versions, platform, input and output tensors",
        "responses": _responses("Metadata", _ref("ModelMetadata"), 404, 503),
    }
    model_ready = {"summary": "Whether this model is ready", "responses": _responses("Ready", status, 404, 503)}
    request_header = {
        "x-request-id": {
            "description": "The id this prediction is logged under (POST /feedback takes it)",
            "schema": {"type": "string"},
        }
    }
    infer["responses"]["200"]["headers"] = request_header
    paths: dict[str, Any] = {
        "/predict": {
            "post": {
                "summary": "Predict rows (records or columns + data)",
                "requestBody": _json_body(_ref("PredictRequest"), {"inputs": [example_row]} if columns else None),
                "responses": _responses("Predictions", _ref("PredictResponse"), 415, *predict_errors),
            }
        },
        "/invocations": {
            "post": {
                "summary": "MLflow scoring protocol (JSON, or CSV with a header row)",
                "parameters": [
                    {
                        "name": "method",
                        "in": "query",
                        "required": False,
                        "description": "For text/csv bodies only (a JSON body names it in params.method)",
                        "schema": method,
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": _ref("InvocationsRequest")},
                        "text/csv": {
                            "schema": {"type": "string", "description": "A header row naming the columns, then rows"},
                            "example": ",".join(columns) + "\n" + ",".join(map(str, example_row.values())) + "\n"
                            if columns
                            else "column_a,column_b\n1.5,text\n",
                        },
                    },
                },
                "responses": _responses("Predictions", _ref("InvocationsResponse"), 415, *predict_errors),
            }
        },
        "/feedback": {
            "post": {
                "summary": "Ground-truth labels for logged predictions (by the request id of each prediction)",
                "requestBody": _json_body(_ref("FeedbackRequest"), {"request_id": "0" * 32, "label": 1}),
                "responses": _responses(
                    "Labels stored; unknown request ids are stored too and counted",
                    _ref("FeedbackResponse"),
                    408,
                    413,
                    422,
                    503,
                ),
            }
        },
        "/v2": {"get": {"summary": "Server metadata", "responses": _responses("Metadata", status)}},
        "/v2/health/live": {"get": {"summary": "Liveness", "responses": _responses("Live", status)}},
        "/v2/health/ready": {"get": {"summary": "Readiness", "responses": _responses("Ready", status, 503)}},
        "/v2/models/{name}": {"get": {**metadata, "parameters": [name_param]}},
        "/v2/models/{name}/ready": {"get": {**model_ready, "parameters": [name_param]}},
        "/v2/models/{name}/infer": {"post": {**infer, "parameters": [name_param]}},
        "/v2/models/{name}/versions/{version}": {"get": {**metadata, "parameters": [name_param, version_param]}},
        "/v2/models/{name}/versions/{version}/ready": {
            "get": {**model_ready, "parameters": [name_param, version_param]}
        },
        "/v2/models/{name}/versions/{version}/infer": {"post": {**infer, "parameters": [name_param, version_param]}},
        "/healthz": {"get": {"summary": "The process is alive", "responses": _responses("Alive", status)}},
        "/readyz": {"get": {"summary": "A model is loaded", "responses": _responses("Ready", status, 503)}},
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "responses": {"200": {"description": "Text exposition format", "content": {"text/plain": {}}}},
            }
        },
        "/openapi.json": {"get": {"summary": "This document", "responses": _responses("OpenAPI 3.1", status)}},
    }
    for path in ("/predict", "/invocations"):
        paths[path]["post"]["responses"]["200"]["headers"] = request_header
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "loopml model serving",
            "version": __version__,
            "description": f"Predictions from {served}. See docs/serving.md.",
        },
        "paths": paths,
        "components": {"schemas": schemas},
    }
