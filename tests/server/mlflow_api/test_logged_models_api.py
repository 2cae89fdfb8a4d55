"""MLflow 3 logged models on ``loopml server`` with the real ``mlflow`` client: ``log_model`` and
``load_model`` round trips, the ``/logged-models`` endpoints, and the model's files in its source run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from tests.processes import http_client
from tests.server.conftest import LiveServer, close_sdk_session

import loopml as lm
from loopml.store.sql import Database, SqlTrackingStore
from loopml.store.sql.logged_models import SqlLoggedModelStore

API = "/api/2.0/mlflow"


@pytest.fixture(scope="module")
def db(mlflow_server: LiveServer) -> Iterator[Database]:
    database = Database(mlflow_server.tracking_uri)
    yield database
    database.dispose()


@pytest.fixture(scope="module")
def http(mlflow_server: LiveServer) -> Iterator[httpx.Client]:
    with http_client(base_url=mlflow_server.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def fitted() -> tuple[Any, np.ndarray]:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    return LogisticRegression().fit(X, (X[:, 0] > 0).astype(int)), X


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning")  # mlflow's own import
def test_sklearn_log_model_in_a_run_then_load_model(
    mlflow_client: Any, mlflow_server: LiveServer, fitted: tuple[Any, np.ndarray], db: Database, tmp_path: Path
) -> None:
    import mlflow

    model, X = fitted
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(model, name="model", pip_requirements=["scikit-learn"])  # no pip inference
    run_id = run.info.run_id
    assert info.model_uri == f"models:/{info.model_id}"
    loaded = mlflow.sklearn.load_model(info.model_uri)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))

    logged = mlflow_client.get_logged_model(info.model_id)
    assert logged.status.to_int() == 2  # LOGGED_MODEL_READY
    assert logged.experiment_id == "0" and logged.source_run_id == run_id
    assert logged.artifact_location == f"mlflow-artifacts:/0/models/{info.model_id}/artifacts"
    assert SqlLoggedModelStore(db).run_outputs([run_id]) == {run_id: [(info.model_id, 0)]}
    outputs = mlflow_client.get_run(run_id).outputs.model_outputs  # runs/get shows the run's outputs
    assert [(o.model_id, o.step) for o in outputs] == [(info.model_id, 0)]

    # the same files are the loopml run's artifacts under the model's name, and MLflow 2's runs:/ URI works too
    lm.configure(tracking_uri=mlflow_server.url)
    try:
        local = lm.download_artifacts(run_id, "model", tmp_path / "from-loopml")
    finally:
        close_sdk_session()
    model_files = {a.path for a in SqlLoggedModelStore(db).list_artifacts(info.model_id)}
    assert {"MLmodel", "requirements.txt"} <= model_files
    assert {p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()} == model_files
    # MLflow's view of the run lists the model's files once, from the model (as MLflow's own server does)
    listed = [f.path for f in mlflow_client.list_artifacts(run_id, "model")]
    assert sorted(listed) == sorted(f"model/{p}" for p in model_files)
    by_run = mlflow.sklearn.load_model(f"runs:/{run_id}/model")
    np.testing.assert_array_equal(by_run.predict(X), model.predict(X))


def test_logged_model_endpoints(mlflow_client: Any, db: Database, http: httpx.Client) -> None:
    from mlflow.entities import LoggedModelStatus

    experiment = SqlTrackingStore(db).create_experiment("logged-models-api", actor="test")
    created = mlflow_client._create_logged_model(
        experiment.id, name="clf", model_type="sklearn", tags={"team": "growth"}, params={"C": "1.0"}
    )
    assert created.status == LoggedModelStatus.PENDING
    assert created.params == {"C": "1.0"} and created.tags["team"] == "growth"

    mlflow_client.set_logged_model_tags(created.model_id, {"stage": "candidate"})
    mlflow_client.delete_logged_model_tag(created.model_id, "team")
    mlflow_client.log_model_params(created.model_id, {"penalty": "l2"})
    model = mlflow_client.get_logged_model(created.model_id)
    assert model.tags.get("stage") == "candidate" and "team" not in model.tags
    assert model.params == {"C": "1.0", "penalty": "l2"}

    second = mlflow_client._create_logged_model(experiment.id, name="other")
    found = mlflow_client.search_logged_models([experiment.id])
    assert [m.model_id for m in found] == [second.model_id, created.model_id]
    oldest_first = mlflow_client.search_logged_models(
        [experiment.id], order_by=[{"field_name": "creation_timestamp", "ascending": True}], max_results=1
    )
    assert [m.model_id for m in oldest_first] == [created.model_id] and oldest_first.token == "1"
    by_name = mlflow_client.search_logged_models([experiment.id], filter_string="name = 'clf' AND status != 'READY'")
    assert [m.model_id for m in by_name] == [created.model_id]

    failed = mlflow_client.finalize_logged_model(second.model_id, LoggedModelStatus.FAILED)
    assert failed.status == LoggedModelStatus.FAILED
    mlflow_client.delete_logged_model(second.model_id)
    assert [m.model_id for m in mlflow_client.search_logged_models([experiment.id])] == [created.model_id]
    gone = http.get(f"{API}/logged-models/{second.model_id}")
    assert gone.status_code == 404 and gone.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert http.get(f"{API}/logged-models/{second.model_id}", params={"allow_deleted": "true"}).status_code == 200

    bad = http.post(f"{API}/logged-models", json={"name": "no-experiment"})
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "experiment_id" in bad.text
    unknown = http.post(f"{API}/logged-models", json={"experiment_id": "f" * 32})
    assert unknown.status_code == 404 and unknown.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    status = http.patch(f"{API}/logged-models/{created.model_id}", json={"status": "DONE"})
    assert status.status_code == 400 and status.json()["details"][0]["field"] == "status"
    filtered = http.post(f"{API}/logged-models/search", json={"experiment_ids": [experiment.id], "filter": "x"})
    assert filtered.status_code == 400 and filtered.json()["details"][0]["field"] == "filter"


def test_model_files_are_listed_in_the_source_run(
    mlflow_client: Any, mlflow_server: LiveServer, db: Database, tmp_path: Path, http: httpx.Client
) -> None:
    from mlflow.entities import LoggedModelStatus

    store = SqlTrackingStore(db)
    experiment = store.create_experiment("logged-models-run", actor="test")
    run_id = store.create_run(experiment.id, actor="test").id
    folder = tmp_path / "model"
    (folder / "data").mkdir(parents=True)
    (folder / "MLmodel").write_text("flavors: {}\n")
    (folder / "data" / "weights.bin").write_bytes(b"\x00\x01\x02")

    model = mlflow_client._create_logged_model(experiment.id, name="model", source_run_id=run_id)
    mlflow_client.log_model_artifacts(model.model_id, str(folder))
    listing = http.get(f"{API}/logged-models/{model.model_id}/artifacts/directories").json()
    assert [(f["path"], f["is_dir"]) for f in listing["files"]] == [("MLmodel", False), ("data", True)]
    assert store.list_artifacts(run_id) == []  # listed in the run once READY
    weights = http.get(
        f"{API}/logged-models/{model.model_id}/artifacts/files", params={"artifact_file_path": "data/weights.bin"}
    )
    assert weights.content == b"\x00\x01\x02"
    no_file = http.get(f"{API}/logged-models/{model.model_id}/artifacts/files", params={"artifact_file_path": "../x"})
    assert no_file.status_code == 400 and no_file.json()["details"][0]["field"] == "artifact_file_path"

    mlflow_client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    lm.configure(tracking_uri=mlflow_server.url)
    try:
        assert [a.path for a in lm.list_artifacts(run_id)] == ["model/MLmodel", "model/data/weights.bin"]
        local = lm.download_artifacts(run_id, "model", tmp_path / "down")
        assert (local / "data" / "weights.bin").read_bytes() == b"\x00\x01\x02"
    finally:
        close_sdk_session()

    outputs = http.post(f"{API}/runs/outputs", json={"run_id": run_id, "models": [{"model_id": model.model_id}]})
    assert outputs.json() == {}
    assert SqlLoggedModelStore(db).run_outputs([run_id]) == {run_id: [(model.model_id, 0)]}
    missing = http.post(f"{API}/runs/outputs", json={"run_id": run_id, "models": [{"model_id": f"m-{'0' * 32}"}]})
    assert missing.status_code == 404
