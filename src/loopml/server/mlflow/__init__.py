"""The MLflow tracking and registry REST API on ``loopml server`` (docs/mlflow.md).

An unchanged ``mlflow`` client with ``MLFLOW_TRACKING_URI=http://loopml-server:5050`` talks to these
routes; what it writes becomes ordinary loopml records (runs, metrics, artifacts, model versions).
The routes translate MLflow's request and response shapes, field names, error codes and search
grammar onto loopml's stores and hold no business logic of their own.

- ``/api/2.0/mlflow/...`` and ``/ajax-api/2.0/mlflow/...``: the same routes under both prefixes
  (:mod:`.experiments`, :mod:`.runs`, :mod:`.logged_models`, :mod:`.registry`);
- ``/api/2.0/mlflow-artifacts/artifacts/...``: the artifact proxy (:mod:`.artifacts`).

Errors answer MLflow's shape, ``{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": ...,
"details": [{"field", "problem"}]}`` (:mod:`.errors`).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.routing import APIRoute

from loopml.server.mlflow import artifacts, experiments, logged_models, registry, runs

API_PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")
ARTIFACTS_PREFIX = "/api/2.0/mlflow-artifacts"
_PATH_PREFIXES = (*(prefix + "/" for prefix in API_PREFIXES), ARTIFACTS_PREFIX + "/")
_API_MODULES = (experiments, runs, logged_models, registry)


def is_mlflow_path(path: str) -> bool:
    """Whether ``path`` belongs to the MLflow-compatible API (whose errors take MLflow's shape)."""
    return path.startswith(_PATH_PREFIXES)


def mlflow_router() -> APIRouter:
    """Every MLflow-compatible route, under both API prefixes and the artifacts prefix."""
    router = APIRouter(include_in_schema=False)
    for prefix in API_PREFIXES:
        for module in _API_MODULES:
            router.include_router(module.router, prefix=prefix)
    router.include_router(artifacts.router, prefix=ARTIFACTS_PREFIX)
    return router


def mlflow_routes() -> list[tuple[str, set[str]]]:
    """``(path template, methods)`` of every MLflow-compatible route, for the ``Allow`` header of a 405."""
    return [(route.path, set(route.methods or ())) for route in mlflow_router().routes if isinstance(route, APIRoute)]
