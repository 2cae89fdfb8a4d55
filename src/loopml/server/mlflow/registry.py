"""``/registered-models/...`` and ``/model-versions/...``: the model registry, with aliases.

Each handler translates MLflow's request into one call on
:class:`~loopml.store.sql.models.SqlModelRegistry` (which keeps the rules and writes the audit
event with the caller as actor) and its answer into MLflow's JSON (:mod:`.registry_convert`).
Versions created here have flavor ``mlflow``: loopml keeps their ``source``, ``run_id`` and
``model_id`` and never loads them; the ``mlflow`` client loads them through
``get-download-uri`` and the artifact proxy.

Stages are deprecated in MLflow: a ``READY`` version is in stage ``"None"``, an ``ARCHIVED`` one in
``"Archived"``; ``transition-stage`` answers ``BAD_REQUEST`` (use aliases).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from loopml.core.errors import Conflict, NotFound, invalid
from loopml.core.ids import is_id
from loopml.core.records import ModelVersion
from loopml.server.auth import Reader, Writer
from loopml.server.backend import Backend, BackendDep
from loopml.server.encoding import JSONResponse
from loopml.server.mlflow import registry_convert as convert
from loopml.server.mlflow import uris
from loopml.server.mlflow.errors import BAD_REQUEST, INVALID_PARAMETER_VALUE, INVALID_STATE, MlflowError
from loopml.server.mlflow.ids import to_mlflow
from loopml.server.mlflow.registry_convert import (
    ARCHIVED_STAGE,
    MODEL_KEYS,
    MODEL_ORDER,
    READY_STAGE,
    STAGES,
    VERSION_KEYS,
    VERSION_ORDER,
    model_json,
    parse_filter,
    parse_order_by,
    version_json,
    version_number,
)
from loopml.store.sql.logged_models import LoggedModel

router = APIRouter(tags=["mlflow"])

_RESERVED_ALIAS = re.compile(r"latest|v[0-9]+", re.IGNORECASE)
_LOGGED_MODEL_SOURCE = re.compile(r"models:/(m-[0-9a-f]{32})/?")
_MODELS_PAGE, _MODELS_MAX = 100, 1000
_VERSIONS_PAGE, _VERSIONS_MAX = 10_000, 200_000


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Tag(_Body):
    key: str
    value: str = ""


class NameBody(_Body):
    name: str


class CreateModel(NameBody):
    tags: list[Tag] = Field(default_factory=list)
    description: str | None = None


class RenameModel(NameBody):
    new_name: str


class UpdateModel(NameBody):
    description: str | None = None


class ModelTag(NameBody):
    key: str
    value: str = ""


class ModelTagKey(NameBody):
    key: str


class LatestVersions(NameBody):
    stages: list[str] = Field(default_factory=list)


class AliasBody(NameBody):
    alias: str
    version: str | int


class AliasKey(NameBody):
    alias: str


class CreateVersion(NameBody):
    source: str
    run_id: str | None = None
    tags: list[Tag] = Field(default_factory=list)
    description: str | None = None
    model_id: str | None = None


class VersionBody(NameBody):
    version: str | int


class UpdateVersion(VersionBody):
    description: str | None = None


class VersionTag(VersionBody):
    key: str
    value: str = ""


class VersionTagKey(VersionBody):
    key: str


# -- registered models ----------------------------------------------------------------------------


@router.post("/registered-models/create")
def create_registered_model(body: CreateModel, caller: Writer, backend: BackendDep) -> Response:
    made = backend.models.create_model(
        body.name, description=body.description or "", tags=_tags(body.tags), actor=caller.actor
    )
    return JSONResponse({"registered_model": model_json(made)})


@router.get("/registered-models/get")
def get_registered_model(caller: Reader, backend: BackendDep, name: str = Query()) -> Response:
    return JSONResponse({"registered_model": _model(backend, name)})


@router.post("/registered-models/rename")
def rename_registered_model(body: RenameModel, caller: Writer, backend: BackendDep) -> Response:
    backend.models.rename_model(body.name, body.new_name, actor=caller.actor)
    return JSONResponse({"registered_model": _model(backend, body.new_name)})


@router.patch("/registered-models/update")
def update_registered_model(body: UpdateModel, caller: Writer, backend: BackendDep) -> Response:
    backend.models.update_model(body.name, description=body.description, actor=caller.actor)
    return JSONResponse({"registered_model": _model(backend, body.name)})


@router.delete("/registered-models/delete")
def delete_registered_model(body: NameBody, caller: Writer, backend: BackendDep) -> Response:
    backend.models.delete_model(body.name, actor=caller.actor)
    return JSONResponse({})


@router.get("/registered-models/search")
def search_registered_models(
    caller: Reader,
    backend: BackendDep,
    filter: str | None = Query(None),
    max_results: int | None = Query(None),
    order_by: list[str] | None = Query(None),
    page_token: str | None = Query(None),
) -> Response:
    limit = convert.max_results(max_results, default=_MODELS_PAGE, limit=_MODELS_MAX)
    offset = convert.page_offset(page_token)
    found = backend.models.search_models(
        parse_filter(filter, MODEL_KEYS),
        order_by=parse_order_by(order_by, MODEL_ORDER) or [("name", True)],
        limit=limit + 1,
        offset=offset,
    )
    page = found[:limit]
    latest = backend.models.latest_versions([m.name for m in page])
    body: dict[str, Any] = {"registered_models": [model_json(m, latest.get(m.name, [])) for m in page]}
    if len(found) > limit:
        body["next_page_token"] = convert.page_token(offset + limit)
    return JSONResponse(body)


@router.post("/registered-models/get-latest-versions")
def get_latest_versions(body: LatestVersions, caller: Reader, backend: BackendDep) -> Response:
    return JSONResponse({"model_versions": _latest(backend, body.name, body.stages)})


@router.get("/registered-models/get-latest-versions")
def get_latest_versions_get(
    caller: Reader, backend: BackendDep, name: str = Query(), stages: list[str] | None = Query(None)
) -> Response:
    return JSONResponse({"model_versions": _latest(backend, name, stages or [])})


@router.post("/registered-models/set-tag")
def set_registered_model_tag(body: ModelTag, caller: Writer, backend: BackendDep) -> Response:
    backend.models.set_model_tag(body.name, body.key, body.value, actor=caller.actor)
    return JSONResponse({})


@router.delete("/registered-models/delete-tag")
def delete_registered_model_tag(body: ModelTagKey, caller: Writer, backend: BackendDep) -> Response:
    backend.models.delete_model_tag(body.name, body.key, actor=caller.actor)
    return JSONResponse({})


@router.post("/registered-models/alias")
def set_registered_model_alias(body: AliasBody, caller: Writer, backend: BackendDep) -> Response:
    _check_alias(body.alias)
    backend.models.set_alias(body.name, body.alias, version_number(body.version), actor=caller.actor)
    return JSONResponse({})


@router.delete("/registered-models/alias")
def delete_registered_model_alias(body: AliasKey, caller: Writer, backend: BackendDep) -> Response:
    backend.models.delete_alias(body.name, body.alias, actor=caller.actor)
    return JSONResponse({})


@router.get("/registered-models/alias")
def get_model_version_by_alias(
    caller: Reader, backend: BackendDep, name: str = Query(), alias: str = Query()
) -> Response:
    _check_alias(alias)
    return JSONResponse({"model_version": version_json(backend.models.get_version(name, alias=alias))})


# -- model versions -------------------------------------------------------------------------------


@router.post("/model-versions/create")
def create_model_version(body: CreateVersion, caller: Writer, backend: BackendDep) -> Response:
    run_id = body.run_id or None
    model_id = body.model_id or None
    logged = _LOGGED_MODEL_SOURCE.fullmatch(body.source)
    if model_id is None and logged is not None:
        model_id = logged.group(1)
    if run_id is None and model_id is not None:  # as MLflow: the logged model's source run
        model = _logged_model(backend, model_id)
        run_id = model.source_run_id if model is not None else None
    made = backend.models.create_mlflow_version(
        body.name,
        source=body.source,
        run_id=run_id,
        model_id=model_id,
        description=body.description or "",
        tags=_tags(body.tags),
        create_model=False,  # as MLflow: the registered model must exist (register_model creates it)
        actor=caller.actor,
    )
    if run_id is not None and _run_exists(backend, run_id):
        target = ("model_version", f"{made.name}/{made.version}")
        backend.lineage.add_edge(("run", run_id), target, relation="registered", actor=caller.actor)
    return JSONResponse({"model_version": version_json(made)})


@router.get("/model-versions/get")
def get_model_version(caller: Reader, backend: BackendDep, name: str = Query(), version: str = Query()) -> Response:
    found = backend.models.get_version(name, version=version_number(version))
    return JSONResponse({"model_version": version_json(found)})


@router.patch("/model-versions/update")
def update_model_version(body: UpdateVersion, caller: Writer, backend: BackendDep) -> Response:
    updated = backend.models.update_version(
        body.name, version_number(body.version), description=body.description, actor=caller.actor
    )
    return JSONResponse({"model_version": version_json(updated)})


@router.post("/model-versions/transition-stage")
def transition_model_version_stage(caller: Writer) -> Response:
    raise MlflowError(
        "Model stages are deprecated in MLflow and loopml does not support stage transitions; point an alias at "
        "the version instead (MlflowClient().set_registered_model_alias(name, 'production', version)).",
        error_code=BAD_REQUEST,
        status_code=400,
        details=[{"field": "stage", "problem": "stage transitions are not supported; use aliases"}],
    )


@router.delete("/model-versions/delete")
def delete_model_version(body: VersionBody, caller: Writer, backend: BackendDep) -> Response:
    try:
        backend.models.delete_version(body.name, version_number(body.version), actor=caller.actor)
    except Conflict as exc:  # loopml keeps aliased versions: move or delete the alias first
        raise MlflowError(exc.message, error_code=INVALID_STATE, status_code=400, details=exc.details) from None
    return JSONResponse({})


@router.get("/model-versions/search")
def search_model_versions(
    caller: Reader,
    backend: BackendDep,
    filter: str | None = Query(None),
    max_results: int | None = Query(None),
    order_by: list[str] | None = Query(None),
    page_token: str | None = Query(None),
) -> Response:
    limit = convert.max_results(max_results, default=_VERSIONS_PAGE, limit=_VERSIONS_MAX)
    offset = convert.page_offset(page_token)
    found = backend.models.search_versions(
        parse_filter(filter, VERSION_KEYS),
        order_by=parse_order_by(order_by, VERSION_ORDER) or [("name", True), ("version", False)],
        limit=limit + 1,
        offset=offset,
    )
    body: dict[str, Any] = {"model_versions": [version_json(v) for v in found[:limit]]}
    if len(found) > limit:
        body["next_page_token"] = convert.page_token(offset + limit)
    return JSONResponse(body)


@router.get("/model-versions/get-download-uri")
def get_model_version_download_uri(
    caller: Reader, backend: BackendDep, name: str = Query(), version: str = Query()
) -> Response:
    found = backend.models.get_version(name, version=version_number(version))
    return JSONResponse({"artifact_uri": download_uri(backend, found)})


@router.post("/model-versions/set-tag")
def set_model_version_tag(body: VersionTag, caller: Writer, backend: BackendDep) -> Response:
    backend.models.update_version(
        body.name, version_number(body.version), tags={_key(body.key): body.value}, actor=caller.actor
    )
    return JSONResponse({})


@router.delete("/model-versions/delete-tag")
def delete_model_version_tag(body: VersionTagKey, caller: Writer, backend: BackendDep) -> Response:
    number = version_number(body.version)
    found = backend.models.get_version(body.name, version=number)
    if body.key not in found.tags:
        raise NotFound(f"Model version models:/{body.name}/{number} has no tag {body.key[:80]!r}. "
                       f"Tags: {sorted(found.tags)}.")  # fmt: skip
    backend.models.update_version(body.name, number, tags={body.key: None}, actor=caller.actor)
    return JSONResponse({})


# -- helpers --------------------------------------------------------------------------------------


def download_uri(backend: Backend, version: ModelVersion) -> str:
    """Where the ``mlflow`` client downloads a version's files from: the ``mlflow-artifacts:/`` URI of its
    logged model or source run artifacts behind the server's proxy, or the source itself."""
    source = version.source
    logged = _LOGGED_MODEL_SOURCE.fullmatch(source)
    model_id = version.mlflow_model_id or (logged.group(1) if logged else None)
    if model_id is not None and (logged is not None or not source.startswith(("runs:/", "mlflow-artifacts:"))):
        model = _logged_model(backend, model_id)
        experiment = model.experiment_id if model is not None else _experiment_of(backend, version.run_id)
        if experiment is not None:
            return uris.logged_model_artifact_location(to_mlflow(backend.store, experiment), model_id)
    if source.startswith("runs:/"):
        run_id, _, path = source.removeprefix("runs:/").partition("/")
        experiment = _experiment_of(backend, run_id)
        if experiment is not None:
            base = uris.run_artifact_uri(to_mlflow(backend.store, experiment), run_id)
            return f"{base}/{path}" if path else base
    return source


def _logged_model(backend: Backend, model_id: str) -> LoggedModel | None:
    """The MLflow 3 logged model ``model_id`` of this store (``None`` when it is not one)."""
    try:
        found: LoggedModel = backend.stores["logged_models"].get(model_id, allow_deleted=True)
    except NotFound:
        return None
    return found


def _experiment_of(backend: Backend, run_id: str | None) -> str | None:
    """The loopml experiment id of a run of this store (``None`` when it is not one)."""
    if run_id is None or not is_id(run_id):
        return None
    try:
        return str(backend.store.get_run(run_id).experiment_id)
    except NotFound:
        return None


def _run_exists(backend: Backend, run_id: str) -> bool:
    return _experiment_of(backend, run_id) is not None


def _model(backend: Backend, name: str) -> dict[str, Any]:
    """A registered model with its latest versions, as MLflow's JSON."""
    found = backend.models.get_model(name)
    return model_json(found, backend.models.latest_versions([name]).get(name, []))


def _latest(backend: Backend, name: str, stages: list[str]) -> list[dict[str, Any]]:
    """The newest version in each of ``stages`` (every stage when empty), as MLflow's JSON."""
    known = {stage.lower(): stage for stage in (READY_STAGE, ARCHIVED_STAGE, "Staging", "Production")}
    for stage in stages:
        if stage.lower() not in known:
            raise invalid(
                "stages", "unknown stage", f"Invalid stage {stage[:80]!r}; valid: {', '.join(known.values())}."
            )
    backend.models.get_model(name)  # NotFound for an unknown model
    wanted = {known[s.lower()] for s in stages}
    latest = backend.models.latest_versions([name]).get(name, [])
    return [version_json(v) for v in latest if not wanted or STAGES.get(v.status) in wanted]


def _tags(tags: list[Tag]) -> dict[str, str]:
    return {_key(tag.key): tag.value for tag in tags}


def _key(key: str) -> str:
    if not key:
        raise invalid("key", "empty", "A tag key cannot be empty.")
    return key


def _check_alias(alias: str) -> None:
    if _RESERVED_ALIAS.fullmatch(alias):
        raise MlflowError(
            f"Invalid alias {alias[:80]!r}: 'latest' and v<number> are reserved (they name versions).",
            error_code=INVALID_PARAMETER_VALUE,
            details=[{"field": "alias", "problem": "reserved"}],
        )
