"""``GET /audit``: the audit log, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from loopml.core.wire import AUDIT_EVENT
from loopml.server.auth import Reader
from loopml.server.backend import BackendDep
from loopml.server.encoding import JSONResponse
from loopml.server.schemas import AuditList

router = APIRouter(tags=["audit"])


@router.get("/audit", response_model=AuditList, summary="Audit events, newest first, optionally for one object")
def list_audit_events(
    caller: Reader,
    backend: BackendDep,
    object_type: str | None = None,
    object_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> Response:
    events = backend.store.list_audit_events(object_type=object_type, object_id=object_id, limit=limit)
    return JSONResponse({"events": AUDIT_EVENT.encode_many(events)})
