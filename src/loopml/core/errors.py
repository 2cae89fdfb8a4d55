"""The loopml exception tree.

Every error loopml raises on purpose derives from :class:`LoopmlError`. The tree, with where a class
lives when it is not in this module (``tests/core/test_errors.py`` checks that every exception class
of ``loopml`` is drawn here)::

    LoopmlError
    ├── InvalidInput        bad argument, filter, URI or request body   (HTTP 422)
    │   ├── PayloadTooLarge     the request body is over the limit       (HTTP 413)
    │   ├── RequestTimeout      the client stopped sending the body      (HTTP 408)
    │   ├── UnsupportedMediaType  a Content-Type the endpoint does not read (HTTP 415, serving.content)
    │   └── Unserializable      a step returned a value no format stores (pipelines.materialize)
    ├── NotFound            unknown experiment, run, artifact, ...       (HTTP 404)
    ├── Conflict            the change contradicts what is stored        (HTTP 409)
    ├── Unauthorized        missing or unknown credentials               (HTTP 401)
    ├── Forbidden           known caller, insufficient role              (HTTP 403)
    ├── IntegrityError      stored bytes do not match their hash         (HTTP 500)
    ├── SecurityError       refusing to do something unsafe              (HTTP 403)
    ├── StoreError          a backend (database, server) failed          (HTTP 503)
    │   └── PartialWrite    a split batch failed after some parts were stored
    ├── MetricsLost         buffered metric points could not be stored (raised by flush/end_run)
    ├── StepFailed          a pipeline step failed after its retries     (pipelines.errors)
    ├── ModelNotReady       serving has no model loaded yet              (HTTP 503, serving.model)
    ├── Overloaded          a serving worker holds too many request bytes (HTTP 503, serving.body)
    └── MlflowError         an MLflow API error with its own error_code  (HTTP 4xx, server.mlflow.errors)

Internal signals, never raised to users (each is turned into one of the above or a response)::

    Exception
    ├── TimedOut            a task ran past its timeout                  (compute.executors)
    ├── TaskLost            a task's worker died or its result was lost  (compute.executors)
    └── HTTPException (Starlette)
        ├── BodyTooLarge    a streamed body crossed the limit -> 413     (server.limits)
        └── BodyTimedOut    a streamed body stopped arriving -> 408      (server.limits)

Warnings (``warnings.warn``, never raised)::

    Exception
    └── UserWarning
        └── AutologWarning  autolog could not record part of a fit; the fit went through (autologging.runs)

Third-party errors are wrapped at the boundary with ``raise ... from exc``; the HTTP
layer maps this tree to status codes in one place (``loopml.server.errors``).
"""

from __future__ import annotations

from typing import Any


class LoopmlError(Exception):
    """Base class of every error loopml raises on purpose."""

    status_code: int = 500

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []

    def to_dict(self) -> dict[str, Any]:
        """The JSON body the HTTP layer sends for this error."""
        return {"error": self.message, "type": type(self).__name__, "details": self.details}


class InvalidInput(LoopmlError, ValueError):
    """An argument, filter, URI or request body is malformed."""

    status_code = 422


class NotFound(LoopmlError, LookupError):
    """The named object does not exist."""

    status_code = 404


class Conflict(LoopmlError):
    """The requested change contradicts what is already stored."""

    status_code = 409


class Unauthorized(LoopmlError):
    """Credentials are missing or unknown."""

    status_code = 401


class Forbidden(LoopmlError):
    """The caller is known but its role does not allow the action."""

    status_code = 403


class IntegrityError(LoopmlError):
    """Stored bytes do not match the hash recorded for them."""

    status_code = 500


class SecurityError(LoopmlError):
    """loopml refuses an unsafe operation (untrusted pickle, path escape, ...)."""

    status_code = 403


class StoreError(LoopmlError):
    """A backend (database, remote server) failed for a reason other than bad input."""

    status_code = 503


class PayloadTooLarge(InvalidInput):
    """The request body is larger than the server (or ``--max-body-bytes`` of ``loopml serve``) accepts."""

    status_code = 413


class RequestTimeout(InvalidInput):
    """The client stopped sending the request body."""

    status_code = 408


class PartialWrite(StoreError):
    """A batch sent in several requests failed after ``written`` of its metric points were stored."""

    def __init__(self, message: str, *, written: int) -> None:
        super().__init__(message)
        self.written = written


class MetricsLost(LoopmlError):
    """Buffered metric points could not be stored, even after retries.

    ``lost`` maps each run id to ``(points lost, last reason)``. Raised by ``lm.flush()`` and
    when the run ends; the run's status is then ``FAILED``.
    """

    status_code = 503

    def __init__(self, lost: dict[str, tuple[int, str]]) -> None:
        parts = "; ".join(f"{count} points of run {run_id} ({reason})" for run_id, (count, reason) in lost.items())
        super().__init__(
            f"Lost metric points that could not be stored: {parts}. "
            "Check that the tracking store is reachable and the run exists, then log them again."
        )
        self.lost = dict(lost)


ERROR_TYPES: dict[str, type[LoopmlError]] = {
    cls.__name__: cls
    for cls in (
        LoopmlError,
        InvalidInput,
        NotFound,
        Conflict,
        Unauthorized,
        Forbidden,
        IntegrityError,
        SecurityError,
        StoreError,
        PayloadTooLarge,
        RequestTimeout,
    )
}
"""Errors a server may name in a response body (client-side ones such as ``MetricsLost`` are not here)."""


def invalid(field: str, problem: str, message: str | None = None) -> InvalidInput:
    """Build an :class:`InvalidInput` naming the offending field."""
    return InvalidInput(message or f"{field}: {problem}", details=[{"field": field, "problem": problem}])
