"""MLflow's error shape for the MLflow-compatible routes.

The ``mlflow`` client reads ``error_code`` and ``message`` from an error body (``RestException``);
loopml adds ``details``, the ``{"field", "problem"}`` pairs every loopml error carries, which the
client ignores. loopml's own errors map onto MLflow's codes and statuses:

================  ==========================  ======
loopml            ``error_code``              status
================  ==========================  ======
InvalidInput      INVALID_PARAMETER_VALUE     400
PayloadTooLarge   INVALID_PARAMETER_VALUE     413
NotFound          RESOURCE_DOES_NOT_EXIST     404
Conflict          RESOURCE_ALREADY_EXISTS     400
Unauthorized      UNAUTHENTICATED             401
Forbidden         PERMISSION_DENIED           403
SecurityError     PERMISSION_DENIED           403
StoreError        TEMPORARILY_UNAVAILABLE     503
anything else     INTERNAL_ERROR              500
================  ==========================  ======

A handler that needs another code (``INVALID_STATE``, ``BAD_REQUEST``, ...) raises
:class:`MlflowError`.
"""

from __future__ import annotations

from typing import Any

from loopml.core.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    LoopmlError,
    NotFound,
    PayloadTooLarge,
    SecurityError,
    StoreError,
    Unauthorized,
)
from loopml.server.encoding import JSONResponse

INVALID_PARAMETER_VALUE = "INVALID_PARAMETER_VALUE"
RESOURCE_DOES_NOT_EXIST = "RESOURCE_DOES_NOT_EXIST"
RESOURCE_ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"
INVALID_STATE = "INVALID_STATE"
BAD_REQUEST = "BAD_REQUEST"
ENDPOINT_NOT_FOUND = "ENDPOINT_NOT_FOUND"
INTERNAL_ERROR = "INTERNAL_ERROR"

# most specific first: PayloadTooLarge is an InvalidInput
_CODES: tuple[tuple[type[LoopmlError], str, int | None], ...] = (
    (PayloadTooLarge, INVALID_PARAMETER_VALUE, None),
    (InvalidInput, INVALID_PARAMETER_VALUE, 400),
    (NotFound, RESOURCE_DOES_NOT_EXIST, 404),
    (Conflict, RESOURCE_ALREADY_EXISTS, 400),
    (Unauthorized, "UNAUTHENTICATED", 401),
    (Forbidden, "PERMISSION_DENIED", 403),
    (SecurityError, "PERMISSION_DENIED", 403),
    (StoreError, "TEMPORARILY_UNAVAILABLE", 503),
)


class MlflowError(LoopmlError):
    """An error of the MLflow-compatible API with an explicit MLflow ``error_code`` and HTTP status."""

    def __init__(
        self,
        message: str,
        *,
        error_code: str = INVALID_PARAMETER_VALUE,
        status_code: int = 400,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.error_code = error_code
        self.status_code = status_code


def mlflow_body(error_code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The JSON body of an MLflow error."""
    return {"error_code": error_code, "message": message, "details": details or []}


def mlflow_error_response(exc: LoopmlError) -> JSONResponse:
    """The MLflow-shaped response for a loopml error."""
    if isinstance(exc, MlflowError):
        code, status = exc.error_code, exc.status_code
    else:
        code, status = INTERNAL_ERROR, 500
        for cls, mapped, mapped_status in _CODES:
            if isinstance(exc, cls):
                code, status = mapped, mapped_status or exc.status_code
                break
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    return JSONResponse(mlflow_body(code, exc.message, exc.details), status_code=status, headers=headers)
