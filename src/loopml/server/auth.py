"""Who is calling, and may they? Bearer tokens with roles reader < writer < admin.

With auth on, every ``/api/v1`` route but health needs ``Authorization: Bearer <token>``;
the audit actor is the token's name. With auth off, every caller may do everything but manage
tokens, and the actor is the ``X-Loopml-Actor`` header (percent-encoded; the HTTP client sends
the OS user) or ``anonymous``.

A browser of the web UI authenticates with its session cookie instead of a header
(:mod:`loopml.server.session`); a state change made with the cookie must carry the session's
CSRF token in ``X-CSRF-Token``, or it is refused with 403.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import unquote

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from loopml.core.errors import Forbidden, Unauthorized
from loopml.core.records import Role, Token
from loopml.server.backend import Backend, BackendDep
from loopml.server.session import CSRF_HEADER, SAFE_METHODS, SESSION_COOKIE, csrf_ok, session_token
from loopml.store.http.wire import ACTOR_HEADER

MAX_ACTOR_LENGTH = 256
_RANK = {Role.READER: 0, Role.WRITER: 1, Role.ADMIN: 2}
_bearer = HTTPBearer(auto_error=False, description="A token from `loopml token create` (servers started with --auth).")


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated caller of one request."""

    actor: str
    role: Role


async def authenticate(
    request: Request,
    backend: BackendDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """The caller, from the bearer token or the UI's session cookie (auth on) or the actor header (auth off)."""
    session = request.cookies.get(SESSION_COOKIE) if credentials is None else None
    unsafe = request.method not in SAFE_METHODS
    if session is not None and unsafe and not csrf_ok(backend.ui_key, session, request.headers.get(CSRF_HEADER)):
        raise Forbidden(
            f"This request carries the UI's session cookie but no valid CSRF token: send the page's token in "
            f"the {CSRF_HEADER} header (scripts and the SDK authenticate with 'Authorization: Bearer <token>')."
        )
    if not backend.auth:
        raw = request.headers.get(ACTOR_HEADER)
        actor = unquote(raw).strip()[:MAX_ACTOR_LENGTH] if raw else ""
        return Caller(actor or "anonymous", Role.ADMIN)
    if session is not None and (from_cookie := session_token(session)):
        secret = from_cookie
    elif credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthorized(
            "This server requires a token: send 'Authorization: Bearer <token>' "
            "(SDK: set LOOPML_TOKEN; create tokens with `loopml token create`)."
        )
    else:
        secret = credentials.credentials
    token = await verify_token(backend, secret)
    if token is None:
        raise Unauthorized("Unknown or revoked token; check LOOPML_TOKEN or ask an admin for a new one.")
    return Caller(token.name, token.role)


async def verify_token(backend: Backend, secret: str) -> Token | None:
    """The token whose secret is ``secret`` (``None``: unknown, revoked or expired), through the token cache."""
    cache = backend.token_cache
    hit, token = cache.lookup(secret)
    if not hit:
        token = await run_in_threadpool(cache.verify, secret)
        cache.store(secret, token)
    return token


def require(role: Role) -> Callable[..., Awaitable[Caller]]:
    """A dependency that lets callers with at least ``role`` through (403 otherwise)."""

    async def dependency(caller: Annotated[Caller, Depends(authenticate)]) -> Caller:
        if _RANK[caller.role] < _RANK[role]:
            raise Forbidden(
                f"Token {caller.actor!r} has role {caller.role.value!r}; this action needs {role.value!r} "
                "or higher. Ask an admin for a token with that role."
            )
        return caller

    dependency.__name__ = f"require_{role.value}"
    return dependency


Reader = Annotated[Caller, Depends(require(Role.READER))]
Writer = Annotated[Caller, Depends(require(Role.WRITER))]
Admin = Annotated[Caller, Depends(require(Role.ADMIN))]
