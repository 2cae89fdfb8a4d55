"""``/runs``: create, get, update status, heartbeat, batched logging, metric history, search."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from loopml.core.clock import now_ms
from loopml.core.codec import encode_float
from loopml.core.records import Metric, Run, RunStatus
from loopml.core.wire import METRIC, RUN
from loopml.server.auth import Reader, Writer
from loopml.server.backend import BackendDep
from loopml.server.encoding import JSONResponse
from loopml.server.schemas import (
    BatchLog,
    Heartbeat,
    MetricHistory,
    RunCreate,
    RunList,
    RunOut,
    RunSearch,
    RunUpdate,
)
from loopml.server.schemas.tracking import MAX_POINTS_LIMIT, HistoryBatch, MetricSeriesList, RunCounts, RunIds

router = APIRouter(prefix="/runs", tags=["runs"])


@router.post("/search", response_model=RunList, summary="Runs matching a filter, ordered and paged (reader)")
def search_runs(body: RunSearch, caller: Reader, backend: BackendDep) -> Response:
    runs = backend.store.search_runs(
        body.experiment_ids,
        filter=body.filter,
        order_by=body.order_by,
        max_results=body.max_results,
        offset=body.offset,
    )
    stale_after = backend.settings.stale_after_ms
    return JSONResponse({"runs": [_run_json(r, stale_after) for r in runs]})


@router.get("/counts", response_model=RunCounts, summary="How many runs each experiment holds (reader)")
def count_runs(caller: Reader, backend: BackendDep) -> Response:
    return JSONResponse({"counts": backend.store.count_runs()})


@router.post("/get", response_model=RunList, summary="1 to 200 runs by full id, in the order asked (reader)")
def get_runs(body: RunIds, caller: Reader, backend: BackendDep) -> Response:
    stale_after = backend.settings.stale_after_ms
    return JSONResponse({"runs": [_run_json(r, stale_after) for r in backend.store.get_runs(body.run_ids)]})


@router.post(
    "/metrics/history",
    response_model=MetricSeriesList,
    summary="Downsampled curves of metrics of 1-200 runs in one request (reader)",
)
def get_metric_histories(body: HistoryBatch, caller: Reader, backend: BackendDep) -> Response:
    histories = backend.store.get_metric_histories(body.run_ids, body.keys, max_points=body.max_points)
    return JSONResponse({"series": series_json(histories)})


@router.post("/heartbeat", status_code=204, summary="The tracking process of these runs is alive (writer)")
def heartbeat(body: Heartbeat, caller: Writer, backend: BackendDep) -> Response:
    backend.store.heartbeat(body.run_ids, actor=caller.actor)
    return Response(status_code=204)


@router.post("", status_code=201, response_model=RunOut, summary="Start a run (status RUNNING)")
def create_run(body: RunCreate, caller: Writer, backend: BackendDep) -> Response:
    run = backend.store.create_run(
        body.experiment_id,
        name=body.name,
        parent_run_id=body.parent_run_id,
        tags=body.tags,
        start_time=body.start_time,
        actor=caller.actor,
    )
    return JSONResponse(_run_json(run, backend.settings.stale_after_ms), status_code=201)


@router.get(
    "/{run_id}",
    response_model=RunOut,
    summary="A run (by id or unique 4+ hex prefix) with its params, latest metrics and tags",
)
def get_run(run_id: str, caller: Reader, backend: BackendDep) -> Response:
    return JSONResponse(_run_json(backend.store.get_run(run_id), backend.settings.stale_after_ms))


@router.patch("/{run_id}", response_model=RunOut, summary="Set a run's status (terminal states record end_time)")
def update_run(run_id: str, body: RunUpdate, caller: Writer, backend: BackendDep) -> Response:
    backend.store.set_run_status(run_id, RunStatus(body.status), end_time=body.end_time, actor=caller.actor)
    return JSONResponse(_run_json(backend.store.get_run(run_id), backend.settings.stale_after_ms))


@router.post("/{run_id}/batch", status_code=204, summary="Log metrics, params and tags in one transaction")
def log_batch(run_id: str, body: BatchLog, caller: Writer, backend: BackendDep) -> Response:
    now = now_ms()
    points = [
        (m["key"], m["value"], m.get("step", 0), now if (ts := m.get("timestamp")) is None else ts)
        for m in body.metrics
    ]
    backend.store.log_batch(run_id, metrics=points, params=body.params, tags=body.tags, actor=caller.actor)
    return Response(status_code=204)


@router.get(
    "/{run_id}/metrics/history",
    response_model=MetricHistory,
    summary="Every point of one metric, or at most max_points of them (LTTB keeping the extremes)",
)
def get_metric_history(
    run_id: str,
    key: str,
    caller: Reader,
    backend: BackendDep,
    max_points: Annotated[
        int | None,
        Query(ge=4, le=MAX_POINTS_LIMIT, description="Downsample to at most this many points (4 to 10000)."),
    ] = None,
) -> Response:
    store = backend.store
    if max_points is None:
        return JSONResponse({"metrics": METRIC.encode_many(store.get_metric_history(run_id, key))})
    run = store.get_run(run_id)  # resolves a prefix; NotFound for an unknown run
    points = store.get_metric_histories([run.id], [key], max_points=max_points).get(run.id, {}).get(key, [])
    return JSONResponse({"metrics": METRIC.encode_many(points)})


def series_json(histories: dict[str, dict[str, list[Metric]]]) -> list[dict[str, Any]]:
    """Curves as columns: ``{run_id, key, steps, timestamps, values}`` per run and key."""
    return [
        {
            "run_id": run_id,
            "key": key,
            "steps": [p.step for p in points],
            "timestamps": [p.timestamp for p in points],
            "values": [p.value if p.value - p.value == 0 else encode_float(p.value) for p in points],
        }
        for run_id, by_key in histories.items()
        for key, points in by_key.items()
    ]


def _run_json(run: Run, stale_after_ms: int) -> dict[str, Any]:
    """The run as its codec sends it, plus whether it looks abandoned (computed per request)."""
    data = RUN.encode(run)
    data["stale"] = run.is_stale(stale_after_ms)
    return data
