"""``/api/v1/decisions`` and the filters of ``/api/v1/audit`` over a live server: 4xx naming the field; roles hold."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.server.conftest import LiveServer, settings_for, thread_server
from tests.store.test_decision_store import GATE, _register_versions

from loopml.core.ids import new_id
from loopml.core.records import Role
from loopml.store.sql import Database
from loopml.store.sql.lineage import SqlLineageStore
from loopml.store.sql.models import SqlModelRegistry


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("decision-server")
    with thread_server(settings_for(home)) as server:
        db = Database(server.tracking_uri)
        try:
            _register_versions(db, "churn", 3)
            SqlModelRegistry(db).set_alias("churn", "production", 1, actor="ann")
        finally:
            db.dispose()
        yield server


@pytest.fixture
def http(live: LiveServer) -> Iterator[httpx.Client]:
    with live.client() as client:
        yield client


def _body(**values: Any) -> dict[str, Any]:
    body = {
        "id": new_id(),
        "model": "churn",
        "challenger_version": 2,
        "champion_version": 1,
        "passed": True,
        "metric": "roc_auc",
        "champion_score": 0.81,
        "challenger_score": 0.86,
        "p_value": 0.004,
        "reasons": ["roc_auc improved by 0.05 (p=0.004)"],
        "evidence": {"gate": GATE},
        "alias": "production",
        "alias_moved": False,  # a decision that moves the alias compares and sets it: test_post_list_and_get
        "created_at": 5_000,
    }
    return {**body, **values}


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "type", "details"}
    return body


def _fields(response: httpx.Response, status: int = 422) -> list[str]:
    return [d["field"] for d in _error(response, status)["details"]]


def test_post_list_and_get(http: httpx.Client, live: LiveServer) -> None:
    body = _body(champion_score="NaN", created_at=7_000, alias_moved=True)  # production: 1 -> 2
    created = http.post("/decisions", json=body, headers={"X-Loopml-Actor": "gate-bot"})
    assert created.status_code == 201, created.text
    sent = created.json()
    assert sent["created_by"] == "gate-bot" and sent["champion_score"] is None and sent["evidence"] == {"gate": GATE}
    refused = http.post("/decisions", json=_body(passed=False, alias_moved=False, created_at=6_000)).json()
    listed = http.get("/decisions", params={"model": "churn"}).json()["decisions"]
    assert [d["id"] for d in listed][:2] == [body["id"], refused["id"]]
    only_refused = http.get("/decisions", params={"model": "churn", "passed": "false"}).json()["decisions"]
    assert refused["id"] in [d["id"] for d in only_refused] and all(not d["passed"] for d in only_refused)
    assert http.get(f"/decisions/{body['id']}").json() == sent
    edges = SqlLineageStore(Database(live.tracking_uri)).edges("decision", body["id"])
    assert {e.relation for e in edges} == {"challenger", "champion", "promoted"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"passed": "yes"}, "body.passed"),
        ({"challenger_version": 0}, "body.challenger_version"),
        ({"model": "bad name"}, "body.model"),
        ({"id": "short"}, "body.id"),
        ({"reasons": "better"}, "body.reasons"),
        ({"surprise": 1}, "body.surprise"),
        ({"p_value": 2.0}, "record.p_value"),
        ({"dataset_version": "datasets:/x@latest"}, "record.dataset_version"),
        ({"passed": False, "alias_moved": True}, "record.alias_moved"),
    ],
)
def test_bad_decisions_are_422_naming_the_field(http: httpx.Client, changes: dict[str, Any], field: str) -> None:
    assert field in _fields(http.post("/decisions", json=_body(**changes)))


def test_missing_versions_are_404_naming_the_field_and_a_known_id_is_409(http: httpx.Client) -> None:
    assert _fields(http.post("/decisions", json=_body(challenger_version=42)), 404) == ["record.challenger_version"]
    assert _fields(http.post("/decisions", json=_body(model="ghost")), 404) == ["record.challenger_version"]
    body = _body()
    assert http.post("/decisions", json=body).status_code == 201
    assert _error(http.post("/decisions", json=body), 409)["type"] == "Conflict"


def test_bad_query_and_path_parameters(http: httpx.Client) -> None:
    assert _fields(http.get("/decisions")) == ["query.model"]
    assert _fields(http.get("/decisions", params={"model": "bad name"})) == ["query.model"]
    assert _fields(http.get("/decisions", params={"model": "churn", "limit": 0})) == ["query.limit"]
    assert _fields(http.get("/decisions", params={"model": "churn", "passed": "maybe"})) == ["query.passed"]
    assert _fields(http.get("/decisions/not-an-id")) == ["path.decision_id"]
    assert _error(http.get(f"/decisions/{'0' * 32}"), 404)["type"] == "NotFound"


def test_audit_filters_by_object_actor_action_and_time(http: httpx.Client) -> None:
    body = _body()
    http.post("/decisions", json=body, headers={"X-Loopml-Actor": "auditor"})
    events = http.get("/audit", params={"object": "models:/churn", "actor": "auditor"}).json()["events"]
    assert [e["action"] for e in events] == ["model.decision.record"]
    assert events[0]["details"]["decision"] == body["id"]
    created = http.get("/audit", params={"object": "models:/churn", "action": "model.version"}).json()["events"]
    assert [e["object_id"] for e in created] == ["churn/3", "churn/2", "churn/1"]
    query = [("object", "models:/churn"), ("action", "model.create"), ("action", "model.decision")]
    both = http.get("/audit", params=query)
    assert {e["action"] for e in both.json()["events"]} == {"model.create", "model.decision.record"}
    one = http.get("/audit", params={"object": "models:/churn/2"}).json()["events"]
    assert [(e["object_type"], e["object_id"]) for e in one] == [("model_version", "churn/2")]
    latest = events[0]["time"]
    assert http.get("/audit", params={"since_ms": latest + 60_000}).json()["events"] == []
    assert _fields(http.get("/audit", params={"object": "models:/"})) == ["query.object"]
    assert _fields(http.get("/audit", params={"action": "Model Alias"})) == ["query.action"]
    assert _fields(http.get("/audit", params={"since_ms": -1})) == ["query.since_ms"]


# -- roles ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def auth_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with thread_server(settings_for(tmp_path_factory.mktemp("decision-auth")), auth=True) as server:
        db = Database(server.tracking_uri)
        try:
            _register_versions(db, "churn", 2)
        finally:
            db.dispose()
        yield server


def test_readers_read_writers_write(auth_live: LiveServer) -> None:
    reader, writer = auth_live.create_token("dec-reader", Role.READER), auth_live.create_token("dec-w", Role.WRITER)
    with auth_live.client() as anonymous:
        _error(anonymous.get("/decisions", params={"model": "churn"}), 401)
    with auth_live.client(reader) as client:
        assert client.get("/decisions", params={"model": "churn"}).status_code == 200
        _error(client.post("/decisions", json=_body()), 403)
    with auth_live.client(writer) as client:
        stored = client.post("/decisions", json=_body(), headers={"X-Loopml-Actor": "spoofed"}).json()
        assert stored["created_by"] == "dec-w"  # with auth, the token names the actor
