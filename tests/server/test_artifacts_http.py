"""Artifacts over HTTP: hashes checked both ways, paths confined, body sizes limited."""

from __future__ import annotations

import hashlib
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from tests.server.conftest import LiveServer, settings_for, thread_server

import loopml as lm
from loopml.store.http.tracking import HttpTrackingStore
from loopml.tracking.remote import HttpRunArtifacts


def raw_request(server: LiveServer, method: str, target: str, body: bytes = b"") -> tuple[int, dict]:
    """Send ``target`` byte for byte (no client-side normalisation of ``..`` or percent-escapes)."""
    host, port = server.url.removeprefix("http://").split(":")
    request = (
        f"{method} {target} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {len(body)}\r\n"
        "Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
    ).encode() + body
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, payload = b"".join(chunks).partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, orjson.loads(payload) if payload else {}


@pytest.fixture
def run_id(server: LiveServer) -> str:
    with server.client() as http:
        exp = http.post("/experiments", json={"name": f"art-{uuid.uuid4().hex}"}).json()
        return http.post("/runs", json={"experiment_id": exp["id"]}).json()["id"]


def test_upload_and_download_with_hashes(server: LiveServer, run_id: str) -> None:
    data = bytes(range(256)) * 1000
    sha = hashlib.sha256(data).hexdigest()
    with server.client() as http:
        response = http.put(
            f"/runs/{run_id}/artifacts/dir/my%20file.bin", content=data, headers={"X-Loopml-Sha256": sha}
        )
        assert response.status_code == 201, response.text
        assert response.json() == {"path": "dir/my file.bin", "sha256": sha, "size": len(data)}
        got = http.get(f"/runs/{run_id}/artifacts/dir/my%20file.bin")
        assert got.status_code == 200 and got.content == data
        assert got.headers["x-loopml-sha256"] == sha
        assert got.headers["content-type"] == "application/octet-stream"
        listed = http.get(f"/runs/{run_id}/artifacts", params={"prefix": "dir"}).json()
        assert listed == {"artifacts": [{"path": "dir/my file.bin", "sha256": sha, "size": len(data)}]}

        wrong = http.put(f"/runs/{run_id}/artifacts/other.bin", content=data, headers={"X-Loopml-Sha256": "0" * 64})
        assert wrong.status_code == 422
        assert wrong.json()["details"] == [{"field": "header.x-loopml-sha256", "problem": "does not match the body"}]
        malformed = http.put(f"/runs/{run_id}/artifacts/other.bin", content=data, headers={"X-Loopml-Sha256": "abc"})
        assert malformed.status_code == 422
        assert [a["path"] for a in http.get(f"/runs/{run_id}/artifacts").json()["artifacts"]] == ["dir/my file.bin"]
        assert http.get(f"/runs/{run_id}/artifacts/other.bin").status_code == 404
        assert http.get(f"/runs/{run_id}/artifacts/dir").status_code == 404  # a directory is not a file


TRAVERSALS = [
    "../../../escape.txt",
    "..%2F..%2F..%2Fescape.txt",
    "%2e%2e/%2e%2e/escape.txt",
    "%2E%2E%2F%2E%2E%2Fescape.txt",
    "sub/..%2F..%2F..%2Fescape.txt",
    "sub/../../escape.txt",
    "%2Ftmp%2Fescape.txt",
    "/tmp/escape.txt",
    "..%5C..%5Cescape.txt",
    "C:%5Cescape.txt",
    "escape.txt%00.png",
    "..",
    ".",
    "",
]


@pytest.mark.parametrize("method", ["PUT", "GET"])
def test_path_traversal_is_rejected(server: LiveServer, run_id: str, method: str) -> None:
    payload = f"owned {uuid.uuid4()}".encode()
    sha = hashlib.sha256(payload).hexdigest()
    before = {p for p in server.home.parent.rglob("*")}
    for path in TRAVERSALS:
        status, body = raw_request(server, method, f"/api/v1/runs/{run_id}/artifacts/{path}", payload)
        assert status == 422, (path, status, body)
        assert body["type"] == "InvalidInput" and body["details"][0]["field"] == "path", (path, body)
    assert {p for p in server.home.parent.rglob("*")} - before <= {server.home / "server.log"}
    assert not (server.home / "artifacts" / "sha256" / sha[:2] / sha).exists()  # the body was never stored
    with server.client() as http:
        assert http.get(f"/runs/{run_id}/artifacts").json() == {"artifacts": []}
        audit = http.get("/audit", params={"object_id": run_id}).json()["events"]
        assert [e["action"] for e in audit] == ["run.create"]


def test_double_encoding_is_a_literal_name(server: LiveServer, run_id: str) -> None:
    status, body = raw_request(server, "PUT", f"/api/v1/runs/{run_id}/artifacts/%252e%252e%252fescape.txt", b"x")
    assert status == 201 and body["path"] == "%2e%2e%2fescape.txt"
    assert not list(server.home.parent.rglob("escape.txt"))


def test_tampered_blob_is_refused(server: LiveServer, run_id: str, tmp_path: Path) -> None:
    data = f"precious {uuid.uuid4()}".encode()
    with server.client() as http:
        sha = http.put(f"/runs/{run_id}/artifacts/p.txt", content=data).json()["sha256"]
        (server.home / "artifacts" / "sha256" / sha[:2] / sha).write_bytes(b"tampered")
        response = http.get(f"/runs/{run_id}/artifacts/p.txt")
        assert response.status_code == 500 and response.json()["type"] == "IntegrityError"
    lm.configure(tracking_uri=server.url)
    with pytest.raises(lm.IntegrityError, match="does not match its SHA-256"):
        lm.read_artifact(f"runs:/{run_id}/p.txt")
    with pytest.raises(lm.IntegrityError):
        lm.download_artifacts(run_id, "p.txt", dst=tmp_path)
    assert not list(tmp_path.iterdir())  # no partial file left behind


# -- body size limits -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("small")
    with thread_server(settings_for(home), max_json_bytes=2000, max_artifact_bytes=5000) as live:
        yield live


def _chunks(data: bytes) -> Iterator[bytes]:
    for start in range(0, len(data), 500):
        yield data[start : start + 500]


def test_body_limits_are_413(small_server: LiveServer) -> None:
    with small_server.client() as http:
        exp = http.post("/experiments", json={"name": "limits"}).json()
        run = http.post("/runs", json={"experiment_id": exp["id"]}).json()["id"]
        big_json = orjson.dumps({"tags": {"t": "x" * 3000}})
        for content in (big_json, _chunks(big_json)):  # declared length, then chunked
            response = http.post(f"/runs/{run}/batch", content=content, headers={"Content-Type": "application/json"})
            assert response.status_code == 413, response.text
            body = response.json()
            assert body["type"] == "PayloadTooLarge" and "2000 bytes" in body["error"]
            assert "LOOPML_SERVER_MAX_JSON_BYTES" in body["error"]
        for content in (b"a" * 6000, _chunks(b"b" * 6000)):
            response = http.put(f"/runs/{run}/artifacts/big.bin", content=content)
            assert response.status_code == 413, response.text
            assert "LOOPML_SERVER_MAX_ARTIFACT_BYTES" in response.json()["error"]
        assert http.put(f"/runs/{run}/artifacts/ok.bin", content=b"c" * 4000).status_code == 201
        assert http.put(f"/runs/{run}/artifacts/ok2.bin", content=_chunks(b"d" * 4500)).status_code == 201
        assert [a["path"] for a in http.get(f"/runs/{run}/artifacts").json()["artifacts"]] == ["ok.bin", "ok2.bin"]
    blobs = [p for p in (small_server.home / "artifacts" / "sha256").rglob("*") if p.is_file()]
    assert len(blobs) == 2  # the refused uploads left nothing behind
    assert not any((small_server.home / "artifacts" / "tmp").iterdir())

    store = HttpTrackingStore(small_server.url, actor="t")
    try:
        with pytest.raises(lm.InvalidInput, match="limit for an artifact upload is 5000 bytes"):
            HttpRunArtifacts(store).log_bytes(run, b"z" * 6000, "too-big.bin", actor="t")
    finally:
        store.close()
