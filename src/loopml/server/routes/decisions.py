"""``/decisions``: promotion decisions with their evidence. Readers read, writers write.

Handlers call :class:`~loopml.store.sql.decisions.SqlDecisionStore` (``backend.stores["decisions"]``),
which writes the decision, its audit event and its lineage edges in one transaction. A malformed
query or path parameter is a 422 naming it; an unknown decision, or a version or reference the
decision names that does not exist, a 404 naming the field; a known id a 409.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from loopml.core.records import DecisionRecord
from loopml.core.wire import DECISION
from loopml.server.auth import Reader, Writer
from loopml.server.backend import Backend, BackendDep
from loopml.server.encoding import JSONResponse
from loopml.server.schemas import DecisionCreate, DecisionList, DecisionOut
from loopml.store.monitoring import MAX_LIMIT, check_id, check_model
from loopml.store.sql.decisions import SqlDecisionStore

router = APIRouter(prefix="/decisions", tags=["decisions"])


def _store(backend: Backend) -> SqlDecisionStore:
    store: SqlDecisionStore = backend.stores["decisions"]
    return store


@router.post(
    "",
    status_code=201,
    response_model=DecisionOut,
    summary="Store a gate decision with its evidence (audited, linked in lineage)",
)
def add_decision(body: DecisionCreate, caller: Writer, backend: BackendDep) -> Response:
    record = DecisionRecord(**body.model_dump(), created_by=caller.actor)
    stored = _store(backend).add_decision(record, actor=caller.actor)
    return JSONResponse(DECISION.encode(stored), status_code=201)


@router.get("", response_model=DecisionList, summary="A model's decisions, newest first")
def list_decisions(
    caller: Reader,
    backend: BackendDep,
    model: Annotated[str, Query(max_length=128, description="The model name.")],
    passed: Annotated[bool | None, Query(description="true: passed only; false: refused only.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> Response:
    found = _store(backend).list_decisions(check_model(model, "query.model"), limit=limit, passed=passed)
    return JSONResponse({"decisions": DECISION.encode_many(found)})


@router.get("/{decision_id}", response_model=DecisionOut, summary="A decision by id")
def get_decision(decision_id: str, caller: Reader, backend: BackendDep) -> Response:
    return JSONResponse(DECISION.encode(_store(backend).get_decision(check_id(decision_id, "path.decision_id"))))
