"""Request body size limits: 413 before reading when ``Content-Length`` is too big, or as soon as a
streamed (chunked) body crosses the limit.

Artifact uploads (``PUT``, and ``POST`` of prediction log segments) get their own, larger limit.
Both come from :class:`Limits`, which ``create_app`` reads from ``LOOPML_SERVER_MAX_JSON_BYTES`` /
``LOOPML_SERVER_MAX_ARTIFACT_BYTES`` unless given explicitly. A body that stays silent for
``body_timeout`` seconds between two chunks (``LOOPML_BODY_TIMEOUT``) ends in 408.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loopml.config import DEFAULT_SERVER_MAX_ARTIFACT_BYTES, DEFAULT_SERVER_MAX_JSON_BYTES, Settings
from loopml.core.errors import PayloadTooLarge
from loopml.server.errors import error_response
from loopml.server.mlflow import is_mlflow_path
from loopml.server.mlflow.errors import mlflow_error_response
from loopml.serving.connection import guarded_receive

JSON_ENV = "LOOPML_SERVER_MAX_JSON_BYTES"
ARTIFACT_ENV = "LOOPML_SERVER_MAX_ARTIFACT_BYTES"
DEFAULT_MAX_JSON_BYTES = DEFAULT_SERVER_MAX_JSON_BYTES
DEFAULT_MAX_ARTIFACT_BYTES = DEFAULT_SERVER_MAX_ARTIFACT_BYTES
DEFAULT_BODY_TIMEOUT = 30.0
_BODYLESS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
UPLOAD_POSTS = ("/segments",)
"""Paths ending so take a binary upload by POST (prediction log segments): the artifact limit applies."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Largest accepted request bodies, in bytes."""

    max_json_bytes: int = DEFAULT_MAX_JSON_BYTES
    max_artifact_bytes: int = DEFAULT_MAX_ARTIFACT_BYTES
    body_timeout: float = DEFAULT_BODY_TIMEOUT

    @classmethod
    def from_settings(
        cls, settings: Settings, max_json_bytes: int | None = None, max_artifact_bytes: int | None = None
    ) -> Limits:
        """Explicit values, else ``LOOPML_SERVER_MAX_JSON_BYTES`` / ``..._ARTIFACT_BYTES`` (read by ``Settings``)."""
        return cls(
            settings.server_max_json_bytes if max_json_bytes is None else max_json_bytes,
            settings.server_max_artifact_bytes if max_artifact_bytes is None else max_artifact_bytes,
            settings.body_timeout,
        )


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body crosses the limit (FastAPI lets HTTPException through)."""

    def __init__(self, message: str) -> None:
        super().__init__(status_code=413, detail=message, headers={"Connection": "close"})


class BodyTimedOut(HTTPException):
    """Raised from ``receive`` when the client stays silent mid-body for ``Limits.body_timeout`` seconds."""

    def __init__(self, seconds: float) -> None:
        message = f"The request body stopped arriving: nothing for {seconds:g} s (server setting LOOPML_BODY_TIMEOUT)."
        super().__init__(status_code=408, detail=message, headers={"Connection": "close"})


class BodyLimitMiddleware:
    """Pure ASGI middleware enforcing :class:`Limits`."""

    def __init__(self, app: ASGIApp, *, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _BODYLESS:
            await self.app(scope, receive, send)
            return
        upload = scope["method"] == "PUT" or (scope["method"] == "POST" and scope["path"].endswith(UPLOAD_POSTS))
        limit = self.limits.max_artifact_bytes if upload else self.limits.max_json_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            too_large = PayloadTooLarge(_message(declared, limit, upload))
            response = mlflow_error_response(too_large) if is_mlflow_path(scope["path"]) else error_response(too_large)
            response.headers["Connection"] = "close"
            await response(scope, receive, send)
            return
        received = 0
        timeout = self.limits.body_timeout
        receive_in_time = guarded_receive(receive, timeout, lambda: BodyTimedOut(timeout))

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive_in_time()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(_message(received, limit, upload, at_least=True))
            return message

        await self.app(scope, limited_receive, send)


def _message(size: int, limit: int, upload: bool, *, at_least: bool = False) -> str:
    what = "an artifact upload" if upload else "a JSON body"
    env = ARTIFACT_ENV if upload else JSON_ENV
    amount = f"more than {limit}" if at_least else str(size)
    return f"Request body is {amount} bytes; the limit for {what} is {limit} bytes (server setting {env})."


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
