"""Every serving endpoint and input format against a live ``loopml serve`` on a registered model."""

from __future__ import annotations

import re

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.serving.conftest import Served

MODEL = {"name": "bc", "version": 1, "uri": "models:/bc/1"}


def test_predict_records(served: Served, client: httpx.Client) -> None:
    rows = served.X.iloc[:7]
    response = client.post("/predict", json={"inputs": rows.to_dict(orient="records")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["predictions"] == served.expected(rows)
    assert body["model"] == MODEL
    assert re.fullmatch(r"[0-9a-f]{32}", body["request_id"])
    assert response.headers["content-type"] == "application/json"


def test_predict_columns_and_data_in_any_column_order(served: Served, client: httpx.Client) -> None:
    rows = served.X.iloc[10:15]
    shuffled = rows[list(reversed(rows.columns))]
    split = shuffled.to_dict(orient="split")
    response = client.post("/predict", json={"columns": split["columns"], "data": split["data"]})
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == served.expected(rows)


def test_predict_ignores_extra_columns(served: Served, client: httpx.Client) -> None:
    rows = served.X.iloc[:2].assign(customer_id=["a", "b"])
    response = client.post("/predict", json={"inputs": rows.to_dict(orient="records")})
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == served.expected(served.X.iloc[:2])


def test_invocations_all_mlflow_formats(served: Served, client: httpx.Client) -> None:
    rows = served.X.iloc[20:24]
    expected = served.expected(rows)
    split = rows.to_dict(orient="split")
    records = rows.to_dict(orient="records")
    bodies = [
        {"dataframe_split": {"columns": split["columns"], "data": split["data"]}},
        {"dataframe_split": {"columns": split["columns"], "data": split["data"], "index": split["index"]}},
        {"dataframe_split": {"data": split["data"]}},  # columns in signature order
        {"dataframe_records": records},
        {"instances": records},
        {"instances": split["data"]},
        {"inputs": rows.to_dict(orient="list")},
        {"inputs": records},
        {"inputs": split["data"], "params": {}},
    ]
    for body in bodies:
        response = client.post("/invocations", json=body)
        assert response.status_code == 200, (body.keys(), response.text)
        assert response.json() == {"predictions": expected}


def test_v2_health_and_metadata(served: Served, client: httpx.Client) -> None:
    assert client.get("/v2/health/live").status_code == 200
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/v2").json()["name"] == "loopml"
    meta = client.get("/v2/models/bc").json()
    assert meta["name"] == "bc" and meta["versions"] == ["1"] and meta["platform"] == "loopml-sklearn"
    assert [i["name"] for i in meta["inputs"]] == list(served.X.columns)
    assert {i["datatype"] for i in meta["inputs"]} == {"FP64"} and meta["inputs"][0]["shape"] == [-1]
    assert meta["outputs"][0] == {"name": "predict", "datatype": "INT64", "shape": [-1]}
    assert client.get("/v2/models/bc/versions/1").json() == meta
    assert client.get("/v2/models/bc/ready").json() == {"name": "bc", "ready": True}


def test_v2_infer(served: Served, client: httpx.Client) -> None:
    rows = served.X.iloc[30:35]
    inputs = [{"name": c, "shape": [5], "datatype": "FP64", "data": rows[c].tolist()} for c in rows.columns]
    inputs[0] = {**inputs[0], "shape": [5, 1], "data": [[v] for v in rows.iloc[:, 0]]}  # nested row-major form
    response = client.post("/v2/models/bc/infer", json={"id": "req-1", "inputs": inputs})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_name"] == "bc" and body["model_version"] == "1" and body["id"] == "req-1"
    assert body["outputs"] == [{"name": "predict", "datatype": "INT64", "shape": [5], "data": served.expected(rows)}]
    assert client.post("/v2/models/bc/versions/1/infer", json={"inputs": inputs}).status_code == 200


def test_v2_unknown_model_or_version_is_404(served: Served, client: httpx.Client) -> None:
    for method, path in [
        ("GET", "/v2/models/nope"),
        ("POST", "/v2/models/nope/infer"),
        ("GET", "/v2/models/bc/versions/7"),
        ("POST", "/v2/models/bc/versions/7/infer"),
        ("GET", "/v2/models/nope/ready"),
    ]:
        response = client.request(method, path, json={"inputs": []})
        assert response.status_code == 404, (path, response.text)
        body = response.json()
        assert body["type"] == "NotFound" and "bc" in body["error"] and body["details"]


def test_health_ready_and_openapi(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready", "model": MODEL}
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    for path in ("/predict", "/invocations", "/v2/health/live", "/v2/health/ready", "/v2/models/{name}",
                 "/v2/models/{name}/infer", "/healthz", "/readyz", "/metrics"):  # fmt: skip
        assert path in spec["paths"], path
    row = spec["components"]["schemas"]["Row"]
    assert row["properties"]["mean radius"] == {"type": "number"} and len(row["required"]) == 30


def test_unknown_route_and_method_have_json_errors(client: httpx.Client) -> None:
    missing = client.get("/nope")
    assert missing.status_code == 404 and missing.json()["type"] == "NotFound"
    wrong = client.get("/predict")
    assert wrong.status_code == 405 and wrong.json()["details"] == []


def test_metrics(served: Served, client: httpx.Client) -> None:
    rows = served.X.iloc[:3].to_dict(orient="records")
    for _ in range(3):
        assert client.post("/predict", json={"inputs": rows}).status_code == 200
    assert client.post("/predict", json={"inputs": []}).status_code == 422
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    requests = {
        (s.labels["endpoint"], s.labels["status"]): s.value
        for s in families["loopml_serving_requests"].samples
        if s.name.endswith("_total")
    }
    assert requests[("/predict", "200")] >= 3 and requests[("/predict", "422")] >= 1
    latency = {
        s.name: s for s in families["loopml_serving_request_seconds"].samples if s.labels["endpoint"] == "/predict"
    }
    assert latency["loopml_serving_request_seconds_count"].value >= 4
    batch = {s.name: s.value for s in families["loopml_serving_batch_rows"].samples}
    assert batch["loopml_serving_batch_rows_count"] >= 3 and batch["loopml_serving_batch_rows_sum"] >= 9
    info = [s for s in families["loopml_serving_model_info"].samples]
    assert [(s.labels["name"], s.labels["version"], s.value) for s in info] == [("bc", "1", 1.0)]
    assert "loopml_serving_batch_size" in families
