"""``/models``: the model registry — numbered versions of logged model packages, and aliases that move.

Handlers call :class:`~loopml.store.sql.models.SqlModelRegistry`, which keeps the rules (numbers
never reused, aliases only on ``READY`` versions, no archive or delete while aliased) and writes
the audit event with the caller as actor; its errors reach the client unchanged.
"""

from __future__ import annotations

import re

from fastapi import APIRouter
from starlette.responses import Response

from loopml.core.codec import NONFINITE
from loopml.core.errors import invalid
from loopml.core.wire import DECISION, MODEL, MODEL_VERSION
from loopml.server.auth import Reader, Writer
from loopml.server.backend import BackendDep
from loopml.server.encoding import JSONResponse
from loopml.server.schemas import (
    AliasSet,
    ModelCardOut,
    ModelList,
    ModelVersionCreate,
    ModelVersionList,
    ModelVersionOut,
    ModelVersionUpdate,
)

router = APIRouter(prefix="/models", tags=["models"])
_NUMBER_RE = re.compile(r"[0-9]{1,18}")
LATEST = "latest"


@router.get("", response_model=ModelList, summary="Every registered model with its version count, latest and aliases")
def list_models(caller: Reader, backend: BackendDep) -> Response:
    return JSONResponse({"models": MODEL.encode_many(backend.models.list_models())})


@router.get("/{name}/versions", response_model=ModelVersionList, summary="Every version, oldest first")
def list_versions(name: str, caller: Reader, backend: BackendDep) -> Response:
    return JSONResponse({"versions": MODEL_VERSION.encode_many(backend.models.list_versions(name))})


@router.post(
    "/{name}/versions",
    status_code=201,
    response_model=ModelVersionOut,
    summary="Record the next version of a model (the model is created on first use)",
)
def create_version(name: str, body: ModelVersionCreate, caller: Writer, backend: BackendDep) -> Response:
    version = backend.models.create_version(
        name,
        source=body.source,
        run_id=body.run_id,
        manifest_sha256=body.manifest_sha256,
        flavor=body.flavor,
        signature=body.signature,
        metrics=body.metrics,
        dataset_version=body.dataset_version,
        description=body.description,
        tags=body.tags,
        actor=caller.actor,
    )
    return JSONResponse(MODEL_VERSION.encode(version), status_code=201)


@router.get("/{name}/versions/{version}", response_model=ModelVersionOut, summary="One version by number or 'latest'")
def get_version(name: str, version: str, caller: Reader, backend: BackendDep) -> Response:
    if version == LATEST:
        found = backend.models.get_version(name, alias=LATEST)
    else:
        found = backend.models.get_version(name, version=parse_number(version, latest=True))
    return JSONResponse(MODEL_VERSION.encode(found))


@router.patch(
    "/{name}/versions/{version}",
    response_model=ModelVersionOut,
    summary="Change the description and/or merge tags (a null value removes a tag)",
)
def update_version(name: str, version: str, body: ModelVersionUpdate, caller: Writer, backend: BackendDep) -> Response:
    updated = backend.models.update_version(
        name, parse_number(version), description=body.description, tags=body.tags, actor=caller.actor
    )
    return JSONResponse(MODEL_VERSION.encode(updated))


@router.post(
    "/{name}/versions/{version}/archive",
    response_model=ModelVersionOut,
    summary="Mark a version ARCHIVED (409 while an alias points at it)",
)
def archive_version(name: str, version: str, caller: Writer, backend: BackendDep) -> Response:
    archived = backend.models.archive_version(name, parse_number(version), actor=caller.actor)
    return JSONResponse(MODEL_VERSION.encode(archived))


@router.delete(
    "/{name}/versions/{version}",
    status_code=204,
    response_class=Response,
    summary="Delete a version's record (409 while an alias points at it; the number is never reused)",
)
def delete_version(name: str, version: str, caller: Writer, backend: BackendDep) -> Response:
    backend.models.delete_version(name, parse_number(version), actor=caller.actor)
    return Response(status_code=204)


@router.get(
    "/{name}/versions/{version}/card",
    response_model=ModelCardOut,
    summary="A version's model card: intended use, training data, metrics, fairness slices, lineage, decisions",
)
def get_card(name: str, version: str, caller: Reader, backend: BackendDep) -> Response:
    from loopml.registry.card import model_card

    card = model_card(backend, name, parse_number(version))
    body = card.to_dict()
    body["metrics"] = {k: _wire_float(v) for k, v in card.metrics.items()}
    body["fairness"] = [{**s, "score": _wire_float(s["score"])} for s in body["fairness"]]
    body["decisions"] = DECISION.encode_many(card.decisions)
    return JSONResponse(body)


def _wire_float(value: float) -> float | str:
    """A float as the codecs send it: NaN and infinities as strings."""
    if value != value or value in (float("inf"), float("-inf")):
        return next(k for k, v in NONFINITE.items() if (v != v and value != value) or v == value)
    return value


@router.get(
    "/{name}/aliases/{alias}",
    response_model=ModelVersionOut,
    summary="The version an alias points at ('latest': the newest READY version)",
)
def get_alias(name: str, alias: str, caller: Reader, backend: BackendDep) -> Response:
    return JSONResponse(MODEL_VERSION.encode(backend.models.get_version(name, alias=alias)))


@router.put(
    "/{name}/aliases/{alias}",
    response_model=ModelVersionOut,
    summary="Create or move an alias to a READY version (a rollback is a move); returns that version",
)
def set_alias(name: str, alias: str, body: AliasSet, caller: Writer, backend: BackendDep) -> Response:
    return JSONResponse(MODEL_VERSION.encode(backend.models.set_alias(name, alias, body.version, actor=caller.actor)))


@router.delete("/{name}/aliases/{alias}", status_code=204, response_class=Response, summary="Remove an alias")
def delete_alias(name: str, alias: str, caller: Writer, backend: BackendDep) -> Response:
    backend.models.delete_alias(name, alias, actor=caller.actor)
    return Response(status_code=204)


def parse_number(version: str, *, latest: bool = False) -> int:
    """A version path segment as a number (422 naming ``path.version`` otherwise)."""
    if _NUMBER_RE.fullmatch(version):
        return int(version)
    expected = "a version number (1, 2, ...) or 'latest'" if latest else "a version number (1, 2, ...)"
    raise invalid("path.version", "not a version number", f"Invalid model version {version[:80]!r}: use {expected}.")
