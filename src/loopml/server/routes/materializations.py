"""``/features/materializations``: the record of each feature view materialisation. Readers read, writers write.

Handlers call :class:`~loopml.store.sql.materializations.SqlMaterializationStore`
(``backend.stores["materializations"]``), which audits every start and finish on the view. A
malformed query or path parameter is a 422 naming it; an unknown materialisation a 404; a known id,
or a finish of one that is not running, a 409.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from loopml.core.records import MaterializationRecord
from loopml.core.wire import MATERIALIZATION
from loopml.server.auth import Reader, Writer
from loopml.server.backend import Backend, BackendDep
from loopml.server.encoding import JSONResponse
from loopml.server.schemas.materializations import (
    MaterializationFinish,
    MaterializationList,
    MaterializationOut,
    MaterializationStart,
)
from loopml.store.materializations import check_filters
from loopml.store.monitoring import MAX_LIMIT, check_id
from loopml.store.sql.materializations import SqlMaterializationStore

router = APIRouter(prefix="/features/materializations", tags=["features"])


def _store(backend: Backend) -> SqlMaterializationStore:
    store: SqlMaterializationStore = backend.stores["materializations"]
    return store


@router.post("", status_code=201, response_model=MaterializationOut, summary="Record a materialisation that starts")
def start_materialization(body: MaterializationStart, caller: Writer, backend: BackendDep) -> Response:
    store = _store(backend)
    record = MaterializationRecord(**body.model_dump(), created_by=caller.actor)
    store.start_materialization(record, actor=caller.actor)
    return JSONResponse(MATERIALIZATION.encode(store.get_materialization(record.id)), status_code=201)


@router.get("", response_model=MaterializationList, summary="Materialisations, newest first")
def list_materializations(
    caller: Reader,
    backend: BackendDep,
    view: Annotated[str | None, Query(max_length=128, description="A feature view name.")] = None,
    online_store: Annotated[str | None, Query(max_length=4096, description="The online store's URI.")] = None,
    status: Annotated[str | None, Query(max_length=16, description="running, succeeded or failed.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> Response:
    view, online_store, status = check_filters(view, online_store, status)
    found = _store(backend).list_materializations(view=view, online_store=online_store, status=status, limit=limit)
    return JSONResponse({"materializations": MATERIALIZATION.encode_many(found)})


@router.get("/{materialization_id}", response_model=MaterializationOut, summary="A materialisation by id")
def get_materialization(materialization_id: str, caller: Reader, backend: BackendDep) -> Response:
    found = _store(backend).get_materialization(check_id(materialization_id, "path.materialization_id"))
    return JSONResponse(MATERIALIZATION.encode(found))


@router.post(
    "/{materialization_id}/finish",
    response_model=MaterializationOut,
    summary="End a running materialisation succeeded or failed, with its counts and profile",
)
def finish_materialization(
    materialization_id: str, body: MaterializationFinish, caller: Writer, backend: BackendDep
) -> Response:
    stored = _store(backend).finish_materialization(
        check_id(materialization_id, "path.materialization_id"), actor=caller.actor, **body.model_dump()
    )
    return JSONResponse(MATERIALIZATION.encode(stored))
