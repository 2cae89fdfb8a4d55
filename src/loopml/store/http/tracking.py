"""The tracking store of a ``loopml server``: :class:`~loopml.store.TrackingStore` over its REST API.

>>> store = HttpTrackingStore("http://127.0.0.1:5050", actor="ann")   # doctest: +SKIP
>>> store.get_or_create_experiment("churn", actor="ann").name          # doctest: +SKIP
'churn'

Requests go through an :class:`~loopml.store.http.transport.HttpTransport` (pool, retries, error
mapping), shared with the other HTTP stores of a session; records are read with their codecs.

``log_batch`` keeps each request under the server's JSON body limit, read once per transport from
``GET /server-info`` (:data:`~loopml.store.http.wire.FALLBACK_MAX_BODY_BYTES` if the server does not
say): a larger batch goes as several requests (params and tags with the first), and a 413 halves the
request and lowers the limit. If a later request fails, :class:`~loopml.core.errors.PartialWrite`
says how many points were stored, so a retry resends only the rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from loopml.core.codec import decode_float, encode_float
from loopml.core.errors import InvalidInput, PartialWrite, StoreError
from loopml.core.ids import check_run_ref
from loopml.core.records import ArtifactInfo, AuditEvent, Experiment, Metric, Run, RunStatus
from loopml.core.validation import (
    INT64_MAX,
    INT64_MIN,
    check_key,
    check_metric_value,
    check_step,
    check_timestamp,
)
from loopml.core.wire import ARTIFACT, AUDIT_EVENT, EXPERIMENT, METRIC, RUN
from loopml.store import checks
from loopml.store.audit import check_actions, check_audit_object
from loopml.store.base import MetricPoint
from loopml.store.downsample import check_max_points
from loopml.store.http.transport import HttpTransport, segment


class HttpTrackingStore:
    """Tracking records kept by a ``loopml server``, reached at ``base_url`` (``http(s)://host:port``)
    or through an open :class:`~loopml.store.http.transport.HttpTransport`."""

    def __init__(
        self,
        base_url: str | HttpTransport,
        *,
        token: str | None = None,
        actor: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        if isinstance(base_url, HttpTransport):
            self.transport = base_url
        else:
            if not isinstance(actor, str):
                raise InvalidInput(f"HttpTrackingStore({base_url!r}) needs actor=, the name writes are recorded under.")
            self.transport = HttpTransport(base_url, token=token, actor=actor, timeout=timeout)
        self.base_url = self.transport.base_url
        self.actor = self.transport.actor

    def close(self) -> None:
        """Close the transport's pooled connections."""
        self.transport.close()

    def __repr__(self) -> str:
        return f"HttpTrackingStore({self.base_url!r})"

    # -- experiments ------------------------------------------------------------------------------

    def create_experiment(self, name: str, *, tags: Mapping[str, Any] | None = None, actor: str) -> Experiment:
        body = {"name": name, "tags": checks.string_dict(tags, "tag")}
        return EXPERIMENT.decode(self.transport.request_json("POST", "/experiments", json=body, actor=actor))

    def get_experiment(self, id_or_name: str) -> Experiment:
        return EXPERIMENT.decode(self.transport.request_json("GET", f"/experiments/{segment(id_or_name)}"))

    def get_or_create_experiment(self, name: str, *, actor: str) -> Experiment:
        """The experiment called ``name``, created if needed (safe under concurrency)."""
        return EXPERIMENT.decode(
            self.transport.request_json("POST", "/experiments/get-or-create", json={"name": name}, actor=actor)
        )

    def list_experiments(self) -> list[Experiment]:
        return EXPERIMENT.decode_many(self.transport.request_json("GET", "/experiments")["experiments"])

    # -- runs -------------------------------------------------------------------------------------

    def create_run(
        self,
        experiment_id: str,
        *,
        name: str | None = None,
        parent_run_id: str | None = None,
        tags: Mapping[str, Any] | None = None,
        start_time: int | None = None,
        actor: str,
    ) -> Run:
        body = {
            "experiment_id": experiment_id,
            "name": name,
            "parent_run_id": parent_run_id,
            "tags": checks.string_dict(tags, "tag"),
            "start_time": start_time,
        }
        return RUN.decode(self.transport.request_json("POST", "/runs", json=body, actor=actor))

    def get_run(self, run_id: str) -> Run:
        return RUN.decode(self.transport.request_json("GET", f"/runs/{segment(run_id)}"))

    def resolve_run_id(self, ref: str) -> str:
        """The full id of the run ``ref`` names: one ``GET /runs/{ref}`` (the server resolves prefixes)."""
        return self.get_run(check_run_ref(ref)).id

    def set_run_status(self, run_id: str, status: RunStatus, *, end_time: int | None = None, actor: str) -> None:
        status = checks.run_status(status)
        body = {"status": status.value, "end_time": end_time}
        self.transport.request("PATCH", f"/runs/{segment(run_id)}", json=body, actor=actor)

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[MetricPoint] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        actor: str,
    ) -> None:
        """Write in one request, or in several under the server's body limit (params and tags go first)."""
        params = checks.string_dict(params, "param")
        tags = checks.string_dict(tags, "tag")
        points = _metric_points(metrics)
        path = f"/runs/{segment(run_id)}/batch"
        if not (points or params or tags):  # nothing to write; the server still checks the run exists
            self.transport.request("POST", path, json={"metrics": [], "params": {}, "tags": {}}, actor=actor)
            return
        budget = self.transport.max_body_bytes()
        whole = orjson.dumps({"metrics": points, "params": params, "tags": tags})
        per_request = len(points) if len(whole) <= budget else max(1, int(len(points) * budget / len(whole)))
        content: bytes | None = whole
        written = 0
        while True:
            chunk = points[written : written + per_request]
            if content is None:
                first = written == 0
                body = {"metrics": chunk, "params": params if first else {}, "tags": tags if first else {}}
                content = orjson.dumps(body)
            if len(content) > budget and len(chunk) > 1:
                per_request, content = max(1, len(chunk) // 2), None
                continue
            if not self._post_batch(path, content, actor, run_id, written, len(points), len(chunk)):
                budget = self.transport.max_body_bytes()
                per_request, content = max(1, len(chunk) // 2), None
                continue
            written += len(chunk)
            content = None
            if written >= len(points):
                return

    def heartbeat(self, run_ids: Sequence[str], *, actor: str) -> None:
        """Tell the server the process tracking ``run_ids`` is alive."""
        ids = checks.run_ids(run_ids)
        if ids:
            self.transport.request("POST", "/runs/heartbeat", json={"run_ids": ids}, actor=actor)

    def _post_batch(
        self, path: str, content: bytes, actor: str, run_id: str, written: int, total: int, count: int
    ) -> bool:
        """POST one batch request of ``count`` points; ``False`` on a 413 a smaller one may avoid (limit lowered)."""
        try:
            response = self.transport.send(
                "POST", path, content=content, headers={"Content-Type": "application/json"}, actor=actor
            )
        except StoreError as exc:
            raise _partial(exc, run_id, written, total) from exc
        status = response.status_code
        if status < 400:
            return True
        if status == 413 and count > 1:
            self.transport.lower_body_limit(len(content))
            return False
        error = self.transport.error_from(response)
        if (status == 429 or status >= 500) and not isinstance(error, StoreError):
            error = StoreError(f"loopml server at {self.base_url} answered HTTP {status}: {error.message}")
        if isinstance(error, StoreError):
            raise _partial(error, run_id, written, total) from error
        raise error

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        check_key(key, field="metric")
        data = self.transport.request_json("GET", f"/runs/{segment(run_id)}/metrics/history", params={"key": key})
        return METRIC.decode_many(data["metrics"])

    def get_runs(self, run_ids: Sequence[str]) -> list[Run]:
        body = {"run_ids": list(run_ids)}
        return RUN.decode_many(self.transport.request_json("POST", "/runs/get", json=body)["runs"])

    def get_metric_histories(
        self, run_ids: Sequence[str], keys: Sequence[str], *, max_points: int | None = None
    ) -> dict[str, dict[str, list[Metric]]]:
        """``POST /runs/metrics/history`` (downsampled, ``max_points`` defaults to the server's 1000),
        or one ``GET`` per run and key for the full histories."""
        ids = list(dict.fromkeys(run_ids))
        names = list(dict.fromkeys(check_key(k, field="metric") for k in keys))
        out: dict[str, dict[str, list[Metric]]] = {}
        if max_points is None:
            for run_id in ids:
                for key in names:
                    points = self.get_metric_history(run_id, key)
                    if points:
                        out.setdefault(run_id, {})[key] = points
            return out
        check_max_points(max_points)
        body = {"run_ids": ids, "keys": names, "max_points": max_points}
        for s in self.transport.request_json("POST", "/runs/metrics/history", json=body)["series"]:
            out.setdefault(s["run_id"], {})[s["key"]] = [
                Metric(s["key"], decode_float(v), step, ts)
                for step, ts, v in zip(s["steps"], s["timestamps"], s["values"], strict=True)
            ]
        return out

    def experiment_keys(self, experiment: str) -> dict[str, list[str]]:
        data = self.transport.request_json("GET", f"/experiments/{segment(experiment)}/keys")
        return {kind: list(data[kind]) for kind in ("params", "metrics", "tags")}

    def count_runs(self) -> dict[str, int]:
        return dict(self.transport.request_json("GET", "/runs/counts")["counts"])

    def search_runs(
        self,
        experiment_ids: Sequence[str] | None = None,
        *,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        offset: int = 0,
    ) -> list[Run]:
        body = {
            "experiment_ids": None if experiment_ids is None else list(experiment_ids),
            "filter": filter,
            "order_by": None if order_by is None else list(order_by),
            "max_results": max_results,
            "offset": offset,
        }
        return RUN.decode_many(self.transport.request_json("POST", "/runs/search", json=body)["runs"])

    # -- artifacts and audit ----------------------------------------------------------------------

    def record_artifacts(self, run_id: str, artifacts: Sequence[ArtifactInfo], *, actor: str) -> None:
        """Record blobs the server already stores (``InvalidInput`` if one is missing there)."""
        if not artifacts:
            return
        body = {"artifacts": ARTIFACT.encode_many(artifacts)}
        self.transport.request("POST", f"/runs/{segment(run_id)}/artifacts", json=body, actor=actor)

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[ArtifactInfo]:
        params = {"prefix": prefix} if prefix else None
        data = self.transport.request_json("GET", f"/runs/{segment(run_id)}/artifacts", params=params)
        return ARTIFACT.decode_many(data["artifacts"])

    def list_audit_events(
        self,
        *,
        object_type: str | None = None,
        object_id: str | None = None,
        object_uri: str | None = None,
        actor: str | None = None,
        actions: Sequence[str] | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[AuditEvent]:
        """Newest audit events first, matching every filter given (``GET /audit``)."""
        params: dict[str, Any] = {"limit": limit}
        if object_type:
            params["object_type"] = object_type
        if object_id:
            params["object_id"] = object_id
        if object_uri is not None:
            check_audit_object(object_uri)
            params["object"] = object_uri
        if actor:
            params["actor"] = actor
        if actions:
            params["action"] = check_actions(actions)
        if since_ms is not None:
            params["since_ms"] = since_ms
        if until_ms is not None:
            params["until_ms"] = until_ms
        if before_id is not None:
            params["before_id"] = before_id
        return AUDIT_EVENT.decode_many(self.transport.request_json("GET", "/audit", params=params)["events"])


# -- encoding ---------------------------------------------------------------------------------------


def _metric_points(points: Sequence[MetricPoint]) -> list[dict[str, Any]]:
    """Metric points as JSON objects. The buffer's points are already checked; others are checked here."""
    out: list[dict[str, Any]] = []
    append = out.append
    for key, number, step, timestamp in points:
        if number.__class__ is not float:
            number = check_metric_value(key, number)
        value: float | str = number if number - number == 0 else encode_float(number)
        if step.__class__ is not int or not INT64_MIN <= step <= INT64_MAX:
            step = check_step(key, step)
        if timestamp.__class__ is not int or not 0 <= timestamp <= INT64_MAX:
            timestamp = check_timestamp(key, timestamp)
        append({"key": key, "value": value, "step": step, "timestamp": timestamp})
    return out


def _partial(error: StoreError, run_id: str, written: int, total: int) -> StoreError:
    """``error`` as it stands after ``written`` of ``total`` points went through (a plain error if none did)."""
    if not written:
        return error
    return PartialWrite(
        f"Metric batch of run {run_id} failed after {written} of {total} points were stored: {error.message}",
        written=written,
    )
