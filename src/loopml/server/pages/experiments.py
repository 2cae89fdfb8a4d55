"""``/experiments``: every experiment with its run count, and one experiment's runs table.

The runs table is drawn by ``static/runs.js`` from ``POST /api/v1/runs/search`` (one request per
page of 50 runs, asking for 51 to know whether a next page exists) and the column chooser from
``GET /api/v1/experiments/{id}/keys``. The page's state (filter, order, offset, columns) lives in
the URL, so a view can be bookmarked and shared.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from loopml.core.errors import InvalidInput
from loopml.server.pages.context import Page, PageContext
from loopml.server.pages.errors import error_page
from loopml.store.search import parse_order_by

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
MAX_OFFSET = 10_000_000


def experiments_overview(page: PageContext) -> dict[str, Any]:
    """Experiments newest first with their run counts (one grouped query)."""
    store = page.backend.store
    experiments = sorted(store.list_experiments(), key=lambda e: e.created_at, reverse=True)
    return {"experiments": experiments, "counts": store.count_runs()}


def table_state(params: dict[str, str]) -> dict[str, Any]:
    """The runs table's state from the page's query string; ``InvalidInput`` (a 400 page) names a bad one.

    A bad ``filter`` is not an error here: the table shows the parser's message next to the box.
    """
    unknown = sorted(set(params) - {"filter", "order", "offset", "cols"})
    if unknown:
        raise InvalidInput(f"Unknown query parameter {unknown[0]!r}; this page takes filter, order, offset, cols.")
    raw_offset = params.get("offset", "0")
    if not raw_offset.isdigit() or int(raw_offset) > MAX_OFFSET:
        raise InvalidInput(f"offset must be a whole number from 0 to {MAX_OFFSET}, got {raw_offset!r}.")
    order = params.get("order", "")
    if order:
        parse_order_by([order])  # InvalidInput with the parser's message
    cols = [c for c in params.get("cols", "").split(",") if c]
    bad = [c for c in cols if c.split(".", 1)[0] not in ("params", "metrics", "tags") or "." not in c]
    if bad:
        raise InvalidInput(f"cols takes params.<key>, metrics.<key> or tags.<key> separated by commas, got {bad[0]!r}.")
    return {
        "filter": params.get("filter", ""),
        "order": order,
        "offset": int(raw_offset),
        "cols": cols if "cols" in params else None,
    }


@router.get("/experiments")
async def experiments(page: Page) -> Response:
    data = await run_in_threadpool(experiments_overview, page)
    return page.render("experiments.html.j2", section="/experiments", **data)


@router.get("/experiments/{id_or_name}")
async def experiment(id_or_name: str, page: Page) -> Response:
    try:
        state = table_state(dict(page.request.query_params))
    except InvalidInput as exc:  # a bad link: a 400 page saying what is wrong
        return error_page(page.request, 400, exc.message)
    found = await run_in_threadpool(page.backend.store.get_experiment, id_or_name)
    data = {"experiment_id": found.id, "experiment": found.name, "page_size": PAGE_SIZE, **state}
    return page.render("experiment.html.j2", section="/experiments", experiment=found, data=data)
