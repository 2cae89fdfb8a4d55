"""Pipeline runs and step runs kept by a ``loopml server``, over its REST API (``/api/v1/pipelines``).

>>> store = HttpTrackingStore("http://127.0.0.1:5050", actor="ann")   # doctest: +SKIP
>>> HttpPipelineStore(store).list_runs(limit=1)[0]["status"]            # doctest: +SKIP
'SUCCEEDED'

:class:`HttpPipelineStore` has the methods and return shapes (plain dicts, JSON columns decoded)
of :class:`~loopml.store.sql.pipelines.SqlPipelineStore`, which the server runs, so the pipeline
runner and ``loopml.pipelines.get_run`` / ``list_runs`` work unchanged against a server. It wraps an
:class:`~loopml.store.http.HttpTrackingStore` and shares its connection pool, token, retries and
error mapping. Parameters and results are JSON-encoded as the SQL store does (values JSON lacks
become strings); ``created_by`` is the caller, as the server sees it.
"""

from __future__ import annotations

import json
import re
from enum import Enum
from typing import Any

import orjson

from loopml.core.errors import InvalidInput, NotFound
from loopml.core.hashing import is_sha256
from loopml.store.http.transport import HttpTransport as HttpTrackingStore
from loopml.store.http.transport import segment as _segment

_RUN_REF = re.compile(r"[0-9a-f]{4,32}")
_LOCAL_ONLY = ("created_by",)  # the server records the caller instead


class HttpPipelineStore:
    """The pipeline store of :mod:`loopml.pipelines` over ``/api/v1/pipelines``."""

    def __init__(self, store: HttpTrackingStore) -> None:
        self.store = store

    def __repr__(self) -> str:
        return f"HttpPipelineStore({self.store.base_url!r})"

    # -- writes ---------------------------------------------------------------------------------

    def create_run(self, row: dict[str, Any], *, actor: str) -> None:
        """Record a pipeline run (``params`` as a dict)."""
        body = {k: v for k, v in row.items() if k not in _LOCAL_ONLY}
        body["params"] = _jsonable(row.get("params") or {})
        self._send("POST", "/pipelines/runs", body, actor)

    def finish_run(
        self, run_id: str, *, status: str, end_time: int, error: str | None, result: Any = None, actor: str
    ) -> None:
        """Move a pipeline run to its terminal ``status``; ``result`` is JSON-able (what the pipeline returned)."""
        body = {"status": _value(status), "end_time": end_time, "error": error, "result": _jsonable(result)}
        self._send("POST", f"/pipelines/runs/{_segment(run_id)}/finish", body, actor)

    def insert_step(self, row: dict[str, Any], *, actor: str) -> None:
        """Record a step run (``upstream``, ``inputs``, ``outputs`` as JSON-able values)."""
        self._send("POST", "/pipelines/steps", {k: _value(v) for k, v in row.items()}, actor)

    def update_step(self, step_run_id: str, changes: dict[str, Any], *, actor: str) -> None:
        """Change some fields of a step run (a terminal ``status`` is audited)."""
        path = f"/pipelines/steps/{_segment(step_run_id)}"
        self._send("PATCH", path, {k: _value(v) for k, v in changes.items()}, actor)

    # -- reads ----------------------------------------------------------------------------------

    def find_cached(self, cache_key: str) -> dict[str, Any] | None:
        """The newest succeeded step run with this cache key, if any."""
        if not isinstance(cache_key, str) or not is_sha256(cache_key):
            return None  # no step run can have it
        try:
            return dict(self.store._json("GET", f"/pipelines/cache/{cache_key}"))
        except NotFound:
            return None

    def get_run(self, run_id: str) -> dict[str, Any]:
        """A pipeline run by id or unique id prefix (at least 4 characters)."""
        if not isinstance(run_id, str) or not _RUN_REF.fullmatch(run_id):
            raise InvalidInput(
                f"Invalid pipeline run id {run_id!r}: use the id or a unique prefix of 4+ hex characters.",
                details=[{"field": "run_id", "problem": "not a run id or a prefix of 4+ hex characters"}],
            )
        return dict(self.store._json("GET", f"/pipelines/runs/{run_id}"))

    def list_runs(self, *, pipeline: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Newest pipeline runs first, with step counts (``steps``, ``cached``, ``failed``)."""
        params: dict[str, Any] = {"limit": limit}
        if pipeline is not None:
            params["pipeline"] = pipeline
        return list(self.store._json("GET", "/pipelines/runs", params=params)["runs"])

    def list_steps(self, pipeline_run_id: str) -> list[dict[str, Any]]:
        """The step runs of a pipeline run in topological order (``NotFound`` for an unknown run)."""
        return list(self.store._json("GET", f"/pipelines/runs/{_segment(pipeline_run_id)}/steps")["steps"])

    def _send(self, method: str, path: str, body: dict[str, Any], actor: str) -> None:
        headers = {"Content-Type": "application/json"}
        self.store.request(method, path, content=_dumps(body), headers=headers, actor=actor)


def _value(value: Any) -> Any:
    """Enum members (``Status.SUCCEEDED``) as their values."""
    return value.value if isinstance(value, Enum) else value


def _dumps(body: dict[str, Any]) -> bytes:
    """JSON for a request: parameters and results may hold integers orjson refuses (over 64 bits)."""
    try:
        return orjson.dumps(body)
    except TypeError:
        return json.dumps(body, default=str).encode()


def _jsonable(value: Any) -> Any:
    """``value`` as the SQL store would read it back: JSON, with what JSON lacks converted by ``str()``."""
    try:
        return json.loads(json.dumps(value, default=str))
    except ValueError as exc:  # a circular reference
        raise InvalidInput(f"Cannot store {type(value).__name__} value as JSON: {exc}.") from exc
