"""``/api/v1/policies`` and ``/api/v1/cycles`` over a live server: what the policy store holds, read back;
4xx naming the field; readers may read, anonymous callers of an ``--auth`` server may not."""

from __future__ import annotations

import typing
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.server.conftest import LiveServer, settings_for, thread_server

from loopml.core.ids import new_id
from loopml.core.records import CYCLE_STATUSES, CycleRecord, Role
from loopml.server.routes.policies import CycleStatus
from loopml.store.sql import Database
from loopml.store.sql.policies import SqlPolicyStore

SPEC = {"pipeline": "flows:retrain", "triggers": [{"kind": "drift", "share": 0.3, "window": "1h"}]}


def _seed(tracking_uri: str) -> dict[str, Any]:
    """Policies ``churn`` (two finished cycles, one running) and ``churn-weak`` (paused), ``cancer`` (none)."""
    db = Database(tracking_uri)
    try:
        store = SqlPolicyStore(db)
        store.apply_policy("churn", "churn", {**SPEC, "model": "churn"}, actor="ann")
        store.apply_policy("churn-weak", "churn", {**SPEC, "params": {"weak": True}}, actor="ann")
        store.set_enabled("churn-weak", False, actor="ann")
        store.apply_policy("cancer", "cancer", SPEC, actor="bob")
        ids = []
        for started, status in ((1_000, "failed"), (2_000, "refused"), (3_000, None)):
            cycle = CycleRecord(
                id=new_id(),
                policy="churn",
                model="churn",
                status="running",
                reason="triggers",
                triggers=[{"kind": "drift", "reason": "drift share 0.5 >= 0.3"}],
                started_at=started,
            )
            assert store.start_cycle(cycle, actor="automation", stale_after_ms=10**12) is not None
            if status is not None:
                store.finish_cycle(
                    cycle.id,
                    status=status,
                    actor="automation",
                    error="broken" if status == "failed" else None,
                    ended_at=started + 500,
                )
            ids.append(cycle.id)
        return {"failed": ids[0], "refused": ids[1], "running": ids[2]}
    finally:
        db.dispose()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, Any]]]:
    with thread_server(settings_for(tmp_path_factory.mktemp("policy-server"))) as server:
        yield server, _seed(server.tracking_uri)


@pytest.fixture
def http(live: tuple[LiveServer, dict[str, Any]]) -> Iterator[httpx.Client]:
    with live[0].client() as client:
        yield client


def _error(response: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    if field is not None:
        assert [d["field"] for d in body["details"]] == [field], body
    return body


def test_the_cycle_statuses_of_the_api_are_the_stores() -> None:
    assert typing.get_args(CycleStatus) == CYCLE_STATUSES


def test_list_policies_by_name_and_filter_them(http: httpx.Client) -> None:
    every = http.get("/policies").json()["policies"]
    assert [(p["name"], p["model"], p["enabled"]) for p in every] == [
        ("cancer", "cancer", True),
        ("churn", "churn", True),
        ("churn-weak", "churn", False),
    ]
    assert every[1]["spec"]["triggers"][0]["kind"] == "drift" and every[1]["created_by"] == "ann"
    assert [p["name"] for p in http.get("/policies", params={"model": "churn"}).json()["policies"]] == [
        "churn",
        "churn-weak",
    ]
    assert [p["name"] for p in http.get("/policies", params={"enabled": "false"}).json()["policies"]] == ["churn-weak"]
    assert http.get("/policies", params={"model": "nobody"}).json() == {"policies": []}


def test_a_policy_with_its_running_cycle(http: httpx.Client, live: tuple[LiveServer, dict[str, Any]]) -> None:
    body = http.get("/policies/churn").json()
    assert body["policy"]["name"] == "churn" and body["last_started"] == 3_000
    assert body["running"]["id"] == live[1]["running"] and body["running"]["status"] == "running"
    idle = http.get("/policies/cancer").json()
    assert idle["running"] is None and idle["last_started"] is None


def test_a_policys_cycles_newest_first_filtered_and_limited(
    http: httpx.Client, live: tuple[LiveServer, dict[str, Any]]
) -> None:
    ids = live[1]
    cycles = http.get("/policies/churn/cycles").json()["cycles"]
    assert [c["id"] for c in cycles] == [ids["running"], ids["refused"], ids["failed"]]
    assert cycles[2]["status"] == "failed" and cycles[2]["error"] == "broken" and cycles[2]["ended_at"] == 1_500
    assert cycles[0]["triggers"] == [{"kind": "drift", "reason": "drift share 0.5 >= 0.3"}]
    assert [c["id"] for c in http.get("/policies/churn/cycles", params={"limit": 1}).json()["cycles"]] == [
        ids["running"]
    ]
    refused = http.get("/policies/churn/cycles", params={"status": "refused"}).json()["cycles"]
    assert [c["id"] for c in refused] == [ids["refused"]]
    assert http.get("/policies/cancer/cycles").json() == {"cycles": []}
    by_model = http.get("/cycles", params={"model": "churn", "status": "failed"}).json()["cycles"]
    assert [c["id"] for c in by_model] == [ids["failed"]]
    assert len(http.get("/cycles").json()["cycles"]) == 3


def test_a_cycle_by_id_or_prefix(http: httpx.Client, live: tuple[LiveServer, dict[str, Any]]) -> None:
    cycle_id = live[1]["refused"]
    assert http.get(f"/cycles/{cycle_id}").json()["status"] == "refused"
    assert http.get(f"/cycles/{cycle_id[:8]}").json()["id"] == cycle_id


@pytest.mark.parametrize(
    ("path", "params", "status", "field"),
    [
        ("/policies/nope", {}, 404, None),
        ("/policies/nope/cycles", {}, 404, None),
        ("/policies/-bad", {}, 422, "path.name"),
        ("/policies", {"model": "a b"}, 422, "query.model"),
        ("/policies", {"enabled": "maybe"}, 422, "query.enabled"),
        ("/policies/churn/cycles", {"status": "done"}, 422, "query.status"),
        ("/policies/churn/cycles", {"limit": 0}, 422, "query.limit"),
        ("/cycles", {"limit": 10_001}, 422, "query.limit"),
        ("/cycles/0123456789abcdef0123456789abcdef", {}, 404, None),
        ("/cycles/xyz", {}, 422, "path.cycle_id"),
        ("/cycles/abc", {}, 422, "path.cycle_id"),
    ],
)
def test_bad_and_unknown_input_is_a_4xx_naming_the_field(
    http: httpx.Client, path: str, params: dict[str, Any], status: int, field: str | None
) -> None:
    body = _error(http.get(path, params=params), status, field)
    if status == 404:
        assert "does not exist" in body["error"] or "No " in body["error"], body


def test_a_reader_reads_and_an_anonymous_caller_cannot(tmp_path_factory: pytest.TempPathFactory) -> None:
    with thread_server(settings_for(tmp_path_factory.mktemp("policy-auth")), auth=True) as server:
        ids = _seed(server.tracking_uri)
        reader = server.create_token("rita", Role.READER)
        with server.client(reader) as client:
            assert [p["name"] for p in client.get("/policies").json()["policies"]][:1] == ["cancer"]
            assert client.get(f"/cycles/{ids['failed']}").json()["status"] == "failed"
        with server.client() as anonymous:
            assert anonymous.get("/policies").status_code == 401
            assert anonymous.get(f"/cycles/{ids['failed']}").status_code == 401
