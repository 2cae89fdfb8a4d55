"""``/admin``: maintenance of the server's stores (admin tokens only). ``POST /admin/gc`` runs ``loopml gc``."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from loopml.gc.collect import collect
from loopml.server.auth import Admin
from loopml.server.backend import BackendDep
from loopml.server.encoding import JSONResponse
from loopml.server.schemas.admin import GcOut, GcRequest

router = APIRouter(prefix="/admin", tags=["admin"])


@router.post("/gc", response_model=GcOut, summary="Delete artifact blobs no record references (loopml gc)")
async def collect_garbage(body: GcRequest, caller: Admin, backend: BackendDep) -> Response:
    report = await run_in_threadpool(
        lambda: collect(
            body.older_than, dry_run=body.dry_run, force=body.force, session=backend.session(), actor=caller.actor
        )
    )
    return JSONResponse(report.to_dict())
