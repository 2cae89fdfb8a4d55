"""``/features``: the feature registry's versioned definitions. Readers read, writers apply.

Handlers call :class:`~loopml.store.sql.features.SqlFeatureStore` (``backend.stores["features"]``),
which writes every change of an apply, with its audit events, in one transaction. A malformed
kind, name or version is a 422 naming it; an unknown definition a 404; a view name taken by the
other kind of view a 409.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from loopml.core.wire import FEATURE_DEFINITION
from loopml.server.auth import Reader, Writer
from loopml.server.backend import Backend, BackendDep
from loopml.server.encoding import JSONResponse
from loopml.server.schemas.features import FeatureApply, FeatureDefinitionList, FeatureDefinitionOut, FeatureKind
from loopml.store.features import check_name
from loopml.store.sql.features import SqlFeatureStore

router = APIRouter(prefix="/features", tags=["features"])


def _store(backend: Backend) -> SqlFeatureStore:
    store: SqlFeatureStore = backend.stores["features"]
    return store


@router.get(
    "/definitions", response_model=FeatureDefinitionList, summary="The current version of every registered definition"
)
def list_definitions(
    caller: Reader,
    backend: BackendDep,
    kind: Annotated[FeatureKind | None, Query(description="Only definitions of this kind.")] = None,
) -> Response:
    return JSONResponse({"definitions": FEATURE_DEFINITION.encode_many(_store(backend).list_definitions(kind))})


@router.get(
    "/definitions/{kind}/{name}",
    response_model=FeatureDefinitionOut,
    summary="A definition's current version (or the version asked for)",
)
def get_definition(
    kind: FeatureKind,
    name: str,
    caller: Reader,
    backend: BackendDep,
    version: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="A past version.")] = None,
) -> Response:
    found = _store(backend).get_definition(kind, check_name(name, "path.name"), version=version)
    return JSONResponse(FEATURE_DEFINITION.encode(found))


@router.get(
    "/definitions/{kind}/{name}/history",
    response_model=FeatureDefinitionList,
    summary="Every version of a definition, oldest first",
)
def definition_history(kind: FeatureKind, name: str, caller: Reader, backend: BackendDep) -> Response:
    found = _store(backend).definition_history(kind, check_name(name, "path.name"))
    return JSONResponse({"definitions": FEATURE_DEFINITION.encode_many(found)})


@router.post(
    "/apply",
    response_model=FeatureDefinitionList,
    summary="Register changed definitions and delete others, in one transaction (audited)",
)
def apply(body: FeatureApply, caller: Writer, backend: BackendDep) -> Response:
    written = _store(backend).apply(
        [(d.kind, d.name, d.spec) for d in body.definitions],
        delete=[(d.kind, d.name) for d in body.delete],
        actor=caller.actor,
    )
    return JSONResponse({"definitions": FEATURE_DEFINITION.encode_many(written)})
