"""``/lineage``: edges between recorded objects (dataset version -> run, run -> model version, ...)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from starlette.responses import Response

from loopml.core.wire import LINEAGE_EDGE
from loopml.server.auth import Reader, Writer
from loopml.server.backend import BackendDep
from loopml.server.encoding import JSONResponse
from loopml.server.schemas import LineageEdgeCreate, LineageEdgeList, LineageEdgeOut

router = APIRouter(prefix="/lineage", tags=["lineage"])


@router.post("", status_code=201, response_model=LineageEdgeOut, summary="Record source -> target (no-op if known)")
def add_edge(body: LineageEdgeCreate, caller: Writer, backend: BackendDep) -> Response:
    edge = backend.lineage.add_edge(
        (body.source_type, body.source_id),
        (body.target_type, body.target_id),
        relation=body.relation,
        actor=caller.actor,
    )
    return JSONResponse(LINEAGE_EDGE.encode(edge), status_code=201)


@router.get("", response_model=LineageEdgeList, summary="Edges into, out of, or touching one object")
def list_edges(
    object_type: str,
    object_id: str,
    caller: Reader,
    backend: BackendDep,
    direction: Literal["in", "out", "both"] = "both",
) -> Response:
    edges = backend.lineage.edges(object_type, object_id, direction=direction)
    return JSONResponse({"edges": LINEAGE_EDGE.encode_many(edges)})
