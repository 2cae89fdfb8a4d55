"""``GET /health``: liveness; ``GET /server-info``: version and body limits. No auth."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from loopml.core.version import __version__
from loopml.server.encoding import JSONResponse
from loopml.server.limits import Limits
from loopml.server.schemas import Health, ServerInfo

router = APIRouter(tags=["health"])
_BODY = {"status": "ok", "version": __version__}


@router.get("/health", response_model=Health, summary="Liveness check (no auth)")
async def health() -> Response:
    return JSONResponse(_BODY)


@router.get("/server-info", response_model=ServerInfo, summary="Version and request body limits (no auth)")
async def server_info(request: Request) -> Response:
    limits: Limits = request.app.state.limits
    return JSONResponse(
        {
            "version": __version__,
            "max_json_bytes": limits.max_json_bytes,
            "max_artifact_bytes": limits.max_artifact_bytes,
        }
    )
