"""``GET /health``: liveness, no auth."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from loopml import __version__
from loopml.server.encoding import JSONResponse
from loopml.server.schemas import Health

router = APIRouter(tags=["health"])
_BODY = {"status": "ok", "version": __version__}


@router.get("/health", response_model=Health, summary="Liveness check (no auth)")
async def health() -> Response:
    return JSONResponse(_BODY)
