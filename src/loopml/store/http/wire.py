"""The wire format of the platform REST API, shared by the server and the HTTP client stores.

>>> exception_from_body(404, {"error": "Run abc does not exist.", "type": "NotFound", "details": []})
NotFound('Run abc does not exist.')

What both ends must agree on lives here and nowhere else: the URL prefix, the loopml headers, the
body limits a client assumes, and the error body ``{"error", "type", "details"}`` with the table
from its ``type`` (a class name of :data:`~loopml.core.errors.ERROR_TYPES`) back to the exception.
Records travel in the form their :class:`~loopml.core.codec.RecordCodec` gives them
(:mod:`loopml.core.wire`).
"""

from __future__ import annotations

from typing import Any

from loopml.core.errors import (
    ERROR_TYPES,
    Conflict,
    Forbidden,
    InvalidInput,
    LoopmlError,
    NotFound,
    StoreError,
    Unauthorized,
)

API_PREFIX = "/api/v1"
ACTOR_HEADER = "X-Loopml-Actor"
"""The caller's name (percent-encoded); the server trusts it only without auth, else the token's."""
SHA256_HEADER = "X-Loopml-Sha256"
"""The SHA-256 of an uploaded or downloaded blob or artifact."""

FALLBACK_MAX_BODY_BYTES = 4 << 20
"""Body limit assumed when the server does not advertise one (servers default to 16 MiB)."""
BODY_HEADROOM = 0.9
"""Share of the server's limit a batch request may use."""
MIN_BODY_BYTES = 4096

STATUS_ERRORS: dict[int, type[LoopmlError]] = {
    400: InvalidInput,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: InvalidInput,
    408: InvalidInput,
    409: Conflict,
    413: InvalidInput,
    422: InvalidInput,
}
"""The exception for an error status whose body names no known ``type``."""


def error_body(exc: LoopmlError) -> dict[str, Any]:
    """The JSON body the server sends for ``exc``."""
    return exc.to_dict()


def exception_from_body(status: int, body: dict[str, Any]) -> LoopmlError:
    """The loopml exception an error body stands for (``KeyError``/``TypeError`` when it is not one).

    The body's ``type`` picks the class; a type the client does not know falls back to the
    status (``StoreError`` for 5xx, :data:`STATUS_ERRORS` otherwise).
    """
    message = str(body["error"])
    kind = body.get("type")
    details = body.get("details") or []
    cls = ERROR_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None or cls is LoopmlError:
        cls = STATUS_ERRORS.get(status, StoreError if status >= 500 else LoopmlError)
    return cls(message, details=details if isinstance(details, list) else [])
