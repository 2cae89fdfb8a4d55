"""The web UI's pages: server-rendered HTML (Jinja2) over the same stores as ``/api/v1``.

Each module serves one part of the UI; charts and long tables fetch ``/api/v1`` JSON from the
browser, in one request per table page or chart, never one per row.
"""

from __future__ import annotations

from fastapi import APIRouter

from loopml.server.pages import (
    assets,
    audit,
    compare,
    datasets,
    experiments,
    home,
    login,
    models,
    monitoring,
    pipelines,
    runs,
)

_MODULES = (assets, login, home, experiments, runs, compare, datasets, pipelines, models, monitoring, audit)


def pages_router() -> APIRouter:
    """Every route of the UI (``/``, ``/login``, ``/static/...`` and the pages)."""
    router = APIRouter(include_in_schema=False)
    for module in _MODULES:
        router.include_router(module.router)
    return router
