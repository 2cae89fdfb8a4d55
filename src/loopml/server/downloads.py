"""Verified downloads of stored blobs, shared by the platform API and the MLflow artifact proxy."""

from __future__ import annotations

from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, Response, StreamingResponse

from loopml.artifacts import CollectableBlobStore, LocalBlobStore
from loopml.core.errors import IntegrityError, NotFound
from loopml.core.hashing import sha256_file

DOWNLOAD_HEADERS = {"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"}
"""A download, never a document of this origin: an HTML artifact opened here cannot run script."""


async def verified_download(blobs: CollectableBlobStore, sha256: str, headers: dict[str, str]) -> Response:
    """A response with the blob's bytes, checked against ``sha256``: a local file is hashed and then sent
    (sendfile); an object is streamed, and a mismatch cuts the response short before its last chunk."""
    if isinstance(blobs, LocalBlobStore):
        file = await run_in_threadpool(_verified_file, blobs, sha256)
        return FileResponse(file, media_type="application/octet-stream", headers=headers)
    size = await run_in_threadpool(blobs.size, sha256)
    if size is None:
        raise NotFound(f"Blob {sha256} is missing from the server's artifact store.")
    chunks = await run_in_threadpool(blobs.open_chunks, sha256)
    headers = {**headers, "Content-Length": str(size)}
    return StreamingResponse(chunks, media_type="application/octet-stream", headers=headers)


def _verified_file(blobs: LocalBlobStore, sha256: str) -> Path:
    """The blob's file, after checking its bytes still match their hash."""
    path = blobs.path_of(sha256)
    if not path.is_file():
        raise NotFound(f"Blob {sha256} is missing from the artifact store at {blobs.root}.")
    if sha256_file(path) != sha256:
        raise IntegrityError(f"Blob {sha256} does not match its SHA-256: the stored file was modified or corrupted.")
    return path
