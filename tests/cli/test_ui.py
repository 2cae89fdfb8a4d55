"""``loopml ui``: a real server with the web UI on the configured store; a taken port is refused."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

import loopml as lm
from tests.conftest import free_port
from tests.processes import wait_ready

pytestmark = pytest.mark.slow


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env["LOOPML_HOME"] = str(home)
    return env


def test_ui_serves_the_configured_store_and_refuses_a_taken_port(loopml_home: Path, tmp_path: Path) -> None:
    lm.set_experiment("ui-store")
    with lm.start_run(name="seen-in-the-ui"):
        lm.log_metric("f1", 0.9)
    from loopml.tracking import session

    session.reset()
    port = free_port()
    log = tmp_path / "ui.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "loopml.cli.main", "ui", "--no-browser", "--port", str(port)],
            env=_env(loopml_home), stdout=out, stderr=out,
        )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(f"{url}/api/v1/health", alive=lambda: process.poll() is None)
        page = httpx.get(url + "/")
        assert page.status_code == 200
        assert "seen-in-the-ui" in page.text and "ui-store" in page.text
        again = subprocess.run(
            [sys.executable, "-m", "loopml.cli.main", "ui", "--no-browser", "--port", str(port)],
            env=_env(loopml_home), capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert again.returncode == 2
        assert f"Port {port} on 127.0.0.1 is in use" in again.stderr
        assert "Traceback" not in again.stderr
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert f"loopml UI at http://127.0.0.1:{port}/ on sqlite:///" in log.read_text()


def test_ui_with_a_server_store_opens_that_server(tmp_path: Path) -> None:
    with socket.socket() as listener:  # nothing is started: the command only names the server's UI
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
    env = _env(tmp_path) | {"LOOPML_TRACKING_URI": f"http://127.0.0.1:{port}/"}
    result = subprocess.run(
        [sys.executable, "-m", "loopml.cli.main", "ui", "--no-browser"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"loopml UI of the configured server: http://127.0.0.1:{port}/"
