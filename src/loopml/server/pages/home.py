"""``/``: an overview of the store, each item linking to its page."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from loopml.server.pages.context import Page, PageContext

router = APIRouter(include_in_schema=False)
RECENT = 10


def overview(page: PageContext) -> dict[str, Any]:
    """What the overview shows: a handful of rows per kind, each read with one query."""
    backend = page.backend
    experiments = sorted(backend.store.list_experiments(), key=lambda e: e.created_at, reverse=True)
    names = {e.id: e.name for e in experiments}
    runs = backend.store.search_runs(None, order_by=["start_time DESC"], max_results=RECENT)
    models = sorted(backend.models.list_models(), key=lambda m: m.updated_at, reverse=True)
    pipeline_runs = backend.pipelines.list_runs(limit=RECENT)
    alerts = backend.stores["monitoring"].list_alerts(state="firing", limit=RECENT)
    return {
        "experiments": experiments[:RECENT],
        "experiment_count": len(experiments),
        "experiment_names": names,
        "runs": runs,
        "models": models[:RECENT],
        "model_count": len(models),
        "pipeline_runs": pipeline_runs,
        "alerts": alerts,
    }


@router.get("/")
async def home(page: Page) -> Response:
    data = await run_in_threadpool(overview, page)
    return page.render("home.html.j2", section="/", **data)
