"""``loopml server`` (``python -m loopml.server``) under slow clients, over real sockets: header and
body timeouts, and the warning printed on every start beyond loopback with --insecure."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from tests.processes import http_client
from tests.server.conftest import LiveServer, start_server

pytestmark = pytest.mark.slow

TIMEOUT = 1.0


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {"LOOPML_HEADER_TIMEOUT": str(TIMEOUT), "LOOPML_BODY_TIMEOUT": str(TIMEOUT)}
    home = tmp_path_factory.mktemp("guards") / "srv"
    with start_server(home, env=env, args=("--host", "0.0.0.0", "--insecure")) as server:
        yield server


def _connect(live: LiveServer) -> socket.socket:
    url = urlparse(live.url)
    return socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=15)


def _until_closed(sock: socket.socket) -> tuple[int, dict[str, str], bytes, float]:
    start = time.monotonic()
    raw = b""
    while chunk := sock.recv(65536):
        raw += chunk
    waited = time.monotonic() - start
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body, waited


def test_insecure_start_prints_a_warning(live: LiveServer) -> None:
    assert live.log is not None
    assert "Warning: loopml server listens on 0.0.0.0 with no authentication (--insecure)" in live.log.read_text()


def test_slow_headers_are_cut_off(live: LiveServer) -> None:
    with _connect(live) as sock:
        sock.sendall(b"GET /api/v1/experiments HTTP/1.1\r\nHost: test\r\nAcc")
        status, headers, body, waited = _until_closed(sock)
    assert status == 408 and headers["connection"] == "close"
    assert json.loads(body)["type"] == "RequestTimeout"
    assert TIMEOUT * 0.8 <= waited < TIMEOUT + 4


def test_a_stalled_json_body_gets_408(live: LiveServer) -> None:
    with _connect(live) as sock:
        head = "POST /api/v1/experiments HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        sock.sendall(f"{head}Content-Length: 100\r\n\r\n".encode() + b'{"name": ')
        status, headers, body, waited = _until_closed(sock)
    assert status == 408 and headers["connection"] == "close"
    error = json.loads(body)
    assert error["type"] == "RequestTimeout" and "LOOPML_BODY_TIMEOUT" in error["error"]
    assert TIMEOUT * 0.8 <= waited < TIMEOUT + 4
    with http_client(base_url=live.api, timeout=30) as client:  # the server is fine afterwards
        assert client.post("/experiments", json={"name": "after"}).status_code == 201


def test_a_stalled_artifact_upload_gets_408(live: LiveServer, tmp_path: Path) -> None:
    with http_client(base_url=live.api, timeout=30) as client:
        exp = client.post("/experiments", json={"name": "uploads"}).json()
        run = client.post("/runs", json={"experiment_id": exp["id"]}).json()
    with _connect(live) as sock:
        head = f"PUT /api/v1/runs/{run['id']}/artifacts/big.bin HTTP/1.1\r\nHost: test\r\nContent-Length: 100000\r\n"
        sock.sendall(f"{head}Content-Type: application/octet-stream\r\n\r\n".encode() + b"x" * 10)
        status, _, body, waited = _until_closed(sock)
    assert status == 408, body
    assert TIMEOUT * 0.8 <= waited < TIMEOUT + 4
