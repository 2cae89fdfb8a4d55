"""Pipeline runs and step runs kept by a ``loopml server``, over its REST API (``/api/v1/pipelines``).

>>> transport = HttpTransport("http://127.0.0.1:5050", actor="ann")     # doctest: +SKIP
>>> HttpPipelineStore(transport).list_runs(limit=1)[0].status            # doctest: +SKIP
<PipelineStatus.SUCCEEDED: 'SUCCEEDED'>

:class:`HttpPipelineStore` implements :class:`~loopml.store.base.PipelineStore`, as
:class:`~loopml.store.sql.pipelines.SqlPipelineStore` (which the server runs) does, so the pipeline
runner and ``loopml.pipelines.get_run`` / ``list_runs`` work unchanged against a server. Arguments
are checked by :mod:`loopml.store.pipelines` before a request is sent; records travel in the form of
its codecs. It wraps the session's :class:`~loopml.store.http.transport.HttpTransport` (connection
pool, token, retries and error mapping) (a 409 is ``Conflict``, a 404 ``NotFound``). Parameters and
results are JSON-encoded as the SQL store does (values JSON lacks become strings); ``created_by``
is the caller, as the server sees it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import orjson

from loopml.core.errors import NotFound
from loopml.core.hashing import is_sha256
from loopml.core.records import PipelineRunRecord, PipelineRunSummary, PipelineStatus, StepRunRecord
from loopml.core.wire import PIPELINE_RUN, PIPELINE_RUN_SUMMARY, STEP_RUN
from loopml.store.http.transport import HttpTransport
from loopml.store.pipelines import (
    FINAL_RUN_STATUSES,
    check_changes,
    check_id,
    check_limit,
    check_pipeline_name,
    check_run,
    check_run_ref,
    check_status,
    check_step,
    jsonable,
)

_RUN_BODY = ("id", "pipeline", "params", "status", "executor", "start_time", "resumed_from", "trigger")
"""What ``POST /pipelines/runs`` takes (the server records the caller as ``created_by``)."""


class HttpPipelineStore:
    """The pipeline store of :mod:`loopml.pipelines` over ``/api/v1/pipelines``."""

    def __init__(self, transport: HttpTransport) -> None:
        self.transport = transport

    def __repr__(self) -> str:
        return f"HttpPipelineStore({self.transport.base_url!r})"

    # -- writes ---------------------------------------------------------------------------------

    def create_run(self, run: PipelineRunRecord, *, actor: str) -> None:
        """Record a pipeline run."""
        encoded = PIPELINE_RUN.encode(check_run(run))
        body = {key: encoded[key] for key in _RUN_BODY}
        body["params"] = jsonable(run.params, "run.params")
        self._send("POST", "/pipelines/runs", body, actor)

    def finish_run(
        self,
        run_id: str,
        *,
        status: PipelineStatus,
        end_time: int,
        error: str | None = None,
        result: Any = None,
        actor: str,
    ) -> None:
        """End a pipeline run ``SUCCEEDED`` or ``FAILED``; ``result`` is JSON-able (what the pipeline returned)."""
        check_id(run_id, "run_id")
        final = check_status(status, "status", FINAL_RUN_STATUSES)
        body = {"status": final.value, "end_time": end_time, "error": error, "result": jsonable(result, "result")}
        self._send("POST", f"/pipelines/runs/{run_id}/finish", body, actor)

    def insert_step(self, step: StepRunRecord, *, actor: str) -> None:
        """Record a step run of a recorded pipeline run."""
        self._send("POST", "/pipelines/steps", STEP_RUN.encode(check_step(step)), actor)

    def update_step(self, step_run_id: str, changes: Mapping[str, Any], *, actor: str) -> None:
        """Change some fields of a step run (a terminal ``status`` is audited)."""
        check_id(step_run_id, "step_run_id")
        body = check_changes(changes)
        if "status" in body:
            body["status"] = body["status"].value
        self._send("PATCH", f"/pipelines/steps/{step_run_id}", body, actor)

    # -- reads ----------------------------------------------------------------------------------

    def find_cached(self, cache_key: str) -> StepRunRecord | None:
        """The newest succeeded step run with this cache key, if any."""
        if not isinstance(cache_key, str) or not is_sha256(cache_key):
            return None  # no step run can have it
        try:
            return STEP_RUN.decode(self.transport.request_json("GET", f"/pipelines/cache/{cache_key}"))
        except NotFound:
            return None

    def get_run(self, run_id: str) -> PipelineRunRecord:
        """A pipeline run by id or unique id prefix (at least 4 characters)."""
        return PIPELINE_RUN.decode(self.transport.request_json("GET", f"/pipelines/runs/{check_run_ref(run_id)}"))

    def list_runs(self, *, pipeline: str | None = None, limit: int = 50) -> list[PipelineRunSummary]:
        """Newest pipeline runs first (ties by id), with step counts (``steps``, ``cached``, ``failed``)."""
        params: dict[str, Any] = {"limit": check_limit(limit)}
        if check_pipeline_name(pipeline) is not None:
            params["pipeline"] = pipeline
        return PIPELINE_RUN_SUMMARY.decode_many(
            self.transport.request_json("GET", "/pipelines/runs", params=params)["runs"]
        )

    def get_step(self, step_run_id: str) -> StepRunRecord:
        """One step run by full id."""
        path = f"/pipelines/steps/{check_id(step_run_id, 'step_run_id')}"
        return STEP_RUN.decode(self.transport.request_json("GET", path))

    def list_steps(self, pipeline_run_id: str) -> list[StepRunRecord]:
        """The step runs of a pipeline run in topological order (``NotFound`` for an unknown run)."""
        path = f"/pipelines/runs/{check_id(pipeline_run_id, 'pipeline_run_id')}/steps"
        return STEP_RUN.decode_many(self.transport.request_json("GET", path)["steps"])

    def _send(self, method: str, path: str, body: dict[str, Any], actor: str) -> None:
        headers = {"Content-Type": "application/json"}
        self.transport.request(method, path, content=_dumps(body), headers=headers, actor=actor)


def _dumps(body: dict[str, Any]) -> bytes:
    """JSON for a request: parameters and results may hold integers orjson refuses (over 64 bits)."""
    try:
        return orjson.dumps(body)
    except TypeError:
        return json.dumps(body, default=str).encode()
