"""``/pipelines``: recent pipeline runs (filtered by pipeline, paged), schedules, and one run's DAG.

A run page reads the run and its steps (two queries, as ``loopml pipeline show`` does through
:meth:`~loopml.pipelines.records.PipelineRun.from_records`) and the tracking runs every step started
(one lineage query for all steps). The DAG's layout is computed here: each step's layer is the
longest chain of dependencies before it, laid out left to right.
"""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from loopml.core.records import PipelineStatus
from loopml.pipelines.records import PipelineRun, StepRun
from loopml.server.pages.context import Page, PageContext
from loopml.store.pipelines import MAX_LIMIT
from loopml.store.sql import schema as t
from loopml.store.sql.schedules import SqlScheduleStore

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
MAX_PAGE = MAX_LIMIT // PAGE_SIZE
STATUS_COLORS = {
    "SUCCEEDED": "#1f8a4c",
    "FAILED": "#c53030",
    "RUNNING": "#2f6fdf",
    "PENDING": "#8a94a6",
    "SKIPPED": "#b7791f",
}
CACHED_COLOR = "#6b9e7f"
X_GAP, Y_GAP = 220, 90


def runs_view(page: PageContext, pipeline: str | None, number: int) -> dict[str, Any]:
    """One page of runs (newest first) plus whether there is a next one, the pipeline names and the schedules."""
    store = page.backend.pipelines
    found = store.list_runs(pipeline=pipeline, limit=min(MAX_LIMIT, number * PAGE_SIZE + 1))
    rows = found[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]
    with store.db.read() as conn:
        names = [
            str(n)
            for n in conn.execute(
                sa.select(t.pipeline_runs.c.pipeline).distinct().order_by(t.pipeline_runs.c.pipeline)
            ).scalars()
        ]
    schedules = SqlScheduleStore(store.db).list_schedules()
    return {"runs": rows, "has_next": len(found) > number * PAGE_SIZE, "names": names, "schedules": schedules}


def tracking_runs(page: PageContext, steps: list[StepRun]) -> dict[str, list[str]]:
    """Step run id -> the tracking runs it started (a reused step: those of the step run it reused), one query."""
    sources = {s.id: s.reused_from or s.id for s in steps}
    e = t.lineage_edges.c
    query = (
        sa.select(e.source_id, e.target_id)
        .where(e.source_type == "step_run", e.relation == "tracked", e.source_id.in_(set(sources.values())))
        .order_by(e.id)
    )
    by_source: dict[str, list[str]] = {}
    with page.backend.lineage.db.read() as conn:
        for source, target in conn.execute(query):
            by_source.setdefault(str(source), []).append(str(target))
    return {step: by_source.get(source, []) for step, source in sources.items()}


def cache_text(step: StepRun) -> str:
    """The cache column, as ``loopml pipeline show --step`` words it."""
    if step.cache_hit:
        return f"hit (outputs of step run {(step.reused_from or '')[:8]})"
    if step.reused_from:
        return f"reused from step run {step.reused_from[:8]} (resumed)"
    if step.miss_reason:
        return f"miss: {step.miss_reason}"
    return "miss" if step.status in (PipelineStatus.SUCCEEDED, PipelineStatus.FAILED) else "—"


def layout(steps: list[StepRun]) -> dict[str, Any]:
    """ECharts ``graph`` nodes and edges, laid out in layers left to right (a step's layer is one more
    than its deepest upstream step's); steps come in topological order."""
    from loopml.ui.render import fmt_duration_ms

    layer: dict[str, int] = {}
    for step in sorted(steps, key=lambda s: s.position):
        layer[step.name] = 1 + max((layer.get(u, -1) for u in step.upstream), default=-1)
    columns: dict[int, list[StepRun]] = {}
    for step in sorted(steps, key=lambda s: s.position):
        columns.setdefault(layer[step.name], []).append(step)
    tallest = max((len(c) for c in columns.values()), default=1)
    nodes = []
    for depth, members in columns.items():
        offset = (tallest - len(members)) * Y_GAP / 2
        for row, step in enumerate(members):
            status = step.status.value
            label = f"{step.name}\n{fmt_duration_ms(step.duration_ms)}{' · cached' if step.cache_hit else ''}"
            nodes.append(
                {
                    "name": step.name,
                    "x": depth * X_GAP,
                    "y": offset + row * Y_GAP,
                    "value": status,
                    "status": status,
                    "cached": step.cache_hit,
                    "duration_ms": step.duration_ms,
                    "label": label,
                    "color": CACHED_COLOR
                    if step.cache_hit and status == "SUCCEEDED"
                    else STATUS_COLORS.get(status, "#8a94a6"),
                }
            )
    names = {s.name for s in steps}
    edges = [{"source": u, "target": s.name} for s in steps for u in s.upstream if u in names]
    return {"nodes": nodes, "edges": edges}


def run_view(page: PageContext, run_id: str) -> dict[str, Any]:
    store = page.backend.pipelines
    record = store.get_run(run_id)
    run = PipelineRun.from_records(record, store.list_steps(record.id))
    return {"run": run, "tracked": tracking_runs(page, run.steps), "graph": layout(run.steps)}


@router.get("/pipelines")
async def pipelines(
    page: Page,
    pipeline: Annotated[
        str, Query(max_length=256, pattern=r"^[^\x00]*$", description="Only this pipeline's runs.")
    ] = "",
    number: Annotated[int, Query(alias="page", ge=1, le=MAX_PAGE, description="Page of 50 runs, newest first.")] = 1,
) -> Response:
    data = await run_in_threadpool(runs_view, page, pipeline or None, number)
    return page.render("pipelines.html.j2", section="/pipelines", pipeline=pipeline, page_number=number, **data)


@router.get("/pipelines/runs/{run_id}")
async def pipeline_run(
    page: Page, run_id: Annotated[str, Path(pattern=r"^[0-9a-f]{4,32}$", description="An id or a prefix of 4+ of it.")]
) -> Response:
    data = await run_in_threadpool(run_view, page, run_id)
    run, tracked = data["run"], data["tracked"]
    steps = [
        {"step": s, "cache": cache_text(s), "runs": tracked.get(s.id, [])}
        for s in sorted(run.steps, key=lambda s: s.position)
    ]
    return page.render(
        "pipeline_run.html.j2", section="/pipelines", run=run, steps=steps, page_data={"graph": data["graph"]}
    )
