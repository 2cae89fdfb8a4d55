"""Cache validity through a live server: reads, miss reasons and triggers survive the HTTP pipeline store.

The embedded tests of ``tests/pipelines/test_cache_validity.py`` and ``test_dataset_trigger.py``
run here with the SDK pointed at a fresh server per test; the rest checks the wire format.
"""

from __future__ import annotations

import httpx
import pytest
from tests.pipelines.test_cache_validity import (  # noqa: F401  (collected here against a server)
    customers_flow,
    ingest,
    test_a_file_parameter_misses_when_its_content_changes_and_hits_when_only_touched,
    test_a_moved_model_alias_misses_the_cache,
    test_a_pin_resolves_latest_to_the_pinned_version_and_is_recorded_as_the_trigger,
    test_the_cache_key_hook_joins_the_key,
)
from tests.server.conftest import LiveServer

import loopml.pipelines as lp
from loopml.core.ids import new_id

pytestmark = pytest.mark.usefixtures("live")  # a live server with the SDK pointed at it


def test_a_new_dataset_version_misses_through_the_server(live: LiveServer) -> None:
    ingest("customers", [1, 2, 3])
    assert customers_flow.run().result == 6
    ingest("customers", [10, 20])
    stale = customers_flow.run()
    assert stale.result == 30
    step = lp.get_run(stale.id).step("latest_rows")
    assert step.miss_reason == "datasets:/customers@latest now resolves to version 2 (cached: 1)"
    assert step.reads == [{"kind": "dataset", "ref": "customers@latest", "resolved": "customers/2"}]
    body = httpx.get(f"{live.url}/api/v1/pipelines/runs/{stale.id}/steps").json()["steps"][0]
    assert body["reads"] == step.reads and body["miss_reason"] == step.miss_reason


def test_malformed_reads_are_a_422_naming_the_field(live: LiveServer) -> None:
    run_id = new_id()
    run = {"id": run_id, "pipeline": "p", "start_time": 1, "trigger": "datasets:/customers/5"}
    created = httpx.post(f"{live.url}/api/v1/pipelines/runs", json=run)
    assert created.status_code == 201 and created.json()["trigger"] == "datasets:/customers/5"
    step = {"id": new_id(), "pipeline_run_id": run_id, "name": "s", "position": 0, "status": "RUNNING"}
    bad = {**step, "reads": [{"kind": "socket", "ref": "x", "resolved": "y"}]}
    response = httpx.post(f"{live.url}/api/v1/pipelines/steps", json=bad)
    assert response.status_code == 422
    assert any("reads" in d["field"] and "kind" in d["field"] for d in response.json()["details"])
    missing = {**step, "reads": [{"kind": "file", "ref": "/x"}]}
    response = httpx.post(f"{live.url}/api/v1/pipelines/steps", json=missing)
    assert response.status_code == 422 and any("resolved" in d["field"] for d in response.json()["details"])
    good = {**step, "reads": [{"kind": "file", "ref": "/x", "resolved": "ab", "size": 2, "mtime_ns": 5}]}
    assert httpx.post(f"{live.url}/api/v1/pipelines/steps", json=good).status_code == 201
    patched = httpx.patch(f"{live.url}/api/v1/pipelines/steps/{step['id']}", json={"miss_reason": "why"})
    assert patched.status_code == 200 and patched.json()["miss_reason"] == "why"
    assert patched.json()["reads"] == good["reads"]
