"""The one answer to Starlette's own HTTP errors (unknown route, wrong method), for both apps.

``loopml serve`` (:mod:`loopml.serving.app`) and ``loopml server`` (:mod:`loopml.server.errors`)
give them the error shape of every other error, ``{"error", "type", "details": []}``: a 404 points
at ``/openapi.json``; a 405 lists the allowed methods in its message and its ``Allow`` header.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request

HTTP_TYPES = {
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    408: "RequestTimeout",
    409: "Conflict",
    413: "PayloadTooLarge",
    503: "StoreError",
}
"""Status -> the error type a body names (a class of :data:`loopml.core.errors.ERROR_TYPES`)."""


def http_error(
    request: Request, exc: HTTPException, allowed: list[str] | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """The body and headers for ``exc``; ``allowed`` overrides the methods a 405 lists (default: its ``Allow``)."""
    status = exc.status_code
    headers = dict(exc.headers) if exc.headers else {}
    if status == 404:
        message = f"No endpoint {request.url.path}; see /openapi.json for the API."
    elif status == 405:
        methods = allowed or [m.strip() for m in headers.get("Allow", "").split(",") if m.strip()]
        headers["Allow"] = ", ".join(methods)
        message = (
            f"{request.method} is not allowed on {request.url.path}; allowed: {', '.join(methods)}. "
            "See /openapi.json for the API."
        )
    else:
        message = str(exc.detail)
    kind = HTTP_TYPES.get(status, "InvalidInput" if status < 500 else "LoopmlError")
    return {"error": message, "type": kind, "details": []}, headers
