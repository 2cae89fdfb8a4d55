"""The store methods behind the MLflow API on SQLite and PostgreSQL: soft deletion with its runs,
renames, tag removal, run inputs, history pages, ``IN`` filters."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loopml.core.errors import Conflict, InvalidInput, NotFound
from loopml.core.records import RunStatus
from loopml.store.sql import Database, SqlTrackingStore
from loopml.store.sql.lifecycle import RunInput


@pytest.fixture
def store(db_url: str) -> Iterator[SqlTrackingStore]:
    opened = SqlTrackingStore(Database(db_url))
    yield opened
    opened.close()


def test_lifecycle_edits(store: SqlTrackingStore) -> None:
    experiment = store.create_experiment("life", actor="t")
    other = store.create_experiment("other", actor="t")
    first = store.create_run(experiment.id, name="first", actor="t")
    second = store.create_run(experiment.id, name="second", tags={"k": "v"}, actor="t")
    store.set_run_stage(first.id, "deleted", actor="t")
    store.set_experiment_stage(experiment.id, "deleted", actor="t")
    assert store.run_stages([first.id, second.id]) == {first.id: "deleted", second.id: "deleted"}
    assert [e.name for e in store.list_experiments()] == ["other"]
    assert store.search_runs([experiment.id]) == []
    with pytest.raises(InvalidInput, match="deleted"):
        store.create_run(experiment.id, actor="t")
    with pytest.raises(InvalidInput, match="active"):
        store.log_batch(second.id, params={"p": 1}, actor="t")
    store.set_experiment_stage(experiment.id, "active", actor="t")  # restores the runs deleted with it only
    assert store.run_stages([first.id, second.id]) == {first.id: "deleted", second.id: "active"}
    assert [r.id for r in store.search_runs([experiment.id], lifecycle="all", order_by=["run_name"])] == [
        first.id,
        second.id,
    ]
    with pytest.raises(Conflict):
        store.rename_experiment(experiment.id, "other", actor="t")
    store.rename_experiment(experiment.id, "renamed", actor="t")
    store.set_experiment_tag(experiment.id, "team", "a", actor="t")
    store.set_experiment_tag(experiment.id, "team", "b", actor="t")
    (entry,) = store.experiment_entries(names=["renamed"])
    assert (entry.id, entry.tags, entry.lifecycle_stage) == (experiment.id, {"team": "b"}, "active")
    found = store.search_experiment_entries(conditions=[], order_by=[("name", False)])
    assert [e.name for e in found] == ["renamed", "other"]
    store.delete_experiment_tag(experiment.id, "team", actor="t")
    with pytest.raises(NotFound):
        store.delete_experiment_tag(experiment.id, "team", actor="t")
    store.delete_run_tag(second.id, "k", actor="t")
    assert store.get_run(second.id).tags == {}
    info = store.update_run(second.id, status=RunStatus.FAILED, name="later", actor="t")
    assert (info.status, info.name, info.end_time is not None) == (RunStatus.FAILED, "later", True)
    assert [r.name for r in store.search_runs(None, filter="run_name IN ('later', 'x')")] == ["later"]
    assert store.search_runs([other.id, experiment.id], filter="run_id NOT IN ('" + second.id + "')") == []


def test_inputs_and_history_pages(store: SqlTrackingStore) -> None:
    run = store.create_run(store.create_experiment("inputs", actor="t").id, actor="t")
    data = RunInput("train", "d1", "local", "/x.csv", tags={"mlflow.data.context": "training"})
    store.log_run_inputs(run.id, [data, RunInput("eval", "d2", "local", "/y.csv")], actor="t")
    store.log_run_inputs(run.id, [data], actor="t")  # kept once
    assert [i.name for i in store.run_inputs([run.id])[run.id]] == ["eval", "train"]
    store.log_batch(run.id, metrics=[("m", float(i), i, i) for i in range(5)], actor="t")
    assert [p.step for p in store.metric_history_page(run.id, "m", limit=2, offset=2)] == [2, 3]
    assert store.latest_metric_points([run.id]) == {run.id: [("m", 4.0, 4, 4)]}
