"""The HTTP client store: :class:`~loopml.store.TrackingStore` over a ``loopml server``'s REST API.

>>> store = HttpTrackingStore("http://127.0.0.1:5050", actor="ann")   # doctest: +SKIP
>>> store.get_or_create_experiment("churn", actor="ann").name          # doctest: +SKIP
'churn'

One pooled keep-alive ``httpx.Client`` per store, shared by all threads. Bodies are encoded
with orjson; JSON has no NaN or infinity, so non-finite metric values travel as the strings
``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` (:func:`encode_float` / :func:`decode_float`).
Error responses become the loopml exception named by the body's ``type`` with the server's
message; an unreachable server is a :class:`~loopml.StoreError` naming the URL.

``log_batch`` keeps each request under the server's JSON body limit, read once per store from
``GET /server-info`` (:data:`FALLBACK_MAX_BODY_BYTES` if the server does not say): a larger batch
goes as several requests (params and tags with the first), and a 413 halves the request and
lowers the limit. If a later request fails, :class:`~loopml.core.errors.PartialWrite` says how
many points were stored, so a retry resends only the rest.
"""

from __future__ import annotations

import math
import os
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from loopml.core.errors import (
    ERROR_TYPES,
    Conflict,
    Forbidden,
    InvalidInput,
    LoopmlError,
    NotFound,
    PartialWrite,
    StoreError,
    Unauthorized,
)
from loopml.core.ids import check_run_ref
from loopml.core.records import ArtifactInfo, AuditEvent, Experiment, Metric, Run, RunStatus
from loopml.core.validation import (
    INT64_MAX,
    INT64_MIN,
    check_key,
    check_metric_value,
    check_step,
    check_timestamp,
    stringify,
)
from loopml.core.version import __version__
from loopml.store.base import MetricPoint

API_PREFIX = "/api/v1"
ACTOR_HEADER = "X-Loopml-Actor"
SHA256_HEADER = "X-Loopml-Sha256"

NONFINITE: dict[str, float] = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
"""The wire spelling of the floats JSON cannot express."""

FALLBACK_MAX_BODY_BYTES = 4 << 20
"""Body limit assumed when the server does not advertise one (servers default to 16 MiB)."""
BODY_HEADROOM = 0.9
"""Share of the server's limit a batch request may use."""
MIN_BODY_BYTES = 4096

_GET_RETRY_DELAYS = (0.1, 0.3, 1.0)
_GET_RETRYABLE = (httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadError, httpx.RemoteProtocolError)
_STATUS_ERRORS: dict[int, type[LoopmlError]] = {
    400: InvalidInput,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: InvalidInput,
    409: Conflict,
    413: InvalidInput,
    422: InvalidInput,
}


def encode_float(value: float) -> float | str:
    """A float as JSON can carry it: finite numbers as is, others as ``"NaN"``/``"Infinity"``/``"-Infinity"``."""
    if value - value == 0:
        return value
    if value != value:
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def decode_float(value: float | int | str | None) -> float:
    """The inverse of :func:`encode_float` (``None`` reads as NaN)."""
    if value.__class__ is float:
        return value  # type: ignore[return-value]
    if isinstance(value, str):
        try:
            return NONFINITE[value]
        except KeyError:
            expected = "a number, 'NaN', 'Infinity' or '-Infinity'"
            raise InvalidInput(f"Invalid float {value!r}: expected {expected}.") from None
    return math.nan if value is None else float(value)


class HttpTrackingStore:
    """Tracking records kept by a ``loopml server``, reached at ``base_url`` (``http(s)://host:port``)."""

    def __init__(self, base_url: str, *, token: str | None = None, actor: str, timeout: float = 30.0) -> None:
        url = base_url.rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise InvalidInput(f"Invalid server URL {base_url!r}: expected http://host:port or https://host:port.")
        self.base_url = url
        self.actor = actor
        self.timeout = timeout
        self._token = token
        self._headers = {
            "Accept": "application/json",
            "User-Agent": f"loopml/{__version__}",
            ACTOR_HEADER: quote(actor, safe=""),  # the default actor; writes name theirs
        }
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._max_body: int | None = None  # the server's JSON body limit, read on first use
        self._client = self._new_client()
        _LIVE_STORES.add(self)

    def _new_client(self) -> httpx.Client:
        """A pooled keep-alive client rooted at ``/api/v1``."""
        return httpx.Client(
            base_url=self.base_url + API_PREFIX,
            headers=self._headers,
            timeout=self.timeout,
            # Drop idle connections before the server's keep-alive timeout (15 s) closes them.
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32, keepalive_expiry=10.0),
        )

    def close(self) -> None:
        """Close the pooled connections."""
        self._client.close()

    def __repr__(self) -> str:
        return f"HttpTrackingStore({self.base_url!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle the settings, not the sockets: a copy (in a Ray worker, say) opens a pool of its own."""
        return (_reopen, (self.base_url, self._token, self.actor, self.timeout))

    # -- experiments ------------------------------------------------------------------------------

    def create_experiment(self, name: str, *, tags: dict[str, str] | None = None, actor: str) -> Experiment:
        body = {"name": name, "tags": _string_dict(tags, "tag")}
        return _experiment(self._json("POST", "/experiments", json=body, actor=actor))

    def get_experiment(self, id_or_name: str) -> Experiment:
        return _experiment(self._json("GET", f"/experiments/{_segment(id_or_name)}"))

    def get_or_create_experiment(self, name: str, *, actor: str) -> Experiment:
        """The experiment called ``name``, created if needed (safe under concurrency)."""
        return _experiment(self._json("POST", "/experiments/get-or-create", json={"name": name}, actor=actor))

    def list_experiments(self) -> list[Experiment]:
        return [_experiment(e) for e in self._json("GET", "/experiments")["experiments"]]

    # -- runs -------------------------------------------------------------------------------------

    def create_run(
        self,
        experiment_id: str,
        *,
        name: str | None = None,
        parent_run_id: str | None = None,
        tags: dict[str, str] | None = None,
        start_time: int | None = None,
        actor: str,
    ) -> Run:
        body = {
            "experiment_id": experiment_id,
            "name": name,
            "parent_run_id": parent_run_id,
            "tags": _string_dict(tags, "tag"),
            "start_time": start_time,
        }
        return _run(self._json("POST", "/runs", json=body, actor=actor))

    def get_run(self, run_id: str) -> Run:
        return _run(self._json("GET", f"/runs/{_segment(run_id)}"))

    def resolve_run_id(self, ref: str) -> str:
        """The full id of the run ``ref`` names: one ``GET /runs/{ref}`` (the server resolves prefixes)."""
        return self.get_run(check_run_ref(ref)).id

    def set_run_status(self, run_id: str, status: RunStatus, *, end_time: int | None = None, actor: str) -> None:
        try:
            status = RunStatus(status)
        except ValueError:
            valid = ", ".join(s.value for s in RunStatus)
            raise InvalidInput(f"Invalid run status {status!r}; valid statuses are {valid}.") from None
        body = {"status": status.value, "end_time": end_time}
        self.request("PATCH", f"/runs/{_segment(run_id)}", json=body, actor=actor)

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[MetricPoint] = (),
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
        actor: str,
    ) -> None:
        """Write in one request, or in several under the server's body limit (params and tags go first)."""
        params = _string_dict(params, "param")
        tags = _string_dict(tags, "tag")
        points = _metric_points(metrics)
        path = f"/runs/{_segment(run_id)}/batch"
        if not (points or params or tags):  # nothing to write; the server still checks the run exists
            self.request("POST", path, json={"metrics": [], "params": {}, "tags": {}}, actor=actor)
            return
        budget = self.max_body_bytes()
        content: bytes | None = orjson.dumps({"metrics": points, "params": params, "tags": tags})
        per_request = len(points) if len(content) <= budget else max(1, int(len(points) * budget / len(content)))
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
                budget = self.max_body_bytes()
                per_request, content = max(1, len(chunk) // 2), None
                continue
            written += len(chunk)
            content = None
            if written >= len(points):
                return

    def heartbeat(self, run_ids: Sequence[str], *, actor: str) -> None:
        """Tell the server the process tracking ``run_ids`` is alive."""
        if isinstance(run_ids, str) or not all(isinstance(i, str) and i for i in run_ids):
            raise InvalidInput(f"run_ids must be a list of run id strings, got {run_ids!r}.")
        if run_ids:
            self.request("POST", "/runs/heartbeat", json={"run_ids": list(run_ids)}, actor=actor)

    def max_body_bytes(self) -> int:
        """The request body size batches stay under: a share of the limit the server advertises."""
        limit = self._max_body
        if limit is None:
            try:
                limit = int(self._json("GET", "/server-info")["max_json_bytes"])
            except StoreError:
                return int(FALLBACK_MAX_BODY_BYTES * BODY_HEADROOM)  # unreachable now: ask again next time
            except (LoopmlError, KeyError, TypeError, ValueError, orjson.JSONDecodeError):
                limit = FALLBACK_MAX_BODY_BYTES  # an older server: assume less than the usual default
            self._max_body = limit
        return max(MIN_BODY_BYTES, int(limit * BODY_HEADROOM))

    def _post_batch(
        self, path: str, content: bytes, actor: str, run_id: str, written: int, total: int, count: int
    ) -> bool:
        """POST one batch request of ``count`` points; ``False`` on a 413 a smaller one may avoid (limit lowered)."""
        try:
            response = self._send(
                "POST", path, content=content, headers={"Content-Type": "application/json"}, actor=actor
            )
        except StoreError as exc:
            raise _partial(exc, run_id, written, total) from exc
        status = response.status_code
        if status < 400:
            return True
        if status == 413 and count > 1:
            self._max_body = max(MIN_BODY_BYTES, len(content) // 2)
            return False
        error = self.error_from(response)
        if (status == 429 or status >= 500) and not isinstance(error, StoreError):
            error = StoreError(f"loopml server at {self.base_url} answered HTTP {status}: {error.message}")
        if isinstance(error, StoreError):
            raise _partial(error, run_id, written, total) from error
        raise error

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        check_key(key, field="metric")
        data = self._json("GET", f"/runs/{_segment(run_id)}/metrics/history", params={"key": key})
        return [Metric(m["key"], decode_float(m["value"]), m["step"], m["timestamp"]) for m in data["metrics"]]

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
        return [_run(r) for r in self._json("POST", "/runs/search", json=body)["runs"]]

    # -- artifacts and audit ----------------------------------------------------------------------

    def record_artifacts(self, run_id: str, artifacts: Sequence[ArtifactInfo], *, actor: str) -> None:
        """Record blobs the server already stores (``InvalidInput`` if one is missing there)."""
        if not artifacts:
            return
        body = {"artifacts": [{"path": a.path, "sha256": a.sha256, "size": a.size} for a in artifacts]}
        self.request("POST", f"/runs/{_segment(run_id)}/artifacts", json=body, actor=actor)

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[ArtifactInfo]:
        params = {"prefix": prefix} if prefix else None
        data = self._json("GET", f"/runs/{_segment(run_id)}/artifacts", params=params)
        return [ArtifactInfo(a["path"], a["sha256"], a["size"]) for a in data["artifacts"]]

    def list_audit_events(
        self, *, object_type: str | None = None, object_id: str | None = None, limit: int = 100
    ) -> list[AuditEvent]:
        params: dict[str, Any] = {"limit": limit}
        if object_type:
            params["object_type"] = object_type
        if object_id:
            params["object_id"] = object_id
        return [
            AuditEvent(e["id"], e["time"], e["actor"], e["action"], e["object_type"], e["object_id"], e["details"])
            for e in self._json("GET", "/audit", params=params)["events"]
        ]

    # -- transport --------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        actor: str | None = None,
    ) -> httpx.Response:
        """Send one request under ``/api/v1``; error statuses raise the matching loopml exception.

        GETs are retried a few times on connection errors; other methods only when the
        connection could not be opened at all (so the request was never sent).
        """
        if json is not None:
            content = orjson.dumps(json)
            headers = {**(headers or {}), "Content-Type": "application/json"}
        response = self._send(method, path, params=params, content=content, headers=headers, actor=actor)
        if response.status_code >= 400:
            raise self.error_from(response)
        return response

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        actor: str | None = None,
    ) -> httpx.Response:
        """Send one request and return the response whatever its status (transport errors raise)."""
        request_headers = dict(headers) if headers else {}
        if actor is not None:
            request_headers[ACTOR_HEADER] = quote(actor, safe="")
        retryable = _GET_RETRYABLE if method == "GET" else (httpx.ConnectError, httpx.ConnectTimeout)
        for attempt in range(len(_GET_RETRY_DELAYS) + 1):
            try:
                response = self._client.request(method, path, content=content, params=params, headers=request_headers)
                break
            except retryable as exc:
                if attempt == len(_GET_RETRY_DELAYS):
                    raise self._transport_error(exc) from exc
                time.sleep(_GET_RETRY_DELAYS[attempt])
            except httpx.HTTPError as exc:
                raise self._transport_error(exc) from exc
        return response

    @contextmanager
    def stream(
        self, method: str, path: str, *, content: Any = None, headers: Mapping[str, str] | None = None
    ) -> Iterator[httpx.Response]:
        """Like :meth:`request` but leaves the body unread (uploads and downloads of artifacts)."""
        try:
            with self._client.stream(method, path, content=content, headers=headers) as response:
                if response.status_code >= 400:
                    response.read()
                    raise self.error_from(response)
                yield response
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from exc

    def error_from(self, response: httpx.Response) -> LoopmlError:
        """The loopml exception an error response stands for."""
        status = response.status_code
        try:
            body = orjson.loads(response.content)
            message = str(body["error"])
            kind = body.get("type")
            details = body.get("details") or []
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            text = response.text[:300].strip()
            return (_STATUS_ERRORS.get(status) or StoreError)(
                f"loopml server at {self.base_url} answered HTTP {status} to "
                f"{response.request.method} {response.request.url.path}: {text or response.reason_phrase}"
            )
        cls = ERROR_TYPES.get(kind) if isinstance(kind, str) else None
        if cls is None or cls is LoopmlError:
            cls = _STATUS_ERRORS.get(status, StoreError if status >= 500 else LoopmlError)
        return cls(message, details=details if isinstance(details, list) else [])

    def _transport_error(self, exc: httpx.HTTPError) -> StoreError:
        if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
            return StoreError(
                f"loopml server at {self.base_url} did not answer within {self.timeout:g} s ({type(exc).__name__})."
            )
        return StoreError(f"Cannot reach loopml server at {self.base_url}: is `loopml server` running? ({exc})")

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return orjson.loads(self.request(method, path, **kwargs).content)


_LIVE_STORES: weakref.WeakSet[HttpTrackingStore] = weakref.WeakSet()


def _reopen(base_url: str, token: str | None, actor: str, timeout: float) -> HttpTrackingStore:
    """An unpickled :class:`HttpTrackingStore`."""
    return HttpTrackingStore(base_url, token=token, actor=actor, timeout=timeout)


def _after_fork_in_child() -> None:
    """A forked child must not share the parent's pooled sockets: give each store a fresh pool."""
    for store in list(_LIVE_STORES):
        store._client = store._new_client()


os.register_at_fork(after_in_child=_after_fork_in_child)


# -- encoding ---------------------------------------------------------------------------------------


def _segment(value: str) -> str:
    """One URL path segment (ids and names travel percent-encoded)."""
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"Expected a non-empty string id or name, got {value!r}.")
    return quote(value, safe="")


def _string_dict(values: Mapping[str, Any] | None, field: str) -> dict[str, str]:
    """Params/tags as the SQL store stores them: validated keys, values converted to strings."""
    if not values:
        return {}
    if not isinstance(values, Mapping):
        raise InvalidInput(f"{field}s must be a mapping of key to value, got {type(values).__name__}.")
    return {check_key(k, field=field): stringify(v, field=field, key=k) for k, v in values.items()}


def _metric_points(points: Sequence[MetricPoint]) -> list[dict[str, Any]]:
    """Metric points as JSON objects. The buffer's points are already checked; others are checked here."""
    out = []
    append = out.append
    for key, value, step, timestamp in points:
        if value.__class__ is not float:
            value = check_metric_value(key, value)
        if value - value != 0:
            value = encode_float(value)
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


def _experiment(data: dict[str, Any]) -> Experiment:
    return Experiment(data["id"], data["name"], data["created_at"], data["tags"])


def _run(data: dict[str, Any]) -> Run:
    return Run(
        data["id"],
        data["experiment_id"],
        data["name"],
        RunStatus(data["status"]),
        data["start_time"],
        data["end_time"],
        data["parent_run_id"],
        data["user"],
        data["params"],
        {k: decode_float(v) for k, v in data["metrics"].items()},
        data["tags"],
        data.get("heartbeat_at"),
    )
