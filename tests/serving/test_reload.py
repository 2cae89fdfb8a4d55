"""Hot reload: moving an alias swaps the served version under load with zero failed requests."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import httpx

from tests.processes import http_client
from tests.serving.conftest import breast_cancer, set_alias, start_serving, train_and_register

CLIENTS = 8


def _wait_for(predicate: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        time.sleep(0.05)
    raise TimeoutError("condition not met in time")


def test_alias_swap_and_rollback_under_load(loopml_home: Path) -> None:
    v1, _ = train_and_register("churn", "logreg")
    v2, _ = train_and_register("churn", "forest")
    assert (v1, v2) == (1, 2)
    set_alias("churn", "production", v1)
    X, _ = breast_cancer()
    body = {"inputs": X.iloc[:3].to_dict(orient="records")}
    seen: list[tuple[float, int, int | None]] = []
    failures: list[str] = []
    stop = threading.Event()

    def client(url: str) -> None:
        with http_client(base_url=url, timeout=30) as http:
            while not stop.is_set():
                try:
                    response = http.post("/predict", json=body)
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                    continue
                version = response.json().get("model", {}).get("version") if response.status_code == 200 else None
                seen.append((time.monotonic(), response.status_code, version))
                if response.status_code != 200:
                    failures.append(response.text)

    def latest_version() -> int | None:
        return seen[-1][2] if seen else None

    with start_serving(loopml_home, "models:/churn@production", "--reload-interval", "0.2") as server:
        threads = [threading.Thread(target=client, args=(server.url,)) for _ in range(CLIENTS)]
        for thread in threads:
            thread.start()
        try:
            _wait_for(lambda: len(seen) > 50)
            set_alias("churn", "production", v2)
            _wait_for(lambda: latest_version() == 2 and sum(v == 2 for _, _, v in seen[-20:]) == 20)
            set_alias("churn", "production", v1)  # rollback: move the alias back
            _wait_for(lambda: sum(v == 1 for _, _, v in seen[-20:]) == 20)
            time.sleep(0.3)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
        ready = httpx.get(f"{server.url}/readyz").json()
        metrics = httpx.get(f"{server.url}/metrics").text
    assert failures == []
    assert all(status == 200 for _, status, _ in seen)
    versions = [v for _, _, v in sorted(seen)]
    switches = [b for a, b in itertools.pairwise(versions) if a != b]
    assert versions[0] == 1 and versions[-1] == 1 and 2 in versions
    assert switches[0] == 2 and switches[-1] == 1  # 1 -> 2 -> 1 (threads may interleave around each swap)
    assert ready["model"] == {"name": "churn", "version": 1, "uri": "models:/churn/1"}
    assert 'loopml_serving_model_info{name="churn",uri="models:/churn/1",version="1"} 1.0' in metrics
    assert 'version="2"' not in metrics.split("loopml_serving_model_info", 1)[1].split("# HELP", 1)[0]
    assert "loopml_serving_model_reloads_total 3.0" in metrics


def test_not_ready_until_the_alias_exists(loopml_home: Path) -> None:
    uri = "models:/late@production"
    with start_serving(loopml_home, uri, "--reload-interval", "0.2", wait_for="/healthz") as s, s.client() as http:
        ready = http.get("/readyz")
        assert ready.status_code == 503 and ready.json()["status"] == "loading"
        assert http.get("/v2/health/ready").status_code == 503
        early = http.post("/predict", json={"inputs": [{"a": 1}]})
        assert early.status_code == 503 and early.json()["type"] == "ModelNotReady"
        assert early.headers["retry-after"] == "1"
        version, _ = train_and_register("late")
        set_alias("late", "production", version)
        _wait_for(lambda: http.get("/readyz").status_code == 200)
        assert http.get("/readyz").json()["model"]["version"] == 1
