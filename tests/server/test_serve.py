"""``serve()`` and ``python -m loopml.server``: exposure check, options, workers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from tests.server.conftest import start_server

import loopml as lm
from loopml.server import serve
from loopml.server.serve import check_exposure, is_loopback


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)
    check_exposure(host, auth=False, insecure=False)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "example.com", ""])
def test_serve_refuses_exposed_host_without_auth(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(lm.InvalidInput, match=r"Refusing to listen on .* without authentication.*--auth.*--insecure"):
        serve(host=host, port=0)
    check_exposure(host, auth=True, insecure=False)
    check_exposure(host, auth=False, insecure=True)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"port": 70000}, "Invalid port"),
        ({"port": "80"}, "Invalid port"),
        ({"workers": 0}, "Invalid workers"),
        ({"log_level": "loud"}, "valid levels are critical, error"),
    ],
)
def test_serve_validates_options(kwargs: dict, message: str) -> None:
    with pytest.raises(lm.InvalidInput, match=message):
        serve(**kwargs)


def _run_module(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")} | env
    return subprocess.run(
        [sys.executable, "-m", "loopml.server", *args], env=child_env, capture_output=True, text=True, timeout=60
    )


def test_module_refuses_exposed_host_and_bad_config(tmp_path: Path) -> None:
    result = _run_module("--host", "0.0.0.0", "--port", "0", env={"LOOPML_HOME": str(tmp_path)})
    assert result.returncode == 2
    assert "Refusing to listen on 0.0.0.0 without authentication" in result.stderr
    result = _run_module(env={"LOOPML_HOME": str(tmp_path), "LOOPML_TRACKING_URI": "http://127.0.0.1:1"})
    assert result.returncode == 2 and "needs a database" in result.stderr
    result = _run_module(env={"LOOPML_HOME": str(tmp_path), "LOOPML_SERVER_MAX_JSON_BYTES": "lots"})
    assert result.returncode == 2 and "LOOPML_SERVER_MAX_JSON_BYTES" in result.stderr


@pytest.mark.slow
def test_exposed_host_with_auth_and_several_workers(tmp_path: Path) -> None:
    with start_server(tmp_path / "srv", auth=True, args=("--host", "0.0.0.0", "--workers", "2")) as live:
        token = live.create_token("admin", "admin")
        assert httpx.get(f"{live.api}/experiments").status_code == 401
        with live.client(token) as http:
            for n in range(10):  # spread over both workers
                assert http.post("/experiments", json={"name": f"w{n}"}).status_code == 201
            assert len(http.get("/experiments").json()["experiments"]) == 10


@pytest.mark.slow
def test_insecure_flag_allows_exposed_host(tmp_path: Path) -> None:
    with start_server(tmp_path / "srv", args=("--host", "0.0.0.0", "--insecure")) as live:
        assert httpx.get(f"{live.api}/experiments").status_code == 200
