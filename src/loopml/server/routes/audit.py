"""``GET /audit``: the audit log, newest first, filtered by object, actor, action and time, paged by id."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from loopml.core.wire import AUDIT_EVENT
from loopml.server.auth import Reader
from loopml.server.backend import BackendDep
from loopml.server.encoding import JSONResponse
from loopml.server.schemas import AuditList
from loopml.store.audit import OBJECT_FORMS, check_actions, check_audit_object

router = APIRouter(tags=["audit"])


@router.get("/audit", response_model=AuditList, summary="Audit events, newest first, optionally filtered")
def list_audit_events(
    caller: Reader,
    backend: BackendDep,
    object_type: str | None = None,
    object_id: str | None = None,
    object: Annotated[
        str | None, Query(max_length=512, description=f"{OBJECT_FORMS}: the object and what belongs to it.")
    ] = None,
    actor: Annotated[str | None, Query(max_length=256)] = None,
    action: Annotated[
        list[str] | None, Query(description="Actions or action prefixes (model.alias matches model.alias.set).")
    ] = None,
    since_ms: Annotated[int | None, Query(ge=0, le=2**63 - 1, description="Epoch ms, inclusive.")] = None,
    until_ms: Annotated[int | None, Query(ge=0, le=2**63 - 1, description="Epoch ms, exclusive.")] = None,
    before_id: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="Only events with a smaller id: the next page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> Response:
    if object is not None:
        check_audit_object(object, "query.object")
    events = backend.store.list_audit_events(
        object_type=object_type,
        object_id=object_id,
        object_uri=object,
        actor=actor,
        actions=check_actions(action, "query.action") if action else None,
        since_ms=since_ms,
        until_ms=until_ms,
        before_id=before_id,
        limit=limit,
    )
    return JSONResponse({"events": AUDIT_EVENT.encode_many(events)})
