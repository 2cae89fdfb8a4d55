"""``/runs/...`` and ``/metrics/...``: create, get, update, delete, restore, search, log-batch,
log-metric, log-parameter, set-tag, delete-tag, log-inputs; get-history, get-history-bulk-interval.

MLflow runs are loopml runs: the ``mlflow.parentRunId`` tag makes a child run, ``mlflow.runName``
is the run's name (not stored as a tag), ``user_id`` its user when the server has no auth (with
auth: the token's name). Each request is one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Query
from starlette.responses import Response

from loopml.core.errors import Conflict
from loopml.core.records import Run, RunStatus
from loopml.server.auth import Caller, Reader, Writer
from loopml.server.backend import Backend, BackendDep
from loopml.server.encoding import JSONResponse
from loopml.server.mlflow import schemas as s
from loopml.server.mlflow.checks import (
    MAX_DATASETS_PER_BATCH,
    MAX_PARAM_VALUE_LENGTH,
    MAX_TAG_VALUE_LENGTH,
    check_batch,
    check_key,
    check_pairs,
)
from loopml.server.mlflow.convert import (
    PARENT_RUN_TAG,
    RUN_NAME_TAG,
    info_row_json,
    metrics_json,
    run_json,
)
from loopml.server.mlflow.errors import MlflowError
from loopml.server.mlflow.ids import default_experiment_id, to_loopml, to_mlflow
from loopml.server.mlflow.paging import decode_token, fetch_size, next_token
from loopml.server.mlflow.search import VIEWS
from loopml.server.mlflow.uris import DEFAULT_EXPERIMENT_ID
from loopml.store.sql import SqlTrackingStore
from loopml.store.sql.lifecycle import RunInput, View
from loopml.store.sql.logged_models import SqlLoggedModelStore
from loopml.store.sql.tracking import MAX_SEARCH_RESULTS

router = APIRouter(tags=["mlflow"])
_EMPTY = b"{}"
# The small, hot calls of an MLflow client (create, get, update a run; log a metric, param, tag or batch;
# a metric's history) are ``async def``: their store work is one short transaction, and running it on
# the event loop saves the thread-pool hop a plain ``def`` costs (~0.5-1 ms of a 2-3 ms request, see
# docs/benchmarks.md). Searches and deletions, which can take longer, stay in the thread pool.


def _empty() -> Response:
    return Response(_EMPTY, media_type="application/json")


def runs_json(store: SqlTrackingStore, runs: Sequence[Run], view: View = "all") -> list[dict[str, Any]]:
    """``Run`` messages of loopml runs: their latest metric points, inputs and lifecycle stages read
    in one query each (the stages only when ``view`` mixes them)."""
    if not runs:
        return []
    ids = [r.id for r in runs]
    points = store.latest_metric_points(ids)
    inputs = store.run_inputs(ids)
    outputs = SqlLoggedModelStore(store.db).run_outputs(ids)
    stages = store.run_stages(ids) if view == "all" else {}
    default_id = default_experiment_id(store)
    return [
        run_json(
            run,
            experiment_id=DEFAULT_EXPERIMENT_ID if run.experiment_id == default_id else run.experiment_id,
            lifecycle_stage=stages.get(run.id, view),
            metrics=points.get(run.id, ()),
            inputs=inputs.get(run.id, ()),
            outputs=outputs.get(run.id, ()),
        )
        for run in runs
    ]


def _actor(backend: Backend, caller: Caller, user_id: str | None) -> str:
    """Who the run belongs to: the token's name with auth, else the client's ``user_id`` (if any)."""
    return user_id[:256] if user_id and not backend.auth else caller.actor


@router.post("/runs/create")
async def create_run(body: s.CreateRun, caller: Writer, backend: BackendDep) -> Response:
    store = backend.store
    tags = check_pairs(((t.key, t.value) for t in body.tags), field="tag", max_value=MAX_TAG_VALUE_LENGTH)
    name = body.run_name or tags.get(RUN_NAME_TAG) or None
    tags.pop(RUN_NAME_TAG, None)
    experiment_id = body.experiment_id or DEFAULT_EXPERIMENT_ID
    run = store.create_run(
        to_loopml(store, experiment_id),
        name=name,
        parent_run_id=tags.get(PARENT_RUN_TAG) or None,
        tags=tags,
        start_time=body.start_time,
        actor=_actor(backend, caller, body.user_id),
    )
    mlflow_id = to_mlflow(store, run.experiment_id)
    return JSONResponse(
        {"run": run_json(run, experiment_id=mlflow_id, lifecycle_stage="active", metrics=(), inputs=())}
    )


@router.get("/runs/get")
async def get_run(
    caller: Reader,
    backend: BackendDep,
    run_id: Annotated[str | None, Query()] = None,
    run_uuid: Annotated[str | None, Query()] = None,
) -> Response:
    store = backend.store
    run = store.get_run(s.RunRef(run_id=run_id, run_uuid=run_uuid).run())
    return JSONResponse({"run": runs_json(store, [run])[0]})


@router.post("/runs/update")
async def update_run(body: s.UpdateRun, caller: Writer, backend: BackendDep) -> Response:
    store = backend.store
    if body.status == "SCHEDULED":
        raise MlflowError(
            "loopml runs have no SCHEDULED status; use RUNNING, FINISHED, FAILED or KILLED.",
            details=[{"field": "status", "problem": "SCHEDULED is not supported"}],
        )
    row = store.update_run(
        body.run(),
        status=None if body.status is None else RunStatus(body.status),
        end_time=body.end_time,
        name=body.run_name or None,
        actor=caller.actor,
    )
    return JSONResponse({"run_info": info_row_json(row, to_mlflow(store, row.experiment_id))})


@router.post("/runs/delete")
def delete_run(body: s.RunRef, caller: Writer, backend: BackendDep) -> Response:
    backend.store.set_run_stage(body.run(), "deleted", actor=caller.actor)
    return _empty()


@router.post("/runs/restore")
def restore_run(body: s.RunRef, caller: Writer, backend: BackendDep) -> Response:
    backend.store.set_run_stage(body.run(), "active", actor=caller.actor)
    return _empty()


@router.post("/runs/search")
def search_runs(body: s.SearchRuns, caller: Reader, backend: BackendDep) -> Response:
    store = backend.store
    offset = decode_token(body.page_token)
    view = VIEWS[body.run_view_type]
    runs = store.search_runs(
        [to_loopml(store, e) for e in body.experiment_ids],
        filter=body.filter,
        order_by=body.order_by,
        max_results=fetch_size(body.max_results, MAX_SEARCH_RESULTS),
        offset=offset,
        lifecycle=view,
    )
    out: dict[str, Any] = {"runs": runs_json(store, runs[: body.max_results], view)}
    token = next_token(offset, len(runs), body.max_results, MAX_SEARCH_RESULTS)
    if token is not None:
        out["next_page_token"] = token
    return JSONResponse(out)


def _log(
    backend: BackendDep,
    caller: Caller,
    run_id: str,
    *,
    metrics: Sequence[tuple[str, float, int, int]] = (),
    params: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
) -> None:
    """Log in one transaction; a param logged again with another value is INVALID_PARAMETER_VALUE
    (MLflow's code), and the ``mlflow.runName`` tag renames the run."""
    store = backend.store
    if tags and RUN_NAME_TAG in tags:
        store.update_run(run_id, name=tags.pop(RUN_NAME_TAG), actor=caller.actor)
        if not (metrics or params or tags):
            return
    try:
        store.log_batch(run_id, metrics=metrics, params=params, tags=tags, actor=caller.actor)
    except Conflict as exc:
        raise MlflowError(exc.message, details=exc.details) from None


@router.post("/runs/log-metric")
async def log_metric(body: s.LogMetric, caller: Writer, backend: BackendDep) -> Response:
    check_key(body.key, field="metric")
    _log(backend, caller, body.run(), metrics=[(body.key, body.value, body.step, body.timestamp)])
    return _empty()


@router.post("/runs/log-parameter")
async def log_param(body: s.LogParam, caller: Writer, backend: BackendDep) -> Response:
    params = check_pairs([(body.key, body.value)], field="param", max_value=MAX_PARAM_VALUE_LENGTH)
    _log(backend, caller, body.run(), params=params)
    return _empty()


@router.post("/runs/set-tag")
async def set_tag(body: s.SetTag, caller: Writer, backend: BackendDep) -> Response:
    tags = check_pairs([(body.key, body.value)], field="tag", max_value=MAX_TAG_VALUE_LENGTH)
    _log(backend, caller, body.run(), tags=tags)
    return _empty()


@router.post("/runs/delete-tag")
def delete_tag(body: s.DeleteTag, caller: Writer, backend: BackendDep) -> Response:
    backend.store.delete_run_tag(body.run(), body.key, actor=caller.actor)
    return _empty()


@router.post("/runs/log-batch")
async def log_batch(body: s.LogBatch, caller: Writer, backend: BackendDep) -> Response:
    check_batch(metrics=len(body.metrics), params=len(body.params), tags=len(body.tags))
    params = check_pairs(((p.key, p.value) for p in body.params), field="param", max_value=MAX_PARAM_VALUE_LENGTH)
    tags = check_pairs(((t.key, t.value) for t in body.tags), field="tag", max_value=MAX_TAG_VALUE_LENGTH)
    run_id = body.run()
    metrics = [(m.key, m.value, m.step, m.timestamp) for m in body.metrics if m.model_id is None]
    metrics += _new_points(backend, run_id, [m for m in body.metrics if m.model_id is not None])
    _log(backend, caller, run_id, metrics=metrics, params=params, tags=tags)
    return _empty()


def _new_points(backend: BackendDep, run_id: str, points: Sequence[s.MetricIn]) -> list[tuple[str, float, int, int]]:
    """The points tied to a logged model that the run does not hold yet. MLflow 3's ``log_model`` sends
    the run's metrics again with the model's id; MLflow's server stores a point once (its key is the
    whole point), so the run's history must not gain a copy here either."""
    if not points:
        return []
    held = {
        (key, point.step, point.timestamp, point.value)
        for key in {p.key for p in points}
        for point in backend.store.get_metric_history(run_id, key)
    }
    return [(p.key, p.value, p.step, p.timestamp) for p in points if (p.key, p.step, p.timestamp, p.value) not in held]


@router.post("/runs/log-inputs")
def log_inputs(body: s.LogInputs, caller: Writer, backend: BackendDep) -> Response:
    if len(body.datasets) > MAX_DATASETS_PER_BATCH:
        raise MlflowError(
            f"A log-inputs request can contain at most {MAX_DATASETS_PER_BATCH} datasets, got {len(body.datasets)}.",
            details=[{"field": "datasets", "problem": f"more than {MAX_DATASETS_PER_BATCH}"}],
        )
    inputs = [
        RunInput(
            d.dataset.name,
            d.dataset.digest,
            d.dataset.source_type,
            d.dataset.source,
            d.dataset.schema_,
            d.dataset.profile,
            {t.key: t.value for t in d.tags},
        )
        for d in body.datasets
    ]
    backend.store.log_run_inputs(body.run(), inputs, actor=caller.actor)
    return _empty()


@router.get("/metrics/get-history")
async def get_metric_history(
    metric_key: Annotated[str, Query()],
    caller: Reader,
    backend: BackendDep,
    run_id: Annotated[str | None, Query()] = None,
    run_uuid: Annotated[str | None, Query()] = None,
    max_results: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
    page_token: Annotated[str | None, Query()] = None,
) -> Response:
    offset = decode_token(page_token)
    ref = s.RunRef(run_id=run_id, run_uuid=run_uuid).run()
    limit = None if max_results is None else max_results + 1
    points = backend.store.metric_history_page(ref, metric_key, limit=limit, offset=offset)
    out: dict[str, Any] = {"metrics": metrics_json(points[:max_results])}
    if max_results is not None and (token := next_token(offset, len(points), max_results, -1)) is not None:
        out["next_page_token"] = token
    return JSONResponse(out)


MAX_BULK_RUNS = 100
MAX_BULK_RESULTS = 2500


@router.get("/metrics/get-history-bulk-interval")
def get_metric_history_bulk_interval(
    run_ids: Annotated[list[str], Query(min_length=1, max_length=MAX_BULK_RUNS)],
    metric_key: Annotated[str, Query()],
    caller: Reader,
    backend: BackendDep,
    start_step: Annotated[int | None, Query()] = None,
    end_step: Annotated[int | None, Query()] = None,
    max_results: Annotated[int, Query(ge=1, le=MAX_BULK_RESULTS)] = MAX_BULK_RESULTS,
) -> Response:
    """Points of one metric of up to 100 runs at no more than ``max_results`` steps, spread evenly
    over the steps logged in ``[start_step, end_step]`` (the first and last kept), as MLflow's UI asks."""
    if (start_step is None) != (end_step is None):
        raise MlflowError(
            "If either start step or end step are specified, both must be specified.",
            details=[{"field": "start_step" if start_step is None else "end_step", "problem": "missing"}],
        )
    if start_step is not None and end_step is not None and start_step > end_step:
        raise MlflowError(
            f"end_step must be greater than start_step. Found start_step={start_step} and end_step={end_step}.",
            details=[{"field": "end_step", "problem": "less than start_step"}],
        )
    histories = backend.store.get_metric_histories(run_ids, [metric_key])
    curves = [(run_id, points) for run_id, by_key in sorted(histories.items()) for points in by_key.values()]
    steps = np.unique(np.fromiter((p.step for _, points in curves for p in points), dtype=np.int64))
    if start_step is not None and end_step is not None:
        steps = steps[(steps >= start_step) & (steps <= end_step)]
    if len(steps) > max_results:
        steps = np.unique(steps[np.linspace(0, len(steps) - 1, max_results).round().astype(np.int64)])
    kept = set(steps.tolist())
    metrics = [
        {"run_id": run_id, **point}
        for run_id, points in curves
        for point in metrics_json(sorted((p for p in points if p.step in kept), key=lambda p: (p.step, p.timestamp)))
    ]
    return JSONResponse({"metrics": metrics})
