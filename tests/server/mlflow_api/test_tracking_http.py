"""The tracking routes over raw HTTP: both prefixes, bad input (400 naming the field, never a 500),
paged metric history, batch limits, and auth with loopml's tokens."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import mlflow
import pytest
from mlflow.exceptions import MlflowException
from tests.processes import http_client
from tests.server.conftest import LiveServer


@pytest.fixture(scope="module")
def http(mlflow_server: LiveServer) -> Iterator[httpx.Client]:
    with http_client(base_url=mlflow_server.url, timeout=30) as client:
        yield client


def test_ajax_prefix_round_trip(http: httpx.Client) -> None:
    prefix = "/ajax-api/2.0/mlflow"
    created = http.post(f"{prefix}/experiments/create", json={"name": "http-ajax"})
    assert created.status_code == 200, created.text
    experiment_id = created.json()["experiment_id"]
    run = http.post(
        f"{prefix}/runs/create",
        json={"experiment_id": experiment_id, "run_name": "raw", "start_time": 5, "tags": [{"key": "k", "value": "v"}]},
    ).json()["run"]
    run_id = run["info"]["run_id"]
    assert run["info"]["run_uuid"] == run_id and run["info"]["status"] == "RUNNING"
    body = {"run_id": run_id, "metrics": [{"key": "m", "value": "NaN", "timestamp": 1, "step": 2}]}
    assert http.post(f"{prefix}/runs/log-batch", json=body).status_code == 200
    got = http.get(f"{prefix}/runs/get", params={"run_id": run_id}).json()["run"]
    assert got["data"]["metrics"] == [{"key": "m", "value": "NaN", "step": 2, "timestamp": 1}]
    assert {"key": "k", "value": "v"} in got["data"]["tags"]
    assert {"key": "mlflow.runName", "value": "raw"} in got["data"]["tags"]
    assert got["info"]["start_time"] == 5 and "end_time" not in got["info"]
    ended = http.post(f"{prefix}/runs/update", json={"run_id": run_id, "status": "FINISHED", "end_time": 9})
    assert ended.json()["run_info"]["end_time"] == 9


def test_points_resent_for_a_logged_model_are_stored_once(http: httpx.Client) -> None:
    """MLflow 3's log_model sends the run's metrics again with the model's id: no second copy in the run."""
    run_id = http.post("/api/2.0/mlflow/runs/create", json={"experiment_id": "0"}).json()["run"]["info"]["run_id"]
    point = {"key": "acc", "value": 0.9, "timestamp": 7, "step": 0}
    http.post("/api/2.0/mlflow/runs/log-batch", json={"run_id": run_id, "metrics": [point]}).raise_for_status()
    resent = [{**point, "model_id": "m-0123"}, {**point, "step": 1, "model_id": "m-0123"}]
    http.post("/api/2.0/mlflow/runs/log-batch", json={"run_id": run_id, "metrics": resent}).raise_for_status()
    page = http.get("/api/2.0/mlflow/metrics/get-history", params={"run_id": run_id, "metric_key": "acc"}).json()
    assert sorted(m["step"] for m in page["metrics"]) == [0, 1]  # the new point is kept, the copy is not


def test_metric_history_pages(http: httpx.Client) -> None:
    run_id = http.post("/api/2.0/mlflow/runs/create", json={"experiment_id": "0"}).json()["run"]["info"]["run_id"]
    metrics = [{"key": "loss", "value": 1 / (i + 1), "timestamp": i, "step": i} for i in range(5)]
    http.post("/api/2.0/mlflow/runs/log-batch", json={"run_id": run_id, "metrics": metrics}).raise_for_status()
    steps: list[int] = []
    params: dict[str, Any] = {"run_id": run_id, "metric_key": "loss", "max_results": 2}
    pages = 0
    while True:
        page = http.get("/api/2.0/mlflow/metrics/get-history", params=params).json()
        steps += [m["step"] for m in page["metrics"]]
        pages += 1
        if "next_page_token" not in page:
            break
        params["page_token"] = page["next_page_token"]
    assert steps == [0, 1, 2, 3, 4] and pages == 3
    everything = http.get("/api/2.0/mlflow/metrics/get-history", params={"run_id": run_id, "metric_key": "loss"})
    assert len(everything.json()["metrics"]) == 5 and "next_page_token" not in everything.json()


@pytest.mark.parametrize(
    ("method", "path", "payload", "field"),
    [
        ("POST", "/experiments/create", {}, "name"),
        ("GET", "/experiments/get", {}, "experiment_id"),
        ("GET", "/experiments/get-by-name", {}, "experiment_name"),
        ("POST", "/runs/log-metric", {"run_id": "x", "key": "m", "value": 1}, "timestamp"),
        ("POST", "/runs/log-parameter", {"key": "p", "value": "1"}, "run_id"),
        ("POST", "/runs/log-batch", {"run_id": "x", "metrics": [{"key": "m", "value": "x", "timestamp": 1}]}, "value"),
        ("POST", "/runs/search", {"max_results": 50_001}, "max_results"),
        ("POST", "/runs/search", {"page_token": "not-a-token"}, "page_token"),
        ("POST", "/runs/search", {"run_view_type": "SOME"}, "run_view_type"),
        ("POST", "/runs/update", {"run_id": "x", "status": "SCHEDULED"}, "status"),
        ("GET", "/runs/get", {}, "run_id"),
        ("POST", "/runs/search", {"order_by": ["metrics."]}, "order_by"),
        (
            "POST",
            "/runs/log-inputs",
            {
                "run_id": "x",
                "datasets": [{"dataset": {"name": "n" * 501, "digest": "d", "source_type": "s", "source": "x"}}],
            },
            "name",
        ),
    ],
)
def test_bad_input_is_400_naming_the_field(
    http: httpx.Client, method: str, path: str, payload: dict[str, Any], field: str
) -> None:
    url = f"/api/2.0/mlflow{path}"
    response = http.get(url, params=payload) if method == "GET" else http.post(url, json=payload)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert field in body["message"]


def test_batch_limits(http: httpx.Client) -> None:
    run_id = http.post("/api/2.0/mlflow/runs/create", json={}).json()["run"]["info"]["run_id"]
    metrics = [{"key": f"m{i}", "value": 1, "timestamp": 0} for i in range(1001)]
    too_many = http.post("/api/2.0/mlflow/runs/log-batch", json={"run_id": run_id, "metrics": metrics})
    assert too_many.status_code == 400 and "1000 metrics" in too_many.json()["message"]
    params = [{"key": f"p{i}", "value": "1"} for i in range(101)]
    too_many = http.post("/api/2.0/mlflow/runs/log-batch", json={"run_id": run_id, "params": params})
    assert too_many.status_code == 400 and "100 params" in too_many.json()["message"]
    clash = [{"key": "p", "value": "1"}, {"key": "p", "value": "2"}]
    response = http.post("/api/2.0/mlflow/runs/log-batch", json={"run_id": run_id, "params": clash})
    assert response.status_code == 400 and "'p'" in response.json()["message"]
    assert http.get("/api/2.0/mlflow/runs/get", params={"run_id": run_id}).json()["run"]["data"]["params"] == []


def test_auth_bad_token_and_reader(
    mlflow_token_client: Any, mlflow_auth_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with mlflow.start_run(experiment_id="0") as run:  # the writer token of the fixture
        mlflow.log_metric("m", 1.0)
    reader = mlflow_auth_server.create_token(f"reader-{os.getpid()}", "reader")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", reader)
    assert mlflow_token_client.get_run(run.info.run_id).data.metrics == {"m": 1.0}
    with pytest.raises(MlflowException) as info:
        mlflow_token_client.log_param(run.info.run_id, "p", "1")
    assert info.value.error_code == "PERMISSION_DENIED"
    with http_client(base_url=mlflow_auth_server.url, timeout=10) as client:
        response = client.get(
            "/api/2.0/mlflow/runs/get",
            params={"run_id": run.info.run_id},
            headers={"Authorization": "Bearer not-a-token"},
        )
    assert response.status_code == 401 and response.json()["error_code"] == "UNAUTHENTICATED"


def test_metric_history_bulk_interval(http: httpx.Client) -> None:
    prefix = "/api/2.0/mlflow"
    run_ids = [http.post(f"{prefix}/runs/create", json={}).json()["run"]["info"]["run_id"] for _ in range(2)]
    for offset, run_id in enumerate(run_ids):
        metrics = [{"key": "loss", "value": i + offset, "timestamp": i, "step": i} for i in range(10)]
        http.post(f"{prefix}/runs/log-batch", json={"run_id": run_id, "metrics": metrics}).raise_for_status()
    params: dict[str, Any] = {"run_ids": run_ids, "metric_key": "loss", "max_results": 3}
    got = http.get(f"{prefix}/metrics/get-history-bulk-interval", params=params).json()["metrics"]
    assert [(m["run_id"], m["step"]) for m in got] == [(r, s) for r in sorted(run_ids) for s in (0, 4, 9)]
    params |= {"start_step": 2, "end_step": 4}
    got = http.get(f"{prefix}/metrics/get-history-bulk-interval", params=params).json()["metrics"]
    assert sorted({m["step"] for m in got}) == [2, 3, 4]
    bad = http.get(f"{prefix}/metrics/get-history-bulk-interval", params={**params, "end_step": 1})
    assert bad.status_code == 400 and "end_step" in bad.json()["message"]
