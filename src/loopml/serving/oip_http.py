"""The Open Inference Protocol over HTTP: JSON bodies and the binary tensor data extension.

With the binary extension (what ``tritonclient.http`` sends by default) the body is a JSON header
of ``Inference-Header-Content-Length`` bytes followed by each binary input's raw bytes, in the order
of ``inputs``, each sized by its ``parameters.binary_data_size``. Answers carry an output as raw
bytes when the request asks (``parameters.binary_data_output``, or the output's
``parameters.binary_data``), with the same header on the response. Every size disagreement is a
422 naming the tensor (``inputs.<name>``); a body that is neither JSON nor binary OIP is a 415.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from loopml.core.errors import InvalidInput
from loopml.serving.batching import Prediction, Wants
from loopml.serving.content import UnsupportedMediaType
from loopml.serving.decode import Columns, parse_json
from loopml.serving.model import ServedModel
from loopml.serving.oip import (
    InTensor,
    Requested,
    check_tensor,
    decode_raw,
    json_data,
    output_tensors,
    requested_outputs,
    to_columns,
    wants_of,
)

HEADER = "inference-header-content-length"
BINARY_MEDIA_TYPE = "application/octet-stream"
MEDIA_TYPES = frozenset({"", "application/json", BINARY_MEDIA_TYPE, "application/vnd.sagemaker-triton.binary+json"})
_KEYS = frozenset({"id", "inputs", "outputs", "parameters"})
_TENSOR_KEYS = frozenset({"name", "shape", "datatype", "data", "parameters"})


@dataclass(frozen=True, slots=True)
class OipRequest:
    """A parsed ``/v2/models/{name}/infer`` request, before it meets the model."""

    tensors: list[InTensor]
    content_type: str | None
    outputs: list[Requested]
    id: str | None

    def columns(self, model: ServedModel) -> Columns:
        """The request's columns for ``model`` (its signature names and types them)."""
        return to_columns(self.tensors, self.content_type, model.request_dtypes)

    def wants(self, model: ServedModel) -> Wants:
        """The outputs besides ``predict`` the request needs, checked against ``model``."""
        return wants_of(model, self.outputs)


def parse_request(body: bytes, headers: Mapping[str, str]) -> OipRequest:
    """Parse a JSON or binary-extension infer request (``InvalidInput`` naming the field)."""
    media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media not in MEDIA_TYPES:
        valid = "application/json, application/octet-stream (binary tensor data)"
        raise UnsupportedMediaType(
            f"Unsupported Content-Type {media!r} for an inference request; send {valid}.",
            details=[{"field": "content-type", "problem": f"unsupported media type {media!r}; valid: {valid}"}],
        )
    length = headers.get(HEADER)
    if length is None:
        return _parse_doc(parse_json(body), None)
    if not length.isdigit() or not 0 < int(length) <= len(body):
        raise _invalid(
            "Inference-Header-Content-Length",
            f"{length!r} is not a JSON header length within the body's {len(body)} bytes",
        )
    size = int(length)
    return _parse_doc(parse_json(body[:size]), memoryview(body)[size:])


def _parse_doc(doc: Any, binary: memoryview | None) -> OipRequest:
    if not isinstance(doc, dict) or not isinstance(doc.get("inputs"), list):
        raise _invalid("inputs", 'expected {"inputs": [{"name", "shape", "datatype", "data"}, ...]}')
    unknown = sorted(set(doc) - _KEYS)
    if unknown:
        raise _invalid("body", f"unknown keys {', '.join(unknown)}; valid keys: {', '.join(sorted(_KEYS))}")
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise _invalid("id", "expected a string")
    parameters = _parameters(doc.get("parameters"), "parameters")
    offset = 0
    tensors = []
    last_binary = None
    for index, tensor in enumerate(doc["inputs"]):
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise _invalid(f"inputs.{index}", 'expected {"name", "shape", "datatype", "data"}')
        name = tensor["name"]
        if set(tensor) - _TENSOR_KEYS or not {"shape", "datatype"} <= set(tensor):
            raise _invalid(f"inputs.{name}", "expected the keys name, shape, datatype, data (or parameters)")
        shape = check_tensor(name, tensor["datatype"], tensor["shape"])
        tensor_parameters = _parameters(tensor.get("parameters"), f"inputs.{name}.parameters")
        size = tensor_parameters.get("binary_data_size")
        if size is None:
            if "data" not in tensor:
                raise _invalid(f"inputs.{name}.data", "missing: send data, or binary_data_size and raw bytes")
            data: Any = json_data(name, tensor["datatype"], shape, tensor["data"])
        else:
            if "data" in tensor:
                raise _invalid(f"inputs.{name}", "has both data and parameters.binary_data_size; send one")
            if type(size) is not int or size < 0:
                raise _invalid(f"inputs.{name}.parameters.binary_data_size", "expected a byte count >= 0")
            available = 0 if binary is None else len(binary) - offset
            if size > available:
                raise _invalid(
                    f"inputs.{name}",
                    f"binary_data_size {size} goes beyond the body: {available} bytes of tensor data are left "
                    "(is Inference-Header-Content-Length right?)",
                )
            chunk = b"" if binary is None else binary[offset : offset + size]
            data = decode_raw(name, tensor["datatype"], shape, chunk)
            offset += size
            last_binary = name
        content_type = tensor_parameters.get("content_type")
        if content_type is not None and not isinstance(content_type, str):
            raise _invalid(f"inputs.{name}.parameters.content_type", "expected a string")
        tensors.append(InTensor(name, tensor["datatype"], shape, data, content_type))
    if binary is not None and offset != len(binary):
        field = "body" if last_binary is None else f"inputs.{last_binary}"
        raise _invalid(field, f"the body has {len(binary) - offset} bytes after the last tensor's binary data")
    binary_output = parameters.get("binary_data_output", False)
    if not isinstance(binary_output, bool):
        raise _invalid("parameters.binary_data_output", "expected true or false")
    content_type = parameters.get("content_type")
    if content_type is not None and not isinstance(content_type, str):
        raise _invalid("parameters.content_type", "expected a string")
    return OipRequest(tensors, content_type, requested_outputs(_outputs(doc.get("outputs")), binary_output), request_id)


def _outputs(outputs: Any) -> list[tuple[Any, Any]] | None:
    if outputs is None:
        return None
    if not isinstance(outputs, list) or set(map(type, outputs)) - {dict}:
        raise _invalid("outputs", 'expected a list of {"name": ...}')
    pairs = []
    for output in outputs:
        name = output.get("name")
        parameters = _parameters(output.get("parameters"), f"outputs.{name}.parameters")
        pairs.append((name, parameters.get("binary_data")))
    return pairs


def _parameters(value: Any, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid(field, "expected an object")
    return value


def response_body(result: Prediction, request: OipRequest, request_id: str) -> tuple[bytes, dict[str, str], str]:
    """The answer: body, extra headers and media type (JSON, or JSON header + raw bytes when asked)."""
    model = result.model
    outputs = []
    raws = []
    for tensor in output_tensors(result, request.outputs):
        entry: dict[str, Any] = {"name": tensor.name, "datatype": tensor.datatype, "shape": tensor.shape}
        parameters = dict(tensor.parameters)
        if tensor.binary:
            raw = tensor.raw()
            parameters["binary_data_size"] = len(raw)
            raws.append(raw)
        else:
            entry["data"] = tensor.values()
        if parameters:
            entry["parameters"] = parameters
        outputs.append(entry)
    header = orjson.dumps(
        {
            "model_name": model.name,
            "model_version": None if model.version is None else str(model.version),
            "id": request.id or request_id,  # OIP: echo the client's id; ours is in x-request-id
            "outputs": outputs,
        }
    )
    if not raws:
        return header, {}, "application/json"
    return b"".join((header, *raws)), {"Inference-Header-Content-Length": str(len(header))}, BINARY_MEDIA_TYPE


def _invalid(field: str, problem: str) -> InvalidInput:
    return InvalidInput(f"Invalid request: {field}: {problem}.", details=[{"field": field, "problem": problem}])
