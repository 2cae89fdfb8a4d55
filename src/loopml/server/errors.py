"""The one place where errors become HTTP responses.

Every error body has the same shape, ``{"error": message, "type": class name, "details":
[{"field", "problem"}]}``: loopml's exception tree maps through each class's ``status_code``;
request validation failures (malformed JSON, wrong types, missing fields) become 422 with one
detail per problem, ``field`` being the dotted location (``body.metrics.0.value``); Starlette's
own HTTP errors (unknown route, wrong method) keep their status, except FastAPI's 400 for a body it
cannot read (not UTF-8), which is a 422 naming ``body`` like any other unreadable body; a 405's
``Allow`` header lists every method of the path's routes (Starlette's router names only the first
route's); anything unexpected is a 500 that is logged with its traceback and never leaks internals.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import compile_path

from loopml.core.errors import LoopmlError, Unauthorized
from loopml.server.encoding import JSONResponse
from loopml.server.mlflow import is_mlflow_path
from loopml.server.mlflow.errors import (
    ENDPOINT_NOT_FOUND,
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    mlflow_body,
    mlflow_error_response,
)
from loopml.server.pages.errors import error_page, is_page_path
from loopml.serving.http_errors import http_error

_MAX_LISTED = 5


def error_response(exc: LoopmlError) -> JSONResponse:
    """The JSON response for a loopml error."""
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    return JSONResponse(exc.to_dict(), status_code=exc.status_code, headers=headers)


def validation_details(errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    """pydantic/FastAPI errors as ``{"field", "problem"}`` pairs."""
    details = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        if error.get("type") == "json_invalid":
            position = f" at position {loc[1]}" if len(loc) > 1 else ""
            reason = (error.get("ctx") or {}).get("error", "malformed JSON")
            details.append({"field": "body", "problem": f"invalid JSON{position}: {reason}"})
            continue
        message = str(error.get("msg", "invalid value"))
        details.append({"field": ".".join(loc) or "body", "problem": message.removeprefix("Value error, ")})
    return details


def install_error_handlers(app: FastAPI, routes: list[tuple[str, set[str]]]) -> None:
    """Register the handlers that give every error the same JSON shape; ``routes`` (path template,
    methods) answer the ``Allow`` header of a 405."""
    app.state.route_methods = RouteMethods(routes)
    # Starlette types handlers as taking Exception; ours take the subclass they are registered for
    app.add_exception_handler(LoopmlError, _loopml_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)


async def _loopml_error(request: Request, exc: LoopmlError) -> Response:
    if is_mlflow_path(request.url.path):
        return mlflow_error_response(exc)
    if is_page_path(request.url.path):
        return error_page(request, exc.status_code, exc.message, exc)
    return error_response(exc)


async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    details = validation_details(list(exc.errors()))
    if is_mlflow_path(request.url.path):
        problems = "; ".join(f"{d['field']}: {d['problem']}" for d in details[:_MAX_LISTED])
        body = mlflow_body(INVALID_PARAMETER_VALUE, f"Invalid request: {problems}.", details)
        return JSONResponse(body, status_code=400)
    if is_page_path(request.url.path):
        problems = "; ".join(f"{d['field']}: {d['problem']}" for d in details[:_MAX_LISTED])
        return error_page(request, 400, f"Invalid request: {problems}.")
    listed = "; ".join(f"{d['field']}: {d['problem']}" for d in details[:_MAX_LISTED])
    more = f" (and {len(details) - _MAX_LISTED} more)" if len(details) > _MAX_LISTED else ""
    message = f"Invalid request to {request.method} {request.url.path}: {listed}{more}."
    return JSONResponse({"error": message, "type": "InvalidInput", "details": details}, status_code=422)


async def _http_error(request: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    if is_mlflow_path(request.url.path):
        return _mlflow_http_error(request, exc)
    if is_page_path(request.url.path) and status in (404, 405):
        message = f"There is no page at {request.url.path}." if status == 404 else "This page does not accept that."
        return error_page(request, status, message)
    if status == 400:  # FastAPI: the body could not be decoded (not UTF-8), before any validation
        problem = "not valid UTF-8 JSON"
        message = f"Invalid request to {request.method} {request.url.path}: the body is {problem} ({exc.detail})."
        return JSONResponse(
            {"error": message, "type": "InvalidInput", "details": [{"field": "body", "problem": problem}]},
            status_code=422,
        )
    allowed = request.app.state.route_methods.allowed(request.url.path) if status == 405 else None
    body, headers = http_error(request, exc, allowed)
    return JSONResponse(body, status_code=status, headers=headers or None)


def _mlflow_http_error(request: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    if status == 404:
        message = f"No MLflow-compatible endpoint at {request.method} {request.url.path} (docs/mlflow.md lists them)."
        return JSONResponse(mlflow_body(ENDPOINT_NOT_FOUND, message), status_code=404)
    if status == 400:
        message = f"The body of {request.method} {request.url.path} is not valid UTF-8 JSON ({exc.detail})."
        body = mlflow_body(INVALID_PARAMETER_VALUE, message, [{"field": "body", "problem": "not valid UTF-8 JSON"}])
        return JSONResponse(body, status_code=400)
    headers = dict(exc.headers or {})
    if status == 405:
        headers["Allow"] = ", ".join(request.app.state.route_methods.allowed(request.url.path))
    code = "BAD_REQUEST" if status < 500 else INTERNAL_ERROR
    return JSONResponse(mlflow_body(code, str(exc.detail)), status_code=status, headers=headers or None)


class RouteMethods:
    """Which methods each path template accepts, to answer a 405 with every allowed method.

    A path matched by several templates (``/runs/search`` and ``/runs/{run_id}``) is answered for the
    most specific one (the most literal characters), as the OpenAPI document describes it.
    """

    def __init__(self, routes: list[tuple[str, set[str]]]) -> None:
        self._routes = []
        for template, methods in routes:
            regex, _, _ = compile_path(template)
            literal = len(re.sub(r"{[^}]*}", "", template))
            self._routes.append((regex, literal, frozenset(methods)))

    def allowed(self, path: str) -> list[str]:
        """Every method the most specific template matching ``path`` accepts, sorted."""
        matches = [(literal, methods) for regex, literal, methods in self._routes if regex.match(path)]
        if not matches:
            return []
        best = max(literal for literal, _ in matches)
        return sorted(set().union(*(methods for literal, methods in matches if literal == best)))


async def _unexpected(request: Request, exc: Exception) -> Response:
    # Starlette re-raises after sending this, so the server log gets the traceback.
    if is_mlflow_path(request.url.path):
        message = "Internal server error; the server log has the details."
        return JSONResponse(mlflow_body(INTERNAL_ERROR, message), status_code=500)
    if is_page_path(request.url.path):
        return error_page(request, 500, "Something went wrong on the server; its log has the details.")
    body = {"error": "Internal server error; the server log has the details.", "type": "LoopmlError", "details": []}
    return JSONResponse(body, status_code=500)
