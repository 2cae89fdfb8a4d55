"""``/login`` and ``/logout``: a token in exchange for a session cookie (servers with ``--auth``)."""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from loopml.server.backend import BackendDep
from loopml.server.pages.context import SECURITY_HEADERS, cookie_flags, redirect, renderer
from loopml.server.session import (
    CSRF_FIELD,
    SESSION_COOKIE,
    anonymous_session,
    csrf_ok,
    csrf_token,
    token_session,
)

router = APIRouter(include_in_schema=False)
MAX_FORM_BYTES = 4096


async def read_form(request: Request) -> dict[str, str]:
    """The fields of a small ``application/x-www-form-urlencoded`` body (the login and logout forms)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    fields = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True, max_num_fields=8)
    return {key: values[0] for key, values in fields.items()}


def safe_next(raw: str | None) -> str:
    """Where to go after logging in: a path on this server only (never ``//host`` or a URL)."""
    path = raw or "/"
    if not path.startswith("/") or path.startswith("//") or "\\" in path or "\n" in path or "\r" in path:
        return "/"
    return path


def _login_page(request: Request, session: str, *, next_path: str, error: str | None, status_code: int) -> Response:
    html = renderer.render(
        "login.html.j2", csrf=csrf_token(request.app.state.backend.ui_key, session), next=next_path, error=error
    )
    response = HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
    response.set_cookie(SESSION_COOKIE, session, **cookie_flags(request))
    return response


@router.get("/login")
def login_form(request: Request, backend: BackendDep, next: str | None = None) -> Response:
    if not backend.auth:
        return redirect(safe_next(next))
    session = anonymous_session()  # a pre-login session, so the form has a CSRF token
    return _login_page(request, session, next_path=safe_next(next), error=None, status_code=200)


@router.post("/login")
async def login(request: Request, backend: BackendDep) -> Response:
    form = await read_form(request)
    token, csrf_token_field = form.get("token", ""), form.get(CSRF_FIELD, "")
    target = safe_next(form.get("next"))
    if not backend.auth:
        return redirect(target)
    session = request.cookies.get(SESSION_COOKIE) or ""
    if not session or not csrf_ok(backend.ui_key, session, csrf_token_field):
        return _login_page(
            request, anonymous_session(), next_path=target, status_code=403,
            error="The form expired (missing or wrong CSRF token); enter the token again.",
        )  # fmt: skip
    secret = token.strip()
    found = await run_in_threadpool(backend.token_cache.verify, secret) if secret else None
    if found is None:
        return _login_page(
            request, anonymous_session(), next_path=target, status_code=401,
            error="Unknown, revoked or expired token." if secret else "Enter a token.",
        )  # fmt: skip
    response = redirect(target)
    response.set_cookie(SESSION_COOKIE, token_session(secret), **cookie_flags(request))
    return response


@router.post("/logout")
async def logout(request: Request, backend: BackendDep) -> Response:
    form = await read_form(request)
    session = request.cookies.get(SESSION_COOKIE) or ""
    if not csrf_ok(backend.ui_key, session, form.get(CSRF_FIELD)):
        return redirect("/")
    response = redirect("/login" if backend.auth else "/")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
