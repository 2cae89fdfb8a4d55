"""``/pipelines``: pipeline runs and their step runs, and the step cache lookup.

Handlers call :class:`~loopml.store.sql.pipelines.SqlPipelineStore`, the store a local pipeline
run writes to, so a run recorded through the server reads back exactly as one recorded in the
database; starting and finishing a run and finishing a step are audited with the caller as actor.
Records go out in the form of their codecs (:mod:`loopml.core.wire`), through
:class:`AnyJSONResponse` since parameters and results are the user's JSON. A malformed path id is
a 422 naming the path field (the store's own checks, :func:`~loopml.store.pipelines.check_id`); an
unknown one a 404; a duplicate (step run id, or a step name already used in the run) a 409, raised
as ``Conflict`` by the store.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from loopml.core.errors import NotFound
from loopml.core.records import PipelineRunRecord, StepRunRecord
from loopml.core.wire import PIPELINE_RUN, PIPELINE_RUN_SUMMARY, STEP_RUN
from loopml.server.auth import Reader, Writer
from loopml.server.backend import BackendDep
from loopml.server.encoding import AnyJSONResponse
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
from loopml.store.pipelines import MAX_LIMIT, check_id, check_run_ref

router = APIRouter(prefix="/pipelines", tags=["pipelines"])


@router.post("/runs", status_code=201, response_model=PipelineRunOut, summary="Start a pipeline run")
def create_run(body: PipelineRunCreate, caller: Writer, backend: BackendDep) -> Response:
    store = backend.pipelines
    store.create_run(PipelineRunRecord(**body.model_dump(), created_by=caller.actor), actor=caller.actor)
    return AnyJSONResponse(PIPELINE_RUN.encode(store.get_run(body.id)), status_code=201)


@router.get("/runs", response_model=PipelineRunList, summary="Recent pipeline runs, newest first, with step counts")
def list_runs(
    caller: Reader,
    backend: BackendDep,
    pipeline: Annotated[str | None, Query(max_length=256, pattern=r"^[^\x00]*$")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> Response:
    runs = backend.pipelines.list_runs(pipeline=pipeline, limit=limit)
    return AnyJSONResponse({"runs": PIPELINE_RUN_SUMMARY.encode_many(runs)})


@router.get("/runs/{run_id}", response_model=PipelineRunOut, summary="A pipeline run by id or unique prefix (4+ hex)")
def get_run(run_id: str, caller: Reader, backend: BackendDep) -> Response:
    return AnyJSONResponse(PIPELINE_RUN.encode(backend.pipelines.get_run(check_run_ref(run_id, "path.run_id"))))


@router.post(
    "/runs/{run_id}/finish",
    response_model=PipelineRunOut,
    summary="End a pipeline run SUCCEEDED or FAILED, with its error or result",
)
def finish_run(run_id: str, body: PipelineRunFinish, caller: Writer, backend: BackendDep) -> Response:
    store = backend.pipelines
    store.finish_run(
        check_id(run_id, "path.run_id"), status=body.status, end_time=body.end_time, error=body.error,
        result=body.result, actor=caller.actor,
    )  # fmt: skip
    return AnyJSONResponse(PIPELINE_RUN.encode(store.get_run(run_id)))


@router.get("/runs/{run_id}/steps", response_model=StepRunList, summary="A run's step runs in topological order")
def list_steps(run_id: str, caller: Reader, backend: BackendDep) -> Response:
    steps = backend.pipelines.list_steps(check_id(run_id, "path.run_id"))  # an unknown run is a 404
    return AnyJSONResponse({"steps": STEP_RUN.encode_many(steps)})


@router.post("/steps", status_code=201, response_model=StepRunOut, summary="Record a step run of a pipeline run")
def insert_step(body: StepRunCreate, caller: Writer, backend: BackendDep) -> Response:
    store = backend.pipelines
    store.insert_step(StepRunRecord(**body.model_dump()), actor=caller.actor)
    return AnyJSONResponse(STEP_RUN.encode(store.get_step(body.id)), status_code=201)


@router.get("/steps/{step_run_id}", response_model=StepRunOut, summary="A step run by id")
def get_step(step_run_id: str, caller: Reader, backend: BackendDep) -> Response:
    return AnyJSONResponse(STEP_RUN.encode(backend.pipelines.get_step(check_id(step_run_id, "path.step_run_id"))))


@router.patch(
    "/steps/{step_run_id}",
    response_model=StepRunOut,
    summary="Change some fields of a step run (a terminal status is audited); returns the step run",
)
def update_step(step_run_id: str, body: StepRunUpdate, caller: Writer, backend: BackendDep) -> Response:
    store = backend.pipelines
    store.update_step(check_id(step_run_id, "path.step_run_id"), body, actor=caller.actor)
    return AnyJSONResponse(STEP_RUN.encode(store.get_step(step_run_id)))


@router.get(
    "/cache/{cache_key}",
    response_model=StepRunOut,
    summary="The newest succeeded step run with this cache key (404 if none)",
)
def find_cached(cache_key: str, caller: Reader, backend: BackendDep) -> Response:
    found = backend.pipelines.find_cached(check_digest(cache_key, "path.cache_key"))
    if found is None:
        raise NotFound(f"No succeeded step run has cache key {cache_key}.")
    return AnyJSONResponse(STEP_RUN.encode(found))
