"""Searching runs and experiments, soft deletion and MLflow's logging rules, through the real client."""

from __future__ import annotations

from typing import Any

import mlflow
import pytest
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException
from tests.server.conftest import LiveServer

from loopml.store.sql import Database, SqlTrackingStore


@pytest.fixture(scope="module")
def store(mlflow_server: LiveServer) -> Any:
    """loopml's own store over the server's database."""
    opened = SqlTrackingStore(Database(mlflow_server.tracking_uri))
    yield opened
    opened.close()


def _error_code(call: Any, *args: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(MlflowException) as info:
        call(*args, **kwargs)
    return info.value.error_code, info.value.message


def test_search_runs_filters_order_and_pages(mlflow_client: Any) -> None:
    experiment_id = mlflow_client.create_experiment("search-runs")
    ids = []
    for i in range(5):
        run = mlflow_client.create_run(experiment_id, run_name=f"r{i}", start_time=1_000 + i)
        mlflow_client.log_batch(
            run.info.run_id,
            metrics=[Metric("acc", i / 10, 1_000, 0)],
            params=[Param("model", "rf" if i % 2 else "gbm")],
            tags=[RunTag("team", "a" if i < 3 else "b")],
        )
        ids.append(run.info.run_id)
    mlflow_client.set_terminated(ids[4], "FAILED")

    def names(filter_string: str = "", order_by: list[str] | None = None) -> list[str]:
        runs = mlflow_client.search_runs([experiment_id], filter_string, order_by=order_by)
        return [r.info.run_name for r in runs]

    assert names() == ["r4", "r3", "r2", "r1", "r0"]  # newest first
    assert names("metrics.acc > 0.15", ["metrics.acc ASC"]) == ["r2", "r3", "r4"]
    assert names("params.model = 'rf' and tags.team = 'a'") == ["r1"]
    assert names("params.model IN ('rf') AND attributes.run_name NOT IN ('r1')") == ["r3"]
    assert names("attributes.status = 'FAILED'") == ["r4"]
    assert names("attributes.start_time <= 1001", ["attributes.start_time"]) == ["r0", "r1"]
    assert names("tags.mlflow.runName = 'r2'") == ["r2"]
    assert names("run_name LIKE 'r%'", ["params.model DESC", "metrics.`acc` DESC"]) == ["r3", "r1", "r4", "r2", "r0"]
    page = mlflow_client.search_runs([experiment_id], max_results=2)
    assert [r.info.run_name for r in page] == ["r4", "r3"] and page.token
    page = mlflow_client.search_runs([experiment_id], max_results=2, page_token=page.token)
    assert [r.info.run_name for r in page] == ["r2", "r1"]
    frame = mlflow.search_runs([experiment_id], filter_string="metrics.acc >= 0.3")
    assert sorted(frame["tags.mlflow.runName"]) == ["r3", "r4"]
    assert sorted(frame["metrics.acc"]) == [0.3, 0.4]
    code, message = _error_code(mlflow_client.search_runs, [experiment_id], "metrics.acc >> 1")
    assert code == "INVALID_PARAMETER_VALUE" and "'>'" in message
    code, message = _error_code(mlflow_client.search_runs, [experiment_id], "metric.acc > 1 OR params.x = 'y'")
    assert code == "INVALID_PARAMETER_VALUE" and "OR" in message


def test_delete_restore_runs_and_hidden_from_loopml(mlflow_client: Any, store: SqlTrackingStore) -> None:
    experiment_id = mlflow_client.create_experiment("search-delete")
    keep = mlflow_client.create_run(experiment_id).info.run_id
    gone = mlflow_client.create_run(experiment_id).info.run_id
    mlflow_client.delete_run(gone)
    assert mlflow_client.get_run(gone).info.lifecycle_stage == "deleted"
    assert [r.info.run_id for r in mlflow_client.search_runs([experiment_id])] == [keep]
    deleted = mlflow_client.search_runs([experiment_id], run_view_type=ViewType.DELETED_ONLY)
    assert [(r.info.run_id, r.info.lifecycle_stage) for r in deleted] == [(gone, "deleted")]
    assert len(mlflow_client.search_runs([experiment_id], run_view_type=ViewType.ALL)) == 2
    assert [r.id for r in store.search_runs([store.get_experiment("search-delete").id])] == [keep]
    code, _ = _error_code(mlflow_client.log_param, gone, "x", "1")
    assert code == "INVALID_PARAMETER_VALUE"
    mlflow_client.restore_run(gone)
    mlflow_client.log_param(gone, "x", "1")
    assert mlflow_client.get_run(gone).data.params == {"x": "1"}


def test_logging_rules(mlflow_client: Any) -> None:
    run_id = mlflow_client.create_run("0").info.run_id
    mlflow_client.log_param(run_id, "p", "1")
    mlflow_client.log_param(run_id, "p", "1")  # the same value again is fine
    code, message = _error_code(mlflow_client.log_param, run_id, "p", "2")
    assert code == "INVALID_PARAMETER_VALUE" and "'p'" in message
    mlflow_client.set_tag(run_id, "t", "1")
    mlflow_client.set_tag(run_id, "t", "2")  # tags are mutable
    mlflow_client.set_tag(run_id, "mlflow.runName", "renamed")
    mlflow_client.delete_tag(run_id, "t")
    got = mlflow_client.get_run(run_id)
    assert "t" not in got.data.tags and got.info.run_name == "renamed"
    code, _ = _error_code(mlflow_client.delete_tag, run_id, "t")
    assert code == "RESOURCE_DOES_NOT_EXIST"
    code, _ = _error_code(mlflow_client.log_param, run_id, "long", "x" * 6001)
    assert code == "INVALID_PARAMETER_VALUE"
    code, _ = _error_code(mlflow_client.log_metric, "f" * 32, "m", 1.0)
    assert code == "RESOURCE_DOES_NOT_EXIST"
    mlflow_client.log_batch(run_id, metrics=[Metric("m", float(i), 0, i) for i in range(1000)])
    assert [m.step for m in mlflow_client.get_metric_history(run_id, "m")] == list(range(1000))


def test_log_inputs_shown_in_run(mlflow_client: Any) -> None:
    run_id = mlflow_client.create_run("0").info.run_id
    dataset = Dataset("train", "abc123", "local", '{"uri": "/data/train.csv"}', schema='{"a": "int"}')
    item = DatasetInput(dataset, tags=[InputTag("mlflow.data.context", "training")])
    mlflow_client.log_inputs(run_id, datasets=[item])
    mlflow_client.log_inputs(run_id, datasets=[item])  # logged once
    inputs = mlflow_client.get_run(run_id).inputs.dataset_inputs
    assert len(inputs) == 1
    assert (inputs[0].dataset.name, inputs[0].dataset.digest, inputs[0].dataset.schema) == (
        "train",
        "abc123",
        '{"a": "int"}',
    )
    assert {t.key: t.value for t in inputs[0].tags} == {"mlflow.data.context": "training"}


def test_experiments_search_rename_delete_restore_tags(mlflow_client: Any, store: SqlTrackingStore) -> None:
    first = mlflow_client.create_experiment("exps-alpha", tags={"team": "a"})
    second = mlflow_client.create_experiment("exps-beta", tags={"team": "b"})
    run_id = mlflow_client.create_run(second).info.run_id

    def names(**kwargs: Any) -> list[str]:
        return [e.name for e in mlflow_client.search_experiments(**kwargs) if e.name.startswith("exps-")]

    assert names(filter_string="name LIKE 'exps-%'", order_by=["name ASC"]) == ["exps-alpha", "exps-beta"]
    assert names(filter_string="tags.team = 'b'") == ["exps-beta"]
    page = mlflow_client.search_experiments(filter_string="name LIKE 'exps-%'", max_results=1)
    assert len(page) == 1 and page.token
    mlflow_client.rename_experiment(first, "exps-gamma")
    mlflow_client.set_experiment_tag(first, "owner", "me")
    mlflow_client.delete_experiment_tag(first, "team")
    assert mlflow_client.get_experiment(first).tags == {"owner": "me"}
    mlflow_client.delete_experiment(second)
    assert mlflow_client.get_experiment(second).lifecycle_stage == "deleted"
    assert mlflow_client.get_run(run_id).info.lifecycle_stage == "deleted"  # deleted with its experiment
    assert names(filter_string="name LIKE 'exps-%'") == ["exps-gamma"]
    assert names(view_type=ViewType.DELETED_ONLY) == ["exps-beta"]
    assert "exps-beta" not in [e.name for e in store.list_experiments()]
    code, _ = _error_code(mlflow_client.create_run, second)
    assert code == "INVALID_PARAMETER_VALUE"
    mlflow_client.restore_experiment(second)
    assert mlflow_client.get_run(run_id).info.lifecycle_stage == "active"
    code, message = _error_code(mlflow_client.delete_experiment, "0")
    assert code == "INVALID_PARAMETER_VALUE" and "default" in message
    code, message = _error_code(mlflow_client.search_experiments, filter_string="nmae = 'x'")
    assert code == "INVALID_PARAMETER_VALUE" and "'nmae'" in message
