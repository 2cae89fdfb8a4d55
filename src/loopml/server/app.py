"""The app factory: ``create_app(settings, auth=...)`` builds the FastAPI app of ``loopml server``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from starlette.responses import Response

from loopml.config import Settings, handoff, load_settings
from loopml.core.version import __version__
from loopml.server.backend import Backend
from loopml.server.encoding import JSONResponse
from loopml.server.errors import install_error_handlers
from loopml.server.limits import BodyLimitMiddleware, Limits
from loopml.server.metrics import ServerMetrics, ServerMetricsMiddleware
from loopml.server.mlflow import mlflow_router, mlflow_routes
from loopml.server.pages import pages_router
from loopml.server.routes import api_router, route_methods, route_templates
from loopml.serving.multiproc import render

if TYPE_CHECKING:
    from loopml.monitoring.service import MonitorConfig

AUTH_ENV = "LOOPML_SERVER_AUTH"
SCHEDULER_ENV = "LOOPML_SERVER_SCHEDULER"  # seconds between passes of the hosted scheduler; unset: none
MONITOR_ENV = "LOOPML_SERVER_MONITOR"  # "1": host the monitor service ([monitoring] of loopml.toml)


def create_app(
    settings: Settings | None = None,
    *,
    auth: bool = False,
    max_json_bytes: int | None = None,
    max_artifact_bytes: int | None = None,
    scheduler_interval: float | None = None,
    monitor: MonitorConfig | None = None,
) -> FastAPI:
    """The platform REST API over the database and artifact store that ``settings`` name.

    Opens (and migrates) the database now, so a bad configuration fails before the server
    listens. Body limits default to ``LOOPML_SERVER_MAX_JSON_BYTES`` (16 MiB) and
    ``LOOPML_SERVER_MAX_ARTIFACT_BYTES`` (100 MiB). With ``scheduler_interval`` (seconds) the
    server also hosts the pipeline scheduler in a background thread, started and stopped with it;
    with ``monitor`` it hosts the monitor service the same way, and ``GET /metrics`` shows its alert
    gauges (``loopml_alert_firing``, ``loopml_alert_value``) for Prometheus beside the request
    metrics (:mod:`loopml.server.metrics`).

    >>> app = create_app(load_settings(), auth=True)   # doctest: +SKIP
    """
    settings = settings or load_settings()
    limits = Limits.from_settings(settings, max_json_bytes, max_artifact_bytes)
    backend = Backend.open(settings, auth=auth)
    scheduler = None
    if scheduler_interval is not None:
        from loopml.pipelines.scheduler_thread import BackgroundScheduler

        scheduler = BackgroundScheduler(scheduler_interval)  # checks the interval before listening
    registry = CollectorRegistry(auto_describe=True)
    server_metrics = ServerMetrics(registry)
    watcher = None
    if monitor is not None:
        from loopml.automation.service import after_monitor_pass
        from loopml.monitoring.service import BackgroundMonitor

        watcher = BackgroundMonitor(monitor, registry=registry, session=backend.session, after_pass=after_monitor_pass)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if scheduler is not None:
            scheduler.start()
        if watcher is not None:
            watcher.start()
        yield
        if scheduler is not None:
            scheduler.stop()
        if watcher is not None:
            watcher.stop()
        backend.close()

    app = FastAPI(
        title="loopml platform API",
        version=__version__,
        description="Experiments, runs, metrics, artifacts, audit and tokens. See docs/server.md. The web UI is at /.",
        default_response_class=JSONResponse,
        lifespan=lifespan,
    )
    app.state.backend = backend
    app.state.scheduler = scheduler
    app.state.monitor = watcher

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(render(registry), media_type=CONTENT_TYPE_LATEST)

    app.state.limits = limits
    app.include_router(api_router())
    app.include_router(mlflow_router())
    app.include_router(pages_router())
    install_error_handlers(app, route_methods() + mlflow_routes())
    app.add_middleware(BodyLimitMiddleware, limits=limits)
    app.add_middleware(ServerMetricsMiddleware, metrics=server_metrics, templates=route_templates())
    return app


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` and multi-worker serving: settings and auth from the environment."""
    interval = handoff(SCHEDULER_ENV)
    monitor = None
    if handoff(MONITOR_ENV) == "1":
        from loopml.monitoring.service import MonitorConfig

        monitor = MonitorConfig.load()
    return create_app(
        load_settings(),
        auth=handoff(AUTH_ENV) == "1",
        scheduler_interval=float(interval) if interval else None,
        monitor=monitor,
    )
