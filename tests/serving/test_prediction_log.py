"""A real ``loopml serve`` logs every prediction: ids in headers, inputs, outputs, probabilities, errors, durability."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from loopml.core.ids import request_time
from loopml.monitoring.layout import PredictionLayout
from loopml.monitoring.prediction_log import PredictionWindow, read_predictions
from tests.processes import http_client
from tests.serving.conftest import Serving, breast_cancer, home_with_production_model, start_serving

FAST = ("--log-level", "warning", "--log-flush-interval", "0.2")


def _layout(home: Path) -> PredictionLayout:
    return PredictionLayout(home / "artifacts")


def _logged(home: Path, ids: list[str], timeout: float = 20.0) -> PredictionWindow:
    """The log of ``bc`` once every id in ``ids`` is on disk."""
    deadline = time.monotonic() + timeout
    while True:
        window = read_predictions("bc", layout=_layout(home))
        if window.n_rows and set(ids) <= set(window.frame["request_id"]):
            return window
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(set(ids) - set(window.frame.get('request_id', [])))} ids not logged")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def logging_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Serving, Any]]:
    home, model = home_with_production_model(tmp_path_factory, "serving-log")
    with start_serving(home, "models:/bc@production", *FAST) as server:
        yield server, model


def test_every_endpoint_logs_under_the_id_it_answers_with(logging_server: tuple[Serving, Any]) -> None:
    server, model = logging_server
    X, _ = breast_cancer()
    rows = X.iloc[:3]
    with server.client() as http:
        predict = http.post("/predict", json={"inputs": rows.to_dict(orient="records")})
        invocations = http.post("/invocations", json={"dataframe_split": rows.iloc[:1].to_dict(orient="split")})
        tensors = [{"name": c, "shape": [1], "datatype": "FP64", "data": [float(rows[c].iloc[1])]} for c in X.columns]
        v2 = http.post("/v2/models/bc/versions/1/infer", json={"id": "client-42", "inputs": tensors})
        bad = http.post("/predict", json={"inputs": [{"mean radius": 1.0}]})
    assert [r.status_code for r in (predict, invocations, v2, bad)] == [200, 200, 200, 422]
    ids = [r.headers["x-request-id"] for r in (predict, invocations, v2, bad)]
    assert predict.json()["request_id"] == ids[0]
    assert v2.json()["id"] == "client-42" and ids[2] != "client-42"  # OIP echoes the client's id; ours in the header
    assert len(set(ids)) == 4 and all(request_time(i) is not None for i in ids)
    frame = _logged(server.home, ids).frame.set_index(["request_id", "row"])
    mine = frame.loc[ids[0]]
    assert mine.index.tolist() == [0, 1, 2]
    assert mine["inputs.mean radius"].tolist() == rows["mean radius"].tolist()
    assert mine["prediction"].tolist() == model.predict(rows).tolist()
    np.testing.assert_allclose(mine[["proba.0", "proba.1"]].to_numpy(), model.predict_proba(rows), rtol=1e-9)
    assert set(mine["endpoint"]) == {"predict"} and set(mine["status"]) == {200} and set(mine["version"]) == {1}
    assert (mine["latency_ms"] > 0).all() and set(mine["model"]) == {"bc"}
    assert frame.loc[(ids[1], 0), "endpoint"] == "invocations"
    assert frame.loc[(ids[2], 0), "endpoint"] == "v2"
    assert frame.loc[(ids[2], 0), "inputs.mean radius"] == rows["mean radius"].iloc[1]
    failed = frame.loc[(ids[3], 0)]
    assert failed["status"] == 422 and failed["endpoint"] == "predict"
    assert np.isnan(failed["prediction"]) and np.isnan(failed["inputs.mean radius"])
    assert request_time(ids[0]) == int(frame.loc[(ids[0], 0), "time"].timestamp() * 1000)


def test_metrics_report_the_log(logging_server: tuple[Serving, Any]) -> None:
    server, _ = logging_server
    X, _ = breast_cancer()
    with server.client() as http:
        rid = http.post("/predict", json={"inputs": X.iloc[:1].to_dict(orient="records")}).headers["x-request-id"]
        _logged(server.home, [rid])
        text = http.get("/metrics").text
    values = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in text.splitlines()
        if line.startswith("loopml_prediction")
    }
    assert values["loopml_prediction_log_written_rows_total"] >= 1
    assert values["loopml_prediction_log_segments_total"] >= 1
    assert values["loopml_prediction_log_dropped_total"] == 0
    assert "loopml_prediction_log_buffered_rows" in values


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"label": 1}, "request_id"),
        ({"request_id": 7, "label": 1}, "request_id"),
        ({"request_id": "a" * 32}, "label"),
        ({"request_id": "a" * 32, "label": None}, "label"),
        ({"request_id": "a" * 32, "label": {"x": 1}}, "label"),
        ({"request_id": "a" * 32, "label": 1, "row": -1}, "row"),
        ({"request_id": "a" * 32, "label": 1, "row": True}, "row"),
        ({"request_id": "a" * 32, "label": [1, 0], "row": 1}, "row"),
        ({"request_id": "a" * 32, "label": 1, "proba": 0.3}, "proba"),
        ({"feedback": [{"request_id": "a" * 32, "label": 1}, {"request_id": "b" * 32, "label": [[1]]}]},
         "feedback.1.label"),
        ({"feedback": []}, "feedback"),
        ({"feedback": [{"request_id": "a" * 32, "label": 1}], "extra": 1}, "body"),
        ([1, 2], "body"),
    ],
)  # fmt: skip
def test_bad_feedback_is_a_422_naming_the_field(logging_server: tuple[Serving, Any], body: Any, field: str) -> None:
    server, _ = logging_server
    with server.client() as http:
        response = http.post("/feedback", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["details"][0]["field"] == field
    assert response.json()["type"] == "InvalidInput"


def test_feedback_that_is_not_json_is_a_422(logging_server: tuple[Serving, Any]) -> None:
    server, _ = logging_server
    with server.client() as http:
        response = http.post("/feedback", content=b"{nope", headers={"content-type": "application/json"})
    assert response.status_code == 422 and response.json()["details"][0]["field"] == "body"


def test_no_log_writes_nothing_and_sampling_without_proba(tmp_path_factory: pytest.TempPathFactory) -> None:
    home, _ = home_with_production_model(tmp_path_factory, "serving-nolog")
    X, _ = breast_cancer()
    body = {"inputs": X.iloc[:1].to_dict(orient="records")}
    with start_serving(home, "models:/bc@production", *FAST, "--no-log") as server, server.client() as http:
        responses = [http.post("/predict", json=body) for _ in range(20)]
        assert all(r.status_code == 200 and "x-request-id" in r.headers for r in responses)
        metrics = http.get("/metrics").text
        time.sleep(0.6)
    assert not (home / "artifacts" / "predictions").exists()
    assert "loopml_prediction_log" not in metrics
    args = (*FAST, "--log-sample", "0.5", "--no-log-proba")
    with start_serving(home, "models:/bc@production", *args) as server, server.client() as http:
        ids = [http.post("/predict", json=body).headers["x-request-id"] for _ in range(200)]
        metrics = http.get("/metrics").text
    frame = read_predictions("bc", layout=_layout(home)).frame  # SIGTERM flushed the rest
    assert set(frame["request_id"]) <= set(ids)
    assert 60 <= len(frame) <= 140  # binomial(200, 0.5): mean 100, sd 7
    assert not [c for c in frame.columns if c.startswith("proba.")]
    assert f"loopml_prediction_log_sampled_out_total {200 - len(frame)}.0" in metrics


@pytest.mark.slow
def test_the_log_survives_sigkill_up_to_the_last_flush_and_a_restart_appends(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    home, _ = home_with_production_model(tmp_path_factory, "serving-kill")
    X, _ = breast_cancer()
    body = {"inputs": X.iloc[:2].to_dict(orient="records")}
    with start_serving(
        home, "models:/bc@production", "--log-level", "warning", "--log-flush-interval", "0.3"
    ) as server:
        with server.client() as http:
            before = [http.post("/predict", json=body).headers["x-request-id"] for _ in range(150)]
        time.sleep(1.0)  # > the flush interval: all of them were flushed
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=15)
    first_pid = server.process.pid
    window = read_predictions("bc", layout=_layout(home))
    assert set(before) <= set(window.frame["request_id"]) and window.n_rows == 300
    with (
        start_serving(home, "models:/bc@production", "--log-level", "warning", "--log-flush-interval", "3600") as again,
        again.client() as http,
    ):
        after = [http.post("/predict", json=body).headers["x-request-id"] for _ in range(50)]
        # a long interval: only the SIGTERM of the stop writes these
    window = read_predictions("bc", layout=_layout(home))
    assert set(window.frame["request_id"]) == set(before) | set(after) and window.n_rows == 400
    writers = {path.name.split("-")[1] for path in _layout(home).segments("bc")}
    assert writers == {str(first_pid), str(again.process.pid)}


@pytest.mark.slow
def test_every_worker_writes_its_own_segments(tmp_path_factory: pytest.TempPathFactory) -> None:
    home, _ = home_with_production_model(tmp_path_factory, "serving-workers")
    X, _ = breast_cancer()
    body = {"inputs": X.iloc[:1].to_dict(orient="records")}
    # a new connection per request (no keep-alive), so the kernel spreads them over the workers; one client
    # for all of them (a client per request loads the CA bundle each time, ~30 ms of CPU)
    no_keepalive = httpx.Limits(max_keepalive_connections=0)
    with (
        start_serving(home, "models:/bc@production", *FAST, "--workers", "2") as server,
        http_client(base_url=server.url, timeout=30, limits=no_keepalive) as http,
    ):
        # /readyz answered from one worker; the other may still be loading (503, logged as such)
        responses = [http.post("/predict", json=body) for _ in range(60)]
        ids = [r.headers["x-request-id"] for r in responses]
        window = _logged(home, ids)
    assert window.n_rows == 60
    statuses = dict(zip(window.frame["request_id"], window.frame["status"], strict=True))
    assert [statuses[i] for i in ids] == [r.status_code for r in responses]
    assert {r.status_code for r in responses} <= {200, 503}
    pids = {path.name.split("-")[1] for path in _layout(home).segments("bc")}
    assert str(server.process.pid) not in pids and all(pid.isdigit() and int(pid) != os.getpid() for pid in pids)


def test_requests_before_the_model_loads_are_logged_with_their_503(tmp_path_factory: pytest.TempPathFactory) -> None:
    home, _ = home_with_production_model(tmp_path_factory, "serving-unloaded")
    with (
        start_serving(home, "models:/bc@staging", *FAST, wait_for="/healthz") as server,  # no such alias yet
        server.client() as http,
    ):
        response = http.post("/predict", json={"inputs": [{"mean radius": 1.0}]})
        assert response.status_code == 503
        window = _logged(home, [response.headers["x-request-id"]])
    row = window.frame.iloc[0]
    assert (row["status"], row["model"], row["endpoint"]) == (503, "bc", "predict") and np.isnan(row["version"])
