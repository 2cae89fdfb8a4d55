"""``/api/v1/monitoring`` over a live server: bad input is a 4xx naming the field, never a 500; roles hold."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.monitoring.test_feedback import BASE, parquet_bytes, segment_table
from tests.server.conftest import LiveServer, settings_for, thread_server

from loopml.core.ids import new_id, request_id
from loopml.core.records import Role
from loopml.monitoring.layout import HOUR_MS, PredictionLayout, hour_key

HOUR = hour_key(BASE)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("monitoring-server")
    with thread_server(settings_for(home), max_artifact_bytes=64 * 1024) as server:
        yield server


@pytest.fixture
def http(live: LiveServer) -> Iterator[httpx.Client]:
    with live.client() as client:
        yield client


def _alert(**values: Any) -> dict[str, Any]:
    body = {
        "id": new_id(),
        "rule": "drift",
        "model": f"m{new_id()[:8]}",
        "kind": "drift_share",
        "value": 0.6,
        "threshold": 0.5,
        "message": "3 of 5 drifted",
        "window": "24h",
        "evidence": {"share": 0.6},
        "started_at": 1_000,
        "updated_at": 1_000,
    }
    return {**body, **values}


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "type", "details"}
    return body


def _fields(response: httpx.Response, status: int = 422) -> list[str]:
    return [d["field"] for d in _error(response, status)["details"]]


# -- feedback -------------------------------------------------------------------------------------


def test_feedback_posts_and_reads_back_as_columns(http: httpx.Client, live: LiveServer) -> None:
    ids = [request_id(BASE + i) for i in range(2)]
    upload = http.post(
        "/monitoring/models/churn/segments",
        params={"hour": HOUR},
        content=parquet_bytes(segment_table(ids, [BASE, BASE + 1])),
    )
    assert upload.status_code == 201, upload.text
    assert upload.json()["rows"] == 2 and upload.json()["name"].startswith(ids[0])
    assert len(PredictionLayout(settings_for(live.home).artifact_uri).segments("churn")) == 1
    stranger = request_id(BASE + 5)
    body = {
        "feedback": [
            {"request_id": ids[0], "label": "yes"},
            {"request_id": ids[1], "label": ["no", "yes"]},
            {"request_id": stranger, "label": "no"},
        ]
    }
    response = http.post("/monitoring/models/churn/feedback", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 4, "unknown": [stranger], "unknown_count": 1}
    columns = http.get("/monitoring/models/churn/feedback", params={"since_ms": BASE}).json()
    assert columns["request_id"] == [ids[0], ids[1], ids[1], stranger]
    assert columns["row"] == [0, 0, 1, 0] and columns["label"] == ["yes", "no", "yes", "no"]
    assert columns["predicted_at"] == [BASE, BASE + 1, BASE + 1, BASE + 5]
    empty = http.get("/monitoring/models/churn/feedback", params={"until_ms": BASE}).json()
    assert empty["request_id"] == [] and empty["label"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body.feedback"),
        ({"feedback": [{"label": 1}]}, "body.feedback.0.request_id"),
        ({"feedback": [{"request_id": "a"}]}, "body.feedback.0.label"),
        ({"feedback": [{"request_id": "a", "label": {"x": 1}}]}, "body.feedback.0.label"),
        ({"feedback": [{"request_id": 7, "label": 1}]}, "body.feedback.0.request_id"),
        ({"feedback": [{"request_id": "a", "label": 1, "row": -1}]}, "body.feedback.0.row"),
        ({"feedback": [{"request_id": "a", "label": 1, "extra": 1}]}, "body.feedback.0.extra"),
        ({"feedback": [{"request_id": "a", "label": "yes"}, {"request_id": "b", "label": 1}]}, "labels"),
        ({"feedback": [{"request_id": "a", "label": [1, 2], "row": 0}]}, "rows"),
    ],
)
def test_bad_feedback_is_422_naming_the_field(http: httpx.Client, body: dict[str, Any], field: str) -> None:
    fields = _fields(http.post("/monitoring/models/churn/feedback", json=body))
    assert any(f == field or f.startswith(f"{field}.") for f in fields), fields


def test_hostile_labels_never_500(http: httpx.Client) -> None:
    for label in (2**70, -(2**64), 1e308, "\x00", "x" * 10_000):
        response = http.post(
            "/monitoring/models/hostile/feedback", json={"feedback": [{"request_id": "a", "label": label}]}
        )
        assert response.status_code in (200, 422), (label, response.text)
    response = http.post(
        "/monitoring/models/hostile/feedback", content=b'{"feedback": [{"request_id": "a", "label": NaN}]}'
    )
    assert _fields(response) == ["body"]  # NaN is not JSON


def test_bad_path_and_query_parameters(http: httpx.Client) -> None:
    assert _fields(http.post("/monitoring/models/-x/feedback", json={"feedback": []})) == ["path.model"]
    assert "query.since_ms" in _fields(http.get("/monitoring/models/churn/feedback", params={"since_ms": "soon"}))
    assert _fields(http.get("/monitoring/alerts/xyz")) == ["path.alert_id"]
    assert _fields(http.get("/monitoring/alerts", params={"state": "open"})) == ["state"]
    assert "query.limit" in _fields(http.get("/monitoring/alerts", params={"limit": 0}))
    assert _fields(http.get("/monitoring/reports/nope")) == ["path.report_id"]
    assert _fields(http.get("/monitoring/models/churn/versions/0/profile")) == ["path.version"]
    assert "path.version" in _fields(http.get("/monitoring/models/churn/versions/two/profile"))


# -- alerts ---------------------------------------------------------------------------------------


def test_alert_lifecycle_and_duplicate_firing_is_409(http: httpx.Client) -> None:
    body = _alert()
    opened = http.post("/monitoring/alerts", json=body)
    assert opened.status_code == 201, opened.text
    alert = opened.json()
    assert alert["state"] == "firing" and alert["occurrences"] == 1 and alert["resolved_at"] is None
    duplicate = _error(http.post("/monitoring/alerts", json=_alert(model=body["model"])), 409)
    assert duplicate["type"] == "Conflict" and alert["id"] in duplicate["error"]
    patch = {"value": "NaN", "evidence": {"share": 0.7}, "message": "again", "updated_at": 2_000}
    updated = http.patch(f"/monitoring/alerts/{alert['id']}", json=patch).json()
    assert updated["occurrences"] == 2 and updated["value"] is None and updated["evidence"] == {"share": 0.7}
    resolved = http.post(f"/monitoring/alerts/{alert['id']}/resolve", json={"resolved_at": 3_000}).json()
    assert resolved["state"] == "resolved" and resolved["resolved_at"] == 3_000
    _error(http.post(f"/monitoring/alerts/{alert['id']}/resolve", json={"resolved_at": 4_000}), 409)
    listed = http.get("/monitoring/alerts", params={"model": body["model"]}).json()["alerts"]
    assert [a["id"] for a in listed] == [alert["id"]] and http.get(
        f"/monitoring/alerts/{alert['id']}"
    ).json() == resolved


def test_unknown_alert_is_404(http: httpx.Client) -> None:
    missing = new_id()
    assert _error(http.get(f"/monitoring/alerts/{missing}"), 404)["type"] == "NotFound"
    patch = {"value": 1, "message": "m", "updated_at": 1}
    _error(http.patch(f"/monitoring/alerts/{missing}", json=patch), 404)
    _error(http.post(f"/monitoring/alerts/{missing}/resolve", json={"resolved_at": 1}), 404)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"id": "short"}, "body.id"),
        ({"threshold": None}, "body.threshold"),
        ({"threshold": "high"}, "body.threshold"),
        ({"state": "resolved"}, "body.state"),
        ({"model": "a/b"}, "body.model"),
        ({"started_at": -1}, "body.started_at"),
        ({"evidence": [1, 2]}, "body.evidence"),
        ({"message": ""}, "body.message"),
    ],
)
def test_bad_alerts_are_422_naming_the_field(http: httpx.Client, changes: dict[str, Any], field: str) -> None:
    body = {k: v for k, v in _alert(**changes).items() if v is not None or k not in changes}
    assert field in _fields(http.post("/monitoring/alerts", json=body))


def test_missing_alert_fields_are_422(http: httpx.Client) -> None:
    body = _alert()
    del body["message"], body["window"]
    assert {"body.message", "body.window"} <= set(_fields(http.post("/monitoring/alerts", json=body)))


# -- reports and profiles -------------------------------------------------------------------------


def test_reports_and_profiles(http: httpx.Client) -> None:
    report = {
        "id": new_id(),
        "version": 2,
        "kind": "drift",
        "created_at": 5,
        "sha256": "ab" * 32,
        "size": 10,
        "summary": {"drifted": False},
    }
    created = http.post("/monitoring/models/churn/reports", json=report)
    assert created.status_code == 201 and created.json()["model"] == "churn"
    assert http.get(f"/monitoring/reports/{report['id']}").json() == created.json()
    assert [r["id"] for r in http.get("/monitoring/models/churn/reports").json()["reports"]] == [report["id"]]
    assert http.get("/monitoring/models/churn/reports", params={"version": 3}).json()["reports"] == []
    _error(http.post("/monitoring/models/churn/reports", json=report), 409)
    _error(http.get(f"/monitoring/reports/{new_id()}"), 404)
    assert "body.sha256" in _fields(http.post("/monitoring/models/churn/reports", json={**report, "sha256": "x"}))
    _error(http.get("/monitoring/models/churn/versions/1/profile"), 404)
    put = http.put("/monitoring/models/churn/versions/1/profile", json={"sha256": "cd" * 32, "n_rows": 500})
    assert put.status_code == 200, put.text
    assert http.get("/monitoring/models/churn/versions/1/profile").json() == {
        "model": "churn",
        "version": 1,
        "sha256": "cd" * 32,
    }
    assert "body.n_rows" in _fields(http.put("/monitoring/models/churn/versions/1/profile", json={"sha256": "cd" * 32}))


# -- segments -------------------------------------------------------------------------------------


def test_bad_segments_are_4xx_naming_the_field(http: httpx.Client, live: LiveServer) -> None:
    rid = request_id(BASE)
    good = parquet_bytes(segment_table([rid], [BASE]))
    post = lambda body, hour=HOUR, model="fraud": http.post(  # noqa: E731
        f"/monitoring/models/{model}/segments", params={"hour": hour}, content=body
    )
    assert _fields(post(b"not parquet")) == ["body"]
    assert _fields(post(b"")) == ["body"]
    assert _fields(post(good, hour="yesterday")) == ["query.hour"]
    assert "query.hour" in _fields(http.post("/monitoring/models/fraud/segments", content=good))
    assert _fields(post(good)) == ["body.model"]  # the rows say churn
    assert _fields(post(good, hour=hour_key(BASE + HOUR_MS), model="churn")) == ["body.time"]
    assert _fields(post(parquet_bytes(segment_table([rid], [BASE]).drop(["status"])), model="churn")) == ["body.status"]
    too_big = parquet_bytes(segment_table([request_id(BASE + i) for i in range(20_000)], [BASE] * 20_000))
    assert len(too_big) > 64 * 1024
    assert _error(post(too_big, model="churn"), 413)["type"] == "PayloadTooLarge"
    assert PredictionLayout(settings_for(live.home).artifact_uri).segments("fraud") == []


# -- roles ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def auth_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with thread_server(settings_for(tmp_path_factory.mktemp("monitoring-auth")), auth=True) as server:
        yield server


def test_readers_read_writers_write(auth_live: LiveServer, tmp_path: Path) -> None:
    reader, writer = auth_live.create_token("mon-reader", Role.READER), auth_live.create_token("mon-w", Role.WRITER)
    feedback = {"feedback": [{"request_id": request_id(BASE), "label": 1}]}
    with auth_live.client() as anonymous:
        _error(anonymous.get("/monitoring/alerts"), 401)
        _error(anonymous.post("/monitoring/models/churn/feedback", json=feedback), 401)
    with auth_live.client(reader) as client:
        assert client.get("/monitoring/alerts").status_code == 200
        assert client.get("/monitoring/models/churn/feedback").status_code == 200
        _error(client.post("/monitoring/models/churn/feedback", json=feedback), 403)
        _error(client.post("/monitoring/alerts", json=_alert()), 403)
        segment = parquet_bytes(segment_table([request_id(BASE)], [BASE]))
        _error(client.post("/monitoring/models/churn/segments", params={"hour": HOUR}, content=segment), 403)
    with auth_live.client(writer) as client:
        assert client.post("/monitoring/models/churn/feedback", json=feedback).json()["accepted"] == 1
        assert client.post("/monitoring/alerts", json=_alert()).status_code == 201
