"""``/runs/{run_id}/artifacts``: upload, download, list and record run files.

Every path goes through :func:`loopml.artifacts.safe_relpath` before anything is read or
written, so ``..``, absolute paths and their percent-encoded forms are 422s. Bytes are stored
by content hash; an upload whose ``X-Loopml-Sha256`` header disagrees with the bytes is
refused, and downloads are verified against the recorded hash before they are streamed.
"""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Header
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from loopml.artifacts import CollectableBlobStore, safe_relpath
from loopml.core.errors import invalid
from loopml.core.hashing import is_sha256
from loopml.core.records import ArtifactInfo
from loopml.core.wire import ARTIFACT
from loopml.server.auth import Reader, Writer
from loopml.server.backend import BackendDep
from loopml.server.body import AsyncBodyReader
from loopml.server.downloads import DOWNLOAD_HEADERS, verified_download
from loopml.server.encoding import JSONResponse
from loopml.server.schemas import ArtifactList, ArtifactOut, ArtifactRecords
from loopml.store.http.wire import SHA256_HEADER

router = APIRouter(prefix="/runs/{run_id}/artifacts", tags=["artifacts"])
_SHA_FIELD = "header.x-loopml-sha256"
_BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}


@router.get("", response_model=ArtifactList, summary="Artifacts at or below a prefix")
def list_artifacts(run_id: str, caller: Reader, backend: BackendDep, prefix: str = "") -> Response:
    infos = backend.artifacts.list(run_id, prefix)
    return JSONResponse({"artifacts": ARTIFACT.encode_many(infos)})


@router.post("", status_code=204, summary="Record blobs already in the server's artifact store")
def record_artifacts(run_id: str, body: ArtifactRecords, caller: Writer, backend: BackendDep) -> Response:
    blobs = backend.blobs
    infos = []
    for index, item in enumerate(body.artifacts):
        path = safe_relpath(item.path, field=f"artifacts.{index}.path")
        size = _stored_size(blobs, item.sha256)
        if size is None:
            raise invalid(
                f"artifacts.{index}.sha256",
                "no such blob on the server",
                f"Blob {item.sha256!r} for {path!r} is not in the server's artifact store; upload the file with "
                f"PUT /api/v1/runs/{run_id}/artifacts/{path} instead.",
            )
        if size != item.size:
            raise invalid(f"artifacts.{index}.size", "does not match the stored blob")
        infos.append(ArtifactInfo(path, item.sha256, item.size))
    backend.store.record_artifacts(run_id, infos, actor=caller.actor)
    return Response(status_code=204)


@router.put(
    "/{path:path}",
    status_code=201,
    response_model=ArtifactOut,
    summary="Upload one file (raw body); returns its SHA-256",
    openapi_extra={"requestBody": {"required": True, "content": _BINARY}},
)
async def upload_artifact(
    run_id: str,
    path: str,
    request: Request,
    caller: Writer,
    backend: BackendDep,
    x_loopml_sha256: Annotated[str | None, Header(description="SHA-256 of the body; 422 if it differs")] = None,
) -> Response:
    relpath = safe_relpath(path)
    if x_loopml_sha256 is not None and not is_sha256(x_loopml_sha256):
        raise invalid(_SHA_FIELD, "not a lowercase hex SHA-256", f"Invalid {SHA256_HEADER} {x_loopml_sha256!r}.")
    await run_in_threadpool(backend.store.get_run, run_id)  # 404 before reading the body
    blobs = backend.blobs
    blob = await anyio.to_thread.run_sync(blobs.put_stream, AsyncBodyReader(request.stream()))
    if x_loopml_sha256 is not None and blob.sha256 != x_loopml_sha256:
        raise invalid(
            _SHA_FIELD,
            "does not match the body",
            f"Upload of {relpath!r} has SHA-256 {blob.sha256} but {SHA256_HEADER} says {x_loopml_sha256}: "
            "the body was changed in transit or the file changed while it was read; nothing was recorded.",
        )
    info = ArtifactInfo(relpath, blob.sha256, blob.size)
    await run_in_threadpool(backend.store.record_artifacts, run_id, [info], actor=caller.actor)
    return JSONResponse(ARTIFACT.encode(info), status_code=201)


@router.get(
    "/{path:path}",
    response_class=Response,
    summary="Download one file (verified against its SHA-256, sent in X-Loopml-Sha256)",
    responses={200: {"content": _BINARY}},
)
async def download_artifact(run_id: str, path: str, caller: Reader, backend: BackendDep) -> Response:
    info = await run_in_threadpool(backend.artifacts.find, run_id, path)
    # a download, never a document of this origin: an HTML artifact opened here cannot run script
    headers = {SHA256_HEADER: info.sha256, **DOWNLOAD_HEADERS}
    return await verified_download(backend.blobs, info.sha256, headers)


def _stored_size(blobs: CollectableBlobStore, sha256: str) -> int | None:
    """The blob's size, or ``None`` when it is not stored."""
    if not is_sha256(sha256):
        return None
    return blobs.size(sha256)
