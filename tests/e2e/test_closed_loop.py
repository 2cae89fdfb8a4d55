"""The closed loop on real processes, on SQLite and on PostgreSQL.

A champion is served by a real ``loopml serve`` (alias URI, hot reload); 8 client threads send
drifted traffic the whole time and labels come back through ``POST /feedback``; policies applied
with ``loopml policy apply`` are checked by ``loopml monitor run --once``: drift fires, the pipeline
retrains in a child process, the gate passes, the alias moves and the server answers as the new
version, with not one failed request. Then a worse challenger is refused and a failing pipeline
raises an alert, and the new champion keeps serving.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import loopml as lm
from loopml.tracking import session as sessions
from tests.automation.conftest import TARGET, World
from tests.automation.conftest import world as world
from tests.cli.conftest import Invoke
from tests.processes import http_client
from tests.serving.conftest import start_serving

pytestmark = pytest.mark.slow

CLIENTS = 8

POLICIES = """
[[automation.policies]]
model = "cancer"
pipeline = "{pipeline}"
data_param = "data"
data = {{dataset = "cancer-train"}}
cooldown = "1h"
timeout = "3m"
triggers = [{{kind = "drift", share = 0.2, window = "1h", min_rows = 50}}]
promotion = {{metric = "accuracy", evaluation_data = "datasets:/cancer-holdout@latest", target = "{target}"}}

[[automation.policies]]
name = "cancer-weak"
model = "cancer"
pipeline = "{pipeline}"
params = {{weak = true}}
data_param = "data"
data = {{dataset = "cancer-train"}}
triggers = [{{kind = "cron", cron = "0 3 1 1 *"}}]
promotion = {{metric = "accuracy", evaluation_data = "datasets:/cancer-holdout@latest", target = "{target}"}}

[[automation.policies]]
name = "cancer-broken"
model = "cancer"
pipeline = "{pipeline}"
params = {{fail = true}}
data_param = "data"
data = {{dataset = "cancer-train"}}
triggers = [{{kind = "cron", cron = "0 3 1 1 *"}}]
promotion = {{metric = "accuracy", evaluation_data = "datasets:/cancer-holdout@latest", target = "{target}"}}
"""


@pytest.fixture
def store_url(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Every process of the test (this one, the server, the pipeline's child) on one database."""
    monkeypatch.setenv("LOOPML_TRACKING_URI", db_url)
    sessions.reset()
    yield db_url
    sessions.reset()


class Traffic:
    """Client threads posting drifted rows until stopped; every answer's status and model version kept."""

    def __init__(self, url: str, rows: list[dict[str, float]]) -> None:
        self.url, self.rows = url, rows
        self.statuses: Counter[int] = Counter()
        self.versions: list[int] = []
        self.request_ids: list[tuple[str, int]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._send, args=(i,), daemon=True) for i in range(CLIENTS)]

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _send(self, client: int) -> None:
        i = client
        with http_client(base_url=self.url, timeout=30) as http:
            while not self._stop.is_set():
                row = i % len(self.rows)
                try:
                    answer = http.post("/predict", json={"inputs": [self.rows[row]]})
                except httpx.HTTPError as exc:  # a refused or dropped connection is a failed request too
                    with self._lock:
                        self.errors.append(repr(exc))
                    continue
                with self._lock:
                    self.statuses[answer.status_code] += 1
                    if answer.status_code == 200:
                        body = answer.json()
                        self.versions.append(int(body["model"]["version"]))
                        self.request_ids.append((body["request_id"], row))
                i += CLIENTS
                time.sleep(0.02)  # still hundreds of requests a second from 8 clients, around every reload

    def wait_for_version(self, version: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self.versions and self.versions[-1] == version and self.versions.count(version) >= CLIENTS:
                    return True
            time.sleep(0.1)
        return False


def test_drift_retrains_gates_promotes_and_serves_the_new_version_without_a_failed_request(
    store_url: str, world: World, loopml_home: Path, tmp_path: Path, cli: Invoke
) -> None:
    config = tmp_path / "policies.toml"
    config.write_text(POLICIES.format(pipeline=world.pipeline, target=TARGET))
    applied = cli("policy", "apply", str(config), "--json")
    assert applied.exit_code == 0, applied.output
    assert [p["policy"]["name"] for p in json.loads(applied.stdout)] == ["cancer", "cancer-weak", "cancer-broken"]
    rows = world.traffic.to_dict(orient="records")
    serving = start_serving(
        loopml_home, "models:/cancer@production", "--reload-interval", "0.5", "--log-flush-interval", "0.2",
        env={"LOOPML_TRACKING_URI": store_url},
    )  # fmt: skip
    with serving as served, Traffic(served.url, rows) as traffic:
        deadline = time.monotonic() + 30
        while len(lm.monitoring.predictions("cancer", since="1h").served_frame) < 200:
            assert time.monotonic() < deadline, served.logs()
            time.sleep(0.3)
        with traffic._lock:  # delayed labels for what was answered so far
            answered = list(traffic.request_ids[:300])
        labels = world.labels.to_numpy()
        lm.monitoring.log_feedback("cancer", [rid for rid, _ in answered], [int(labels[row]) for _, row in answered])

        monitor = cli("monitor", "run", "--once", "--config", str(tmp_path / "none.toml"), "--json")
        passes = json.loads(monitor.stdout)["policies"]
        by_name = {p["policy"]: p for p in passes}
        outcome = by_name["cancer"]["outcome"]
        assert outcome is not None and outcome["status"] == "promoted", monitor.output
        new_version = outcome["challenger_version"]
        assert by_name["cancer-weak"]["outcome"] is None  # its cron is not due
        assert traffic.wait_for_version(new_version, timeout=30), served.logs()

        refused = cli("policy", "run", "cancer-weak", "--json")
        assert refused.exit_code == 1 and json.loads(refused.stdout)["status"] == "refused", refused.output
        broken = cli("policy", "run", "cancer-broken", "--json")
        assert broken.exit_code == 1 and json.loads(broken.stdout)["status"] == "failed", broken.output
        time.sleep(1.0)  # the server keeps answering as the promoted version
        with traffic._lock:
            last = traffic.versions[-CLIENTS:]
    assert traffic.errors == [] and set(traffic.statuses) == {200}, (traffic.errors[:3], traffic.statuses)
    assert set(last) == {new_version}
    assert lm.get_model_version("models:/cancer@production").version == new_version
    alerts = json.loads(cli("monitor", "alerts", "--json").stdout)
    assert any(a["rule"] == "retrain:cancer-broken" and a["state"] == "firing" for a in alerts)
    decisions = json.loads(cli("models", "decisions", "cancer", "--json").stdout)
    assert [d["passed"] for d in decisions] == [False, True]  # newest first: the weak one refused
    audit = json.loads(cli("audit", "--object", "models:/cancer", "--json").stdout)
    assert {"model.decision.record"} <= {e["action"] for e in audit}
    shown = json.loads(cli("policy", "show", "cancer", "--json").stdout)
    assert shown["cycles"][0]["status"] == "promoted" and shown["cycles"][0]["decision_id"] == decisions[1]["id"]
