"""``/api/v1/features/materializations`` over a live server: 4xx naming the field; readers read, writers write."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.server.conftest import LiveServer, settings_for, thread_server

from loopml.core.ids import new_id
from loopml.core.records import Role


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with thread_server(settings_for(tmp_path_factory.mktemp("materialization-server"))) as server:
        yield server


@pytest.fixture
def http(live: LiveServer) -> Iterator[httpx.Client]:
    with live.client() as client:
        yield client


def _body(**values: Any) -> dict[str, Any]:
    body = {
        "id": new_id(),
        "view": "driver_stats",
        "view_version": 1,
        "online_store": "sqlite:///online.db",
        "start_ms": 1_000,
        "end_ms": 5_000,
        "started_at": 10_000,
    }
    return {**body, **values}


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "type", "details"}
    return body


def _fields(response: httpx.Response, status: int = 422) -> list[str]:
    return [d["field"] for d in _error(response, status)["details"]]


def test_start_finish_list_and_get(http: httpx.Client) -> None:
    body = _body(view="routes_view")
    started = http.post("/features/materializations", json=body)
    assert started.status_code == 201 and started.json()["status"] == "running"
    path = f"/features/materializations/{body['id']}/finish"
    done = http.post(path, json={"status": "succeeded", "rows_read": 4, "profile": {"n_rows": 4}, "ended_at": 11_000})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "succeeded" and done.json()["profile"] == {"n_rows": 4}
    assert http.get(f"/features/materializations/{body['id']}").json() == done.json()
    listed = http.get("/features/materializations", params={"view": "routes_view", "status": "succeeded"}).json()
    assert [m["id"] for m in listed["materializations"]] == [body["id"]]
    assert _error(http.post(path, json={"status": "failed"}), 409)["type"] == "Conflict"
    assert _error(http.post("/features/materializations", json=body), 409)["type"] == "Conflict"


def test_bad_bodies_and_parameters_are_422_naming_the_field(http: httpx.Client) -> None:
    assert _fields(http.post("/features/materializations", json=_body(start_ms=9_000))) == ["record.end_ms"]
    assert _fields(http.post("/features/materializations", json=_body(view="a-b"))) == ["body.view"]
    assert _fields(http.get("/features/materializations", params={"status": "done"})) == ["query.status"]
    assert _fields(http.get("/features/materializations", params={"view": "a b"})) == ["query.view"]
    assert _fields(http.get("/features/materializations", params={"limit": 0})) == ["query.limit"]
    assert _fields(http.get("/features/materializations/nope")) == ["path.materialization_id"]
    finish = http.post(f"/features/materializations/{new_id()}/finish", json={"status": "running"})
    assert _fields(finish) == ["body.status"]
    unknown = http.post(f"/features/materializations/{new_id()}/finish", json={"status": "failed"})
    assert _error(unknown, 404)["type"] == "NotFound"
    assert _error(http.get(f"/features/materializations/{'0' * 32}"), 404)["type"] == "NotFound"


@pytest.fixture(scope="module")
def auth_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with thread_server(settings_for(tmp_path_factory.mktemp("materialization-auth")), auth=True) as server:
        yield server


def test_readers_read_writers_write(auth_live: LiveServer) -> None:
    reader, writer = auth_live.create_token("mat-reader", Role.READER), auth_live.create_token("mat-w", Role.WRITER)
    body = _body()
    with auth_live.client() as anonymous:
        assert anonymous.get("/features/materializations").status_code == 401
    with auth_live.client(reader) as client:
        assert client.post("/features/materializations", json=body).status_code == 403
        assert client.get("/features/materializations").json() == {"materializations": []}
    with auth_live.client(writer) as client:
        stored = client.post("/features/materializations", json=body).json()
        assert stored["created_by"] == "mat-w"  # with auth, the token names the actor
        finish = client.post(f"/features/materializations/{body['id']}/finish", json={"status": "failed"})
        assert finish.status_code == 200 and finish.json()["ended_at"] is not None
    with auth_live.client(reader) as client:
        assert (
            client.post(f"/features/materializations/{body['id']}/finish", json={"status": "failed"}).status_code == 403
        )
        assert [m["status"] for m in client.get("/features/materializations").json()["materializations"]] == ["failed"]
