"""``/policies`` and ``/cycles``: retrain policies and the history of their cycles. Readers read.

Read-only: a policy is applied with ``loopml policy apply`` where the server's database is, and
cycles are written by the automation service. Handlers call
:class:`~loopml.store.sql.policies.SqlPolicyStore` (``backend.stores["policies"]``). A malformed
name or id is a 422 naming ``path.<name>``; an unknown policy or cycle a 404.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from starlette.responses import Response

from loopml.core.errors import invalid
from loopml.core.wire import CYCLE, POLICY
from loopml.server.auth import Reader
from loopml.server.backend import Backend, BackendDep
from loopml.server.encoding import JSONResponse
from loopml.server.schemas import CycleList, CycleOut, PolicyDetail, PolicyList
from loopml.store.monitoring import MAX_LIMIT, check_model
from loopml.store.sql.policies import SqlPolicyStore

router = APIRouter(tags=["policies"])
CycleStatus = Literal["running", "promoted", "passed", "refused", "failed"]
""":data:`~loopml.core.records.CYCLE_STATUSES` (a test checks they agree)."""
_PREFIX = re.compile(r"[0-9a-f]{4,32}")


def _store(backend: Backend) -> SqlPolicyStore:
    store: SqlPolicyStore = backend.stores["policies"]
    return store


@router.get("/policies", response_model=PolicyList, summary="Retrain policies by name")
def list_policies(
    caller: Reader,
    backend: BackendDep,
    model: Annotated[str | None, Query(max_length=128, description="Only this model's policies.")] = None,
    enabled: Annotated[bool | None, Query(description="true: running only; false: paused only.")] = None,
) -> Response:
    model = None if model is None else check_model(model, "query.model")
    return JSONResponse({"policies": POLICY.encode_many(_store(backend).list_policies(model=model, enabled=enabled))})


@router.get(
    "/policies/{name}",
    response_model=PolicyDetail,
    summary="A policy, its model's running cycle and when its newest cycle started",
)
def get_policy(name: str, caller: Reader, backend: BackendDep) -> Response:
    store = _store(backend)
    policy = store.get_policy(check_model(name, "path.name"))
    running = store.running_cycle(policy.model)
    return JSONResponse(
        {
            "policy": POLICY.encode(policy),
            "running": None if running is None else CYCLE.encode(running),
            "last_started": store.last_started(policy.name),
        }
    )


@router.get("/policies/{name}/cycles", response_model=CycleList, summary="A policy's cycles, newest first")
def list_cycles(
    name: str,
    caller: Reader,
    backend: BackendDep,
    status: Annotated[CycleStatus | None, Query(description="Only cycles in this state.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> Response:
    store = _store(backend)
    policy = store.get_policy(check_model(name, "path.name"))  # an unknown policy is a 404, not an empty list
    return JSONResponse(
        {"cycles": CYCLE.encode_many(store.list_cycles(policy=policy.name, status=status, limit=limit))}
    )


@router.get("/cycles", response_model=CycleList, summary="Cycles of every policy (or of one model), newest first")
def list_all_cycles(
    caller: Reader,
    backend: BackendDep,
    model: Annotated[str | None, Query(max_length=128, description="Only this model's cycles.")] = None,
    status: Annotated[CycleStatus | None, Query(description="Only cycles in this state.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> Response:
    model = None if model is None else check_model(model, "query.model")
    return JSONResponse(
        {"cycles": CYCLE.encode_many(_store(backend).list_cycles(model=model, status=status, limit=limit))}
    )


@router.get("/cycles/{cycle_id}", response_model=CycleOut, summary="A cycle by id (or a unique prefix of it)")
def get_cycle(cycle_id: str, caller: Reader, backend: BackendDep) -> Response:
    if not _PREFIX.fullmatch(cycle_id):
        raise invalid(
            "path.cycle_id",
            "not an id or a prefix of one",
            f"Invalid cycle id {cycle_id[:40]!r}: use the id or a unique prefix of 4+ lowercase hex characters.",
        )
    return JSONResponse(CYCLE.encode(_store(backend).get_cycle(cycle_id)))
