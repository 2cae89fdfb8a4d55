"""``/runs/{id}``: one run (params, tags, system info, metric curves, artifacts with previews, child
runs, lineage) and ``/runs/{id}/files/{path}``, the run's files for previews.

Curves are drawn by ``static/run.js``, one ``GET /api/v1/runs/{id}/metrics/history?max_points=...``
per metric (downsampled on the server). Previews are served from this origin with
``Content-Security-Policy: sandbox``: an HTML artifact runs in an opaque origin with scripts off,
even when opened outside the page's ``<iframe sandbox="">``, so it cannot reach the UI's cookies
or API.
"""

from __future__ import annotations

import mimetypes
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from loopml.artifacts import LocalBlobStore, safe_relpath
from loopml.core.records import ArtifactInfo, LineageEdge
from loopml.server.pages.context import Page, PageContext
from loopml.server.pages.errors import error_page
from loopml.store.sql.tracking import MAX_HISTORY_RUNS

router = APIRouter(include_in_schema=False)

TEXT_PREVIEW_BYTES = 64 * 1024
"""How much of a text artifact the run page shows."""
TEXT = {".txt", ".log", ".md", ".csv", ".tsv", ".json", ".yaml", ".yml", ".py", ".toml", ".ini", ".cfg", ".sql", ".xml"}
IMAGE = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml", ".gif": "image/gif"}
HTML = {".html", ".htm"}
FILE_HEADERS = {
    # an opaque origin, no scripts, no plugins, no forms: the file cannot act as the UI
    "Content-Security-Policy": "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
    "frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, no-store",
    "Referrer-Policy": "no-referrer",
}


def preview_kind(path: str) -> str:
    """How the run page previews a file: ``text``, ``image``, ``html`` or ``download``."""
    suffix = PurePosixPath(path).suffix.lower()
    if suffix in TEXT or PurePosixPath(path).name in ("MLmodel", "requirements.txt", "conda.yaml"):
        return "text"
    if suffix in IMAGE:
        return "image"
    if suffix in HTML:
        return "html"
    return "download"


def lineage_link(kind: str, ident: str) -> str | None:
    """The page of a lineage node, when the UI has one."""
    if kind == "run":
        return f"/runs/{ident}"
    if kind == "model_version" and "/" in ident:
        name, _, version = ident.rpartition("/")
        return f"/models/{quote(name)}/versions/{version}"
    return None


def lineage_item(edge: LineageEdge, run_id: str) -> dict[str, Any]:
    """An edge seen from the run: the other end, its page, the relation and which way it points."""
    incoming = (edge.target_type, edge.target_id) == ("run", run_id)
    kind, ident = (edge.source_type, edge.source_id) if incoming else (edge.target_type, edge.target_id)
    return {
        "direction": "in" if incoming else "out",
        "type": kind,
        "id": ident,
        "href": lineage_link(kind, ident),
        "relation": edge.relation,
        "created_at": edge.created_at,
    }


def run_details(page: PageContext, run_ref: str) -> dict[str, Any]:
    """What the run page shows, read with a handful of queries (none per row)."""
    backend = page.backend
    store = backend.store
    run = store.get_run(run_ref)
    experiment = store.get_experiment(run.experiment_id)
    children = store.search_runs(
        [run.experiment_id],
        filter=f"attributes.parent_run_id = '{run.id}'",
        order_by=["attributes.start_time ASC"],
        max_results=MAX_HISTORY_RUNS,
    )
    artifacts: list[ArtifactInfo] = backend.artifacts.list(run.id)
    edges: list[LineageEdge] = backend.lineage.edges("run", run.id)
    lineage = [lineage_item(e, run.id) for e in edges]
    end = run.end_time
    return {
        "run": run,
        "experiment": experiment,
        "children": children,
        "artifacts": [{"path": a.path, "size": a.size, "kind": preview_kind(a.path)} for a in artifacts],
        "lineage": lineage,
        "duration": (end - run.start_time) if end else None,
        "stale": run.is_stale(backend.settings.stale_after_ms),
        "data": {
            "run_id": run.id,
            "metrics": sorted(run.metrics),
            "compare": [run.id, *[c.id for c in children]][:MAX_HISTORY_RUNS],
        },
    }


@router.get("/runs/{run_ref}")
async def run_page(run_ref: str, page: Page) -> Response:
    details = await run_in_threadpool(run_details, page, run_ref)
    return page.render("run.html.j2", section="/experiments", **details)


def read_file(page: PageContext, run_ref: str, path: str, head: int | None) -> tuple[bytes, str]:
    """The bytes of one artifact (or its first ``head`` bytes) and the media type to serve them as."""
    backend = page.backend
    run_id = backend.store.get_run(run_ref).id
    relpath = safe_relpath(path)
    info = backend.artifacts.find(run_id, relpath)
    kind = preview_kind(relpath)
    media = {
        "text": "text/plain; charset=utf-8",
        "html": "text/html; charset=utf-8",
        "image": IMAGE.get(PurePosixPath(relpath).suffix.lower(), "application/octet-stream"),
    }.get(kind) or (mimetypes.guess_type(relpath)[0] or "application/octet-stream")
    if kind == "download":
        media = "application/octet-stream"
    blobs = backend.blobs
    if head is not None and isinstance(blobs, LocalBlobStore):
        with blobs.path_of(info.sha256).open("rb") as handle:
            return handle.read(head), media
    if head is not None:  # the first chunk of a verified stream
        return next(iter(blobs.open_chunks(info.sha256)), b"")[:head], media
    return blobs.read_bytes(info.sha256), media  # verifies the hash


@router.get("/runs/{run_ref}/files/{path:path}")
async def run_file(run_ref: str, path: str, page: Page) -> Response:
    raw_head = page.request.query_params.get("head")
    head = None
    if raw_head is not None:
        if not raw_head.isdigit() or not 1 <= int(raw_head) <= TEXT_PREVIEW_BYTES:
            message = f"head must be a whole number from 1 to {TEXT_PREVIEW_BYTES}, got {raw_head!r}."
            return error_page(page.request, 400, message)
        head = int(raw_head)
    data, media = await run_in_threadpool(read_file, page, run_ref, path, head)
    headers = dict(FILE_HEADERS)
    if media == "application/octet-stream":
        name = PurePosixPath(path).name.replace('"', "")
        headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return Response(data, media_type=media, headers=headers)
