"""Experiments and runs through the real ``mlflow`` client: create, get, get-by-name, update."""

from __future__ import annotations

from typing import Any

import mlflow
import pytest
from mlflow.exceptions import MlflowException
from tests.server.conftest import LiveServer

from loopml.store.sql import Database, SqlTrackingStore


def _store(server: LiveServer) -> SqlTrackingStore:
    return SqlTrackingStore(Database(server.tracking_uri))


def test_experiment_create_get_by_name(mlflow_client: Any) -> None:
    experiment_id = mlflow_client.create_experiment("basics-exp", tags={"team": "growth"})
    experiment = mlflow_client.get_experiment(experiment_id)
    assert experiment.name == "basics-exp"
    assert experiment.tags == {"team": "growth"}
    assert experiment.lifecycle_stage == "active"
    assert experiment.artifact_location == f"mlflow-artifacts:/{experiment_id}"
    assert experiment.creation_time > 0
    assert mlflow_client.get_experiment_by_name("basics-exp").experiment_id == experiment_id
    assert mlflow_client.get_experiment_by_name("no-such-experiment") is None
    with pytest.raises(MlflowException) as info:
        mlflow_client.get_experiment("f" * 32)
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as info:
        mlflow_client.create_experiment("basics-exp")
    assert info.value.error_code == "RESOURCE_ALREADY_EXISTS"


def test_default_experiment_is_zero(mlflow_client: Any) -> None:
    assert mlflow_client.get_experiment("0").name == "Default"
    assert mlflow_client.get_experiment_by_name("Default").experiment_id == "0"
    with mlflow.start_run() as run:
        pass
    assert run.info.experiment_id == "0"
    assert mlflow_client.get_run(run.info.run_id).info.experiment_id == "0"


def test_fluent_run_round_trip(mlflow_client: Any, mlflow_server: LiveServer) -> None:
    mlflow.set_experiment("basics-fluent")
    with mlflow.start_run(run_name="first") as run:
        mlflow.log_param("C", 0.5)
        mlflow.log_params({"penalty": "l2", "max_iter": 100})
        mlflow.log_metric("loss", 0.5, step=0)
        mlflow.log_metric("loss", 0.25, step=1)
        mlflow.log_metrics({"f1": 0.8, "nan": float("nan"), "inf": float("inf")})
        mlflow.set_tag("team", "growth")
        mlflow.set_tags({"stage": "dev"})
    got = mlflow_client.get_run(run.info.run_id)
    assert got.info.run_name == "first"
    assert got.info.status == "FINISHED"
    assert got.info.end_time is not None and got.info.end_time >= got.info.start_time
    assert got.info.lifecycle_stage == "active"
    assert got.info.artifact_uri == f"mlflow-artifacts:/{got.info.experiment_id}/{run.info.run_id}/artifacts"
    assert got.data.params == {"C": "0.5", "penalty": "l2", "max_iter": "100"}
    assert got.data.metrics["loss"] == 0.25 and got.data.metrics["f1"] == 0.8
    assert got.data.metrics["nan"] != got.data.metrics["nan"]  # NaN
    assert got.data.metrics["inf"] == float("inf")
    assert got.data.tags["team"] == "growth" and got.data.tags["stage"] == "dev"
    assert got.data.tags["mlflow.runName"] == "first"
    history = mlflow_client.get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 0.5), (1, 0.25)]
    # the same run, read through loopml's own store
    store = _store(mlflow_server)
    try:
        loopml_run = store.get_run(run.info.run_id)
        assert loopml_run.name == "first"
        assert loopml_run.params == got.data.params
        assert loopml_run.metrics["loss"] == 0.25
        assert loopml_run.tags["team"] == "growth"
        assert store.get_experiment("basics-fluent").id == got.info.experiment_id
    finally:
        store.close()


def test_update_run_and_nested_child(mlflow_client: Any, mlflow_server: LiveServer) -> None:
    experiment_id = mlflow_client.create_experiment("basics-nested")
    with (
        mlflow.start_run(experiment_id=experiment_id) as parent,
        mlflow.start_run(nested=True, run_name="child") as child,
    ):
        pass
    client_run = mlflow_client.create_run(experiment_id, run_name="to-rename")
    mlflow_client.update_run(client_run.info.run_id, status="KILLED", name="renamed")
    got = mlflow_client.get_run(client_run.info.run_id)
    assert (got.info.status, got.info.run_name) == ("KILLED", "renamed")
    store = _store(mlflow_server)
    try:
        assert store.get_run(child.info.run_id).parent_run_id == parent.info.run_id
        assert store.get_run(client_run.info.run_id).name == "renamed"
    finally:
        store.close()
    with pytest.raises(MlflowException) as info:
        mlflow_client.get_run("0" * 32)
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
