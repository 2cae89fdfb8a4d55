"""A running ``loopml serve`` never runs code from a version a writer uploads (issue 9).

End to end: a real ``loopml server --auth`` (subprocess), tokens made with ``loopml token create``,
a writer (this test process) that logs, registers and aliases a skops model whose file calls
``os.system``, and a real ``loopml serve models:/x@production`` started by the operator with a
reader token and no ``--trust``, following the alias every 0.2 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import loopml as lm
from tests.processes import http_client, spawn_http_process
from tests.registry.malicious import PAYLOAD_TYPE, log_poisoned_model
from tests.registry.test_trust import Scaled
from tests.server.conftest import LiveServer, close_sdk_session, start_server

pytestmark = pytest.mark.slow

SCALED = f"{Scaled.__module__}.{Scaled.__qualname__}"


def _token(server: LiveServer, role: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env.update({"LOOPML_HOME": str(server.home), "LOOPML_TRACKING_URI": server.tracking_uri})
    result = subprocess.run(
        [sys.executable, "-m", "loopml.cli", "token", "create", "--role", role, "--json"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return json.loads(result.stdout)["token"]


@contextmanager
def _serve(server: LiveServer, token: str, home: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    child = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    child.update({"LOOPML_HOME": str(home), "LOOPML_TRACKING_URI": server.url, "LOOPML_TOKEN": token, **(env or {})})
    home.mkdir(parents=True, exist_ok=True)

    def command(port: int) -> list[str]:
        return [sys.executable, "-m", "loopml.cli", "serve", "models:/x@production", "--port", str(port),
                "--reload-interval", "0.2", "--log-level", "info", *args]  # fmt: skip

    with spawn_http_process(command, env=child, log=home / "serve.log", ready_path="/readyz") as (url, _):
        yield url


def _wait(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _register(info_uri: str) -> int:
    version = lm.register_model(info_uri, name="x").version
    lm.set_model_alias("x", "production", version)
    return version


@pytest.fixture
def data() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"age": rng.normal(40, 10, 120), "income": rng.normal(50, 15, 120)})
    return X, pd.Series((X["age"] > 40).astype(int))


def test_alias_moved_by_a_writer_to_a_payload_never_runs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, y = data
    marker = tmp_path / "pwned"
    with start_server(tmp_path / "server", auth=True) as server:
        writer, reader = _token(server, "writer"), _token(server, "reader")
        monkeypatch.setenv("LOOPML_TOKEN", writer)
        lm.configure(tracking_uri=server.url)
        good = LogisticRegression().fit(X, y)
        with lm.start_run():
            first = lm.log_model(good, "model", input_example=X.iloc[:5])
        assert _register(first.uri) == 1
        rows = {"inputs": X.iloc[:8].to_dict(orient="records")}
        with _serve(server, reader, tmp_path / "serve") as url, http_client(base_url=url, timeout=30) as http:
            assert http.get("/readyz").json()["model"]["version"] == 1
            with lm.start_run():
                poisoned = log_poisoned_model(LogisticRegression(C=0.5).fit(X, y), marker, X.iloc[:5])
            assert _register(poisoned.uri) == 2
            _wait(lambda: "refused" in http.get("/readyz").json(), "the server to refuse version 2")
            ready = http.get("/readyz").json()
            assert ready["status"] == "ready" and ready["model"]["version"] == 1
            assert ready["refused"][0]["uri"] == "models:/x/2" and PAYLOAD_TYPE in ready["refused"][0]["error"]
            for _ in range(3):  # keeps serving version 1 while the alias points at the payload
                answer = http.post("/predict", json=rows)
                assert answer.status_code == 200
                assert answer.json()["model"]["version"] == 1
                assert answer.json()["predictions"] == good.predict(X.iloc[:8]).tolist()
                time.sleep(0.3)
            metrics = http.get("/metrics").text
            assert 'loopml_serving_model_load_failures_total{error="SecurityError"} 1.0' in metrics
            log = (tmp_path / "serve" / "serve.log").read_text()
            assert "refused for safety, not retried; still serving version 1" in log
            assert log.count("SecurityError") == 1  # logged once, not every 0.2 s
            # a good version after the refused one is still picked up
            with lm.start_run():
                third = lm.log_model(LogisticRegression(C=2.0).fit(X, y), "model", input_example=X.iloc[:5])
            assert _register(third.uri) == 3
            _wait(lambda: http.get("/readyz").json()["model"]["version"] == 3, "the server to load version 3")
            assert http.post("/predict", json=rows).json()["model"]["version"] == 3
        close_sdk_session()
    assert not marker.exists()


def test_operator_trust_types_admit_an_extra_type(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, y = data
    with start_server(tmp_path / "server", auth=True) as server:
        writer, reader = _token(server, "writer"), _token(server, "reader")
        monkeypatch.setenv("LOOPML_TOKEN", writer)
        lm.configure(tracking_uri=server.url)
        with lm.start_run():
            first = lm.log_model(LogisticRegression().fit(X, y), "model", input_example=X.iloc[:5])
        _register(first.uri)
        with lm.start_run():
            custom = lm.log_model(Scaled().fit(X), "model", input_example=X.iloc[:5])
        rows = {"inputs": X.iloc[:4].to_dict(orient="records")}
        expected = Scaled().fit(X).predict(X.iloc[:4]).tolist()
        with (
            _serve(server, reader, tmp_path / "plain") as plain,
            _serve(server, reader, tmp_path / "flag", "--trust-types", f"a.B,{SCALED}") as flag,
            _serve(server, reader, tmp_path / "setting", env={"LOOPML_TRUSTED_TYPES": SCALED}) as setting,
        ):
            assert _register(custom.uri) == 2
            with http_client(timeout=30) as http:  # one client for every poll and request
                for url in (flag, setting):
                    _wait(lambda u=url: http.get(f"{u}/readyz").json()["model"]["version"] == 2, f"{url} to load v2")
                    answer = http.post(f"{url}/predict", json=rows).json()
                    assert answer["model"]["version"] == 2 and answer["predictions"] == pytest.approx(expected)
                _wait(lambda: "refused" in http.get(f"{plain}/readyz").json(), "the plain server to refuse v2")
                assert SCALED in http.get(f"{plain}/readyz").json()["refused"][0]["error"]
                assert http.post(f"{plain}/predict", json=rows).json()["model"]["version"] == 1
        close_sdk_session()


def test_bad_trust_types_are_a_usage_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")} | {"LOOPML_HOME": str(tmp_path)}
    command = [sys.executable, "-m", "loopml.cli", "serve", "models:/x@production"]
    result = subprocess.run([*command, "--trust-types", "system"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "Invalid --trust-types entry 'system'" in result.stderr
    bad_env = env | {"LOOPML_TRUSTED_TYPES": "os.system,eval"}
    result = subprocess.run(command, env=bad_env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "Invalid LOOPML_TRUSTED_TYPES entry 'eval'" in result.stderr
