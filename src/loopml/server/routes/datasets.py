"""``/datasets``: record, find and list immutable dataset versions (their Parquet files live in ``/blobs``).

A version names the blob holding its data; the server refuses one whose blob it does not hold
or whose ``size_bytes`` disagrees with it, so every recorded version can be loaded. Recording
content that is already a version of the dataset returns that version with ``created: false``.
"""

from __future__ import annotations

import re

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from loopml.core.errors import NotFound, invalid
from loopml.core.wire import DATASET, DATASET_VERSION
from loopml.server.auth import Reader, Writer
from loopml.server.backend import BackendDep
from loopml.server.encoding import JSONResponse
from loopml.server.routes.artifacts import _stored_size
from loopml.server.routes.blobs import check_digest
from loopml.server.schemas import (
    DatasetList,
    DatasetVersionCreate,
    DatasetVersionCreated,
    DatasetVersionList,
    DatasetVersionOut,
)

router = APIRouter(prefix="/datasets", tags=["datasets"])
_VERSION_RE = re.compile(r"[0-9]{1,18}")


@router.get("", response_model=DatasetList, summary="Every dataset with its version count and latest version")
def list_datasets(caller: Reader, backend: BackendDep) -> Response:
    return JSONResponse({"datasets": DATASET.encode_many(backend.datasets.list_datasets())})


@router.post(
    "/{name}/versions",
    status_code=201,
    response_model=DatasetVersionCreated,
    summary="Record a version whose blob is stored; 201 when new, 200 with created=false for known content",
)
async def create_version(name: str, body: DatasetVersionCreate, caller: Writer, backend: BackendDep) -> Response:
    check_digest(body.sha256, "body.sha256")
    check_digest(body.blob_sha256, "body.blob_sha256")
    size = await run_in_threadpool(_stored_size, backend.blobs, body.blob_sha256)
    if size is None:
        raise invalid(
            "body.blob_sha256",
            "no such blob on the server",
            f"Blob {body.blob_sha256} is not in the server's blob store; upload the Parquet file with "
            f"PUT /api/v1/blobs/{body.blob_sha256} first.",
        )
    if size != body.size_bytes:
        raise invalid(
            "body.size_bytes",
            "does not match the stored blob",
            f"size_bytes is {body.size_bytes} but blob {body.blob_sha256} holds {size} bytes.",
        )
    version, created = await run_in_threadpool(
        lambda: backend.datasets.create_version(
            name,
            sha256=body.sha256,
            blob_sha256=body.blob_sha256,
            n_rows=body.n_rows,
            n_columns=body.n_columns,
            size_bytes=body.size_bytes,
            schema=body.schema_,
            profile=body.profile,
            source=body.source,
            description=body.description,
            actor=caller.actor,
        )
    )
    payload = {"version": DATASET_VERSION.encode(version), "created": created}
    return JSONResponse(payload, status_code=201 if created else 200)


@router.get("/{name}/versions", response_model=DatasetVersionList, summary="Every version, oldest first")
def list_versions(name: str, caller: Reader, backend: BackendDep) -> Response:
    return JSONResponse({"versions": DATASET_VERSION.encode_many(backend.datasets.list_versions(name))})


@router.get("/{name}/versions/{version}", response_model=DatasetVersionOut, summary="One version by number or 'latest'")
def get_version(name: str, version: str, caller: Reader, backend: BackendDep) -> Response:
    return JSONResponse(DATASET_VERSION.encode(backend.datasets.get_version(name, parse_version(version))))


@router.get(
    "/{name}/by-content/{sha256}",
    response_model=DatasetVersionOut,
    summary="The version of a dataset with this content hash (404 if none)",
)
def find_by_content(name: str, sha256: str, caller: Reader, backend: BackendDep) -> Response:
    found = backend.datasets.find_by_content(name, check_digest(sha256))
    if found is None:
        raise NotFound(f"Dataset {name!r} has no version with content {sha256}.")
    return JSONResponse(DATASET_VERSION.encode(found))


def parse_version(version: str) -> int | str:
    """A version path segment: ``latest`` or a non-negative number (422 naming ``version`` otherwise)."""
    if version == "latest":
        return version
    if _VERSION_RE.fullmatch(version):
        return int(version)
    raise invalid(
        "path.version",
        "not a number or 'latest'",
        f"Invalid dataset version {version[:80]!r}: use a version number (1, 2, ...) or 'latest'.",
    )
