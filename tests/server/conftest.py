"""Live servers for the server tests: real uvicorn on real sockets.

- :func:`start_server` runs ``python -m loopml.server`` in a subprocess with its own LOOPML_HOME.
- :func:`thread_server` runs ``uvicorn.Server`` in a thread (fast start, for per-test databases).
Both wait for ``/api/v1/health`` with a bounded timeout and are stopped in teardown.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from tests.conftest import free_port
from tests.processes import http_client, spawn_http_process, wait_ready

import loopml as lm
from loopml.artifacts import LocalBlobStore
from loopml.config import Settings, load_settings
from loopml.core.records import Role
from loopml.server import create_app
from loopml.store.sql import Database
from loopml.store.sql.tokens import SqlTokenStore
from loopml.tracking import session as sessions


@dataclass
class LiveServer:
    """A running server: its base URL, home directory and database URL."""

    url: str
    home: Path
    tracking_uri: str
    log: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def api(self) -> str:
        return f"{self.url}/api/v1"

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return http_client(base_url=self.api, headers=headers, timeout=30)

    def create_token(self, name: str, role: Role | str) -> str:
        """A token made directly in the server's database (how the first admin token is bootstrapped)."""
        db = Database(self.tracking_uri)
        try:
            _, secret = SqlTokenStore(db).create(name, role, actor="test-bootstrap")
        finally:
            db.dispose()
        return secret

    def logs(self) -> str:
        return self.log.read_text() if self.log and self.log.exists() else ""


@contextmanager
def start_server(
    home: Path,
    *,
    auth: bool = False,
    tracking_uri: str | None = None,
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
) -> Iterator[LiveServer]:
    """``python -m loopml.server`` on a free port, stopped (SIGTERM, then SIGKILL) on exit."""
    home.mkdir(parents=True, exist_ok=True)
    tracking_uri = tracking_uri or f"sqlite:///{home / 'loopml.db'}"
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    child_env.update({"LOOPML_HOME": str(home), "LOOPML_TRACKING_URI": tracking_uri, **(env or {})})
    log = home / "server.log"
    flags = [*args, *(["--auth"] if auth else [])]

    def command(port: int) -> list[str]:
        return [sys.executable, "-m", "loopml.server", "--port", str(port), "--log-level", "warning", *flags]

    with spawn_http_process(command, env=child_env, log=log, ready_path="/api/v1/health") as (url, process):
        yield LiveServer(url, home, tracking_uri, log, process)


@contextmanager
def thread_server(settings: Settings, *, auth: bool = False, **limits: int) -> Iterator[LiveServer]:
    """``uvicorn.Server`` in a thread of this process (starts in milliseconds)."""
    app = create_app(settings, auth=auth, **limits)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    live = LiveServer(f"http://127.0.0.1:{port}", settings.home, settings.tracking_uri)
    try:
        wait_ready(f"{live.url}/api/v1/health", alive=thread.is_alive)
        yield live
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def settings_for(home: Path, tracking_uri: str | None = None) -> Settings:
    """Settings of a server whose files live in ``home``."""
    env = {"LOOPML_HOME": str(home)}
    if tracking_uri:
        env["LOOPML_TRACKING_URI"] = tracking_uri
    return load_settings(env, cwd=home)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One subprocess server (no auth) shared by a test module."""
    with start_server(tmp_path_factory.mktemp("server")) as live:
        yield live


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One subprocess server with ``--auth`` shared by a test module."""
    with start_server(tmp_path_factory.mktemp("auth-server"), auth=True) as live:
        yield live


@pytest.fixture
def remote(server: LiveServer) -> LiveServer:
    """The SDK pointed at the shared server for this test."""
    lm.configure(tracking_uri=server.url)
    return server


def close_sdk_session() -> None:
    """End the SDK's open runs and flush while the server is still up, then forget the session."""
    current = sessions.current_session()
    if current is not None:
        for run in list(reversed(current.runs)):
            run.end()
    sessions.reset()


def server_blobs(server: LiveServer) -> LocalBlobStore:
    """The server's own blob store, read directly (to check what reached it)."""
    return LocalBlobStore(settings_for(server.home).artifact_uri)


@pytest.fixture
def live(loopml_home: Path, tmp_path: Path) -> Iterator[LiveServer]:
    """A fresh server (SQLite, uvicorn in a thread) with the SDK pointed at it (remote SDK tests)."""
    with thread_server(settings_for(tmp_path / "server")) as server:
        lm.configure(tracking_uri=server.url)
        yield server
        close_sdk_session()
