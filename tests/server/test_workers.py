"""``loopml server --workers 2``: request metrics that add up over both workers, whichever answers."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from tests.processes import http_client
from tests.server.conftest import LiveServer, start_server
from tests.worker_metrics import buckets, counter_by_pid, metrics_dir, spread_over_workers, value, wait_for

pytestmark = pytest.mark.slow  # real server processes

ROUTE = {"method": "GET", "route": "/api/v1/experiments/{id_or_name}", "status": "404"}


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Path]]:
    tmpdir = tmp_path_factory.mktemp("server-workers-tmp")
    home = tmp_path_factory.mktemp("server-workers")
    with start_server(home, args=("--workers", "2"), env={"TMPDIR": str(tmpdir)}) as live:
        yield live, tmpdir


def _scrape(live: LiveServer) -> str:
    with http_client(base_url=live.url, timeout=30) as http:
        response = http.get("/metrics")
    assert response.status_code == 200
    return response.text


def _missing_experiment(http: httpx.Client) -> None:
    response = http.get("/api/v1/experiments/no-such-id")
    assert response.status_code == 404 and response.json()["type"] == "NotFound"


def test_request_metrics_add_up_over_both_workers(two_workers: tuple[LiveServer, Path]) -> None:
    live, tmpdir = two_workers
    wait_for(lambda: value(_scrape(live), "loopml_server_workers") == 2)

    def answered() -> dict[int, float]:
        return counter_by_pid(metrics_dir(tmpdir), "loopml_server_requests_total", ROUTE)

    send: Callable[[httpx.Client], None] = _missing_experiment
    sent = spread_over_workers(f"{live.url}", send, answered, workers=2)
    assert sum(answered().values()) == sent
    for _ in range(6):
        text = _scrape(live)
        assert value(text, "loopml_server_requests_total", **ROUTE) == sent
        latency = {"method": "GET", "route": ROUTE["route"]}
        assert value(text, "loopml_server_request_seconds_count", **latency) == sent
        histogram = buckets(text, "loopml_server_request_seconds", **latency)
        counts = [count for _, count in histogram]
        assert counts == sorted(counts) and histogram[-1] == (float("inf"), sent)
        assert value(text, "loopml_server_workers") == 2


def test_unmatched_paths_share_one_label(two_workers: tuple[LiveServer, Path]) -> None:
    live, _ = two_workers
    with http_client(base_url=live.url, timeout=30) as http:
        for n in range(3):
            assert http.get(f"/api/v1/nothing-here-{n}").status_code == 404
    text = _scrape(live)
    assert value(text, "loopml_server_requests_total", method="GET", route="other", status="404") == 3
    assert "nothing-here" not in text


def test_the_metrics_directory_is_removed_at_exit(two_workers: tuple[LiveServer, Path]) -> None:
    live, tmpdir = two_workers
    directory = metrics_dir(tmpdir)
    assert any(directory.glob("counter_*.db"))
    process = live.process
    assert process is not None
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert not directory.exists()
