"""The real ``mlflow`` client (mlflow-skinny, a dev dependency) against a real ``loopml server``.

- ``mlflow_server``: one server per test module (uvicorn in a thread, SQLite, local artifacts);
- ``mlflow_client``: points the ``mlflow`` fluent API at it for one test (``MLFLOW_TRACKING_URI``),
  ends any active run afterwards, and yields an ``MlflowClient`` bound to it;
- ``mlflow_auth_server``: the same with ``--auth``; the client sends ``MLFLOW_TRACKING_TOKEN`` as a
  bearer token, the same tokens ``loopml token create`` makes.

MLflow's telemetry is switched off for the whole session (no network here, and none wanted).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from tests.server.conftest import LiveServer, settings_for, thread_server

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

mlflow = pytest.importorskip("mlflow", reason="mlflow-skinny (dev extra) is not installed")


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One ``loopml server`` (SQLite, local artifacts, no auth) per test module."""
    with thread_server(settings_for(tmp_path_factory.mktemp("mlflow-server"))) as live:
        yield live


@pytest.fixture(scope="module")
def mlflow_auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One ``loopml server --auth`` per test module."""
    with thread_server(settings_for(tmp_path_factory.mktemp("mlflow-auth-server")), auth=True) as live:
        yield live


@pytest.fixture
def mlflow_client(mlflow_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``mlflow`` pointed at ``mlflow_server`` for this test; yields an ``MlflowClient``."""
    yield from _point_mlflow_at(mlflow_server, monkeypatch)


def _forget_active_experiment() -> None:
    """Drop the experiment id ``mlflow.set_experiment`` caches process-wide: it names an experiment of the
    server an earlier test used, which this test's server does not have (MLflow's own tests reset it so)."""
    import mlflow.tracking.fluent as fluent

    fluent._active_experiment_id = None


def _point_mlflow_at(server: LiveServer, monkeypatch: pytest.MonkeyPatch, token: str | None = None) -> Iterator[Any]:
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    # mlflow.set_registry_uri writes MLFLOW_REGISTRY_URI into os.environ (for subprocesses); monkeypatch
    # takes it out again after the test, or later subprocesses (the docs' driver) would call a dead server
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", server.url)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    if token is None:
        monkeypatch.delenv("MLFLOW_TRACKING_TOKEN", raising=False)
    else:
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", token)
    mlflow.set_tracking_uri(server.url)
    mlflow.set_registry_uri(server.url)
    _forget_active_experiment()
    try:
        yield MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        _forget_active_experiment()
        mlflow.set_tracking_uri(None)  # back to the environment's (unset below by monkeypatch)
        mlflow.set_registry_uri(None)


@pytest.fixture
def mlflow_token_client(mlflow_auth_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``mlflow`` pointed at ``mlflow_auth_server`` with a writer token."""
    token = mlflow_auth_server.create_token(f"writer-{os.getpid()}-{id(monkeypatch)}", "writer")
    yield from _point_mlflow_at(mlflow_auth_server, monkeypatch, token)
