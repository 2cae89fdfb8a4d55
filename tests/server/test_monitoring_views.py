"""Views of the prediction log on the platform API, and the remote SDK reading through them."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pytest
import uvicorn
from fastapi import FastAPI
from tests.conftest import free_port
from tests.monitoring.test_feedback import BASE, parquet_bytes, segment_table
from tests.processes import http_client, wait_ready
from tests.server.conftest import LiveServer, settings_for

import loopml as lm
from loopml.core.ids import request_id
from loopml.monitoring.layout import PredictionLayout, hour_key
from loopml.monitoring.segments import write_segment
from loopml.monitoring.service import MonitorConfig
from loopml.server.app import create_app


@contextmanager
def _running(app: FastAPI) -> Iterator[str]:
    """``app`` on uvicorn in a thread (its lifespan starts the hosted monitor); its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_ready(f"http://127.0.0.1:{port}/api/v1/health", alive=thread.is_alive)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def _fill(server: LiveServer, n: int = 250) -> list[str]:
    layout = PredictionLayout(settings_for(server.home).artifact_uri)
    times = [BASE + i * 1000 for i in range(n)]
    ids = [request_id(t) for t in times]
    write_segment(layout, "churn", hour_key(BASE), parquet_bytes(segment_table(ids, times)))
    return ids


def test_predictions_page_in_request_order_until_the_last(live: LiveServer) -> None:
    ids = _fill(live)
    seen: list[str] = []
    after = None
    with http_client(base_url=f"{live.url}/api/v1/monitoring", timeout=30) as client:
        assert client.get("/models").json() == {"models": ["churn"]}
        while True:
            params = {"limit": 100, **({"after": after} if after else {})}
            page = client.get("/models/churn/predictions", params=params)
            assert page.status_code == 200, page.text
            body = page.json()
            seen.extend(row["request_id"] for row in body["rows"])
            after = body["next_page"]
            if after is None:
                break
        assert seen == sorted(ids)
        assert body["rows"][-1]["time"] == BASE + 249_000  # times as Unix ms
        bad = client.get("/models/churn/predictions", params={"after": "nonsense"})
        assert bad.status_code == 422 and bad.json()["details"][0]["field"] == "after"
        bad = client.get("/models/churn/predictions", params={"limit": 0})
        assert bad.status_code == 422
        bad = client.get("/models/no%20such/predictions")
        assert bad.status_code == 422 and "model" in bad.json()["details"][0]["field"]


def test_operations_and_quality_are_computed_on_the_server(live: LiveServer) -> None:
    ids = _fill(live, 100)
    lm.monitoring.log_feedback("churn", ids, (np.arange(100) % 2).tolist())
    with http_client(base_url=f"{live.url}/api/v1/monitoring", timeout=30) as client:
        ops = client.get("/models/churn/operations", params={"window": "1h"}).json()["operations"]
        assert ops[0]["requests"] == 100 and ops[0]["p99_ms"] == pytest.approx(1.5)
        quality = client.get("/models/churn/quality", params={"window": "1h"}).json()
        assert quality["n_labelled"] == 100 and quality["realised"][0]["accuracy"] == pytest.approx(1.0)
        bad = client.get("/models/churn/quality", params={"window": "soon"})
        assert bad.status_code == 422 and bad.json()["details"][0]["field"] == "window"


def test_the_remote_sdk_reads_the_servers_log(live: LiveServer, loopml_home: Path) -> None:
    ids = _fill(live, 30)
    window = lm.monitoring.predictions("churn", since=BASE, until=BASE + 3_600_000)
    assert window.n_rows == 30 and sorted(window.frame["request_id"]) == sorted(ids)
    assert list(window.inputs.columns) == ["age"]
    assert not PredictionLayout(loopml_home / "artifacts").models()  # nothing was read or written locally
    assert lm.monitoring.operations("churn", since=BASE, until=BASE + 3_600_000)["requests"].sum() == 30


def test_server_monitor_hosts_the_service_and_its_gauges(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "server")
    layout = PredictionLayout(settings.artifact_uri)
    now = int(time.time() * 1000)
    times = [now - 30_000 + i for i in range(20)]
    write_segment(layout, "churn", hour_key(times[0]), parquet_bytes(segment_table([request_id(t) for t in times],
                                                                                    times)))  # fmt: skip
    if hour_key(times[-1]) != hour_key(times[0]):  # pragma: no cover - the minute straddles an hour
        pytest.skip("the test's minute straddles an hour boundary")
    rule = lm.monitoring.AlertRule("slow", "churn", "latency_p99", 1.0)  # the log says 1.5 ms
    app = create_app(settings, monitor=MonitorConfig(interval=1.0, rules=(rule,)))

    with _running(app) as url:
        deadline = time.monotonic() + 20
        text = ""
        while time.monotonic() < deadline:
            text = httpx.get(f"{url}/metrics").text
            if 'loopml_alert_firing{model="churn",rule="slow"} 1.0' in text:
                break
            time.sleep(0.2)
        assert 'loopml_alert_firing{model="churn",rule="slow"} 1.0' in text
        alerts = httpx.get(f"{url}/api/v1/monitoring/alerts", params={"state": "firing"}).json()["alerts"]
        assert [(a["rule"], a["value"]) for a in alerts] == [("slow", 1.5)]


def test_drift_of_a_window_against_the_served_versions_profile(live: LiveServer) -> None:
    import pandas as pd
    from sklearn.dummy import DummyClassifier

    reference = pd.DataFrame({"age": np.arange(1000, 2000, dtype=np.int64)})  # the log's ages are 0..249
    model = DummyClassifier().fit(reference, np.zeros(len(reference), dtype=int))
    for _ in range(3):  # the log was written by version 3
        with lm.start_run() as run:
            lm.log_model(model, "model", input_example=reference.iloc[:5], reference_data=reference)
        lm.register_model(f"runs:/{run.id}/model", name="churn")
    _fill(live)
    with http_client(base_url=f"{live.url}/api/v1/monitoring", timeout=30) as client:
        report = client.get("/models/churn/drift")
        assert report.status_code == 200, report.text
        assert report.json()["drifted"] is True and report.json()["drifted_columns"] == ["age"]
        empty = client.get("/models/churn/drift", params={"since_ms": 1, "until_ms": 2})
        assert empty.status_code == 422 and empty.json()["details"][0]["field"] == "since"


def test_pages_keep_shadow_rows_apart_from_the_served_ones(live: LiveServer) -> None:
    layout = PredictionLayout(settings_for(live.home).artifact_uri)
    times = [BASE + i * 1000 for i in range(5)]
    ids = [request_id(t) for t in times]
    served = segment_table(ids, times, role=pa.array(["served"] * 5), served_by=pa.array(["champion"] * 5))
    shadow = segment_table(ids, times, role=pa.array(["shadow"] * 5), served_by=pa.array(["challenger"] * 5))
    write_segment(layout, "churn", hour_key(BASE), parquet_bytes(pa.concat_tables([served, shadow])))
    seen: list[tuple[str, str]] = []
    after = None
    with http_client(base_url=f"{live.url}/api/v1/monitoring", timeout=30) as client:
        while True:
            body = client.get("/models/churn/predictions", params={"limit": 3, **({"after": after} if after else {})})
            assert body.status_code == 200, body.text
            seen += [(row["request_id"], row["role"]) for row in body.json()["rows"]]
            after = body.json()["next_page"]
            if after is None:
                break
        ops = client.get("/models/churn/operations").json()["operations"]
    assert sorted(seen) == sorted([(i, "served") for i in ids] + [(i, "shadow") for i in ids])
    assert ops[0]["requests"] == 5  # shadow rows are not traffic
