"""Micro-batching: concurrent requests share predict calls, and a bad request never spoils its batch."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

import loopml as lm
from tests.processes import http_client
from tests.serving.conftest import breast_cancer, start_serving


def _histogram(text: str, name: str) -> dict[str, float]:
    family = next(f for f in text_string_to_metric_families(text) if f.name == name)
    return {s.name.removeprefix(name) + s.labels.get("le", ""): s.value for s in family.samples}


def test_concurrent_requests_are_batched_and_bad_ones_isolated(loopml_home: Path) -> None:
    from sklearn.ensemble import RandomForestClassifier

    X, y = breast_cancer()
    model = RandomForestClassifier(n_estimators=30, random_state=0).fit(X, y)
    with lm.start_run() as run:
        lm.log_model(model, "model", input_example=X.iloc[:5])
    uri = f"runs:/{run.id}/model"
    rows = X.iloc[:64]
    expected = np.asarray(model.predict(rows)).tolist()

    def call(i: int) -> tuple[int, Any, Any]:
        row = rows.iloc[i].to_dict()
        if i % 8 == 7:
            row["mean radius"] = "not a number"
        with http_client(base_url=server.url, timeout=30) as http:
            response = http.post("/predict", json={"inputs": [row]})
        body = response.json()
        return response.status_code, body.get("predictions"), body.get("model")

    with start_serving(loopml_home, uri, "--max-wait-ms", "20", "--log-level", "warning") as server:
        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(call, range(64)))
        metrics = httpx.get(f"{server.url}/metrics").text
    for i, (status, predictions, served) in enumerate(results):
        if i % 8 == 7:
            assert status == 422
        else:
            assert status == 200 and predictions == [expected[i]]
            assert served == {"name": "model", "version": None, "uri": uri}
    sizes = _histogram(metrics, "loopml_serving_batch_size")
    assert sizes["_count"] < 64, sizes  # fewer predict calls than requests
    assert sizes["_bucket1.0"] < sizes["_count"], sizes  # at least one batch of more than one request
    assert sizes["_sum"] == 64


def test_multi_row_requests_are_split_back_in_order(loopml_home: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = breast_cancer()
    model = LogisticRegression(max_iter=5000).fit(X, y)
    with lm.start_run() as run:
        lm.log_model(model, "model", input_example=X.iloc[:5])
    chunks = [X.iloc[i : i + n] for i, n in zip(range(0, 400, 40), [1, 7, 30, 2, 40, 5, 9, 1, 33, 12], strict=True)]
    with start_serving(loopml_home, f"runs:/{run.id}/model", "--max-batch-size", "50", "--max-wait-ms", "20") as server:

        def call(frame: Any) -> list[Any]:
            with http_client(base_url=server.url, timeout=30) as http:
                response = http.post("/predict", json={"inputs": frame.to_dict(orient="records")})
            assert response.status_code == 200, response.text
            return response.json()["predictions"]

        with ThreadPoolExecutor(10) as pool:
            results = list(pool.map(call, chunks))
        rows = _histogram(httpx.get(f"{server.url}/metrics").text, "loopml_serving_batch_rows")
    for frame, predictions in zip(chunks, results, strict=True):
        assert predictions == model.predict(frame).tolist()
    assert rows["_sum"] == sum(len(c) for c in chunks)
    assert rows["_bucket64.0"] == rows["_count"]  # no batch above --max-batch-size 50 (bar a single big request)
