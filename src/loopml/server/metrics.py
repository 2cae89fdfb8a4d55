"""Prometheus metrics of ``loopml server``: requests by route, in the app's own registry.

====================================  =========  ===========================================
metric                                type       labels
====================================  =========  ===========================================
``loopml_server_requests_total``      counter    ``method``, ``route`` (template), ``status``
``loopml_server_request_seconds``     histogram  ``method``, ``route``
``loopml_server_workers``             gauge      live worker processes (``--workers N`` only)
``loopml_alert_firing`` / ``_value``  gauge      ``rule``, ``model`` (with ``--monitor``)
====================================  =========  ===========================================

``route`` is the path template (``/api/v1/runs/{run_id}``), so label values stay bounded; a path no
route matched is ``other``. With ``--workers N`` the figures cover every worker
(:mod:`loopml.serving.multiproc`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Scope

from loopml.serving.metrics import LATENCY_BUCKETS, TimedRequests
from loopml.serving.multiproc import multiprocess_dir


class ServerMetrics:
    """The request counter and latency histogram, in ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "loopml_server_requests",
            "HTTP requests by method, route template and status code.",
            ("method", "route", "status"),
            registry=registry,
        )
        self.latency = Histogram(
            "loopml_server_request_seconds",
            "Request latency from first byte in to last byte out.",
            ("method", "route"),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        if multiprocess_dir() is not None:
            workers = Gauge(
                "loopml_server_workers",
                "Live worker processes (value 1 each).",
                registry=registry,
                multiprocess_mode="livesum",
            )
            workers.set(1)
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (self.requests.labels(method, route, str(status)), self.latency.labels(method, route))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)


class ServerMetricsMiddleware(TimedRequests):
    """Counts and times every HTTP request by its method and route template.

    ``templates`` maps route objects (by ``id``) to their full templates where ``route.path`` is only the path
    inside an included router.
    """

    def __init__(self, app: ASGIApp, *, metrics: ServerMetrics, templates: Mapping[int, str]) -> None:
        super().__init__(app)
        self.metrics = metrics
        self.templates = templates

    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        route = scope.get("route")  # the innermost route matched, which knows its path within its router
        template = self.templates.get(id(route)) or getattr(route, "path", None)
        method = scope["method"] if scope["method"] in _METHODS else "other"
        self.metrics.observe(method, template or "other", status, seconds)


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
