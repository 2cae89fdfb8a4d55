"""The KServe v2 gRPC service, on grpcio's asyncio server, in the event loop of the REST app.

It shares everything with REST: the tensor codec (:mod:`loopml.serving.oip`), the model slot, the
micro-batcher, the prediction log (endpoint ``grpc``) and the metrics (endpoint
``/inference.GRPCInferenceService/<Method>``). Errors map to status codes: a bad request is
``INVALID_ARGUMENT`` with the message REST's 422 gives, an unknown model ``NOT_FOUND``, no model
loaded yet ``UNAVAILABLE``; an unexpected failure is ``INTERNAL`` (the server log has the traceback).
Outputs always travel as ``raw_output_contents`` (what Triton does; tritonclient reads them).

>>> server = await start_grpc(endpoints, metrics, host="127.0.0.1", port=8081)   # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from math import prod
from typing import Any, Protocol

import grpc
import numpy as np

from loopml.core.errors import InvalidInput, LoopmlError, NotFound
from loopml.core.version import __version__
from loopml.serving.batching import MicroBatcher, Prediction
from loopml.serving.decode import Columns
from loopml.serving.grpc import grpc_predict_v2_pb2 as pb
from loopml.serving.grpc import grpc_predict_v2_pb2_grpc as pb_grpc
from loopml.serving.metrics import ServingMetrics
from loopml.serving.model import ModelSlot, ServedModel
from loopml.serving.oip import (
    InTensor,
    check_tensor,
    decode_raw,
    metadata,
    output_tensors,
    requested_outputs,
    to_columns,
    wants_of,
)


class Endpoints(Protocol):
    """What the service uses of the REST app's handlers (:class:`loopml.serving.app.Endpoints`)."""

    slot: ModelSlot
    batcher: MicroBatcher

    def new_call(self, endpoint: str) -> Any:
        """A call (``.wants``, ``.request_id``, ``.started``) with its prediction log sampling draw."""

    async def dispatch(self, call: Any, model: ServedModel, columns: Columns, headers: Mapping[str, str]) -> Prediction:
        """Predict a decoded call with the batcher."""

    def log_call(self, call: Any, endpoint: str, status: int, result: Prediction | None) -> None:
        """Record the call in the prediction log."""


logger = logging.getLogger("loopml.serving")

SERVICE = "/inference.GRPCInferenceService/"
CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    408: grpc.StatusCode.DEADLINE_EXCEEDED,
    409: grpc.StatusCode.ABORTED,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    415: grpc.StatusCode.INVALID_ARGUMENT,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    503: grpc.StatusCode.UNAVAILABLE,
}
"""The gRPC status of each HTTP status a :class:`~loopml.LoopmlError` carries (else ``INTERNAL``)."""

_CONTENTS = {
    "BOOL": "bool_contents",
    **{f"INT{b}": "int_contents" for b in (8, 16, 32)},
    "INT64": "int64_contents",
    **{f"UINT{b}": "uint_contents" for b in (8, 16, 32)},
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}
"""The ``InferTensorContents`` field of each datatype (FP16 travels raw only)."""


class InferenceService(pb_grpc.GRPCInferenceServiceServicer):  # type: ignore[misc]
    """``inference.GRPCInferenceService`` over one serving process's endpoints."""

    def __init__(self, endpoints: Endpoints, metrics: ServingMetrics) -> None:
        self.endpoints = endpoints
        self.metrics = metrics

    async def ServerLive(self, request: Any, context: Any) -> Any:
        return await self._answer("ServerLive", context, lambda: pb.ServerLiveResponse(live=True))

    async def ServerReady(self, request: Any, context: Any) -> Any:
        return await self._answer(
            "ServerReady", context, lambda: pb.ServerReadyResponse(ready=self.endpoints.slot.ready)
        )

    async def ServerMetadata(self, request: Any, context: Any) -> Any:
        return await self._answer(
            "ServerMetadata", context, lambda: pb.ServerMetadataResponse(name="loopml", version=__version__)
        )

    async def ModelReady(self, request: Any, context: Any) -> Any:
        def ready() -> Any:
            model = self.endpoints.slot.peek()
            if model is None:
                return pb.ModelReadyResponse(ready=False)
            _check_name(model, request.name, request.version)
            return pb.ModelReadyResponse(ready=True)

        return await self._answer("ModelReady", context, ready)

    async def ModelMetadata(self, request: Any, context: Any) -> Any:
        def describe() -> Any:
            model = self.endpoints.slot.current
            _check_name(model, request.name, request.version)
            described = metadata(model)
            return pb.ModelMetadataResponse(
                name=model.name,
                versions=[] if model.version is None else [str(model.version)],
                platform=f"loopml-{model.loaded.flavor}",
                inputs=[pb.ModelMetadataResponse.TensorMetadata(**t) for t in described["inputs"]],
                outputs=[pb.ModelMetadataResponse.TensorMetadata(**t) for t in described["outputs"]],
            )

        return await self._answer("ModelMetadata", context, describe)

    async def ModelInfer(self, request: Any, context: Any) -> Any:
        endpoints = self.endpoints
        call = endpoints.new_call("grpc")
        status, failure = 200, None
        try:
            with endpoints.batcher.arriving():
                model = endpoints.slot.current
                _check_name(model, request.model_name, request.model_version)
                tensors = decode_inputs(request)
                outputs = requested_outputs([(o.name, None) for o in request.outputs] or None, True)
                columns = to_columns(tensors, _string(request.parameters, "content_type"), model.request_dtypes)
                call.wants = wants_of(model, outputs)
            result = await endpoints.dispatch(call, model, columns, dict(context.invocation_metadata() or ()))
            response = pb.ModelInferResponse(
                model_name=result.model.name,
                model_version="" if result.model.version is None else str(result.model.version),
                id=request.id or call.request_id,
            )
            for tensor in output_tensors(result, outputs):
                out = response.outputs.add(name=tensor.name, datatype=tensor.datatype, shape=tensor.shape)
                for key, value in tensor.parameters.items():
                    out.parameters[key].string_param = json.dumps(value)
                response.raw_output_contents.append(tensor.raw())
            endpoints.log_call(call, "grpc", 200, result)
            return response
        except LoopmlError as exc:
            status, failure = exc.status_code, exc
            endpoints.log_call(call, "grpc", status, None)
        except Exception:
            status = 500
            logger.exception("gRPC ModelInfer failed")
            endpoints.log_call(call, "grpc", status, None)
        finally:
            self.metrics.observe_request(SERVICE + "ModelInfer", status, time.perf_counter() - call.started)
        await _abort(context, failure)

    async def _answer(self, method: str, context: Any, answer: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        status, failure = 200, None
        try:
            return answer()
        except LoopmlError as exc:
            status, failure = exc.status_code, exc
        except Exception:
            status = 500
            logger.exception("gRPC %s failed", method)
        finally:
            self.metrics.observe_request(SERVICE + method, status, time.perf_counter() - started)
        await _abort(context, failure)


async def _abort(context: Any, failure: LoopmlError | None) -> None:
    """End the call with the status of ``failure`` (``INTERNAL`` for ``None``: an unexpected error)."""
    if failure is None:
        await context.abort(grpc.StatusCode.INTERNAL, "Internal server error; the server log has the details.")
    else:
        await context.abort(CODES.get(failure.status_code, grpc.StatusCode.INTERNAL), failure.message)


def decode_inputs(request: Any) -> list[InTensor]:
    """The request's input tensors, from ``raw_input_contents`` or each tensor's typed ``contents``."""
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise _invalid("raw_input_contents", f"has {len(raw)} entries for {len(request.inputs)} inputs; send one each")
    tensors = []
    for index, tensor in enumerate(request.inputs):
        name = tensor.name
        shape = check_tensor(name, tensor.datatype, list(tensor.shape))
        content_type = _string(tensor.parameters, "content_type", f"inputs.{name}.parameters")
        if raw:
            if tensor.HasField("contents"):
                raise _invalid(f"inputs.{name}.contents", "given with raw_input_contents; send one or the other")
            data: Any = decode_raw(name, tensor.datatype, shape, raw[index])
        else:
            data = _contents(name, tensor.datatype, shape, tensor.contents)
        tensors.append(InTensor(name, tensor.datatype, shape, data, content_type))
    return tensors


def _contents(name: str, datatype: str, shape: tuple[int, ...], contents: Any) -> Any:
    field = _CONTENTS.get(datatype)
    if field is None:
        raise _invalid(f"inputs.{name}.contents", f"{datatype} travels in raw_input_contents only")
    values = getattr(contents, field)
    if len(values) != prod(shape):
        raise _invalid(
            f"inputs.{name}.contents", f"has {len(values)} {field} values but shape {list(shape)} needs {prod(shape)}"
        )
    if datatype != "BYTES":
        return list(values)
    try:
        return np.array(list(map(bytes.decode, values)), dtype=object)
    except UnicodeDecodeError as exc:
        raise _invalid(f"inputs.{name}", f"BYTES elements must be UTF-8 text: {exc}") from None


def _string(parameters: Any, key: str, field: str = "parameters") -> str | None:
    if key not in parameters:
        return None
    parameter = parameters[key]
    if parameter.WhichOneof("parameter_choice") != "string_param":
        raise _invalid(f"{field}.{key}", "expected a string parameter")
    return str(parameter.string_param)


def _check_name(model: ServedModel, name: str, version: str) -> None:
    if name != model.name:
        raise NotFound(
            f"Unknown model {name!r}: this server serves {model.name!r}.",
            details=[{"field": "model_name", "problem": f"unknown model; valid: {model.name}"}],
        )
    if version and version != str(model.version):
        raise NotFound(
            f"Model {name!r} has no version {version!r} here: this server serves version {model.version}.",
            details=[{"field": "model_version", "problem": f"not served; valid: {model.version}"}],
        )


def _invalid(field: str, problem: str) -> InvalidInput:
    return InvalidInput(f"Invalid request: {field}: {problem}.", details=[{"field": field, "problem": problem}])


async def start_grpc(
    endpoints: Endpoints, metrics: ServingMetrics, *, host: str, port: int, max_message_bytes: int
) -> Any:
    """Start ``inference.GRPCInferenceService`` on ``host:port`` in the running loop; the started server.

    Several worker processes may listen on one port (grpc sets ``SO_REUSEPORT``).
    """
    options = [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", -1),
        ("grpc.so_reuseport", 1),
    ]
    server = grpc.aio.server(options=options)
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(InferenceService(endpoints, metrics), server)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        server.add_insecure_port(address)
    except RuntimeError as exc:
        raise InvalidInput(
            f"Cannot listen for gRPC on {address}: {exc}. Pick another --grpc-port.",
            details=[{"field": "grpc_port", "problem": "cannot listen"}],
        ) from exc
    await server.start()
    return server
