"""``/experiments/...``: create, get, get-by-name, search, update (rename), delete, restore, set-tag,
delete-tag.

The ``Default`` experiment is ``"0"`` (:mod:`.ids`); it cannot be renamed or deleted, as in MLflow.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from loopml.server.auth import Reader, Writer
from loopml.server.backend import BackendDep
from loopml.server.encoding import JSONResponse
from loopml.server.mlflow import schemas as s
from loopml.server.mlflow.convert import experiment_json
from loopml.server.mlflow.errors import RESOURCE_DOES_NOT_EXIST, MlflowError
from loopml.server.mlflow.ids import default_experiment_id, experiment_not_found, to_loopml, to_mlflow
from loopml.server.mlflow.paging import decode_token, fetch_size, next_token
from loopml.server.mlflow.search import VIEWS, parse_experiment_filter, parse_experiment_order
from loopml.server.mlflow.uris import DEFAULT_EXPERIMENT_ID
from loopml.store.sql import SqlTrackingStore
from loopml.store.sql.lifecycle import ExperimentEntry

router = APIRouter(prefix="/experiments", tags=["mlflow"])
_EMPTY = b"{}"


def get_entry(store: SqlTrackingStore, experiment_id: str) -> ExperimentEntry:
    """The experiment with MLflow id ``experiment_id`` (``"0"``: Default); 404 RESOURCE_DOES_NOT_EXIST."""
    found = store.experiment_entries(ids=[to_loopml(store, experiment_id)])
    if not found:
        raise experiment_not_found(experiment_id)
    return found[0]


def _empty() -> Response:
    return Response(_EMPTY, media_type="application/json")


def _not_default(experiment_id: str, store: SqlTrackingStore, action: str) -> str:
    loopml_id = to_loopml(store, experiment_id)
    if loopml_id == default_experiment_id(store):
        raise MlflowError(f"Cannot {action} the default experiment '0'. This is an internally reserved experiment.")
    return loopml_id


@router.post("/create")
def create_experiment(body: s.CreateExperiment, caller: Writer, backend: BackendDep) -> Response:
    if not body.name:
        raise MlflowError("Invalid experiment name: ''.", details=[{"field": "name", "problem": "empty"}])
    tags = {t.key: t.value for t in body.tags}
    experiment = backend.store.create_experiment(body.name, tags=tags, actor=caller.actor)
    return JSONResponse({"experiment_id": to_mlflow(backend.store, experiment.id)})


@router.get("/get")
async def get_experiment(experiment_id: Annotated[str, Query()], caller: Reader, backend: BackendDep) -> Response:
    entry = get_entry(backend.store, experiment_id)
    return JSONResponse({"experiment": experiment_json(entry, to_mlflow(backend.store, entry.id))})


@router.get("/get-by-name")
async def get_experiment_by_name(
    experiment_name: Annotated[str, Query()], caller: Reader, backend: BackendDep
) -> Response:
    store = backend.store
    found = store.experiment_entries(names=[experiment_name])
    if not found:
        raise MlflowError(
            f"Could not find experiment with name '{experiment_name}'",
            error_code=RESOURCE_DOES_NOT_EXIST,
            status_code=404,
            details=[{"field": "experiment_name", "problem": "unknown experiment"}],
        )
    return JSONResponse({"experiment": experiment_json(found[0], to_mlflow(store, found[0].id))})


@router.post("/search")
def search_experiments(body: s.SearchExperiments, caller: Reader, backend: BackendDep) -> Response:
    store = backend.store
    offset = decode_token(body.page_token)
    entries = store.search_experiment_entries(
        view=VIEWS[body.view_type],
        conditions=parse_experiment_filter(body.filter),
        order_by=parse_experiment_order(body.order_by),
        limit=fetch_size(body.max_results, s.MAX_RESULTS_EXPERIMENTS + 1),
        offset=offset,
    )
    default_id = default_experiment_id(store)
    out: dict[str, object] = {
        "experiments": [
            experiment_json(e, DEFAULT_EXPERIMENT_ID if e.id == default_id else e.id)
            for e in entries[: body.max_results]
        ]
    }
    token = next_token(offset, len(entries), body.max_results, -1)
    if token is not None:
        out["next_page_token"] = token
    return JSONResponse(out)


@router.post("/update")
def update_experiment(body: s.UpdateExperiment, caller: Writer, backend: BackendDep) -> Response:
    store = backend.store
    loopml_id = _not_default(body.experiment_id, store, "rename")
    get_entry(store, body.experiment_id)
    store.rename_experiment(loopml_id, body.new_name, actor=caller.actor)
    return _empty()


@router.post("/delete")
def delete_experiment(body: s.ExperimentRef, caller: Writer, backend: BackendDep) -> Response:
    store = backend.store
    loopml_id = _not_default(body.experiment_id, store, "delete")
    get_entry(store, body.experiment_id)
    store.set_experiment_stage(loopml_id, "deleted", actor=caller.actor)
    return _empty()


@router.post("/restore")
def restore_experiment(body: s.ExperimentRef, caller: Writer, backend: BackendDep) -> Response:
    store = backend.store
    entry = get_entry(store, body.experiment_id)
    store.set_experiment_stage(entry.id, "active", actor=caller.actor)
    return _empty()


@router.post("/set-experiment-tag")
def set_experiment_tag(body: s.SetExperimentTag, caller: Writer, backend: BackendDep) -> Response:
    store = backend.store
    entry = get_entry(store, body.experiment_id)
    store.set_experiment_tag(entry.id, body.key, body.value, actor=caller.actor)
    return _empty()


@router.post("/delete-experiment-tag")
def delete_experiment_tag(body: s.DeleteExperimentTag, caller: Writer, backend: BackendDep) -> Response:
    store = backend.store
    entry = get_entry(store, body.experiment_id)
    store.delete_experiment_tag(entry.id, body.key, actor=caller.actor)
    return _empty()
