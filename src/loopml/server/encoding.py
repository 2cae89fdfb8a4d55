"""JSON out: the orjson response classes.

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

from loopml.core.codec import valid_text


class JSONResponse(StarletteJSONResponse):
    """``application/json`` rendered by orjson.

    A subclass of Starlette's ``JSONResponse`` so that FastAPI, when this is the default response
    class, documents each route's ``response_model`` as the schema of its success response.
    """

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except orjson.JSONEncodeError:  # a lone surrogate a client sent, echoed in an error message
            return orjson.dumps(valid_text(content))


class AnyJSONResponse(JSONResponse):
    """For user-supplied JSON (pipeline params and results): what orjson refuses (integers over
    64 bits) is written by the json module instead, non-finite floats as ``null`` either way."""

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except TypeError:
            return json.dumps(_finite(content), default=str).encode()


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as ``None`` (JSON has no spelling for them)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
