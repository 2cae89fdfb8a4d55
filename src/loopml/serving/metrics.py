"""Prometheus metrics of one serving process, in its own ``CollectorRegistry`` (never the global one).

=========================================  =========  ==================================================
metric                                     type       labels
=========================================  =========  ==================================================
``loopml_serving_requests_total``          counter    ``endpoint`` (route template), ``status``
``loopml_serving_request_seconds``         histogram  ``endpoint``
``loopml_serving_batch_size``              histogram  requests combined into one ``predict`` call
``loopml_serving_batch_rows``              histogram  rows in one ``predict`` call
``loopml_serving_predict_seconds``         histogram  time of one batch (validate + predict)
``loopml_serving_model_info``              gauge      ``name``, ``version``, ``uri``: 1 for the model served
``loopml_serving_model_reloads_total``     counter    models swapped in (the first load counts)
``loopml_serving_model_load_failures_total``  counter  ``error``: loads that failed (``SecurityError``:
                                                       refused for safety), each distinct failure once
``loopml_serving_role_model_info``        gauge      ``role`` (shadow, canary), ``name``, ``version``: 1 each
``loopml_serving_shadow_scored_total``     counter    requests scored by the shadow model (``--shadow``)
``loopml_serving_shadow_skipped_total``    counter    ``reason``: requests not shadowed (``queue_full``,
                                                      ``not_loaded``, ``incompatible``)
``loopml_serving_shadow_errors_total``     counter    requests the shadow model failed on
``loopml_serving_shadow_queued_batches``   gauge      batches waiting for the shadow model
``loopml_serving_canary_requests_total``   counter    requests answered by the canary (``--canary``)
``loopml_prediction_log_written_rows_total``   counter  rows written to the prediction log
``loopml_prediction_log_segments_total``       counter  segment files written
``loopml_prediction_log_dropped_total``        counter  rows dropped (sink failing and buffer full, or
                                                       unconvertible data)
``loopml_prediction_log_sampled_out_total``    counter  requests not logged because of ``--log-sample``
``loopml_prediction_log_flush_errors_total``   counter  failed segment writes (retried with backoff)
``loopml_prediction_log_buffered_rows``        gauge    rows waiting in memory for the next flush
=========================================  =========  ==================================================

With ``--workers N`` every figure covers all workers, whichever one answers the scrape
(prometheus-client's multiprocess mode, :mod:`loopml.serving.multiproc`): counters and histograms
add up (a replaced worker's counts stay), ``model_info`` gauges show 1 for a version some live worker
serves (a version swapped out drops to 0), the gauges of buffered rows and queued batches add up
over live workers, and ``loopml_serving_workers`` counts the live workers (multiprocess mode only).
A collector of figures kept outside prometheus-client must go through :meth:`ServingMetrics.watch`
(as the ``watch_*`` methods do): registered on :attr:`ServingMetrics.registry` directly, it would
be missing from a multiprocess scrape, which reads only the shared files.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loopml.monitoring.prediction_log import PredictionLog
from loopml.serving.canary import CanaryRouter
from loopml.serving.model import ServedModel
from loopml.serving.multiproc import Collector, CollectorMirror, multiprocess_dir, render
from loopml.serving.reload import SwapObserver
from loopml.serving.shadow import ShadowScorer

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
CONTENT_TYPE = CONTENT_TYPE_LATEST

_STATIC = frozenset(
    {
        "/predict",
        "/invocations",
        "/feedback",
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/v2",
        "/v2/health/live",
        "/v2/health/ready",
    }
)


class ServingMetrics:
    """The collectors, and the hooks the app, batcher and watcher call."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.mirror = CollectorMirror() if multiprocess_dir() is not None else None
        if self.mirror is not None:
            workers = Gauge(
                "loopml_serving_workers",
                "Live worker processes (value 1 each).",
                registry=self.registry,
                multiprocess_mode="livesum",
            )
            workers.set(1)
        self.requests = Counter(
            "loopml_serving_requests",
            "HTTP requests by endpoint and status code.",
            ("endpoint", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "loopml_serving_request_seconds",
            "Request latency from first byte in to last byte out.",
            ("endpoint",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "loopml_serving_batch_size",
            "Requests combined into one predict call.",
            buckets=SIZE_BUCKETS,
            registry=self.registry,
        )
        self.batch_rows = Histogram(
            "loopml_serving_batch_rows", "Rows in one predict call.", buckets=SIZE_BUCKETS, registry=self.registry
        )
        self.predict_seconds = Histogram(
            "loopml_serving_predict_seconds",
            "Time to validate and predict one batch.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.model_info = Gauge(
            "loopml_serving_model_info",
            "The model version being served (value 1).",
            ("name", "version", "uri"),
            registry=self.registry,
            multiprocess_mode="livemax",
        )
        self.reloads = Counter("loopml_serving_model_reloads", "Models loaded and swapped in.", registry=self.registry)
        self.load_failures = Counter(
            "loopml_serving_model_load_failures",
            "Model loads that failed, by error type (SecurityError: refused for safety).",
            ("error",),
            registry=self.registry,
        )
        self.role_info = Gauge(
            "loopml_serving_role_model_info",
            "The model version loaded for a role beside the champion (value 1).",
            ("role", "name", "version"),
            registry=self.registry,
            multiprocess_mode="livemax",
        )
        self._children: dict[tuple[str, int], tuple[Any, Any]] = {}

    def observe_request(self, endpoint: str, status: int, seconds: float) -> None:
        children = self._children.get((endpoint, status))
        if children is None:
            children = (self.requests.labels(endpoint, str(status)), self.latency.labels(endpoint))
            self._children[(endpoint, status)] = children
        children[0].inc()
        children[1].observe(seconds)

    def observe_batch(self, requests: int, rows: int, seconds: float) -> None:
        self.batch_size.observe(requests)
        self.batch_rows.observe(rows)
        self.predict_seconds.observe(seconds)

    def model_swapped(self, new: ServedModel, old: ServedModel | None) -> None:
        if old is not None:  # 0 first: in multiprocess mode the worker's file keeps the last value
            self.model_info.labels(old.name, _version(old), old.uri).set(0)
            self.model_info.remove(old.name, _version(old), old.uri)
        self.model_info.labels(new.name, _version(new), new.uri).set(1)
        self.reloads.inc()

    def role_swapped(self, role: str) -> SwapObserver:
        """The ``on_swap`` hook of the watcher of ``role`` (``shadow`` or ``canary``)."""

        def swapped(new: ServedModel, old: ServedModel | None) -> None:
            if old is not None:
                self.role_info.labels(role, old.name, _version(old)).set(0)
                self.role_info.remove(role, old.name, _version(old))
            self.role_info.labels(role, new.name, _version(new)).set(1)

        return swapped

    def watch_shadow(self, scorer: ShadowScorer) -> None:
        """Report the shadow scorer's counters (read at scrape time)."""
        self.watch(ShadowCollector(scorer))

    def watch_canary(self, router: CanaryRouter) -> None:
        """Report how many requests the canary answered (read at scrape time)."""
        self.watch(CanaryCollector(router))

    def load_failed(self, exc: Exception) -> None:
        self.load_failures.labels(type(exc).__name__).inc()

    def watch_log(self, log: PredictionLog) -> None:
        """Report ``log``'s counters (read at scrape time, so recording costs nothing here)."""
        self.watch(PredictionLogCollector(log))

    def watch(self, collector: Collector) -> None:
        """Report a custom collector's figures (copied across workers in multiprocess mode)."""
        if self.mirror is None:
            self.registry.register(collector)
        else:
            self.mirror.add(collector)

    def start(self) -> None:
        """Start copying the custom collectors across workers (multiprocess mode; else nothing)."""
        if self.mirror is not None:
            self.mirror.start()

    def stop(self) -> None:
        """Stop copying, after a last copy (call it once the prediction log has closed)."""
        if self.mirror is not None:
            self.mirror.stop()

    def render(self) -> bytes:
        """The text exposition format (every worker's figures in multiprocess mode)."""
        if self.mirror is not None:
            self.mirror.publish()
        return render(self.registry)


class PredictionLogCollector:
    """A custom collector over the counters a :class:`PredictionLog` keeps."""

    def __init__(self, log: PredictionLog) -> None:
        self.log = log

    def collect(self) -> Iterator[Metric]:
        log = self.log
        counters = (
            ("written_rows", "Rows written to the prediction log.", log.written_rows),
            ("segments", "Prediction log segment files written.", log.written_segments),
            ("dropped", "Prediction log rows dropped (sink failing with a full buffer, or unconvertible).",
             log.dropped_rows),
            ("sampled_out", "Requests not logged because of --log-sample.", log.sampled_out),
            ("flush_errors", "Prediction log segment writes that failed (retried with backoff).", log.flush_errors),
        )  # fmt: skip
        for name, help_text, value in counters:
            yield CounterMetricFamily(f"loopml_prediction_log_{name}", help_text, value=value)
        yield GaugeMetricFamily(
            "loopml_prediction_log_buffered_rows", "Rows waiting in memory for the next flush.", value=log.buffered_rows
        )


class ShadowCollector:
    """The counters a :class:`ShadowScorer` keeps."""

    def __init__(self, scorer: ShadowScorer) -> None:
        self.scorer = scorer

    def collect(self) -> Iterator[Metric]:
        scorer = self.scorer
        yield CounterMetricFamily(
            "loopml_serving_shadow_scored", "Requests scored by the shadow model.", value=scorer.scored_requests
        )
        skipped = CounterMetricFamily(
            "loopml_serving_shadow_skipped", "Requests not scored by the shadow model, by reason.", labels=("reason",)
        )
        for reason, count in scorer.skipped.items():
            skipped.add_metric((reason,), count)
        yield skipped
        yield CounterMetricFamily(
            "loopml_serving_shadow_errors", "Requests the shadow model failed to predict.", value=scorer.errors
        )
        yield GaugeMetricFamily(
            "loopml_serving_shadow_queued_batches", "Batches waiting for the shadow model.", value=scorer.queued
        )


class CanaryCollector:
    """The count a :class:`CanaryRouter` keeps."""

    def __init__(self, router: CanaryRouter) -> None:
        self.router = router

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "loopml_serving_canary_requests", "Requests answered by the canary model.", value=self.router.picked
        )


def endpoint_of(path: str) -> str:
    """The route template for a path (bounded label values: unknown paths are ``other``)."""
    if path in _STATIC:
        return path
    if path.startswith("/v2/models/"):
        rest = path[len("/v2/models/") :].split("/")
        if len(rest) == 1:
            return "/v2/models/{name}"
        if len(rest) == 2 and rest[1] in ("infer", "ready"):
            return f"/v2/models/{{name}}/{rest[1]}"
        if len(rest) == 3 and rest[1] == "versions":
            return "/v2/models/{name}/versions/{version}"
        if len(rest) == 4 and rest[1] == "versions" and rest[3] in ("infer", "ready"):
            return f"/v2/models/{{name}}/versions/{{version}}/{rest[3]}"
    return "other"


class TimedRequests(ABC):
    """Pure ASGI middleware that calls :meth:`observe` once per HTTP request with its status and duration
    (500 when the app raised before answering). Subclasses say what to record."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    @abstractmethod
    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        """Record one finished request."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.observe(scope, status, time.perf_counter() - started)


class MetricsMiddleware(TimedRequests):
    """Counts and times every HTTP request of the serving app, by route template."""

    def __init__(self, app: ASGIApp, *, metrics: ServingMetrics) -> None:
        super().__init__(app)
        self.metrics = metrics

    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        self.metrics.observe_request(endpoint_of(scope["path"]), status, seconds)


def _version(model: ServedModel) -> str:
    return "" if model.version is None else str(model.version)
