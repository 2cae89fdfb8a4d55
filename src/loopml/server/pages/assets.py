"""``/static/...``: the UI's stylesheet, scripts and vendored ECharts, gzipped once and cached by the browser."""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from functools import lru_cache

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from loopml.core.errors import NotFound
from loopml.ui import STATIC_DIR

router = APIRouter(include_in_schema=False)
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml",
          ".txt": "text/plain; charset=utf-8", ".png": "image/png"}  # fmt: skip
_COMPRESSIBLE = (".js", ".css", ".svg", ".txt")


@dataclass(frozen=True, slots=True)
class Asset:
    """One static file as served: its bytes, their gzip, type and ETag."""

    body: bytes
    gzipped: bytes | None
    media_type: str
    etag: str


@lru_cache(maxsize=64)
def load_asset(name: str) -> Asset:
    """The file ``name`` under the static folder (never a path outside it)."""
    root = STATIC_DIR.resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise NotFound(f"No static file {name!r}.")
    body = path.read_bytes()
    digest = hashlib.sha256(body).hexdigest()[:16]
    media_type = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    gzipped = gzip.compress(body, 9, mtime=0) if path.suffix in _COMPRESSIBLE else None
    return Asset(body, gzipped, media_type, f'"{digest}"')


def static_url(name: str) -> str:
    """The URL of a static file, versioned by its content so browsers may cache it for a year."""
    return f"/static/{name}?v={load_asset(name).etag.strip(chr(34))}"


@router.get("/static/{name:path}")
def static_file(name: str, request: Request) -> Response:
    asset = load_asset(name)
    headers = {"ETag": asset.etag, "Vary": "Accept-Encoding", "X-Content-Type-Options": "nosniff"}
    headers["Cache-Control"] = "public, max-age=31536000, immutable" if request.query_params.get("v") else "no-cache"
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    if asset.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(asset.gzipped, media_type=asset.media_type, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)
