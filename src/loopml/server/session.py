"""Browser sessions of the web UI: the session cookie and its CSRF token.

A browser holds one cookie, ``loopml_session`` (HttpOnly, SameSite=Strict, Secure over HTTPS).
With ``--auth`` its value is the caller's token (``t.<secret>``), checked like a bearer token on
every request; without auth it is a random id (``a.<hex>``). The CSRF token of a session is
``HMAC-SHA256(key, cookie value)``: pages embed it, forms post it as ``csrf_token`` and the UI's
scripts send it as ``X-CSRF-Token``; every state change made with the cookie must carry it. The
key is ``LOOPML_UI_SECRET`` or a random key kept in ``HOME/ui-secret`` (0600), shared by the
workers of one machine.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from loopml.config import Settings

SESSION_COOKIE = "loopml_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_TOKEN_PREFIX = "t."
_ANONYMOUS_PREFIX = "a."
_KEY_FILE = "ui-secret"


def ui_key(settings: Settings) -> bytes:
    """The key that signs CSRF tokens: ``settings.ui_secret``, else ``HOME/ui-secret`` (made once, atomically)."""
    if settings.ui_secret:
        return settings.ui_secret.encode()
    path = settings.home / _KEY_FILE
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    settings.home.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f".{_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(secrets.token_hex(32).encode())
    try:
        os.link(staged, path)  # the first writer wins; the others read its key
    except FileExistsError:
        pass
    finally:
        Path(staged).unlink(missing_ok=True)
    return path.read_bytes().strip()


def csrf_token(key: bytes, session: str) -> str:
    """The CSRF token of the session whose cookie value is ``session``."""
    return hmac.new(key, session.encode(), hashlib.sha256).hexdigest()


def csrf_ok(key: bytes, session: str, presented: str | None) -> bool:
    """Whether ``presented`` is the CSRF token of ``session`` (constant-time)."""
    return bool(presented) and hmac.compare_digest(csrf_token(key, session), presented or "")


def anonymous_session() -> str:
    """A new cookie value for a browser of a server without auth."""
    return _ANONYMOUS_PREFIX + secrets.token_hex(16)


def token_session(secret: str) -> str:
    """The cookie value of a browser logged in with the token ``secret``."""
    return _TOKEN_PREFIX + secret


def session_token(session: str) -> str | None:
    """The token a cookie value carries (``None`` for an anonymous session)."""
    return session[len(_TOKEN_PREFIX) :] if session.startswith(_TOKEN_PREFIX) else None
