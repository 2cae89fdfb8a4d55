"""``/experiments``: create, list, get, get-or-create."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from loopml.core.wire import EXPERIMENT
from loopml.server.auth import Reader, Writer
from loopml.server.backend import BackendDep
from loopml.server.encoding import JSONResponse
from loopml.server.schemas import ExperimentCreate, ExperimentList, ExperimentName, ExperimentOut
from loopml.server.schemas.tracking import ExperimentKeys

router = APIRouter(prefix="/experiments", tags=["experiments"])


@router.post("", status_code=201, response_model=ExperimentOut, summary="Create an experiment (409 if taken)")
def create_experiment(body: ExperimentCreate, caller: Writer, backend: BackendDep) -> Response:
    experiment = backend.store.create_experiment(body.name, tags=body.tags, actor=caller.actor)
    return JSONResponse(EXPERIMENT.encode(experiment), status_code=201)


@router.get("", response_model=ExperimentList, summary="All experiments, oldest first")
def list_experiments(caller: Reader, backend: BackendDep) -> Response:
    return JSONResponse({"experiments": EXPERIMENT.encode_many(backend.store.list_experiments())})


@router.post("/get-or-create", response_model=ExperimentOut, summary="The experiment with this name, created if needed")
def get_or_create_experiment(body: ExperimentName, caller: Writer, backend: BackendDep) -> Response:
    return JSONResponse(EXPERIMENT.encode(backend.store.get_or_create_experiment(body.name, actor=caller.actor)))


@router.get("/{id_or_name}", response_model=ExperimentOut, summary="One experiment by id or name")
def get_experiment(id_or_name: str, caller: Reader, backend: BackendDep) -> Response:
    return JSONResponse(EXPERIMENT.encode(backend.store.get_experiment(id_or_name)))


@router.get(
    "/{id_or_name}/keys",
    response_model=ExperimentKeys,
    summary="The distinct param, metric and tag keys of an experiment's runs (reader)",
)
def experiment_keys(id_or_name: str, caller: Reader, backend: BackendDep) -> Response:
    return JSONResponse(backend.store.experiment_keys(id_or_name))
