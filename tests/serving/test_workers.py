"""``loopml serve --workers 2``: one port, two processes, and ``/metrics`` that adds both up.

One server for the module, with a canary answering half the requests (its metrics directory under
a test TMPDIR, so the tests can see which worker answered). The tests run in order: counts, then
the prediction log, then a killed worker, then shutdown.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pandas as pd
import pytest

from loopml.tracking import session
from tests.serving.conftest import (
    Serving,
    breast_cancer,
    home_with_production_model,
    set_alias,
    start_serving,
    train_and_register,
)
from tests.worker_metrics import buckets, counter_by_pid, metrics_dir, samples, spread_over_workers, value, wait_for

pytestmark = pytest.mark.slow  # real server processes

PREDICT = {"endpoint": "/predict", "status": "200"}


@dataclass
class Workers:
    server: Serving
    tmpdir: Path
    rows: list[dict[str, float]]
    sent: int = 0
    versions: list[int] = field(default_factory=list)

    def scrape(self) -> str:
        with self.server.client() as http:  # a fresh connection each time: any worker may answer
            response = http.get("/metrics")
        assert response.status_code == 200
        return response.text

    def answered(self) -> dict[int, float]:
        return counter_by_pid(metrics_dir(self.tmpdir), "loopml_serving_requests_total", PREDICT)


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    home, _model = home_with_production_model(tmp_path_factory, "workers")
    with pytest.MonkeyPatch.context() as patch:  # version 2, the canary
        patch.setenv("LOOPML_HOME", str(home))
        session.reset()
        try:
            set_alias("bc", "challenger", train_and_register("bc", "forest")[0])
        finally:
            session.reset()
    tmpdir = tmp_path_factory.mktemp("workers-tmp")
    X, _ = breast_cancer()
    rows = X.iloc[:1].to_dict(orient="records")
    args = ("--workers", "2", "--log-level", "warning", "--log-flush-interval", "0.2",
            "--canary", "models:/bc@challenger", "--canary-share", "0.5")  # fmt: skip
    with start_serving(home, "models:/bc@production", *args, env={"TMPDIR": str(tmpdir)}) as server:
        yield Workers(server, tmpdir, rows)


def _predict(workers: Workers) -> Callable[[httpx.Client], None]:
    def send(http: httpx.Client) -> None:
        response = http.post("/predict", json={"inputs": workers.rows})
        assert response.status_code == 200, response.text
        workers.versions.append(response.json()["model"]["version"])

    return send


def test_requests_add_up_over_both_workers(workers: Workers) -> None:
    wait_for(lambda: value(workers.scrape(), "loopml_serving_model_reloads_total") == 2)  # both loaded the model
    workers.sent = spread_over_workers(workers.server.url, _predict(workers), workers.answered, workers=2)
    assert len(workers.versions) == workers.sent
    by_pid = workers.answered()
    assert len(by_pid) >= 2 and sum(by_pid.values()) == workers.sent
    for _ in range(6):  # whichever worker answers the scrape sees every worker's counts
        text = workers.scrape()
        assert value(text, "loopml_serving_requests_total", **PREDICT) == workers.sent
        assert value(text, "loopml_serving_request_seconds_count", endpoint="/predict") == workers.sent
        champion = workers.versions.count(1)  # the canary batcher does not feed the batch histograms
        assert value(text, "loopml_serving_batch_rows_sum") == champion
        histogram = buckets(text, "loopml_serving_request_seconds", endpoint="/predict")
        counts = [count for _, count in histogram]
        assert counts == sorted(counts) and histogram[-1] == (float("inf"), workers.sent)
        assert value(text, "loopml_serving_workers") == 2
        model = [labels for name, labels, v in _info(text) if v == 1]
        assert [(m["name"], m["version"]) for m in model] == [("bc", "1")]
    # the canary's count lives outside prometheus-client: copied across workers within a second
    canary = workers.versions.count(2)
    wait_for(lambda: value(workers.scrape(), "loopml_serving_canary_requests_total") == canary)


def test_prediction_log_counts_add_up(workers: Workers) -> None:
    # each worker copies its log's counters into the shared files every second
    wait_for(lambda: value(workers.scrape(), "loopml_prediction_log_written_rows_total") == workers.sent)
    text = workers.scrape()
    assert value(text, "loopml_prediction_log_buffered_rows") == 0
    assert value(text, "loopml_prediction_log_dropped_total") == 0
    frame = pd.concat(
        [pd.read_parquet(path) for path in (workers.server.home / "artifacts").rglob("*.parquet")], ignore_index=True
    )
    assert len(frame) >= workers.sent  # both workers logged every request


def test_a_killed_worker_is_replaced_and_its_counts_stay(workers: Workers) -> None:
    directory = metrics_dir(workers.tmpdir)
    pids = sorted(workers.answered())
    victim = next(pid for pid in pids if _parent(pid) == workers.server.process.pid)
    os.kill(victim, signal.SIGKILL)
    # uvicorn starts a replacement; its supervisor drops the dead worker's live gauges
    wait_for(lambda: not (directory / f"gauge_livesum_{victim}.db").exists(), timeout=60)
    # two first loads, then the replacement's
    wait_for(lambda: value(workers.scrape(), "loopml_serving_model_reloads_total") == 3, timeout=60)
    text = workers.scrape()
    assert value(text, "loopml_serving_workers") == 2  # not 3: the dead worker's gauge is gone
    assert value(text, "loopml_serving_requests_total", **PREDICT) == workers.sent  # the dead worker's count stays


def test_the_metrics_directory_is_removed_at_exit(workers: Workers) -> None:
    directory = metrics_dir(workers.tmpdir)
    workers.server.process.send_signal(signal.SIGTERM)
    assert workers.server.process.wait(timeout=30) == 0
    assert not directory.exists()


def _info(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [s for s in samples(text) if s[0] == "loopml_serving_model_info"]


def _parent(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    raise AssertionError(f"no parent for {pid}")
