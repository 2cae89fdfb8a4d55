"""Raw HTTP against a live server: status codes, body shapes, validation errors, OpenAPI, audit."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator

import httpx
import pytest
from tests.server.conftest import LiveServer

from loopml.core.version import __version__
from loopml.server import schemas


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


@pytest.fixture
def run_id(http: httpx.Client) -> str:
    exp = http.post("/experiments", json={"name": f"api-{uuid.uuid4().hex}"}).json()
    return http.post("/runs", json={"experiment_id": exp["id"], "name": "r"}).json()["id"]


def _error(response: httpx.Response, status: int, kind: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "type", "details"}
    assert body["type"] == kind and body["error"]
    schemas.ErrorOut.model_validate(body)
    return body


def test_health(http: httpx.Client) -> None:
    response = http.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": __version__}


def test_experiments(http: httpx.Client) -> None:
    created = http.post("/experiments", json={"name": "api-exp", "tags": {"team": "growth", "n": 3}})
    assert created.status_code == 201
    exp = schemas.ExperimentOut.model_validate(created.json())
    assert exp.tags == {"team": "growth", "n": "3"}
    assert http.get(f"/experiments/{exp.id}").json() == created.json()
    assert http.get("/experiments/api-exp").json() == created.json()
    listed = schemas.ExperimentList.model_validate(http.get("/experiments").json())
    assert exp in listed.experiments
    again = http.post("/experiments/get-or-create", json={"name": "api-exp"})
    assert again.status_code == 200 and again.json()["id"] == exp.id
    body = _error(http.post("/experiments", json={"name": "api-exp"}), 409, "Conflict")
    assert "already exists" in body["error"]
    _error(http.get("/experiments/nope"), 404, "NotFound")
    _error(http.post("/experiments", json={"name": "bad name/"}), 422, "InvalidInput")


def test_run_lifecycle_and_batch(http: httpx.Client, run_id: str) -> None:
    batch = {
        "metrics": [
            {"key": "loss", "value": 0.5, "step": 0, "timestamp": 1000},
            {"key": "loss", "value": 0.25, "step": 1, "timestamp": 1001},
            {"key": "nan", "value": "NaN"},
            {"key": "up", "value": "Infinity", "step": 3},
            {"key": "down", "value": "-Infinity", "step": 3},
            {"key": "int", "value": 7},
        ],
        "params": {"C": 1.5, "flag": True, "name": "rf"},
        "tags": {"stage": "dev"},
    }
    response = http.post(f"/runs/{run_id}/batch", json=batch)
    assert response.status_code == 204, response.text
    run = http.get(f"/runs/{run_id}").json()
    schemas.RunOut.model_validate(run)
    assert run["metrics"] == {"loss": 0.25, "nan": "NaN", "up": "Infinity", "down": "-Infinity", "int": 7.0}
    assert run["params"] == {"C": "1.5", "flag": "True", "name": "rf"}
    assert run["tags"]["stage"] == "dev" and run["status"] == "RUNNING"
    history = http.get(f"/runs/{run_id}/metrics/history", params={"key": "loss"}).json()
    schemas.MetricHistory.model_validate(history)
    assert history["metrics"] == [
        {"key": "loss", "value": 0.5, "step": 0, "timestamp": 1000},
        {"key": "loss", "value": 0.25, "step": 1, "timestamp": 1001},
    ]
    nan_point = http.get(f"/runs/{run_id}/metrics/history", params={"key": "nan"}).json()["metrics"][0]
    assert nan_point["value"] == "NaN" and nan_point["step"] == 0 and nan_point["timestamp"] > 0

    body = _error(http.post(f"/runs/{run_id}/batch", json={"params": {"C": 2}}), 409, "Conflict")
    assert body["details"] == [{"field": "params.C", "problem": "already logged with another value"}]

    finished = http.patch(f"/runs/{run_id}", json={"status": "FINISHED", "end_time": 5000})
    assert finished.status_code == 200
    assert finished.json()["status"] == "FINISHED" and finished.json()["end_time"] == 5000

    found = http.post("/runs/search", json={"filter": f"attributes.run_id = '{run_id}' and metrics.loss < 0.3"})
    assert [r["id"] for r in found.json()["runs"]] == [run_id]
    schemas.RunList.model_validate(found.json())


def test_unknown_run_is_404_everywhere(http: httpx.Client) -> None:
    missing = "0" * 32
    for response in (
        http.get(f"/runs/{missing}"),
        http.patch(f"/runs/{missing}", json={"status": "FINISHED"}),
        http.post(f"/runs/{missing}/batch", json={"metrics": [{"key": "m", "value": 1}]}),
        http.get(f"/runs/{missing}/metrics/history", params={"key": "m"}),
        http.get(f"/runs/{missing}/artifacts"),
        http.put(f"/runs/{missing}/artifacts/a.txt", content=b"x"),
        http.get(f"/runs/{missing}/artifacts/a.txt"),
    ):
        body = _error(response, 404, "NotFound")
        assert missing in body["error"]


@pytest.mark.parametrize(
    ("path", "payload", "field", "problem"),
    [
        ("batch", {"metrics": [{"key": "m", "value": "high"}]}, "body.metrics.0.value", "expected a number"),
        ("batch", {"metrics": [{"key": "m", "value": True}]}, "body.metrics.0.value", "expected a number"),
        ("batch", {"metrics": [{"key": "m", "value": None}]}, "body.metrics.0.value", "expected a number"),
        ("batch", {"metrics": [{"key": "m", "value": 1, "step": 1.5}]}, "body.metrics.0.step", "integer"),
        ("batch", {"metrics": [{"key": "m", "value": 1, "step": "2"}]}, "body.metrics.0.step", "integer"),
        ("batch", {"metrics": [{"value": 1}]}, "body.metrics.0.key", "Field required"),
        ("batch", {"metrics": {"key": "m"}}, "body.metrics", "valid list"),
        ("batch", {"params": {"a": [1, 2]}}, "body.params.a", "expected a string, number or boolean"),
        ("batch", {"params": "C=1"}, "body.params", "valid dictionary"),
        ("batch", {"metric": []}, "body.metric", "Extra inputs are not permitted"),
        ("batch", [], "body", "valid dictionary"),
        ("patch", {"status": "DONE"}, "body.status", "'RUNNING', 'FINISHED', 'FAILED' or 'KILLED'"),
        ("patch", {}, "body.status", "Field required"),
        ("search", {"max_results": "ten"}, "body.max_results", "integer"),
        ("search", {"experiment_ids": "abc"}, "body.experiment_ids", "valid list"),
    ],
)
def test_wrong_types_are_422_with_field_paths(
    http: httpx.Client, run_id: str, path: str, payload: object, field: str, problem: str
) -> None:
    if path == "batch":
        response = http.post(f"/runs/{run_id}/batch", json=payload)
    elif path == "patch":
        response = http.patch(f"/runs/{run_id}", json=payload)
    else:
        response = http.post("/runs/search", json=payload)
    body = _error(response, 422, "InvalidInput")
    assert body["details"][0]["field"] == field
    assert problem in body["details"][0]["problem"]
    assert field in body["error"]


def test_malformed_json_and_missing_bodies(http: httpx.Client, run_id: str) -> None:
    headers = {"Content-Type": "application/json"}
    body = _error(http.post(f"/runs/{run_id}/batch", content=b'{"metrics": [', headers=headers), 422, "InvalidInput")
    assert body["details"][0]["field"] == "body"
    assert body["details"][0]["problem"].startswith("invalid JSON at position")
    body = _error(http.post("/experiments", content=b"", headers=headers), 422, "InvalidInput")
    assert body["details"] == [{"field": "body", "problem": "Field required"}]
    body = _error(
        http.post("/experiments", content=b"name=x", headers={"Content-Type": "text/plain"}), 422, "InvalidInput"
    )
    assert body["details"][0]["field"] == "body"
    body = _error(http.get("/audit", params={"limit": 0}), 422, "InvalidInput")
    assert body["details"][0]["field"] == "query.limit"
    body = _error(http.get(f"/runs/{run_id}/metrics/history"), 422, "InvalidInput")
    assert body["details"] == [{"field": "query.key", "problem": "Field required"}]
    # the store's own checks keep their messages
    body = _error(http.post("/runs/search", json={"max_results": 0}), 422, "InvalidInput")
    assert "max_results must be between 1 and" in body["error"]
    body = _error(http.post("/runs/search", json={"filter": "metrics.f1 >> 2"}), 422, "InvalidInput")
    assert "'>'" in body["error"]


def test_hostile_inputs_never_500(http: httpx.Client, run_id: str) -> None:
    bodies: list[bytes] = [
        b"null",
        b"1e999999",
        b'{"metrics": [{"key": "m", "value": 1e999}]}',
        b'{"metrics": [{"key": "m", "value": 1, "step": 99999999999999999999999}]}',
        b'{"metrics": [{"key": "m", "value": 1, "timestamp": -1}]}',
        b'{"metrics": [{"key": "' + b"k" * 300 + b'", "value": 1}]}',
        b'{"params": {"": 1}}',
        b'{"tags": {"t": "' + b"v" * 70_000 + b'"}}',
        b'{"metrics": [{"key": "m\\u0000", "value": 1}]}',
        b"\xff\xfe\x00",
        b'{"metrics": [{"key": "m", "value": NaN}]}',
        b'{"metrics": [{"key": "m", "value": 1' + b"0" * 400 + b"}]}",
    ]
    for raw in bodies:
        response = http.post(f"/runs/{run_id}/batch", content=raw, headers={"Content-Type": "application/json"})
        assert response.status_code < 500, (raw[:80], response.text)
        if response.status_code != 204:
            _error(response, response.status_code, "InvalidInput")
    for raw in [b'{"experiment_id": 5}', b'{"experiment_id": "x", "start_time": -5}', b'{"experiment_id": "x"}']:
        response = http.post("/runs", content=raw, headers={"Content-Type": "application/json"})
        assert 400 <= response.status_code < 500, response.text
    for search in [{"offset": 10**30}, {"offset": -1}, {"max_results": 10**30}]:
        response = http.post("/runs/search", json=search)
        assert response.status_code == 422, (search, response.text)
    weird = http.get("/runs/%00/metrics/history", params={"key": "\x00"})
    assert 400 <= weird.status_code < 500


def test_nan_token_is_accepted_as_nan(http: httpx.Client, run_id: str) -> None:
    """Python's json reads a bare NaN token; it is stored as NaN like the "NaN" string."""
    raw = b'{"metrics": [{"key": "bare", "value": NaN}]}'
    response = http.post(f"/runs/{run_id}/batch", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 204
    assert http.get(f"/runs/{run_id}").json()["metrics"]["bare"] == "NaN"
    assert math.isnan(float(http.get(f"/runs/{run_id}").json()["metrics"]["bare"]))


def test_unknown_routes_and_methods_keep_the_error_shape(http: httpx.Client, server: LiveServer) -> None:
    assert "No endpoint" in _error(http.get("/nope"), 404, "NotFound")["error"]
    assert "not allowed" in _error(http.delete("/experiments"), 405, "InvalidInput")["error"]
    _error(httpx.get(f"{server.url}/api/nope"), 404, "NotFound")
    page = httpx.get(f"{server.url}/no-such-page")  # outside /api: the UI answers with an HTML page
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/experiments", "GET, POST"),
        ("PUT", "/models/m/versions", "GET, POST"),
        ("OPTIONS", "/models/m/aliases/production", "DELETE, GET, PUT"),
        ("POST", "/models/m/versions/1", "DELETE, GET, PATCH"),
        ("DELETE", "/blobs/" + "0" * 64, "GET, HEAD, PUT"),
        ("POST", "/runs/" + "0" * 32 + "/artifacts/a/b.txt", "GET, PUT"),
        ("DELETE", "/tokens", "GET, POST"),
        ("PUT", "/runs/search", "POST"),  # not the methods of /runs/{run_id}, which also matches
        ("OPTIONS", "/experiments/get-or-create", "POST"),
    ],
)
def test_405_allow_lists_every_method_of_the_path(http: httpx.Client, method: str, path: str, allowed: str) -> None:
    """Starlette names only the first matching route's methods; a path served by several routes lists them all."""
    response = http.request(method, path)
    body = _error(response, 405, "InvalidInput")
    assert response.headers["allow"] == allowed
    assert f"allowed: {allowed}" in body["error"]


def test_body_that_is_not_utf8_is_a_422_naming_body(http: httpx.Client, run_id: str) -> None:
    headers = {"Content-Type": "application/json"}
    for path, raw in [("/experiments", b'{"name": "\xff\xfe"}'), (f"/runs/{run_id}/batch", b"\xff\xfe\x00")]:
        body = _error(http.post(path, content=raw, headers=headers), 422, "InvalidInput")
        assert body["details"] == [{"field": "body", "problem": "not valid UTF-8 JSON"}]
        assert path in body["error"]


def test_empty_batch_for_a_missing_run_is_404(http: httpx.Client, run_id: str) -> None:
    missing = "0" * 32
    for empty in ({}, {"metrics": [], "params": {}, "tags": {}}):
        body = _error(http.post(f"/runs/{missing}/batch", json=empty), 404, "NotFound")
        assert missing in body["error"]
        assert http.post(f"/runs/{run_id}/batch", json=empty).status_code == 204


NO_AUTH_PATHS = {"/api/v1/health", "/api/v1/server-info"}
"""Answered without a token (liveness and the body limits a client splits batches by)."""


def test_openapi_documents_what_each_response_sends(server: LiveServer) -> None:
    """No success response is an untyped string: JSON ones name their model, downloads are binary."""
    spec = httpx.get(f"{server.url}/openapi.json").json()
    schemas_ = spec["components"]["schemas"]
    checked = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                for media_type, content in response.get("content", {}).items():
                    schema = content["schema"]
                    where = f"{method.upper()} {path} {status} {media_type}"
                    if media_type == "application/octet-stream":
                        assert schema == {"type": "string", "format": "binary"}, where
                    else:
                        assert media_type == "application/json", where
                        assert schema.get("$ref", "").removeprefix("#/components/schemas/") in schemas_, where
                        if status.startswith("4"):
                            assert schema["$ref"].endswith("/ErrorOut"), where
                    checked += 1
            successes = [s for s in operation["responses"] if s.startswith("2")]
            assert successes, f"{method.upper()} {path} documents no success response"
            if path not in NO_AUTH_PATHS:
                assert {"401", "403", "404", "422"} <= set(operation["responses"]), f"{method.upper()} {path}"
    assert checked > 200
    upload = spec["paths"]["/api/v1/blobs/{sha256}"]["put"]["responses"]  # 201 new, 200 already stored
    for status in ("200", "201"):
        assert upload[status]["content"]["application/json"]["schema"]["$ref"].endswith("/BlobOut")


def test_actor_header_is_recorded_without_auth(http: httpx.Client, run_id: str) -> None:
    http.post(f"/runs/{run_id}/batch", json={"tags": {"a": 1}}, headers={"X-Loopml-Actor": "J%C3%BCrgen"})
    http.post(f"/runs/{run_id}/batch", json={"tags": {"a": 2}})
    events = http.get("/audit", params={"object_id": run_id, "limit": 2}).json()["events"]
    assert [e["actor"] for e in events] == ["anonymous", "Jürgen"]


def test_every_write_records_an_audit_event(http: httpx.Client) -> None:
    exp = http.post("/experiments", json={"name": "audited"}).json()
    run = http.post("/runs", json={"experiment_id": exp["id"]}, headers={"X-Loopml-Actor": "ann"}).json()
    writes = [
        http.post(
            f"/runs/{run['id']}/batch", json={"metrics": [{"key": "m", "value": 1}]}, headers={"X-Loopml-Actor": "ann"}
        ),
        http.put(f"/runs/{run['id']}/artifacts/a.txt", content=b"a", headers={"X-Loopml-Actor": "ann"}),
        http.patch(f"/runs/{run['id']}", json={"status": "KILLED"}, headers={"X-Loopml-Actor": "ann"}),
    ]
    assert [w.status_code for w in writes] == [204, 201, 200]
    sha = writes[1].json()["sha256"]
    recorded = http.post(
        f"/runs/{run['id']}/artifacts",
        json={"artifacts": [{"path": "b.txt", "sha256": sha, "size": 1}]},
        headers={"X-Loopml-Actor": "ann"},
    )
    assert recorded.status_code == 204
    events = schemas.AuditList.model_validate(
        http.get("/audit", params={"object_type": "run", "object_id": run["id"]}).json()
    ).events
    assert [e.action for e in events] == ["artifact.log", "run.set_status", "artifact.log", "run.log", "run.create"]
    assert {e.actor for e in events} == {"ann"}
    assert events[1].details == {"status": "KILLED"}
    exp_events = http.get("/audit", params={"object_type": "experiment", "object_id": exp["id"]}).json()["events"]
    assert [(e["action"], e["actor"]) for e in exp_events] == [("experiment.create", "anonymous")]


def test_tokens_need_a_server_with_auth(http: httpx.Client) -> None:
    body = _error(http.post("/tokens", json={"name": "t", "role": "admin"}), 403, "Forbidden")
    assert "--auth" in body["error"]
    _error(http.get("/tokens"), 403, "Forbidden")


def test_openapi_describes_every_endpoint(http: httpx.Client, server: LiveServer) -> None:
    spec = httpx.get(f"{server.url}/openapi.json").json()
    paths = spec["paths"]
    expected = {
        ("/api/v1/health", "get"),
        ("/api/v1/server-info", "get"),
        ("/api/v1/runs/heartbeat", "post"),
        ("/api/v1/experiments", "post"),
        ("/api/v1/experiments", "get"),
        ("/api/v1/experiments/{id_or_name}", "get"),
        ("/api/v1/experiments/get-or-create", "post"),
        ("/api/v1/runs", "post"),
        ("/api/v1/runs/{run_id}", "get"),
        ("/api/v1/runs/{run_id}", "patch"),
        ("/api/v1/runs/{run_id}/batch", "post"),
        ("/api/v1/runs/{run_id}/metrics/history", "get"),
        ("/api/v1/runs/search", "post"),
        ("/api/v1/runs/get", "post"),
        ("/api/v1/runs/counts", "get"),
        ("/api/v1/runs/metrics/history", "post"),
        ("/api/v1/experiments/{id_or_name}/keys", "get"),
        ("/api/v1/runs/{run_id}/artifacts/{path}", "put"),
        ("/api/v1/runs/{run_id}/artifacts/{path}", "get"),
        ("/api/v1/runs/{run_id}/artifacts", "get"),
        ("/api/v1/runs/{run_id}/artifacts", "post"),
        ("/api/v1/audit", "get"),
        ("/api/v1/tokens", "post"),
        ("/api/v1/tokens", "get"),
        ("/api/v1/tokens/{name}", "delete"),
        ("/api/v1/admin/gc", "post"),
        ("/api/v1/blobs/{sha256}", "put"),
        ("/api/v1/blobs/{sha256}", "head"),
        ("/api/v1/blobs/{sha256}", "get"),
        ("/api/v1/datasets", "get"),
        ("/api/v1/datasets/{name}/versions", "post"),
        ("/api/v1/datasets/{name}/versions", "get"),
        ("/api/v1/datasets/{name}/versions/{version}", "get"),
        ("/api/v1/datasets/{name}/by-content/{sha256}", "get"),
        ("/api/v1/lineage", "post"),
        ("/api/v1/lineage", "get"),
        ("/api/v1/models", "get"),
        ("/api/v1/pipelines/runs", "post"),
        ("/api/v1/pipelines/runs", "get"),
        ("/api/v1/pipelines/runs/{run_id}", "get"),
        ("/api/v1/pipelines/runs/{run_id}/finish", "post"),
        ("/api/v1/pipelines/runs/{run_id}/steps", "get"),
        ("/api/v1/pipelines/steps", "post"),
        ("/api/v1/pipelines/steps/{step_run_id}", "patch"),
        ("/api/v1/pipelines/steps/{step_run_id}", "get"),
        ("/api/v1/pipelines/cache/{cache_key}", "get"),
        ("/api/v1/models/{name}/versions", "get"),
        ("/api/v1/models/{name}/versions", "post"),
        ("/api/v1/models/{name}/versions/{version}", "get"),
        ("/api/v1/models/{name}/versions/{version}/card", "get"),
        ("/api/v1/models/{name}/versions/{version}", "patch"),
        ("/api/v1/models/{name}/versions/{version}", "delete"),
        ("/api/v1/models/{name}/versions/{version}/archive", "post"),
        ("/api/v1/models/{name}/aliases/{alias}", "get"),
        ("/api/v1/models/{name}/aliases/{alias}", "put"),
        ("/api/v1/models/{name}/aliases/{alias}", "delete"),
        ("/api/v1/monitoring/models/{model}/feedback", "post"),
        ("/api/v1/monitoring/models/{model}/feedback", "get"),
        ("/api/v1/monitoring/alerts", "post"),
        ("/api/v1/monitoring/alerts", "get"),
        ("/api/v1/monitoring/alerts/{alert_id}", "get"),
        ("/api/v1/monitoring/alerts/{alert_id}", "patch"),
        ("/api/v1/monitoring/alerts/{alert_id}/resolve", "post"),
        ("/api/v1/monitoring/models/{model}/reports", "post"),
        ("/api/v1/monitoring/models/{model}/reports", "get"),
        ("/api/v1/monitoring/reports/{report_id}", "get"),
        ("/api/v1/monitoring/models/{model}/versions/{version}/profile", "put"),
        ("/api/v1/monitoring/models/{model}/versions/{version}/profile", "get"),
        ("/api/v1/monitoring/models/{model}/segments", "post"),
        ("/api/v1/monitoring/models", "get"),
        ("/api/v1/monitoring/models/{model}/predictions", "get"),
        ("/api/v1/monitoring/models/{model}/predictions.parquet", "get"),
        ("/api/v1/monitoring/models/{model}/drift", "get"),
        ("/api/v1/monitoring/models/{model}/quality", "get"),
        ("/api/v1/monitoring/models/{model}/operations", "get"),
        ("/api/v1/monitoring/models/{model}/drift/history", "get"),
        ("/api/v1/decisions", "post"),
        ("/api/v1/decisions", "get"),
        ("/api/v1/decisions/{decision_id}", "get"),
        ("/api/v1/policies", "get"),
        ("/api/v1/policies/{name}", "get"),
        ("/api/v1/policies/{name}/cycles", "get"),
        ("/api/v1/cycles", "get"),
        ("/api/v1/cycles/{cycle_id}", "get"),
        ("/api/v1/features/materializations", "post"),
        ("/api/v1/features/materializations", "get"),
        ("/api/v1/features/materializations/{materialization_id}", "get"),
        ("/api/v1/features/materializations/{materialization_id}/finish", "post"),
        ("/api/v1/features/definitions", "get"),
        ("/api/v1/features/definitions/{kind}/{name}", "get"),
        ("/api/v1/features/definitions/{kind}/{name}/history", "get"),
        ("/api/v1/features/apply", "post"),
    }
    assert {(p, m) for p, ops in paths.items() for m in ops} == expected
    batch = paths["/api/v1/runs/{run_id}/batch"]["post"]
    assert batch["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/BatchLog"}
    assert batch["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")
    metric = spec["components"]["schemas"]["MetricIn"]
    assert set(metric["required"]) == {"key", "value"}
    assert {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]} in metric["properties"]["value"]["anyOf"]
    upload = paths["/api/v1/runs/{run_id}/artifacts/{path}"]["put"]
    assert "application/octet-stream" in upload["requestBody"]["content"]
    assert any(p["name"] == "x-loopml-sha256" for p in upload["parameters"])
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    version = spec["components"]["schemas"]["DatasetVersionCreate"]
    assert {"sha256", "blob_sha256", "size_bytes", "schema"} <= set(version["required"])
    model_version = spec["components"]["schemas"]["ModelVersionCreate"]
    assert set(model_version["required"]) == {"source", "manifest_sha256", "flavor"}
    alias = paths["/api/v1/models/{name}/aliases/{alias}"]["put"]
    assert alias["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/AliasSet"}
