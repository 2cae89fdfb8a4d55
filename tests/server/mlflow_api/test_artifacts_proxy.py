"""MLflow's artifact proxy (``/api/2.0/mlflow-artifacts/artifacts``) over raw HTTP and through MLflow's own
artifact repository: a run's files are the loopml run's artifacts."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.processes import http_client
from tests.server.conftest import LiveServer, settings_for, thread_server

from loopml.store.sql import Database, SqlTrackingStore
from loopml.store.sql.logged_models import SqlLoggedModelStore

PROXY = "/api/2.0/mlflow-artifacts/artifacts"
LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """This module's server, with a small artifact limit (413 tests)."""
    with thread_server(settings_for(tmp_path_factory.mktemp("proxy")), max_artifact_bytes=LIMIT) as live:
        yield live


@pytest.fixture(scope="module")
def db(mlflow_server: LiveServer) -> Iterator[Database]:
    database = Database(mlflow_server.tracking_uri)
    yield database
    database.dispose()


@pytest.fixture
def run(db: Database) -> tuple[str, str]:
    """(experiment id, run id) of a fresh run in the server's database."""
    store = SqlTrackingStore(db)
    experiment = store.get_or_create_experiment("proxy", actor="test")
    return experiment.id, store.create_run(experiment.id, actor="test").id


@pytest.fixture(scope="module")
def http(mlflow_server: LiveServer) -> Iterator[httpx.Client]:
    with http_client(base_url=mlflow_server.url, timeout=30) as client:
        yield client


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error_code"] == code, body
    return body


def test_put_list_get_delete_are_the_runs_loopml_artifacts(http: httpx.Client, run: tuple[str, str]) -> None:
    experiment_id, run_id = run
    root = f"{PROXY}/{experiment_id}/{run_id}/artifacts"
    data = b"loss,0.3\n" * 100
    assert http.put(f"{root}/reports/loss.csv", content=data).json() == {}
    assert http.put(f"{root}/notes.txt", content=b"hello").status_code == 200

    listing = http.get(PROXY, params={"path": f"{experiment_id}/{run_id}/artifacts"}).json()
    assert listing["files"] == [
        {"path": "notes.txt", "is_dir": False, "file_size": 5},
        {"path": "reports", "is_dir": True},
    ]
    inner = http.get(PROXY, params={"path": f"{experiment_id}/{run_id}/artifacts/reports"}).json()
    assert inner["files"] == [{"path": "loss.csv", "is_dir": False, "file_size": len(data)}]

    download = http.get(f"{root}/reports/loss.csv")
    assert download.content == data
    assert download.headers["x-loopml-sha256"] == hashlib.sha256(data).hexdigest()

    # the same files through loopml's own API
    loopml = http.get(f"/api/v1/runs/{run_id}/artifacts").json()["artifacts"]
    assert {a["path"]: a["sha256"] for a in loopml} == {
        "notes.txt": hashlib.sha256(b"hello").hexdigest(),
        "reports/loss.csv": hashlib.sha256(data).hexdigest(),
    }

    assert http.delete(f"{root}/reports").json() == {}
    assert [a["path"] for a in http.get(f"/api/v1/runs/{run_id}/artifacts").json()["artifacts"]] == ["notes.txt"]
    _error(http.get(f"{root}/reports/loss.csv"), 404, "RESOURCE_DOES_NOT_EXIST")
    _error(http.delete(f"{root}/reports"), 404, "RESOURCE_DOES_NOT_EXIST")


def test_traversal_and_other_layouts_are_refused(http: httpx.Client, run: tuple[str, str]) -> None:
    experiment_id, run_id = run
    root = f"{PROXY}/{experiment_id}/{run_id}/artifacts"
    for bad in ("%2E%2E/%2E%2E/escape.txt", "a/%2e%2e/%2e%2e/%2e%2e/x", "a%5Cb.txt"):
        body = _error(http.put(f"{root}/{bad}", content=b"x"), 400, "INVALID_PARAMETER_VALUE")
        assert body["details"][0]["field"] == "path"
    listing = http.get(PROXY, params={"path": f"{experiment_id}/{run_id}/artifacts/../../other"})
    _error(listing, 400, "INVALID_PARAMETER_VALUE")
    _error(http.get(PROXY, params={"path": "/etc"}), 400, "INVALID_PARAMETER_VALUE")
    _error(http.get(PROXY, params={"path": experiment_id}), 404, "RESOURCE_DOES_NOT_EXIST")
    assert http.get(f"/api/v1/runs/{run_id}/artifacts").json()["artifacts"] == []


def test_unknown_run_or_wrong_experiment_is_404(http: httpx.Client, run: tuple[str, str]) -> None:
    experiment_id, run_id = run
    body = _error(http.put(f"{PROXY}/{experiment_id}/{'0' * 32}/artifacts/x.txt", content=b"x"), 404,
                  "RESOURCE_DOES_NOT_EXIST")  # fmt: skip
    assert "0" * 32 in body["message"]
    wrong = http.get(PROXY, params={"path": f"{'f' * 32}/{run_id}/artifacts"})
    assert "not in experiment" in _error(wrong, 404, "RESOURCE_DOES_NOT_EXIST")["message"]
    _error(http.get(f"{PROXY}/{experiment_id}/{run_id}/artifacts/missing.txt"), 404, "RESOURCE_DOES_NOT_EXIST")


def test_too_large_upload_is_413_and_records_nothing(http: httpx.Client, run: tuple[str, str]) -> None:
    experiment_id, run_id = run
    root = f"{PROXY}/{experiment_id}/{run_id}/artifacts"
    declared = http.put(f"{root}/big.bin", content=b"x" * (LIMIT + 1))
    assert declared.status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit cuts the stream
        for _ in range(4):
            yield b"y" * (LIMIT // 2)

    streamed = http.put(f"{root}/big2.bin", content=chunks())
    assert streamed.status_code == 413
    assert http.get(f"/api/v1/runs/{run_id}/artifacts").json()["artifacts"] == []


def test_logged_model_files_through_the_proxy(http: httpx.Client, db: Database, run: tuple[str, str]) -> None:
    experiment_id, run_id = run
    model = SqlLoggedModelStore(db).create(experiment_id, name="model", source_run_id=run_id, actor="test")
    root = f"{PROXY}/{experiment_id}/models/{model.id}/artifacts"
    assert http.put(f"{root}/MLmodel", content=b"flavors: {}\n").status_code == 200
    assert http.put(f"{root}/data/model.bin", content=b"\x00\x01").status_code == 200
    listing = http.get(PROXY, params={"path": f"{experiment_id}/models/{model.id}/artifacts"}).json()["files"]
    assert [(f["path"], f["is_dir"]) for f in listing] == [("MLmodel", False), ("data", True)]
    assert http.get(f"{root}/data/model.bin").content == b"\x00\x01"
    assert [a.path for a in SqlLoggedModelStore(db).list_artifacts(model.id)] == ["MLmodel", "data/model.bin"]
    _error(http.get(PROXY, params={"path": f"{experiment_id}/models/m-{'0' * 32}/artifacts"}), 404,
           "RESOURCE_DOES_NOT_EXIST")  # fmt: skip
    _error(http.get(PROXY, params={"path": f"{experiment_id}/models/not-an-id/artifacts"}), 400,
           "INVALID_PARAMETER_VALUE")  # fmt: skip


def test_mlflow_artifact_repository_round_trip(
    mlflow_client: Any, run: tuple[str, str], tmp_path: Path, http: httpx.Client
) -> None:
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    experiment_id, run_id = run
    source = tmp_path / "out"
    (source / "plots").mkdir(parents=True)
    (source / "plots" / "roc.json").write_text('{"auc": 0.9}')
    (source / "summary.txt").write_text("ok")
    repo = get_artifact_repository(f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts")
    repo.log_artifacts(str(source), "eval")
    repo.log_artifact(str(source / "summary.txt"))

    assert [(f.path, f.is_dir) for f in repo.list_artifacts()] == [("eval", True), ("summary.txt", False)]
    assert [(f.path, f.file_size) for f in repo.list_artifacts("eval/plots")] == [("eval/plots/roc.json", 12)]
    (tmp_path / "down").mkdir()
    local = Path(repo.download_artifacts("eval", str(tmp_path / "down")))
    assert (local / "plots" / "roc.json").read_text() == '{"auc": 0.9}'
    assert (local / "summary.txt").read_text() == "ok"

    repo.delete_artifacts("eval/plots")
    loopml_paths = [a["path"] for a in http.get(f"/api/v1/runs/{run_id}/artifacts").json()["artifacts"]]
    assert loopml_paths == ["eval/summary.txt", "summary.txt"]


@pytest.fixture(scope="module")
def auth_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with thread_server(settings_for(tmp_path_factory.mktemp("proxy-auth")), auth=True) as live:
        yield live


def test_reader_may_read_but_not_write(auth_proxy: LiveServer) -> None:
    db = Database(auth_proxy.tracking_uri)
    try:
        store = SqlTrackingStore(db)
        experiment = store.create_experiment("auth", actor="test")
        run_id = store.create_run(experiment.id, actor="test").id
    finally:
        db.dispose()
    root = f"{PROXY}/{experiment.id}/{run_id}/artifacts"
    reader = auth_proxy.create_token("proxy-reader", "reader")
    writer = auth_proxy.create_token("proxy-writer", "writer")
    with http_client(base_url=auth_proxy.url, timeout=30) as client:
        _error(client.put(f"{root}/a.txt", content=b"a"), 401, "UNAUTHENTICATED")
        as_reader = {"Authorization": f"Bearer {reader}"}
        _error(client.put(f"{root}/a.txt", content=b"a", headers=as_reader), 403, "PERMISSION_DENIED")
        assert client.put(f"{root}/a.txt", content=b"a", headers={"Authorization": f"Bearer {writer}"}).json() == {}
        assert client.get(f"{root}/a.txt", headers=as_reader).content == b"a"
        _error(client.delete(f"{root}/a.txt", headers=as_reader), 403, "PERMISSION_DENIED")
