"""The app factory: ``create_app(config)`` builds the Starlette app of ``loopml serve``.

``/predict``, ``/invocations`` (MLflow scoring protocol), the Open Inference Protocol v2
(``/v2/...``), ``/feedback``, ``/healthz``, ``/readyz``, ``/metrics`` and ``/openapi.json``. Each
prediction request is read under the body limit (its ``Content-Type`` checked first:
:mod:`loopml.serving.content`), decoded column-wise (:mod:`loopml.serving.decode`; CSV on
``/invocations``: :mod:`loopml.serving.csv_input`), batched with concurrent requests
(:mod:`loopml.serving.batching`), answered with the output of the method ``params.method`` asks
for (:mod:`loopml.serving.outputs`), the version of the model that served it and an
``x-request-id`` header, and recorded in the prediction log (:mod:`loopml.monitoring.prediction_log`)
under that id: the request's decoded columns and prediction array are appended by reference,
the conversion to Parquet happens on the log's own thread. The model loads in the background
(:mod:`loopml.serving.reload`), so the process listens at once and ``/readyz`` says when it can predict.
A shadow or canary model beside the champion (``--shadow``, ``--canary``) is wired in
:mod:`loopml.serving.roles`; every answer names its version (``x-model-version``) and who gave it
(``x-served-by``: ``champion`` or ``canary``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from loopml.config import Settings, load_settings
from loopml.core.errors import InvalidInput, LoopmlError, NotFound, PayloadTooLarge, RequestTimeout
from loopml.core.ids import request_id, request_time
from loopml.core.uris import parse_uri
from loopml.core.version import __version__
from loopml.features.repo import load_definitions
from loopml.monitoring.layout import PredictionLayout
from loopml.monitoring.prediction_log import LocalSegmentSink, PredictionLog, SegmentSink, StoreSegmentSink
from loopml.monitoring.retention import Retention
from loopml.serving.batching import NOTHING_MORE, MicroBatcher, Prediction, Wants, check_outputs
from loopml.serving.body import InflightBudget, Overloaded, read_body
from loopml.serving.config import ServingConfig
from loopml.serving.content import UnsupportedMediaType, body_format
from loopml.serving.csv_input import decode_csv
from loopml.serving.decode import Columns, decode_invocations, decode_method, decode_predict, parse_json
from loopml.serving.feedback import parse_feedback
from loopml.serving.http_errors import http_error
from loopml.serving.metrics import CONTENT_TYPE, MetricsMiddleware, ServingMetrics
from loopml.serving.model import ModelSlot, ServedModel
from loopml.serving.oip import metadata as oip_metadata
from loopml.serving.oip_http import OipRequest, parse_request, response_body
from loopml.serving.openapi import openapi_document
from loopml.serving.outputs import invocations_predictions, predict_fields, wants_of
from loopml.serving.reload import Loader, ModelWatcher, Resolver, registry_loader, registry_resolver
from loopml.serving.responses import JSONResponse, error_response, plain_error
from loopml.serving.roles import Roles, open_roles

Decoder = Callable[[Any, ServedModel], Columns]
CsvDecoder = Callable[[bytes, ServedModel], Columns]
Parser = Callable[[bytes], Any]
logger = logging.getLogger("loopml.serving")

"""Where ``log_feedback(model, request_ids, labels, *, rows=None) -> FeedbackResult`` lives."""


class Call:
    """One prediction request in flight: its id, arrival time, the columns it decoded to, who answered it."""

    __slots__ = (
        "columns",
        "endpoint",
        "method",
        "method_field",
        "request_id",
        "sampled",
        "served_by",
        "started",
        "time_ms",
        "wants",
    )

    def __init__(self, endpoint: str, sampled: bool = True) -> None:
        self.started = time.perf_counter()
        self.time_ms = int(time.time() * 1000)
        self.request_id = request_id(self.time_ms)
        self.endpoint = endpoint
        self.sampled = sampled
        """The prediction log's sampling draw, shared by the served row and its shadow."""
        self.served_by = "champion"
        self.columns: Columns | None = None
        self.wants: Wants = NOTHING_MORE
        """Outputs the request asked for besides ``predict`` (set by its decoder; see ``batching.OUTPUTS``)."""
        self.method = "predict"
        """The model method whose output answers the request (``params.method``)."""
        self.method_field = "params.method"
        """Where the request named its method, for errors (``method`` for a CSV body's query parameter)."""

    def ask(self, method: str, field: str = "params.method") -> None:
        """Answer with ``method``'s output (named at ``field`` in the request)."""
        self.method, self.method_field, self.wants = method, field, wants_of(method)


class Endpoints:
    """The request handlers, over one process's model slot, batcher, metrics and prediction log."""

    def __init__(
        self,
        config: ServingConfig,
        slot: ModelSlot,
        batcher: MicroBatcher,
        watcher: ModelWatcher,
        budget: InflightBudget,
        body_timeout: float,
        log: PredictionLog | None = None,
        roles: Roles | None = None,
    ) -> None:
        self.roles = roles or Roles()
        self.config = config
        self.slot = slot
        self.batcher = batcher
        self.watcher = watcher
        self.budget = budget
        self.body_timeout = body_timeout
        self.log = log
        uri = parse_uri(config.model_uri)
        # before the first load, failed requests are filed under the name the URI gives (runs:/ -> "model")
        self._pending_model = (uri.name if uri.scheme == "models" else "model", uri.version)

    async def _run(
        self,
        request: Request,
        decoder: Decoder,
        call: Call,
        endpoint: str,
        parse: Parser = parse_json,
        *,
        media: bool = False,
        csv: CsvDecoder | None = None,
    ) -> Prediction | Response:
        """Read, ``parse``, decode and predict one request; an error response (logged) for anything the
        client got wrong.

        ``media``: check the ``Content-Type`` first (JSON, or CSV when a ``csv`` decoder is given; 415 else).
        """
        held = 0
        try:
            with self.batcher.arriving():
                model = self.slot.current
                kind = body_format(request.headers.get("content-type"), csv=csv is not None) if media else "json"
                body = await read_body(request, self.config.max_body_bytes, self.budget, self.body_timeout)
                held = len(body)
                columns = csv(body, model) if csv is not None and kind == "csv" else decoder(parse(body), model)
                del body
                if call.wants:
                    check_outputs(model, call.wants, call.method_field)
            return await self.dispatch(call, model, columns, request.headers)
        except LoopmlError as exc:
            return self._done(call, endpoint, error_response(exc, _error_headers(exc)), None)
        except ClientDisconnect:  # the client left: no answer, nothing to log
            raise
        except Exception:
            self._log(call, endpoint, 500, None)
            raise
        finally:
            self.budget.give(held)

    async def dispatch(
        self, call: Call, model: ServedModel, columns: Columns, headers: Mapping[str, str]
    ) -> Prediction:
        """Predict a decoded call with the champion's batcher, or the canary's when ``headers`` pick it."""
        call.columns = columns
        batcher = self.batcher
        canary = self.roles.canary
        if canary is not None and self.roles.canary_batcher is not None and canary.pick(headers, model):
            batcher, call.served_by = self.roles.canary_batcher, "canary"
        result = await batcher.predict(columns, call, call.wants)
        if result.inputs is not None:  # the fetched features join the request's columns in the log
            call.columns = result.inputs
        return result

    def _done(self, call: Call, endpoint: str, response: Response, result: Prediction | None) -> Response:
        """Stamp the request id on ``response`` and log the request."""
        response.headers["x-request-id"] = call.request_id
        if result is not None:
            response.headers["x-model-version"] = "" if result.model.version is None else str(result.model.version)
            response.headers["x-served-by"] = call.served_by
        self._log(call, endpoint, response.status_code, result)
        return response

    def log_call(self, call: Call, endpoint: str, status: int, result: Prediction | None) -> None:
        """Record ``call`` in the prediction log (``status``: the HTTP status it answered, or its equivalent)."""
        self._log(call, endpoint, status, result)

    def _log(self, call: Call, endpoint: str, status: int, result: Prediction | None) -> None:
        log = self.log
        if log is None:
            return
        model = result.model if result is not None else self.slot.peek()
        name, version = self._pending_model if model is None else (model.name, model.version)
        columns = call.columns if result is not None else None
        log.record(
            request_id=call.request_id,
            time_ms=call.time_ms,
            model=name,
            version=version,
            endpoint=endpoint,
            status=status,
            latency_ms=(time.perf_counter() - call.started) * 1000,
            inputs=None if columns is None else columns.data,
            n_rows=1 if columns is None else columns.n_rows,
            prediction=None if result is None else result.values,
            proba=None if result is None else result.proba,
            classes=None if result is None else result.classes,
            served_by=call.served_by,
            sampled=call.sampled,
        )

    def _call(self, endpoint: str) -> Call:
        return Call(endpoint, True if self.log is None else self.log.draw())

    def new_call(self, endpoint: str) -> Call:
        """A call for a request arriving outside the HTTP routes (gRPC), with its log sampling draw."""
        return self._call(endpoint)

    async def predict(self, request: Request) -> Response:
        call = self._call("predict")

        def decode(doc: Any, model: ServedModel) -> Columns:
            if isinstance(doc, dict):  # params first: a bad one is named even when the rows are bad too
                call.ask(decode_method(doc.get("params")))
            return decode_predict(doc, model.request_names)

        result = await self._run(request, decode, call, "predict", media=True)
        if isinstance(result, Response):
            return result
        body = {**predict_fields(result, call.method), "model": result.model.info(), "request_id": call.request_id}
        return self._done(call, "predict", JSONResponse(body), result)

    async def invocations(self, request: Request) -> Response:
        call = self._call("invocations")
        query_method = request.query_params.get("method")

        def decode(doc: Any, model: ServedModel) -> Columns:
            if query_method is not None:
                problem = 'the method query parameter is for CSV bodies; in JSON send "params": {"method": ...}'
                details = [{"field": "method", "problem": problem}]
                raise InvalidInput(f"Invalid request: method: {problem}.", details=details)
            if isinstance(doc, dict):
                call.ask(decode_method(doc.get("params")))
            return decode_invocations(doc, model.request_names)

        def decode_rows(body: bytes, model: ServedModel) -> Columns:
            if query_method is not None:
                call.ask(decode_method({"method": query_method}, field=""), "method")
            return decode_csv(body, model.request_dtypes)

        result = await self._run(request, decode, call, "invocations", media=True, csv=decode_rows)
        if isinstance(result, Response):
            return result
        body = {"predictions": invocations_predictions(result, call.method)}
        return self._done(call, "invocations", JSONResponse(body), result)

    async def v2_infer(self, request: Request) -> Response:
        call = self._call("v2")

        def decode(parsed: OipRequest, model: ServedModel) -> Columns:
            self._check_name(request, model)
            columns = parsed.columns(model)
            call.wants = parsed.wants(model)
            return columns

        parsed: list[OipRequest] = []

        def parse(body: bytes) -> OipRequest:
            parsed.append(parse_request(body, request.headers))
            return parsed[0]

        result = await self._run(request, decode, call, "v2", parse)
        if isinstance(result, Response):
            return result
        body, headers, media_type = response_body(result, parsed[0], call.request_id)
        return self._done(call, "v2", Response(body, headers=headers, media_type=media_type), result)

    async def feedback(self, request: Request) -> Response:
        """``POST /feedback``: labels for logged predictions of the served model."""
        held = 0
        try:
            model = self.slot.current
            body = await read_body(request, self.config.max_body_bytes, self.budget, self.body_timeout)
            held = len(body)
            batch = parse_feedback(parse_json(body))
            del body
            await self._flush_if_buffered(batch.request_ids)
            log_feedback = _feedback_function()
            result = await asyncio.to_thread(log_feedback, model.name, batch.request_ids, batch.labels, rows=batch.rows)
        except LoopmlError as exc:
            return error_response(exc, _error_headers(exc))
        finally:
            self.budget.give(held)
        return JSONResponse(result.to_dict())

    async def _flush_if_buffered(self, request_ids: list[str]) -> None:
        """Flush the log (off the loop) when a labelled request may still be in memory, so the store finds it."""
        log = self.log
        if log is None:
            return
        since = log.holds_since()
        if since is None:
            return
        newest = max((t for t in map(request_time, request_ids) if t is not None), default=None)
        if newest is not None and newest >= since:
            await asyncio.to_thread(log.flush)

    async def v2_model(self, request: Request) -> Response:
        try:
            model = self.slot.current
            self._check_name(request, model)
        except LoopmlError as exc:
            return error_response(exc, _error_headers(exc))
        return JSONResponse(
            {
                "name": model.name,
                "versions": [] if model.version is None else [str(model.version)],
                "platform": f"loopml-{model.loaded.flavor}",
                **oip_metadata(model),
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
        return JSONResponse({"status": "ready", "model": model.info(), **self.roles.status(), **self._refused()})

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
    if config.feature_defs is not None:  # the operator's on-demand view code, imported before any model loads
        load_definitions(config.feature_defs)
    slot = ModelSlot()
    metrics = ServingMetrics()
    settings = load_settings()
    log = open_prediction_log(config, settings)
    if log is not None:
        metrics.watch_log(log)
    with_proba = log is not None and config.log_proba
    load = loader or registry_loader(trust=config.trust, trusted_types=config.trusted_types)
    resolve = resolver or registry_resolver
    roles = open_roles(config, metrics, log, load, resolve, with_proba)
    batcher = MicroBatcher(
        slot,
        max_batch_size=config.max_batch_size,
        max_wait_ms=config.max_wait_ms,
        observer=metrics.observe_batch,
        with_proba=with_proba,
        listener=None if roles.shadow is None else roles.shadow.offer,
    )
    watcher = ModelWatcher(
        config.model_uri,
        slot,
        interval=config.reload_interval,
        loader=load,
        resolver=resolve,
        on_swap=metrics.model_swapped,
        on_failure=metrics.load_failed,
    )
    budget, body_timeout = config.max_inflight_bytes, config.body_timeout
    budget = settings.serve_max_inflight_bytes if budget is None else budget
    body_timeout = settings.body_timeout if body_timeout is None else body_timeout
    endpoints = Endpoints(config, slot, batcher, watcher, InflightBudget(budget), body_timeout, log, roles)

    async def metrics_endpoint(request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        metrics.start()
        if log is not None:
            log.start()
        if roles.shadow is not None:
            roles.shadow.start()
        await batcher.start()
        if roles.canary_batcher is not None:
            await roles.canary_batcher.start()
        await watcher.start()
        for role_watcher in roles.watchers():
            await role_watcher.start()
        grpc_server = None
        if config.grpc_port is not None:  # same loop, batcher, log and metrics as the routes
            from loopml.serving.grpc.service import start_grpc

            grpc_server = await start_grpc(
                endpoints, metrics, host=config.grpc_host, port=config.grpc_port,
                max_message_bytes=config.max_body_bytes,
            )  # fmt: skip
        try:
            yield
        finally:
            if grpc_server is not None:
                await grpc_server.stop(grace=5)
            for role_watcher in roles.watchers():
                await role_watcher.stop()
            await watcher.stop()
            await batcher.stop()
            if roles.canary_batcher is not None:
                await roles.canary_batcher.stop()
            if roles.shadow is not None:  # score what is queued, so its rows reach the log before it closes
                await asyncio.to_thread(roles.shadow.stop)
            if log is not None:  # SIGTERM ends here too: what is buffered is written before exit
                await asyncio.to_thread(log.close)
            metrics.stop()

    routes = [
        Route("/predict", endpoints.predict, methods=["POST"]),
        Route("/invocations", endpoints.invocations, methods=["POST"]),
        Route("/feedback", endpoints.feedback, methods=["POST"]),
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
    app.state.prediction_log = log
    app.state.roles = roles
    return app


def open_prediction_log(config: ServingConfig, settings: Settings) -> PredictionLog | None:
    """The prediction log ``config`` asks for (not started), or ``None`` with ``log=False``.

    Segments go under the artifact root, or to the server's monitoring store when tracking is remote.
    A sink that cannot be opened turns logging off with an error in the server log: serving goes on.
    """
    if not config.log:
        return None
    retention = None
    try:
        sink: SegmentSink
        if settings.is_remote:
            from loopml.tracking.session import get_session

            sink = StoreSegmentSink(get_session().open_store("monitoring"))
        else:
            layout = PredictionLayout(settings.prediction_root)
            sink = LocalSegmentSink(layout)
            if config.log_retention is not None:
                retention = Retention(layout, config.log_retention)
    except Exception as exc:
        logger.error("prediction log disabled: cannot open its storage: %s", exc)
        return None
    return PredictionLog(
        sink,
        flush_rows=config.log_flush_rows,
        flush_interval=config.log_flush_interval,
        sample=config.log_sample,
        retention=retention,
    )


def _feedback_function() -> Callable[..., Any]:
    """``loopml.monitoring.feedback.log_feedback``, imported on first use (it opens the monitoring store)."""
    from loopml.monitoring.feedback import log_feedback

    return log_feedback


def create_app_from_env() -> Starlette:
    """Factory for ``uvicorn --factory`` (multi-worker serving): the config from ``LOOPML_SERVE_CONFIG``."""
    return create_app(ServingConfig.from_env())


def _error_headers(exc: LoopmlError) -> dict[str, str] | None:
    if isinstance(exc, Overloaded | PayloadTooLarge | RequestTimeout | UnsupportedMediaType):
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
