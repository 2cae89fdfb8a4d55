"""``/pipelines``: pipeline runs and their step runs, and the step cache lookup.

Handlers call :class:`~loopml.store.sql.pipelines.SqlPipelineStore`, the store a local pipeline
run writes to, so a run recorded through the server reads back exactly as one recorded in the
database; starting and finishing a run and finishing a step are audited with the caller as actor.
Ids are checked before the store sees them: a malformed id is a 422 naming the path or body field,
an unknown one a 404, a duplicate (step run id, or a step name already used in the run) a 409.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy.exc import IntegrityError as DatabaseIntegrityError
from starlette.responses import Response

from loopml.core.errors import Conflict, NotFound, invalid
from loopml.server.auth import Reader, Writer
from loopml.server.backend import BackendDep
from loopml.server.encoding import AnyJSONResponse, pipeline_run_json, step_run_json
from loopml.server.routes.blobs import check_digest
from loopml.server.schemas import (
    PipelineRunCreate,
    PipelineRunFinish,
    PipelineRunList,
    PipelineRunOut,
    StepRunCreate,
    StepRunList,
    StepRunOut,
    StepRunUpdate,
)
from loopml.store.sql.pipelines import SqlPipelineStore

router = APIRouter(prefix="/pipelines", tags=["pipelines"])
_ID_RE = re.compile(r"[0-9a-f]{32}")
_PREFIX_RE = re.compile(r"[0-9a-f]{4,32}")
_STEP_HINT = "See a run's step runs with `loopml pipeline show RUN_ID` (GET /api/v1/pipelines/runs/{run_id}/steps)."


@router.post("/runs", status_code=201, response_model=PipelineRunOut, summary="Start a pipeline run")
def create_run(body: PipelineRunCreate, caller: Writer, backend: BackendDep) -> Response:
    store = backend.pipelines
    row = {**body.model_dump(), "created_by": caller.actor}
    with _conflict(f"Pipeline run {body.id} already exists."):
        store.create_run(row, actor=caller.actor)
    return AnyJSONResponse(pipeline_run_json(store.get_run(body.id)), status_code=201)


@router.get("/runs", response_model=PipelineRunList, summary="Recent pipeline runs, newest first, with step counts")
def list_runs(
    caller: Reader,
    backend: BackendDep,
    pipeline: Annotated[str | None, Query(max_length=256, pattern=r"^[^\x00]*$")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 50,
) -> Response:
    runs = backend.pipelines.list_runs(pipeline=pipeline, limit=limit)
    return AnyJSONResponse({"runs": [pipeline_run_json(r) for r in runs]})


@router.get("/runs/{run_id}", response_model=PipelineRunOut, summary="A pipeline run by id or unique prefix (4+ hex)")
def get_run(run_id: str, caller: Reader, backend: BackendDep) -> Response:
    if not _PREFIX_RE.fullmatch(run_id):
        raise invalid(
            "path.run_id",
            "not a run id or a prefix of 4+ hex characters",
            f"Invalid pipeline run id {run_id[:80]!r}: use the id or a unique prefix of 4+ hex characters.",
        )
    return AnyJSONResponse(pipeline_run_json(backend.pipelines.get_run(run_id)))


@router.post(
    "/runs/{run_id}/finish",
    response_model=PipelineRunOut,
    summary="End a pipeline run SUCCEEDED or FAILED, with its error or result",
)
def finish_run(run_id: str, body: PipelineRunFinish, caller: Writer, backend: BackendDep) -> Response:
    store = backend.pipelines
    store.get_run(check_id(run_id, "path.run_id"))  # 404 before writing
    store.finish_run(
        run_id, status=body.status, end_time=body.end_time, error=body.error, result=body.result, actor=caller.actor
    )
    return AnyJSONResponse(pipeline_run_json(store.get_run(run_id)))


@router.get("/runs/{run_id}/steps", response_model=StepRunList, summary="A run's step runs in topological order")
def list_steps(run_id: str, caller: Reader, backend: BackendDep) -> Response:
    store = backend.pipelines
    store.get_run(check_id(run_id, "path.run_id"))  # an unknown run is a 404, not an empty list
    return AnyJSONResponse({"steps": [step_run_json(s) for s in store.list_steps(run_id)]})


@router.post("/steps", status_code=201, response_model=StepRunOut, summary="Record a step run of a pipeline run")
def insert_step(body: StepRunCreate, caller: Writer, backend: BackendDep) -> Response:
    store = backend.pipelines
    run_id = store.get_run(body.pipeline_run_id)["id"]  # 404 for an unknown run
    try:
        store.insert_step(body.model_dump(), actor=caller.actor)
    except DatabaseIntegrityError as exc:  # a unique key: the step run id, or (run, step name)
        if store.get_step(body.id) is not None:
            raise Conflict(f"Step run {body.id} already exists.") from exc
        raise Conflict(f"Pipeline run {run_id} already has a step {body.name!r}.") from exc
    return AnyJSONResponse(step_run_json(_step(store, body.id)), status_code=201)


@router.patch(
    "/steps/{step_run_id}",
    response_model=StepRunOut,
    summary="Change some fields of a step run (a terminal status is audited); returns the step run",
)
def update_step(step_run_id: str, body: StepRunUpdate, caller: Writer, backend: BackendDep) -> Response:
    store = backend.pipelines
    _step(store, check_id(step_run_id, "path.step_run_id"))  # 404 before writing
    if body:
        with _conflict(f"The pipeline run of step run {step_run_id} already has a step {body.get('name')!r}."):
            store.update_step(step_run_id, dict(body), actor=caller.actor)
    return AnyJSONResponse(step_run_json(_step(store, step_run_id)))


@router.get(
    "/cache/{cache_key}",
    response_model=StepRunOut,
    summary="The newest succeeded step run with this cache key (404 if none)",
)
def find_cached(cache_key: str, caller: Reader, backend: BackendDep) -> Response:
    found = backend.pipelines.find_cached(check_digest(cache_key, "path.cache_key"))
    if found is None:
        raise NotFound(f"No succeeded step run has cache key {cache_key}.")
    return AnyJSONResponse(step_run_json(found))


def check_id(value: str, field: str) -> str:
    """``value`` if it is a full 32-hex id, else a 422 naming ``field``."""
    if not _ID_RE.fullmatch(value):
        name = field.rsplit(".", 1)[-1]
        raise invalid(field, "not a 32-character hex id", f"Invalid {name} {value[:80]!r}: expected 32 hex characters.")
    return value


def _step(store: SqlPipelineStore, step_run_id: str) -> dict[str, Any]:
    """A step run by full id (404 otherwise)."""
    found = store.get_step(step_run_id)
    if found is None:
        raise NotFound(f"Step run {step_run_id} does not exist. {_STEP_HINT}")
    return found


@contextmanager
def _conflict(message: str) -> Iterator[None]:
    """A unique key the database refused (a race the checks before it did not see) as a 409."""
    try:
        yield
    except DatabaseIntegrityError as exc:
        raise Conflict(message) from exc
