"""``/logged-models/...``: the logged models MLflow 3 clients create for ``mlflow.<flavor>.log_model``,
and ``/runs/outputs`` (which run produced which model).

``log_model`` inside a run creates a ``PENDING`` model, records it as the run's output, uploads the
model folder to the model's ``artifact_location`` through the artifact proxy, then finalizes it
(``PATCH``, ``READY``). On ``READY``, a model with a source run is also listed among that run's loopml
artifacts under the model's name (``model/MLmodel``, ...: the same blobs, the layout of MLflow 2's
``runs:/<run_id>/model``), so ``loopml runs artifacts``, the UI and ``lm`` downloads show it.
The server stores and serves the files as bytes; it never loads a model.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from loopml.artifacts import safe_relpath
from loopml.core.errors import Conflict, InvalidInput, invalid
from loopml.core.records import ArtifactInfo
from loopml.server.auth import Reader, Writer
from loopml.server.backend import Backend, BackendDep
from loopml.server.encoding import JSONResponse
from loopml.server.mlflow.artifacts import children, logged_models
from loopml.server.mlflow.ids import to_loopml, to_mlflow
from loopml.server.mlflow.model_filter import parse_model_filter
from loopml.server.mlflow.uris import logged_model_artifact_location
from loopml.store.sql.logged_models import LoggedModel

router = APIRouter(tags=["mlflow"])

STATUS_NAMES = {
    "PENDING": "LOGGED_MODEL_PENDING",
    "READY": "LOGGED_MODEL_READY",
    "FAILED": "LOGGED_MODEL_UPLOAD_FAILED",
}
"""loopml's status of a logged model -> MLflow's ``LoggedModelStatus`` name."""
_STATUS_FROM_MLFLOW: dict[str | int, str] = {
    **{mlflow: ours for ours, mlflow in STATUS_NAMES.items()},
    1: "PENDING",
    2: "READY",
    3: "FAILED",
}
_ORDER_FIELDS = {"creation_timestamp": "created_at", "last_updated_timestamp": "updated_at", "name": "name"}


class _KeyValue(BaseModel):
    model_config = ConfigDict(extra="ignore")
    key: str
    value: str = ""  # protobuf JSON leaves empty strings out


class CreateBody(BaseModel):
    """``POST /logged-models``."""

    model_config = ConfigDict(extra="ignore")
    experiment_id: str
    name: str | None = None
    model_type: str | None = None
    source_run_id: str | None = None
    params: list[_KeyValue] = Field(default_factory=list)
    tags: list[_KeyValue] = Field(default_factory=list)


class FinalizeBody(BaseModel):
    """``PATCH /logged-models/{model_id}``."""

    model_config = ConfigDict(extra="ignore")
    status: str | int


class TagsBody(BaseModel):
    """``PATCH /logged-models/{model_id}/tags``."""

    model_config = ConfigDict(extra="ignore")
    tags: list[_KeyValue] = Field(default_factory=list)


class ParamsBody(BaseModel):
    """``POST /logged-models/{model_id}/params``."""

    model_config = ConfigDict(extra="ignore")
    params: list[_KeyValue] = Field(default_factory=list)


class _OrderBy(BaseModel):
    model_config = ConfigDict(extra="ignore")
    field_name: str
    ascending: bool = True


class SearchBody(BaseModel):
    """``POST /logged-models/search``."""

    model_config = ConfigDict(extra="ignore")
    experiment_ids: list[str]
    filter: str | None = None
    max_results: int | None = None
    order_by: list[_OrderBy] = Field(default_factory=list)
    page_token: str | None = None


class _Output(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model_id: str
    step: int = 0


class OutputsBody(BaseModel):
    """``POST /runs/outputs``."""

    model_config = ConfigDict(extra="ignore")
    run_id: str
    models: list[_Output]


@router.post("/logged-models")
def create_logged_model(body: CreateBody, caller: Writer, backend: BackendDep) -> Response:
    """Create a ``PENDING`` logged model; ``{"model": ...}`` with its ``artifact_uri``."""
    experiment_id = to_loopml(backend.store, body.experiment_id)
    model = logged_models(backend).create(
        experiment_id,
        name=body.name,
        source_run_id=body.source_run_id,
        model_type=body.model_type,
        tags=_pairs(body.tags, "tags"),
        params=_pairs(body.params, "params"),
        actor=caller.actor,
    )
    return JSONResponse({"model": encode(backend, model)})


@router.post("/logged-models/search")
def search_logged_models(body: SearchBody, caller: Reader, backend: BackendDep) -> Response:
    """``{"models": [...], "next_page_token"}``: active models of the experiments, newest first by default."""
    where = parse_model_filter(body.filter)
    if len(body.order_by) > 1 or any(o.field_name not in _ORDER_FIELDS for o in body.order_by):
        raise invalid("order_by", f"only one of {', '.join(_ORDER_FIELDS)}")
    order = body.order_by[0] if body.order_by else None
    offset = _offset(body.page_token)
    max_results = body.max_results or 100
    models = logged_models(backend).search(
        [to_loopml(backend.store, e) for e in body.experiment_ids],
        where=where,
        order_by=_ORDER_FIELDS[order.field_name] if order else "created_at",
        ascending=order.ascending if order else False,
        max_results=max_results,
        offset=offset,
    )
    out: dict[str, Any] = {"models": [encode(backend, m) for m in models]}
    if len(models) == max_results:
        out["next_page_token"] = str(offset + max_results)
    return JSONResponse(out)


@router.get("/logged-models/{model_id}")
def get_logged_model(
    model_id: str, caller: Reader, backend: BackendDep, allow_deleted: Annotated[bool, Query()] = False
) -> Response:
    """``{"model": ...}``."""
    return JSONResponse({"model": encode(backend, logged_models(backend).get(model_id, allow_deleted=allow_deleted))})


@router.patch("/logged-models/{model_id}")
def finalize_logged_model(model_id: str, body: FinalizeBody, caller: Writer, backend: BackendDep) -> Response:
    """Set the status (``LOGGED_MODEL_READY`` or ``LOGGED_MODEL_UPLOAD_FAILED``); ``{"model": ...}``.

    On ``READY`` the model's files are also listed in its source run, under the model's name."""
    status = _STATUS_FROM_MLFLOW.get(body.status)
    if status is None:
        raise invalid("status", f"not one of {', '.join(STATUS_NAMES.values())}")
    store = logged_models(backend)
    model = store.finalize(model_id, status, actor=caller.actor)
    if status == "READY" and model.source_run_id:
        message = mirror_into_run(backend, model, caller.actor)
        if message:
            model = store.finalize(model_id, status, message=message, actor=caller.actor)
    return JSONResponse({"model": encode(backend, model)})


@router.delete("/logged-models/{model_id}")
def delete_logged_model(model_id: str, caller: Writer, backend: BackendDep) -> Response:
    """Soft-delete; ``{}``. The files stay (a registered version may still use them)."""
    logged_models(backend).delete(model_id, actor=caller.actor)
    return JSONResponse({})


@router.patch("/logged-models/{model_id}/tags")
def set_logged_model_tags(model_id: str, body: TagsBody, caller: Writer, backend: BackendDep) -> Response:
    """Add or replace tags; ``{}``."""
    logged_models(backend).set_tags(model_id, _pairs(body.tags, "tags"), actor=caller.actor)
    return JSONResponse({})


@router.delete("/logged-models/{model_id}/tags/{tag_key:path}")
def delete_logged_model_tag(model_id: str, tag_key: str, caller: Writer, backend: BackendDep) -> Response:
    """Remove one tag; ``{}``."""
    logged_models(backend).delete_tag(model_id, tag_key, actor=caller.actor)
    return JSONResponse({})


@router.post("/logged-models/{model_id}/params")
def log_logged_model_params(model_id: str, body: ParamsBody, caller: Writer, backend: BackendDep) -> Response:
    """Add params; ``{}``."""
    logged_models(backend).log_params(model_id, _pairs(body.params, "params"), actor=caller.actor)
    return JSONResponse({})


@router.get("/logged-models/{model_id}/artifacts/directories")
def list_logged_model_artifacts(
    model_id: str, caller: Reader, backend: BackendDep, artifact_directory_path: str = ""
) -> Response:
    """``{"root_uri", "files": [{"path", "is_dir", "file_size"}]}`` below ``artifact_directory_path``."""
    store = logged_models(backend)
    model = store.get(model_id)
    prefix = safe_relpath(artifact_directory_path, field="artifact_directory_path") if artifact_directory_path else ""
    entries = children(store.list_artifacts(model_id, prefix), prefix)
    for entry in entries:
        entry["path"] = f"{prefix}/{entry['path']}" if prefix else entry["path"]
    return JSONResponse({"root_uri": _location(backend, model), "files": entries})


@router.post("/runs/outputs")
def log_outputs(body: Annotated[OutputsBody, Body()], caller: Writer, backend: BackendDep) -> Response:
    """Record the logged models a run produced (``mlflow`` calls it from ``log_model``); ``{}``."""
    outputs = [(m.model_id, m.step) for m in body.models]
    logged_models(backend).log_outputs(body.run_id, outputs, actor=caller.actor)
    return JSONResponse({})


def encode(backend: Backend, model: LoggedModel) -> dict[str, Any]:
    """MLflow's JSON of a ``LoggedModel``: ``{"info": {...}, "data": {"params", "metrics"}}``."""
    experiment_id = to_mlflow(backend.store, model.experiment_id)
    info: dict[str, Any] = {
        "model_id": model.id,
        "experiment_id": experiment_id,
        "name": model.name,
        "creation_timestamp_ms": model.created_at,
        "last_updated_timestamp_ms": model.updated_at,
        "artifact_uri": logged_model_artifact_location(experiment_id, model.id),
        "status": STATUS_NAMES[model.status],
        "tags": [{"key": k, "value": v} for k, v in model.tags.items()],
        "registrations": [],
    }
    if model.source_run_id:
        info["source_run_id"] = model.source_run_id
    if model.model_type:
        info["model_type"] = model.model_type
    if model.status_message:
        info["status_message"] = model.status_message
    params = [{"key": k, "value": v} for k, v in model.params.items()]
    return {"info": info, "data": {"params": params, "metrics": []}}


def mirror_into_run(backend: Backend, model: LoggedModel, actor: str) -> str | None:
    """List the model's files among its source run's artifacts under ``<model name>/``; why not, if not."""
    if model.source_run_id is None:
        return None
    try:
        base = safe_relpath(model.name, field="name")
        files = logged_models(backend).list_artifacts(model.id)
        infos = [ArtifactInfo(f"{base}/{f.path}", f.sha256, f.size) for f in files]
        backend.store.record_artifacts(model.source_run_id, infos, actor=actor)
    except (InvalidInput, Conflict) as exc:  # a name that is no path, or a run file in the way
        return f"Not listed among run {model.source_run_id}'s artifacts: {exc.message}"
    return None


def _location(backend: Backend, model: LoggedModel) -> str:
    return logged_model_artifact_location(to_mlflow(backend.store, model.experiment_id), model.id)


def _pairs(items: list[_KeyValue], field: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for index, item in enumerate(items):
        if not item.key:
            raise invalid(f"{field}.{index}.key", "must not be empty")
        out[item.key] = item.value
    return out


def _offset(token: str | None) -> int:
    if not token:
        return 0
    if not token.isdigit() or len(token) > 12:
        raise invalid("page_token", "not a token this server returned")
    return int(token)
