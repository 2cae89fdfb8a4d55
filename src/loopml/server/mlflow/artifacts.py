"""``/api/2.0/mlflow-artifacts/artifacts/...``: the artifact proxy (list, download, upload, delete)
behind ``mlflow-artifacts:/`` URIs.

A path names a run's files or a logged model's files (:mod:`.proxy_paths`). A run's files are its
ordinary loopml artifacts (``loopml runs artifacts``, the UI, ``lm`` downloads): an upload is streamed
into the blob store, hashed, and recorded like ``PUT /api/v1/runs/{id}/artifacts/{path}``; a download
is verified against its hash. The body limit is the server's artifact limit
(``LOOPML_SERVER_MAX_ARTIFACT_BYTES``, 413 beyond it). Reading needs the reader role, writing the writer
role. Multipart uploads (``/mpu/...``) are not offered: the client only uses them when
``MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD`` is set, and then falls back to a plain ``PUT``.
"""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from loopml.core.errors import NotFound
from loopml.core.records import ArtifactInfo
from loopml.server.auth import Reader, Writer
from loopml.server.backend import Backend, BackendDep
from loopml.server.body import AsyncBodyReader
from loopml.server.downloads import DOWNLOAD_HEADERS, verified_download
from loopml.server.encoding import JSONResponse
from loopml.server.mlflow.errors import RESOURCE_DOES_NOT_EXIST, MlflowError
from loopml.server.mlflow.ids import to_loopml
from loopml.server.mlflow.proxy_paths import ProxyTarget, parse_proxy_path
from loopml.store.http.wire import SHA256_HEADER
from loopml.store.sql.artifact_rows import delete_run_artifacts
from loopml.store.sql.logged_models import SqlLoggedModelStore

router = APIRouter(tags=["mlflow"])


def logged_models(backend: Backend) -> SqlLoggedModelStore:
    """The server's logged model store."""
    store: SqlLoggedModelStore = backend.stores["logged_models"]
    return store


@router.get("/artifacts")
def list_artifacts(caller: Reader, backend: BackendDep, path: str = "") -> Response:
    """``{"files": [{"path", "is_dir", "file_size"}]}``: the entries directly below ``path`` (names only).

    The files of a run's logged models, which loopml also lists among the run's artifacts, are left out:
    MLflow 3 clients add them from the model (``runs:/<run_id>/<model name>``), as from MLflow's server."""
    target = parse_proxy_path(path)
    check_owner(backend, target, writing=False)
    infos = _list(backend, target)
    if target.kind == "run":  # MLflow clients list a run's models from the models themselves
        models = logged_models(backend).listed_in_run(target.owner_id)
        infos = [info for info in infos if (info.path, info.sha256) not in models] if models else infos
    return JSONResponse({"files": children(infos, target.path)})


@router.get("/artifacts/{path:path}")
async def download_artifact(path: str, caller: Reader, backend: BackendDep) -> Response:
    """One file's bytes, streamed and verified against its SHA-256 (sent in ``X-Loopml-Sha256``)."""
    target = parse_proxy_path(path)
    info = await run_in_threadpool(_find, backend, target)
    headers = {SHA256_HEADER: info.sha256, **DOWNLOAD_HEADERS}
    return await verified_download(backend.blobs, info.sha256, headers)


@router.put("/artifacts/{path:path}")
async def upload_artifact(path: str, request: Request, caller: Writer, backend: BackendDep) -> Response:
    """Store the body (streamed, never held in memory) as one file; ``{}``."""
    target = parse_proxy_path(path)
    if not target.path:
        raise _refused(path, "names the root, not a file below it")
    await run_in_threadpool(check_owner, backend, target, writing=True)  # 404 before reading the body
    blob = await anyio.to_thread.run_sync(backend.blobs.put_stream, AsyncBodyReader(request.stream()))
    info = ArtifactInfo(target.path, blob.sha256, blob.size)
    await run_in_threadpool(_record, backend, target, info, caller.actor)
    return JSONResponse({})


@router.delete("/artifacts/{path:path}")
def delete_artifact(path: str, caller: Writer, backend: BackendDep) -> Response:
    """Forget the file at ``path``, or every file below it; ``{}``. The bytes stay until ``loopml gc``."""
    target = parse_proxy_path(path)
    check_owner(backend, target, writing=True)
    if target.kind == "run":
        count = delete_run_artifacts(backend.store.db, target.owner_id, target.path, actor=caller.actor)
    else:
        count = logged_models(backend).delete_artifacts(target.owner_id, target.path, actor=caller.actor)
    if count == 0:
        raise MlflowError(
            f"No artifact at {path!r}.", error_code=RESOURCE_DOES_NOT_EXIST, status_code=404,
            details=[{"field": "path", "problem": "no file at or below it"}],
        )  # fmt: skip
    return JSONResponse({})


def check_owner(backend: Backend, target: ProxyTarget, *, writing: bool) -> None:
    """``NotFound`` unless the run or logged model exists and belongs to the path's experiment."""
    if target.kind == "run":
        experiment_id = backend.store.get_run(target.owner_id).experiment_id
        what = f"Run {target.owner_id}"
    else:
        experiment_id = logged_models(backend).get(target.owner_id, allow_deleted=not writing).experiment_id
        what = f"Logged model {target.owner_id}"
    if to_loopml(backend.store, target.experiment_id) != experiment_id:
        raise NotFound(f"{what} is not in experiment {target.experiment_id!r}.")


def children(infos: list[ArtifactInfo], prefix: str) -> list[dict[str, object]]:
    """MLflow's listing of ``prefix``: its files (with sizes) and folders, by name; empty when it is a file."""
    base = f"{prefix}/" if prefix else ""
    files: list[dict[str, object]] = []
    folders: set[str] = set()
    for info in infos:
        if not info.path.startswith(base):
            continue  # the prefix itself: a file, which lists as nothing (as in MLflow)
        name, slash, _ = info.path[len(base) :].partition("/")
        if slash:
            folders.add(name)
        else:
            files.append({"path": name, "is_dir": False, "file_size": info.size})
    files += [{"path": name, "is_dir": True} for name in folders]
    return sorted(files, key=lambda entry: str(entry["path"]))


def _list(backend: Backend, target: ProxyTarget) -> list[ArtifactInfo]:
    if target.kind == "run":
        return backend.store.list_artifacts(target.owner_id, target.path)
    return logged_models(backend).list_artifacts(target.owner_id, target.path)


def _find(backend: Backend, target: ProxyTarget) -> ArtifactInfo:
    check_owner(backend, target, writing=False)
    if target.path:
        for info in _list(backend, target):
            if info.path == target.path:
                return info
    owner = "Run" if target.kind == "run" else "Logged model"
    raise NotFound(f"{owner} {target.owner_id} has no file {target.path!r} (a folder is listed, not downloaded).")


def _record(backend: Backend, target: ProxyTarget, info: ArtifactInfo, actor: str) -> None:
    if target.kind == "run":
        backend.store.record_artifacts(target.owner_id, [info], actor=actor)
    else:
        logged_models(backend).record_artifacts(target.owner_id, [info], actor=actor)


def _refused(path: str, problem: str) -> MlflowError:
    return MlflowError(f"Cannot upload to {path!r}: it {problem}.", details=[{"field": "path", "problem": problem}])
