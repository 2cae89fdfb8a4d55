"""Errors on page paths become HTML pages (never a traceback); a missing session goes to /login."""

from __future__ import annotations

from http import HTTPStatus

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from loopml.core.errors import Unauthorized
from loopml.server.pages.context import SECURITY_HEADERS, next_path, redirect, renderer
from loopml.server.session import SESSION_COOKIE, csrf_token

API_PATHS = ("/api/", "/static/", "/metrics", "/openapi.json", "/docs", "/redoc")


def is_page_path(path: str) -> bool:
    """Whether ``path`` belongs to the UI (not the API, static files or metrics)."""
    return not path.startswith(API_PATHS)


def error_page(request: Request, status: int, message: str, exc: Exception | None = None) -> Response:
    """The HTML answer to an error on a page path."""
    if isinstance(exc, Unauthorized):
        return redirect(f"/login?next={next_path(request)}")
    if status == 422:  # an invalid value in the page's address: for a page that is a bad request
        status = 400
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    session = request.cookies.get(SESSION_COOKIE) or ""
    html = renderer.render(
        "error.html.j2",
        status=status,
        reason=reason,
        message=message,
        caller={"actor": "", "role": ""},
        csrf=csrf_token(request.app.state.backend.ui_key, session) if session else "",
        auth=False,
        section="",
    )
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
