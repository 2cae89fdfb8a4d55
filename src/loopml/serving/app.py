"""The app factory: ``create_app(config)`` builds the Starlette app of ``loopml serve``.

Prediction only: ``/predict``, ``/invocations`` (MLflow scoring protocol), the Open Inference
Protocol v2 (``/v2/...``), ``/healthz``, ``/readyz``, ``/metrics`` and ``/openapi.json``. Each
prediction request is read under the body limit, decoded column-wise
(:mod:`loopml.serving.decode`), batched with concurrent requests
(:mod:`loopml.serving.batching`) and answered with the version of the model that served it.
The model loads in the background (:mod:`loopml.serving.reload`), so the process listens at once
and ``/readyz`` says when it can predict.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from loopml.config import load_settings
from loopml.core.errors import LoopmlError, NotFound, PayloadTooLarge, RequestTimeout
from loopml.core.version import __version__
from loopml.serving.batching import MicroBatcher, Prediction
from loopml.serving.body import InflightBudget, Overloaded, read_body
from loopml.serving.config import ServingConfig
from loopml.serving.decode import Columns, decode_invocations, decode_predict, decode_v2, parse_json
from loopml.serving.http_errors import http_error
from loopml.serving.metrics import CONTENT_TYPE, MetricsMiddleware, ServingMetrics
from loopml.serving.model import ModelSlot, ServedModel
from loopml.serving.openapi import openapi_document, v2_datatype
from loopml.serving.reload import Loader, ModelWatcher, Resolver, registry_loader, registry_resolver
from loopml.serving.responses import JSONResponse, error_response, jsonable, plain_error, v2_output

Decoder = Callable[[Any, ServedModel], Columns]


class Endpoints:
    """The request handlers, over one process's model slot, batcher and metrics."""

    def __init__(
        self,
        config: ServingConfig,
        slot: ModelSlot,
        batcher: MicroBatcher,
        watcher: ModelWatcher,
        budget: InflightBudget,
        body_timeout: float,
    ) -> None:
        self.config = config
        self.slot = slot
        self.batcher = batcher
        self.watcher = watcher
        self.budget = budget
        self.body_timeout = body_timeout

    async def _run(self, request: Request, decoder: Decoder) -> Prediction | Response:
        """Read, decode and predict one request; an error response for anything the client got wrong."""
        held = 0
        try:
            with self.batcher.arriving():
                model = self.slot.current
                body = await read_body(request, self.config.max_body_bytes, self.budget, self.body_timeout)
                held = len(body)
                columns = decoder(parse_json(body), model)
                del body
            return await self.batcher.predict(columns)
        except LoopmlError as exc:
            return error_response(exc, _error_headers(exc))
        finally:
            self.budget.give(held)

    async def predict(self, request: Request) -> Response:
        result = await self._run(request, lambda doc, model: decode_predict(doc, model.input_names))
        if isinstance(result, Response):
            return result
        return JSONResponse(
            {"predictions": jsonable(result.values), "model": result.model.info(), "request_id": uuid.uuid4().hex}
        )

    async def invocations(self, request: Request) -> Response:
        result = await self._run(request, lambda doc, model: decode_invocations(doc, model.input_names))
        if isinstance(result, Response):
            return result
        return JSONResponse({"predictions": jsonable(result.values)})

    async def v2_infer(self, request: Request) -> Response:
        request_id: list[str | None] = [None]

        def decode(doc: Any, model: ServedModel) -> Columns:
            self._check_name(request, model)
            signature = model.signature
            dtypes = None if signature is None else {spec.name: spec.dtype for spec in signature.inputs}
            columns, request_id[0] = decode_v2(doc, dtypes)
            return columns

        result = await self._run(request, decode)
        if isinstance(result, Response):
            return result
        model = result.model
        body = {
            "model_name": model.name,
            "model_version": None if model.version is None else str(model.version),
            "id": request_id[0] or uuid.uuid4().hex,
            "outputs": [v2_output(result.values)],
        }
        return JSONResponse(body)

    async def v2_model(self, request: Request) -> Response:
        try:
            model = self.slot.current
            self._check_name(request, model)
        except LoopmlError as exc:
            return error_response(exc, _error_headers(exc))
        signature = model.signature
        inputs = [] if signature is None else signature.inputs
        output = {} if signature is None else signature.output
        return JSONResponse(
            {
                "name": model.name,
                "versions": [] if model.version is None else [str(model.version)],
                "platform": f"loopml-{model.loaded.flavor}",
                "inputs": [{"name": c.name, "datatype": v2_datatype(c.dtype), "shape": [-1]} for c in inputs],
                "outputs": [
                    {
                        "name": "predict",
                        "datatype": v2_datatype(output.get("dtype", "string")),
                        "shape": output.get("shape", [-1]),
                    }
                ],
            }
        )

    async def v2_model_ready(self, request: Request) -> Response:
        try:
            model = self.slot.current
            self._check_name(request, model)
        except LoopmlError as exc:
            return error_response(exc, _error_headers(exc))
        return JSONResponse({"name": model.name, "ready": True})

    async def v2_server(self, request: Request) -> Response:
        return JSONResponse({"name": "loopml", "version": __version__, "extensions": []})

    async def live(self, request: Request) -> Response:
        return JSONResponse({"live": True})

    async def v2_ready(self, request: Request) -> Response:
        ready = self.slot.ready
        return JSONResponse({"ready": ready}, status_code=200 if ready else 503)

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        model = self.slot.peek()
        if model is None:
            body = {"status": "loading", "model_uri": self.config.model_uri, "last_error": self.watcher.last_error}
            return JSONResponse({**body, **self._refused()}, status_code=503, headers={"Retry-After": "1"})
        # a newer version refused for safety leaves the server ready, on the version it has
        return JSONResponse({"status": "ready", "model": model.info(), **self._refused()})

    def _refused(self) -> dict[str, Any]:
        refused = self.watcher.refused
        return {"refused": [{"uri": uri, "error": why} for uri, why in refused.items()]} if refused else {}

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(openapi_document(self.slot.peek(), self.config))

    @staticmethod
    def _check_name(request: Request, model: ServedModel) -> None:
        name = request.path_params["name"]
        version = request.path_params.get("version")
        if name != model.name:
            raise NotFound(
                f"Unknown model {name!r}: this server serves {model.name!r} (see GET /v2/models/{model.name}).",
                details=[{"field": "name", "problem": f"unknown model; valid: {model.name}"}],
            )
        if version is not None and version != str(model.version):
            raise NotFound(
                f"Model {name!r} has no version {version!r} here: this server serves version {model.version}.",
                details=[{"field": "version", "problem": f"not served; valid: {model.version}"}],
            )


def create_app(config: ServingConfig, *, loader: Loader | None = None, resolver: Resolver | None = None) -> Starlette:
    """The serving app for ``config``. The model loads when the app starts (lifespan), in the background.

    ``loader`` (``uri -> LoadedModel``) and ``resolver`` (``(name, alias) -> version``) default to
    the registry; tests and embedders can pass their own.

    >>> app = create_app(ServingConfig("models:/churn@production"))   # doctest: +SKIP
    >>> uvicorn.run(app, port=8080)                                    # doctest: +SKIP
    """
    slot = ModelSlot()
    metrics = ServingMetrics()
    batcher = MicroBatcher(
        slot, max_batch_size=config.max_batch_size, max_wait_ms=config.max_wait_ms, observer=metrics.observe_batch
    )
    watcher = ModelWatcher(
        config.model_uri,
        slot,
        interval=config.reload_interval,
        loader=loader or registry_loader(trust=config.trust, trusted_types=config.trusted_types),
        resolver=resolver or registry_resolver,
        on_swap=metrics.model_swapped,
        on_failure=metrics.load_failed,
    )
    budget, body_timeout = config.max_inflight_bytes, config.body_timeout
    if budget is None or body_timeout is None:
        settings = load_settings()
        budget = settings.serve_max_inflight_bytes if budget is None else budget
        body_timeout = settings.body_timeout if body_timeout is None else body_timeout
    endpoints = Endpoints(config, slot, batcher, watcher, InflightBudget(budget), body_timeout)

    async def metrics_endpoint(request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await batcher.start()
        await watcher.start()
        try:
            yield
        finally:
            await watcher.stop()
            await batcher.stop()

    routes = [
        Route("/predict", endpoints.predict, methods=["POST"]),
        Route("/invocations", endpoints.invocations, methods=["POST"]),
        Route("/v2", endpoints.v2_server, methods=["GET"]),
        Route("/v2/health/live", endpoints.live, methods=["GET"]),
        Route("/v2/health/ready", endpoints.v2_ready, methods=["GET"]),
        Route("/v2/models/{name}", endpoints.v2_model, methods=["GET"]),
        Route("/v2/models/{name}/ready", endpoints.v2_model_ready, methods=["GET"]),
        Route("/v2/models/{name}/infer", endpoints.v2_infer, methods=["POST"]),
        Route("/v2/models/{name}/versions/{version}", endpoints.v2_model, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}/ready", endpoints.v2_model_ready, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}/infer", endpoints.v2_infer, methods=["POST"]),
        Route("/healthz", endpoints.healthz, methods=["GET"]),
        Route("/readyz", endpoints.readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/openapi.json", endpoints.openapi, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        # Starlette types handlers as taking Exception; ours take the subclass they are registered for
        exception_handlers={HTTPException: _http_error, Exception: _unexpected},  # type: ignore[dict-item]
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.state.slot = slot
    app.state.metrics = metrics
    app.state.batcher = batcher
    app.state.watcher = watcher
    app.state.budget = endpoints.budget
    return app


def create_app_from_env() -> Starlette:
    """Factory for ``uvicorn --factory`` (multi-worker serving): the config from ``LOOPML_SERVE_CONFIG``."""
    return create_app(ServingConfig.from_env())


def _error_headers(exc: LoopmlError) -> dict[str, str] | None:
    if isinstance(exc, Overloaded | PayloadTooLarge | RequestTimeout):
        # the body is unread (or half read): the client should not send it on this connection
        headers = {"Connection": "close"}
        if isinstance(exc, Overloaded):
            headers["Retry-After"] = "1"
        return headers
    return {"Retry-After": "1"} if exc.status_code == 503 else None


async def _http_error(request: Request, exc: HTTPException) -> Response:
    body, headers = http_error(request, exc)
    return JSONResponse(body, status_code=exc.status_code, headers=headers or None)


async def _unexpected(request: Request, exc: Exception) -> Response:
    # Starlette re-raises after sending this, so the server log gets the traceback.
    return plain_error(500, "LoopmlError", "Internal server error; the server log has the details.")
