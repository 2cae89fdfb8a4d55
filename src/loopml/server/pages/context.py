"""What every page handler gets: the caller (from the session cookie), the CSRF token and ``render``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from loopml.core.errors import Unauthorized
from loopml.core.records import Role
from loopml.core.version import __version__
from loopml.server.auth import Caller, verify_token
from loopml.server.backend import Backend, BackendDep
from loopml.server.pages.assets import static_url
from loopml.server.session import SESSION_COOKIE, anonymous_session, csrf_token, session_token
from loopml.ui import TEMPLATES_DIR, PageRenderer

NAV = (
    ("/", "Overview"),
    ("/experiments", "Experiments"),
    ("/datasets", "Datasets"),
    ("/pipelines", "Pipelines"),
    ("/models", "Models"),
    ("/monitoring", "Monitoring"),
    ("/audit", "Audit"),
)
RANK = {Role.READER: 0, Role.WRITER: 1, Role.ADMIN: 2}
SECURITY_HEADERS = {
    # scripts only from this server (page data travels in <script type="application/json">)
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
        "frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

renderer = PageRenderer(TEMPLATES_DIR, globals={"static": static_url, "nav": NAV, "version": __version__})


def cookie_flags(request: Request) -> dict[str, Any]:
    """The attributes of the session cookie: HttpOnly, SameSite=Strict, Secure over HTTPS."""
    return {"httponly": True, "samesite": "strict", "secure": request.url.scheme == "https", "path": "/"}


@dataclass(slots=True)
class PageContext:
    """One page request: who asks, their session and CSRF token, and the backend."""

    request: Request
    backend: Backend
    caller: Caller
    session: str
    new_session: bool = False
    extra_headers: dict[str, str] = field(default_factory=dict)

    @property
    def csrf(self) -> str:
        return csrf_token(self.backend.ui_key, self.session)

    def can(self, role: Role) -> bool:
        """Whether the caller has at least ``role`` (buttons a caller may not use are not drawn)."""
        return RANK[self.caller.role] >= RANK[role]

    def render(self, template: str, *, status_code: int = 200, section: str = "", **context: Any) -> HTMLResponse:
        """The page ``template`` with the common context (caller, CSRF token, navigation)."""
        html = renderer.render(
            template,
            caller={"actor": self.caller.actor, "role": self.caller.role.value},
            csrf=self.csrf,
            auth=self.backend.auth,
            section=section,
            can_write=self.can(Role.WRITER),
            can_admin=self.can(Role.ADMIN),
            **context,
        )
        response = HTMLResponse(html, status_code=status_code, headers={**SECURITY_HEADERS, **self.extra_headers})
        if self.new_session:
            response.set_cookie(SESSION_COOKIE, self.session, **cookie_flags(self.request))
        return response


def next_path(request: Request) -> str:
    """The path (and query) to come back to after logging in."""
    query = f"?{request.url.query}" if request.url.query else ""
    return quote(request.url.path + query, safe="/")


async def page_context(request: Request, backend: BackendDep) -> PageContext:
    """FastAPI dependency of every page: the caller from the session cookie.

    Without a valid session on a server with ``--auth`` it raises :class:`~loopml.Unauthorized`,
    which a page path answers with a redirect to ``/login?next=...``.
    """
    session = request.cookies.get(SESSION_COOKIE)
    if not backend.auth:
        if not session:
            return PageContext(request, backend, Caller("anonymous", Role.ADMIN), anonymous_session(), True)
        return PageContext(request, backend, Caller("anonymous", Role.ADMIN), session)
    secret = session_token(session) if session else None
    if not session or not secret:
        raise Unauthorized("Log in with a token to see this page.")
    token = await verify_token(backend, secret)
    if token is None:
        raise Unauthorized("Your token is unknown, revoked or expired; log in again.")
    return PageContext(request, backend, Caller(token.name, token.role), session)


Page = Annotated[PageContext, Depends(page_context)]


def redirect(location: str, *, status_code: int = 303) -> Response:
    """A redirect after a form post (303 See Other) or to the login page."""
    return Response(status_code=status_code, headers={"Location": location, "Cache-Control": "no-store"})
