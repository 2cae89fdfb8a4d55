"""The logged model store on SQLite and PostgreSQL: lifecycle, tags and params, files, outputs, search."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loopml.core.errors import InvalidInput, NotFound
from loopml.core.records import ArtifactInfo
from loopml.store.sql import Database, SqlTrackingStore
from loopml.store.sql.artifact_rows import delete_run_artifacts
from loopml.store.sql.logged_models import SqlLoggedModelStore

A, B = "a" * 64, "b" * 64


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


def test_logged_model_lifecycle(db: Database) -> None:
    tracking, store = SqlTrackingStore(db), SqlLoggedModelStore(db)
    experiment = tracking.create_experiment("lm-store", actor="t")
    other = tracking.create_experiment("lm-other", actor="t")
    run_id = tracking.create_run(experiment.id, actor="t").id
    with pytest.raises(InvalidInput, match="belongs to experiment"):
        store.create(other.id, source_run_id=run_id, actor="t")
    with pytest.raises(NotFound):
        store.create("f" * 32, actor="t")

    model = store.create(experiment.id, name="clf", source_run_id=run_id, params={"C": 1}, tags={"a": "1"}, actor="t")
    assert model.id.startswith("m-") and model.status == "PENDING" and model.params == {"C": "1"}
    assert store.set_tags(model.id, {"b": "2"}, actor="t").tags == {"a": "1", "b": "2"}
    assert store.delete_tag(model.id, "a", actor="t").tags == {"b": "2"}
    with pytest.raises(NotFound):
        store.delete_tag(model.id, "a", actor="t")
    assert store.log_params(model.id, {"C": "1", "l1": "0"}, actor="t").params == {"C": "1", "l1": "0"}
    with pytest.raises(InvalidInput) as changed:
        store.log_params(model.id, {"C": "2"}, actor="t")
    assert changed.value.details[0]["field"] == "params.C"

    store.record_artifacts(model.id, [ArtifactInfo("MLmodel", A, 1), ArtifactInfo("data/w.bin", B, 2)], actor="t")
    assert store.referenced_blobs([A, "c" * 64]) == {"logged_model_artifact": {A}}
    assert store.listed_in_run(run_id) == set()  # only READY models are listed in their run
    assert store.finalize(model.id, "READY", actor="t").status == "READY"
    assert store.listed_in_run(run_id) == {("clf/MLmodel", A), ("clf/data/w.bin", B)}
    assert store.delete_artifacts(model.id, "data", actor="t") == 1
    assert [a.path for a in store.list_artifacts(model.id)] == ["MLmodel"]

    second = store.create(experiment.id, name="other", actor="t")
    store.log_outputs(run_id, [(model.id, 3), (second.id, 5)], actor="t")
    assert store.run_outputs([run_id]) == {run_id: [(model.id, 3), (second.id, 5)]}
    assert [m.id for m in store.search([experiment.id])] == [second.id, model.id]
    assert [m.id for m in store.search([experiment.id], where=[("status", "=", "READY")])] == [model.id]
    assert [m.id for m in store.search([experiment.id], where=[("source_run_id", "!=", run_id)])] == [second.id]
    assert [m.id for m in store.search([experiment.id], order_by="name", ascending=True, max_results=1)] == [model.id]

    store.delete(second.id, actor="t")
    assert [m.id for m in store.search([experiment.id])] == [model.id]
    with pytest.raises(NotFound):
        store.get(second.id)
    assert store.get(second.id, allow_deleted=True).lifecycle_stage == "deleted"


def test_run_artifact_deletion(db: Database) -> None:
    tracking = SqlTrackingStore(db)
    experiment = tracking.create_experiment("lm-delete", actor="t")
    run_id = tracking.create_run(experiment.id, actor="t").id
    files = [ArtifactInfo("a/x.txt", A, 1), ArtifactInfo("a/y.txt", B, 1), ArtifactInfo("a_b.txt", A, 1)]
    tracking.record_artifacts(run_id, files, actor="t")
    assert delete_run_artifacts(db, run_id, "a", actor="t") == 2  # "a_b.txt" is not below "a" (LIKE escaped)
    assert [a.path for a in tracking.list_artifacts(run_id)] == ["a_b.txt"]
    with pytest.raises(NotFound):
        delete_run_artifacts(db, "0" * 32, "", actor="t")
