"""``/api/v1`` routes, one module per resource. Handlers validate, call the store, encode."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute

from loopml.server.routes import (
    admin,
    artifacts,
    audit,
    blobs,
    datasets,
    decisions,
    experiments,
    features,
    health,
    lineage,
    materializations,
    models,
    monitoring,
    pipelines,
    policies,
    runs,
    tokens,
)
from loopml.server.schemas import ErrorOut
from loopml.store.http.wire import API_PREFIX

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing, unknown or revoked token (servers started with --auth)"},
    403: {"model": ErrorOut, "description": "The token's role does not allow this"},
    404: {
        "model": ErrorOut,
        "description": (
            "Unknown experiment, run, artifact, blob, dataset, model, pipeline run, alert, report, decision, "
            "retrain policy or cycle, feature definition, materialisation"
        ),
    },
    409: {"model": ErrorOut, "description": "Contradicts stored data (name taken, param re-logged, version aliased)"},
    413: {"model": ErrorOut, "description": "Request body over the server's limit"},
    422: {"model": ErrorOut, "description": "Invalid input; details name each field and problem"},
}


_MODULES = (
    experiments, runs, artifacts, blobs, datasets, lineage, models, pipelines, monitoring, decisions, policies,
    features, materializations, audit, tokens, admin,
)  # fmt: skip


def api_router() -> APIRouter:
    """Every ``/api/v1`` route."""
    router = APIRouter(prefix=API_PREFIX)
    router.include_router(health.router)
    for module in _MODULES:
        router.include_router(module.router, responses=ERROR_RESPONSES)
    return router


def route_templates() -> dict[int, str]:
    """``id()`` of each ``/api/v1`` route object -> its full path template (the route a request matched
    knows only its path inside the router; request metrics label by the full one)."""
    return {
        id(route): API_PREFIX + route.path
        for module in (health, *_MODULES)
        for route in module.router.routes
        if isinstance(route, APIRoute)
    }


def route_methods() -> list[tuple[str, set[str]]]:
    """``(path template, methods)`` of every ``/api/v1`` route, for the ``Allow`` header of a 405."""
    return [
        (API_PREFIX + route.path, set(route.methods or ()))
        for module in (health, *_MODULES)
        for route in module.router.routes
        if isinstance(route, APIRoute)
    ]
