"""JSON out: the orjson response classes (and, until pipeline runs are records, their rows' wire form).

Handlers return :class:`JSONResponse` objects built from ``codec.encode(record)``
(:mod:`loopml.core.wire`), so FastAPI skips its generic (and slow) ``jsonable_encoder`` walk; the
``*Out`` models of :mod:`loopml.server.schemas.records` are derived from the same codecs.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
from starlette.responses import JSONResponse as StarletteJSONResponse


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


_RUN_KEYS = (
    "id", "pipeline", "params", "status", "executor", "start_time", "end_time", "error", "resumed_from", "result",
    "created_by", "trigger",
)  # fmt: skip
_STEP_KEYS = (
    "id", "pipeline_run_id", "name", "position", "upstream", "status", "cache_key", "cache_hit", "reused_from",
    "attempts", "start_time", "end_time", "duration_ms", "inputs", "outputs", "logs", "error", "traceback",
    "miss_reason",
)  # fmt: skip


def pipeline_run_json(row: dict[str, Any]) -> dict[str, Any]:
    """A pipeline run row (with ``steps``/``cached``/``failed`` when listed), keys as plain strings."""
    data = {key: row[key] for key in _RUN_KEYS}
    for key in ("steps", "cached", "failed"):
        if key in row:
            data[key] = row[key]
    return data


def step_run_json(row: dict[str, Any]) -> dict[str, Any]:
    """A step run row, keys as plain strings and ``cache_hit`` a boolean."""
    data = {key: row[key] for key in _STEP_KEYS}
    data["cache_hit"] = bool(data["cache_hit"])
    data["reads"] = row.get("reads")  # None: stored before steps' reads were recorded
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
