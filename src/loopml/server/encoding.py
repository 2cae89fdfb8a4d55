"""JSON out: an orjson response class and the wire form of each record.

Handlers return :class:`JSONResponse` objects built from these plain dicts, so FastAPI skips its
generic (and slow) ``jsonable_encoder`` walk; the ``*Out`` models in :mod:`loopml.server.schemas`
document the same shapes.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
from starlette.responses import JSONResponse as StarletteJSONResponse

from loopml.core.codec import encode_float
from loopml.core.records import (
    ArtifactInfo,
    AuditEvent,
    DatasetVersion,
    Experiment,
    LineageEdge,
    Metric,
    ModelVersion,
    Run,
    Token,
)


class JSONResponse(StarletteJSONResponse):
    """``application/json`` rendered by orjson.

    A subclass of Starlette's ``JSONResponse`` so that FastAPI, when this is the default response
    class, documents each route's ``response_model`` as the schema of its success response.
    """

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class AnyJSONResponse(JSONResponse):
    """For user-supplied JSON (pipeline params and results): what orjson refuses (integers over
    64 bits) is written by the json module instead, non-finite floats as ``null`` either way."""

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except TypeError:
            return json.dumps(_finite(content), default=str).encode()


def experiment_json(experiment: Experiment) -> dict[str, Any]:
    return {"id": experiment.id, "name": experiment.name, "created_at": experiment.created_at, "tags": experiment.tags}


def run_json(run: Run, stale_after_ms: int) -> dict[str, Any]:
    return {
        "id": run.id,
        "experiment_id": run.experiment_id,
        "name": run.name,
        "status": run.status.value,
        "start_time": run.start_time,
        "end_time": run.end_time,
        "parent_run_id": run.parent_run_id,
        "user": run.user,
        "params": run.params,
        "metrics": {k: encode_float(v) for k, v in run.metrics.items()},
        "tags": run.tags,
        "heartbeat_at": run.heartbeat_at,
        "stale": run.is_stale(stale_after_ms),
    }


def metrics_json(metrics: list[Metric]) -> list[dict[str, Any]]:
    return [{"key": m.key, "value": encode_float(m.value), "step": m.step, "timestamp": m.timestamp} for m in metrics]


def artifact_json(info: ArtifactInfo) -> dict[str, Any]:
    return {"path": info.path, "sha256": info.sha256, "size": info.size}


def audit_json(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "time": event.time,
        "actor": event.actor,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "details": event.details,
    }


def token_json(token: Token) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "role": token.role.value,
        "created_at": token.created_at,
        "revoked": token.revoked,
    }


def dataset_version_json(version: DatasetVersion) -> dict[str, Any]:
    return version.to_dict()


def dataset_json(dataset: dict[str, Any]) -> dict[str, Any]:
    """One row of ``list_datasets`` (its keys may be str subclasses, which orjson refuses)."""
    return {key: dataset[key] for key in ("name", "created_at", "versions", "latest")}


def lineage_json(edge: LineageEdge) -> dict[str, Any]:
    return {
        "source_type": edge.source_type,
        "source_id": edge.source_id,
        "target_type": edge.target_type,
        "target_id": edge.target_id,
        "relation": edge.relation,
        "created_at": edge.created_at,
    }


def model_version_json(version: ModelVersion) -> dict[str, Any]:
    """A model version with its URI; metric values as :func:`encode_float` spells them."""
    data = version.to_dict()
    data["metrics"] = {k: encode_float(v) for k, v in version.metrics.items()}
    return data


def model_json(model: dict[str, Any]) -> dict[str, Any]:
    """One row of ``list_models`` as plain JSON (row keys may be str subclasses, which orjson refuses)."""
    data = {key: model[key] for key in ("name", "description", "versions", "latest", "created_at", "updated_at")}
    data["aliases"] = {str(alias): version for alias, version in model["aliases"].items()}
    return data


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as ``None`` (JSON has no spelling for them)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
