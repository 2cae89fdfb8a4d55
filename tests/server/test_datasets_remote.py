"""Datasets, lineage and blobs through a live server: the data catalog behaves as it does embedded.

The catalog's own tests (``tests/data/test_catalog.py``) run here with the SDK pointed at a fresh
server per test (``LOOPML_TRACKING_URI=http://...``); the rest covers the raw HTTP API: its
status codes, error details, auth roles and hash checks.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pandas as pd
import pytest
from tests.data.test_catalog import (  # noqa: F401  (collected here against a server)
    FRAME,
    csv_file,
    test_concurrent_identical_ingests_make_one_version,
    test_failed_ingest_leaves_nothing,
    test_identical_content_returns_existing_version,
    test_ingest_records_an_immutable_version,
    test_load_errors,
    test_runs_record_lineage,
)
from tests.server.conftest import LiveServer, settings_for, start_server, thread_server
from tests.server.conftest import close_sdk_session as _close_session
from tests.server.conftest import server_blobs as _server_blobs

import loopml as lm
from loopml.core.hashing import sha256_bytes
from loopml.core.records import Role
from loopml.data import catalog as data
from loopml.store.base import DatasetStore, LineageStore
from loopml.store.http.data import HttpBlobStore, HttpDatasetStore, HttpLineageStore
from loopml.tracking.session import get_session

SCHEMA = {"columns": [{"name": "x", "type": "int64", "nullable": False}]}


pytestmark = pytest.mark.usefixtures("live")  # a live server with the SDK pointed at it


def _version_body(blob_sha256: str, size: int, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "sha256": sha256_bytes(b"logical table"),
        "blob_sha256": blob_sha256,
        "n_rows": 3,
        "n_columns": 1,
        "size_bytes": size,
        "schema": SCHEMA,
        "profile": {"n_rows": 3},
        "source": {"kind": "test"},
        "description": "",
    }
    body.update(overrides)
    return body


# -- the SDK --------------------------------------------------------------------------------------


def test_session_uses_the_http_data_stores(live: LiveServer) -> None:
    session = get_session()
    assert session.db is None and session.blobs is None
    assert isinstance(session.datasets, HttpDatasetStore) and isinstance(session.datasets, DatasetStore)
    assert isinstance(session.lineage, HttpLineageStore) and isinstance(session.lineage, LineageStore)
    assert isinstance(session.blob_store, HttpBlobStore)


def test_versions_diff_and_log_input_remotely(live: LiveServer, tmp_path: Path) -> None:
    FRAME.to_csv(tmp_path / "export.csv", index=False)
    v1 = data.ingest(tmp_path / "export.csv", name="customers")
    changed = FRAME.copy()
    changed.loc[0:9, "spend"] = 1000.0
    changed["region"] = "eu"
    v2 = data.ingest(changed, name="customers")
    assert [v.version for v in data.versions("customers")] == [1, 2]
    pd.testing.assert_frame_equal(data.load("datasets:/customers/2"), data.load("datasets:/customers@latest"))
    pd.testing.assert_frame_equal(data.load("datasets:/customers/1"), FRAME, check_dtype=False)
    pd.testing.assert_frame_equal(data.load("datasets:/customers/2"), changed, check_dtype=False)
    report = data.diff(v1.uri, v2.uri)
    assert (report.a, report.b, report.row_change) == (v1.uri, v2.uri, 0)
    assert report.added_columns == ["region"] and report.removed_columns == []
    with lm.start_run() as run:
        assert data.log_input("datasets:/customers/1") == v1
    edges = data.lineage("run", run.id)
    assert [(e["source_id"], e["relation"]) for e in edges] == [(v1.id, "input")]
    assert lm.get_run(run.id).tags["loopml.dataset.customers"] == v1.uri
    # the parquet files are on the server, not in the client's home
    server_blobs = _server_blobs(live)
    assert server_blobs.exists(v1.blob_sha256) and server_blobs.exists(v2.blob_sha256)
    assert not (get_session().settings.home / "artifacts" / "sha256").exists()


def test_tampered_blob_on_the_server_is_refused(live: LiveServer, tmp_path: Path) -> None:
    version = data.ingest(FRAME, name="customers")
    path = _server_blobs(live).path_of(version.blob_sha256)
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(lm.IntegrityError, match="does not match its SHA-256"):
        data.load(version.uri)
    blobs = get_session().blob_store
    with pytest.raises(lm.IntegrityError):
        blobs.copy_to(version.blob_sha256, tmp_path / "copy.parquet")
    assert not (tmp_path / "copy.parquet").exists()


def test_upload_is_skipped_when_the_server_has_the_blob(live: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    blobs = get_session().blob_store
    assert isinstance(blobs, HttpBlobStore)
    first = blobs.put_bytes(b"payload")
    sent: list[str] = []
    original = blobs.transport.stream

    def spy(method: str, path: str, **kwargs: object) -> object:
        sent.append(method)
        return original(method, path, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(blobs.transport, "stream", spy)
    assert blobs.put_bytes(b"payload") == first
    assert sent == []


def test_sdk_with_tokens(loopml_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with thread_server(settings_for(tmp_path / "auth-server"), auth=True) as server:
        writer = server.create_token("etl", Role.WRITER)
        reader = server.create_token("viewer", Role.READER)
        monkeypatch.setenv("LOOPML_TOKEN", writer)
        lm.configure(tracking_uri=server.url)
        version = data.ingest(FRAME, name="customers")
        _close_session()
        monkeypatch.setenv("LOOPML_TOKEN", reader)
        lm.configure(tracking_uri=server.url)
        pd.testing.assert_frame_equal(data.load(version.uri), FRAME)
        with pytest.raises(lm.Forbidden, match="needs 'writer'"):
            data.ingest(FRAME.iloc[:5], name="customers")
        _close_session()
        with server.client(reader) as http:
            blob = sha256_bytes(b"x")
            assert http.put(f"/blobs/{blob}", content=b"x").status_code == 403
            body = _version_body(version.blob_sha256, version.size_bytes)
            assert http.post("/datasets/customers/versions", json=body).status_code == 403
            edge = {"source_type": "a", "source_id": "1", "target_type": "b", "target_id": "2", "relation": "r"}
            assert http.post("/lineage", json=edge).status_code == 403
            assert http.get("/datasets").json()["datasets"][0]["name"] == "customers"
            assert http.get(f"/blobs/{version.blob_sha256}").status_code == 200
        with server.client() as anonymous:
            assert anonymous.get("/datasets").status_code == 401
        lm.configure(tracking_uri=server.url)
        events = get_session().store.list_audit_events(object_type="dataset_version")
        assert [(e.action, e.actor) for e in events] == [("dataset.version.create", "etl")]
        _close_session()


def test_data_cli_against_a_server(live: LiveServer, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from loopml.cli.main import app

    FRAME.to_csv(tmp_path / "export.csv", index=False)
    runner = CliRunner()
    ingest = ["data", "ingest", str(tmp_path / "export.csv"), "--name", "customers", "--json"]
    first = runner.invoke(app, ingest)
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["created"] is True
    again = runner.invoke(app, ingest)
    assert json.loads(again.stdout)["created"] is False
    versions = runner.invoke(app, ["data", "versions", "customers", "--json"])
    assert [v["uri"] for v in json.loads(versions.stdout)] == ["datasets:/customers/1"]
    with live.client() as http:
        assert http.get("/datasets").json()["datasets"][0]["versions"] == 1


@pytest.mark.slow
@pytest.mark.services
def test_datasets_through_a_server_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    FRAME.to_csv(tmp_path / "export.csv", index=False)
    with start_server(tmp_path / "pg-server", tracking_uri=pg_url) as server:
        lm.configure(tracking_uri=server.url)
        v1 = data.ingest(tmp_path / "export.csv", name="customers")
        assert data.ingest(FRAME, name="customers") == v1
        with lm.start_run() as run:
            loaded = data.load("datasets:/customers@latest")
        pd.testing.assert_frame_equal(loaded, FRAME, check_dtype=False)
        assert [e["relation"] for e in data.lineage("run", run.id)] == ["input"]
        assert data.list_datasets()[0]["versions"] == 1
        _close_session()


# -- the HTTP API ---------------------------------------------------------------------------------


def _details(response: httpx.Response) -> list[str]:
    body = response.json()
    assert set(body) == {"error", "type", "details"}
    return [d["field"] for d in body["details"]]


def test_blob_endpoints(live: LiveServer) -> None:
    payload = b"some parquet bytes"
    digest = sha256_bytes(payload)
    with live.client() as http:
        created = http.put(f"/blobs/{digest}", content=payload)
        assert created.status_code == 201 and created.json() == {"sha256": digest, "size": len(payload)}
        again = http.put(f"/blobs/{digest}", content=payload)
        assert again.status_code == 200 and again.json() == created.json()
        head = http.head(f"/blobs/{digest}")
        assert head.status_code == 200 and head.headers["content-length"] == str(len(payload))
        got = http.get(f"/blobs/{digest}")
        assert got.content == payload and got.headers["x-loopml-sha256"] == digest

        wrong = http.put(f"/blobs/{sha256_bytes(b'other')}", content=payload)
        assert wrong.status_code == 422 and _details(wrong) == ["path.sha256"]
        assert "does not match the body" in wrong.json()["details"][0]["problem"]
        for bad in ("abc", digest.upper(), "g" * 64):
            for response in (http.put(f"/blobs/{bad}", content=payload), http.get(f"/blobs/{bad}")):
                assert response.status_code == 422 and _details(response) == ["path.sha256"]
            assert http.head(f"/blobs/{bad}").status_code == 422
        unknown = sha256_bytes(b"unknown")
        assert http.get(f"/blobs/{unknown}").status_code == 404
        assert http.head(f"/blobs/{unknown}").status_code == 404


def test_blob_upload_over_the_limit_is_413(tmp_path: Path) -> None:
    with thread_server(settings_for(tmp_path / "small"), max_artifact_bytes=100) as server, server.client() as http:
        payload = b"x" * 1000
        response = http.put(f"/blobs/{sha256_bytes(payload)}", content=payload)
        assert response.status_code == 413 and response.json()["type"] == "PayloadTooLarge"
        assert http.head(f"/blobs/{sha256_bytes(payload)}").status_code == 404


def test_dataset_endpoints(live: LiveServer) -> None:
    payload = b"parquet"
    digest = sha256_bytes(payload)
    with live.client() as http:
        missing = http.post("/datasets/d/versions", json=_version_body(digest, len(payload)))
        assert missing.status_code == 422 and _details(missing) == ["body.blob_sha256"]
        assert "PUT /api/v1/blobs/" in missing.json()["error"]
        http.put(f"/blobs/{digest}", content=payload)
        size = http.post("/datasets/d/versions", json=_version_body(digest, 999))
        assert size.status_code == 422 and _details(size) == ["body.size_bytes"]
        bad_sha = http.post("/datasets/d/versions", json=_version_body(digest, len(payload), sha256="nope"))
        assert bad_sha.status_code == 422 and _details(bad_sha) == ["body.sha256"]
        no_rows = {k: v for k, v in _version_body(digest, len(payload)).items() if k != "n_rows"}
        assert _details(http.post("/datasets/d/versions", json=no_rows)) == ["body.n_rows"]
        negative = http.post("/datasets/d/versions", json=_version_body(digest, len(payload), n_rows=-1))
        assert negative.status_code == 422 and _details(negative) == ["body.n_rows"]
        extra = http.post("/datasets/d/versions", json=_version_body(digest, len(payload), color="red"))
        assert extra.status_code == 422 and _details(extra) == ["body.color"]
        bad_name = http.post("/datasets/bad%20name/versions", json=_version_body(digest, len(payload)))
        assert bad_name.status_code == 422 and _details(bad_name) == ["dataset name"]
        malformed = http.post(
            "/datasets/d/versions", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert malformed.status_code == 422

        created = http.post("/datasets/d/versions", json=_version_body(digest, len(payload)))
        assert created.status_code == 201 and created.json()["created"] is True
        version = created.json()["version"]
        assert (version["name"], version["version"], version["uri"]) == ("d", 1, "datasets:/d/1")
        assert version["created_by"] == "anonymous" and version["schema"] == SCHEMA
        known = http.post("/datasets/d/versions", json=_version_body(digest, len(payload)))
        assert known.status_code == 200 and known.json() == {"version": version, "created": False}

        (listed,) = http.get("/datasets").json()["datasets"]
        assert listed == {"name": "d", "created_at": listed["created_at"], "versions": 1, "latest": 1}
        assert http.get("/datasets/d/versions").json() == {"versions": [version]}
        assert http.get("/datasets/d/versions/1").json() == version
        assert http.get("/datasets/d/versions/latest").json() == version
        assert http.get(f"/datasets/d/by-content/{version['sha256']}").json() == version
        assert http.get(f"/datasets/d/by-content/{sha256_bytes(b'?')}").status_code == 404
        assert _details(http.get("/datasets/d/by-content/xyz")) == ["path.sha256"]
        for bad in ("abc", "-1", "1.5", "newest", "9" * 30):
            response = http.get(f"/datasets/d/versions/{bad}")
            assert response.status_code == 422 and _details(response) == ["path.version"], bad
        assert http.get("/datasets/d/versions/7").status_code == 404
        assert http.get("/datasets/nope/versions").status_code == 404
        assert http.get("/datasets/nope/versions/latest").status_code == 404


def test_lineage_endpoints(live: LiveServer) -> None:
    edge = {"source_type": "dataset_version", "source_id": "d1", "target_type": "run", "target_id": "r1"}
    with live.client() as http:
        created = http.post("/lineage", json={**edge, "relation": "input"})
        assert created.status_code == 201 and created.json()["relation"] == "input"
        assert http.post("/lineage", json={**edge, "relation": "input"}).status_code == 201  # no-op
        listed = http.get("/lineage", params={"object_type": "run", "object_id": "r1", "direction": "in"})
        assert [e["source_id"] for e in listed.json()["edges"]] == ["d1"]
        assert http.get("/lineage", params={"object_type": "run", "object_id": "r1", "direction": "out"}).json() == {
            "edges": []
        }
        assert _details(http.post("/lineage", json=edge)) == ["body.relation"]
        too_long = http.post("/lineage", json={**edge, "relation": "r" * 65})
        assert too_long.status_code == 422 and _details(too_long) == ["body.relation"]
        empty = http.post("/lineage", json={**edge, "source_id": "", "relation": "input"})
        assert _details(empty) == ["body.source_id"]
        assert _details(http.get("/lineage", params={"object_type": "run"})) == ["query.object_id"]
        sideways = http.get("/lineage", params={"object_type": "run", "object_id": "r1", "direction": "up"})
        assert sideways.status_code == 422 and _details(sideways) == ["query.direction"]
    audit = [e for e in get_session().store.list_audit_events(object_type="run", object_id="r1")]
    assert [(e.action, e.actor) for e in audit] == [("lineage.add", "anonymous")]
