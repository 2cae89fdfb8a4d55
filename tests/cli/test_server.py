"""``loopml server``: options reach ``loopml.server.serve``; exposing without auth is refused."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from tests.cli.conftest import Invoke


def test_options_are_passed_to_serve(cli: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("loopml.server.serve", lambda **kwargs: calls.append(kwargs))
    result = cli("server", "--host", "0.0.0.0", "--port", "6060", "--auth", "--workers", "2", "--log-level", "debug")
    assert result.exit_code == 0, result.output
    assert calls == [
        {"host": "0.0.0.0", "port": 6060, "auth": True, "insecure": False, "workers": 2, "log_level": "debug",
         "scheduler_interval": None, "monitor": False}
    ]  # fmt: skip
    assert cli("server").exit_code == 0
    assert calls[-1] == {
        "host": "127.0.0.1",
        "port": 5050,
        "auth": False,
        "insecure": False,
        "workers": 1,
        "log_level": "info",
        "scheduler_interval": None,
        "monitor": False,
    }
    assert cli("server", "--monitor").exit_code == 0 and calls[-1]["monitor"] is True
    assert cli("server", "--scheduler", "--scheduler-interval", "5").exit_code == 0
    assert calls[-1]["scheduler_interval"] == 5.0
    assert cli("server", "--scheduler").exit_code == 0 and calls[-1]["scheduler_interval"] == 30.0


def test_public_host_without_auth_is_refused(cli: Invoke) -> None:
    result = cli("server", "--host", "0.0.0.0")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("Error: Refusing to listen on 0.0.0.0 without authentication")
    assert "--auth" in result.stderr and result.stderr.count("\n") == 1


def test_public_host_without_auth_is_refused_in_a_real_process() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "loopml.cli.main", "server", "--host", "0.0.0.0", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "Refusing to listen on 0.0.0.0 without authentication" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--port", "70000"], "--port"), (["--workers", "0"], "--workers"), (["--log-level", "loud"], "log level")],
)
def test_bad_options(cli: Invoke, args: list[str], message: str) -> None:
    result = cli("server", *args)
    assert result.exit_code == 2
    assert message in result.stderr
