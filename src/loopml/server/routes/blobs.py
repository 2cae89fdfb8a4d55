"""``/blobs/{sha256}``: content-addressed bytes (dataset Parquet files), uploaded and read by hash.

An upload streams to the blob store in one pass (as run artifacts do) and is refused unless the
body hashes to the digest in the URL; uploading a blob twice is harmless. Downloads are verified
against the digest before they are sent. ``HEAD`` only says whether (and how large) a blob is
stored, without re-hashing it, so clients can skip uploads cheaply.
"""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from loopml.core.errors import NotFound, invalid
from loopml.core.hashing import is_sha256
from loopml.core.wire import BLOB
from loopml.server.auth import Reader, Writer
from loopml.server.backend import BackendDep
from loopml.server.body import AsyncBodyReader
from loopml.server.downloads import verified_download
from loopml.server.encoding import JSONResponse
from loopml.server.routes.artifacts import _stored_size  # the artifact routes' checks
from loopml.server.schemas import BlobOut
from loopml.store.http.wire import SHA256_HEADER

router = APIRouter(prefix="/blobs", tags=["blobs"])
_BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}


def check_digest(sha256: str, field: str = "path.sha256") -> str:
    """``sha256`` if it is 64 lowercase hex characters, else a 422 naming ``field``."""
    if not is_sha256(sha256):
        message = f"Invalid {field.rsplit('.', 1)[-1]} {sha256[:80]!r}: expected 64 lowercase hex characters."
        raise invalid(field, "not a lowercase hex SHA-256", message)
    return sha256


@router.put(
    "/{sha256}",
    status_code=201,
    response_model=BlobOut,
    summary="Upload a blob (raw body) under its SHA-256; 201 when new, 200 when already stored",
    openapi_extra={"requestBody": {"required": True, "content": _BINARY}},
    responses={200: {"model": BlobOut, "description": "The blob was already stored"}},
)
async def upload_blob(sha256: str, request: Request, caller: Writer, backend: BackendDep) -> Response:
    check_digest(sha256)
    blobs = backend.blobs
    known = await run_in_threadpool(_stored_size, blobs, sha256) is not None
    blob = await anyio.to_thread.run_sync(blobs.put_stream, AsyncBodyReader(request.stream()))
    if blob.sha256 != sha256:
        raise invalid(
            "path.sha256",
            "does not match the body",
            f"Upload to /blobs/{sha256} has SHA-256 {blob.sha256}: the body was changed in transit or is not the "
            "file that was hashed; upload it again.",
        )
    return JSONResponse(BLOB.encode(blob), status_code=200 if known else 201)


@router.head("/{sha256}", response_class=Response, summary="Whether a blob is stored (Content-Length: its size)")
async def blob_exists(sha256: str, caller: Reader, backend: BackendDep) -> Response:
    check_digest(sha256)
    size = await run_in_threadpool(_stored_size, backend.blobs, sha256)
    if size is None:
        raise NotFound(f"Blob {sha256} is not in the server's blob store.")
    headers = {SHA256_HEADER: sha256, "Content-Length": str(size)}
    return Response(status_code=200, media_type="application/octet-stream", headers=headers)


@router.get(
    "/{sha256}",
    response_class=Response,
    summary="Download a blob (verified against its SHA-256, sent in X-Loopml-Sha256)",
    responses={200: {"content": _BINARY}},
)
async def download_blob(sha256: str, caller: Reader, backend: BackendDep) -> Response:
    check_digest(sha256)
    return await verified_download(backend.blobs, sha256, {SHA256_HEADER: sha256})
