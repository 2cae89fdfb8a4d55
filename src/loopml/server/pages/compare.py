"""``/compare?runs=id1,id2,...``: up to 200 runs side by side.

The page reads the runs with one ``get_runs`` call and renders the params/metrics table (rows whose
values differ carry the class ``changed``); ``static/compare.js`` draws the overlaid curves of a
chosen metric from one ``POST /api/v1/runs/metrics/history`` (every run's downsampled curve in one
request) and a parallel-coordinates plot of params against a metric from the page's data.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from loopml.core.errors import InvalidInput
from loopml.core.ids import is_id
from loopml.core.records import Run
from loopml.server.pages.context import Page, PageContext
from loopml.server.pages.errors import error_page
from loopml.store.sql.tracking import MAX_HISTORY_RUNS

router = APIRouter(include_in_schema=False)


def run_ids_param(raw: str | None) -> list[str]:
    """The run ids of ``?runs=``; ``InvalidInput`` (a 400 page) saying what is wrong."""
    if not raw:
        raise InvalidInput(
            "Name the runs to compare: /compare?runs=<run id>,<run id>,... (select them on an experiment's page)."
        )
    ids = list(dict.fromkeys(part.strip().lower() for part in raw.split(",") if part.strip()))
    if len(ids) > MAX_HISTORY_RUNS:
        raise InvalidInput(f"Compare takes up to {MAX_HISTORY_RUNS} runs; {len(ids)} were given. Select fewer runs.")
    bad = [i for i in ids if not is_id(i)]
    if bad:
        raise InvalidInput(f"runs takes full 32-character run ids separated by commas; {bad[0]!r} is not one.")
    return ids


def rows(runs: list[Run], kind: str) -> list[dict[str, Any]]:
    """One row per key of ``kind`` (``params`` or ``metrics``): the value in each run, and whether they differ."""
    keys = sorted({k for run in runs for k in getattr(run, kind)})
    out = []
    for key in keys:
        values = [getattr(run, kind).get(key) for run in runs]
        distinct = {repr(v) for v in values}
        out.append({"key": key, "cells": values, "changed": len(distinct) > 1})
    return out


def comparison(page: PageContext, ids: list[str]) -> dict[str, Any]:
    runs = page.backend.store.get_runs(ids)
    metric_keys = sorted({k for run in runs for k in run.metrics})
    param_keys = sorted({k for run in runs for k in run.params})
    return {
        "runs": runs,
        "param_rows": rows(runs, "params"),
        "metric_rows": rows(runs, "metrics"),
        "data": {
            "runs": [{"id": r.id, "name": r.name, "params": r.params, "metrics": r.metrics} for r in runs],
            "metrics": metric_keys,
            "params": param_keys,
        },
    }


@router.get("/compare")
async def compare(page: Page) -> Response:
    unknown = sorted(set(page.request.query_params) - {"runs"})
    if unknown:
        return error_page(page.request, 400, f"Unknown query parameter {unknown[0]!r}; this page takes runs=<id>,...")
    try:
        ids = run_ids_param(page.request.query_params.get("runs"))
    except InvalidInput as exc:  # a bad link: a 400 page saying what is wrong (and the limit)
        return error_page(page.request, 400, exc.message)
    data = await run_in_threadpool(comparison, page, ids)
    return page.render("compare.html.j2", section="/experiments", **data)
