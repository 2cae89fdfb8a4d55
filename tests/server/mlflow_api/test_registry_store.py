"""The registry's store methods behind the MLflow registry API (and the MLflow importer), on SQLite and PostgreSQL:
empty registered models with tags, update, rename, delete, ``mlflow``-flavor versions and search."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loopml.core.errors import Conflict, InvalidInput, NotFound
from loopml.store.sql import Database, SqlTrackingStore
from loopml.store.sql.lineage import SqlLineageStore
from loopml.store.sql.models import SqlModelRegistry

MODEL_ID = "m-" + "ab" * 16


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def registry(db: Database) -> SqlModelRegistry:
    return SqlModelRegistry(db)


def _events(db: Database, object_id: str) -> list[str]:
    return [e.action for e in reversed(SqlTrackingStore(db).list_audit_events(object_id=object_id))]


def test_create_model_keeps_description_tags_and_time_and_refuses_a_duplicate(
    registry: SqlModelRegistry, db: Database
) -> None:
    made = registry.create_model("churn", description="who leaves", tags={"team": "growth", "n": 3},
                                 created_at=1_600_000_000_000, actor="importer")  # fmt: skip
    assert (made.description, made.tags, made.versions, made.latest) == (
        "who leaves",
        {"team": "growth", "n": "3"},
        0,
        None,
    )
    assert made.created_at == made.updated_at == 1_600_000_000_000
    assert registry.get_model("churn") == made
    with pytest.raises(Conflict) as exc:
        registry.create_model("churn", actor="x")
    assert exc.value.details == [{"field": "name", "problem": "already exists"}]
    with pytest.raises(InvalidInput):
        registry.create_model("bad name!", actor="x")
    with pytest.raises(InvalidInput) as bad_time:
        registry.create_model("other", created_at=-1, actor="x")
    assert bad_time.value.details[0]["field"] == "created_at"
    assert _events(db, "churn") == ["model.create"]


def test_update_merges_tags_and_set_delete_tag(registry: SqlModelRegistry) -> None:
    registry.create_model("churn", tags={"a": "1", "b": "2"}, actor="u")
    updated = registry.update_model("churn", description="new", tags={"a": None, "c": "3"}, actor="u")
    assert (updated.description, updated.tags) == ("new", {"b": "2", "c": "3"})
    assert registry.set_model_tag("churn", "d", "4", actor="u").tags == {"b": "2", "c": "3", "d": "4"}
    assert registry.delete_model_tag("churn", "b", actor="u").tags == {"c": "3", "d": "4"}
    with pytest.raises(NotFound, match="no tag 'zz'"):
        registry.delete_model_tag("churn", "zz", actor="u")
    with pytest.raises(NotFound, match="does not exist"):
        registry.update_model("nope", description="x", actor="u")


def test_mlflow_version_is_numbered_kept_and_aliased(registry: SqlModelRegistry, db: Database) -> None:
    run_id = "c" * 32
    first = registry.create_mlflow_version("clf", source=f"models:/{MODEL_ID}", run_id=run_id, model_id=MODEL_ID,
                                           description="d", tags={"k": "v"}, actor="mlflow")  # fmt: skip
    second = registry.create_mlflow_version("clf", source="mlflow-artifacts:/0/x/artifacts/model", run_id=None,
                                            actor="mlflow")  # fmt: skip
    assert (first.version, second.version) == (1, 2)
    assert (first.flavor, first.manifest_sha256, first.mlflow_model_id, first.run_id) == (
        "mlflow",
        "",
        MODEL_ID,
        run_id,
    )
    registry.set_alias("clf", "champion", 1, actor="mlflow")
    found = registry.get_version("clf", alias="champion")
    assert (found.source, found.tags, found.description, found.aliases) == (
        f"models:/{MODEL_ID}",
        {"k": "v"},
        "d",
        ["champion"],
    )
    assert registry.referenced_blobs() == {"model_manifest": set()}  # an MLflow version has no manifest to keep
    for field, kwargs in (("source", {"source": ""}), ("run_id", {"run_id": "xyz"}), ("model_id", {"model_id": "x"})):
        args = {"source": "runs:/abc/model", "run_id": None, **kwargs}
        with pytest.raises(InvalidInput) as exc:
            registry.create_mlflow_version("clf", **args, actor="mlflow")  # type: ignore[arg-type]
        assert exc.value.details[0]["field"] == field
    assert [v.version for v in registry.list_versions("clf")] == [1, 2]
    assert _events(db, "clf/1") == ["model.version.create"]


def test_rename_moves_versions_aliases_and_lineage(registry: SqlModelRegistry, db: Database) -> None:
    registry.create_mlflow_version("old", source="runs:/x/model", run_id=None, actor="u")
    registry.set_alias("old", "prod", 1, actor="u")
    lineage = SqlLineageStore(db)
    lineage.add_edge(("run", "r" * 32), ("model_version", "old/1"), relation="registered", actor="u")
    registry.create_model("taken", actor="u")
    with pytest.raises(Conflict):
        registry.rename_model("old", "taken", actor="u")
    renamed = registry.rename_model("old", "new", actor="u")
    assert (renamed.name, renamed.versions, renamed.aliases) == ("new", 1, {"prod": 1})
    assert registry.get_version("new", alias="prod").version == 1
    assert [e.target_id for e in lineage.edges("run", "r" * 32)] == ["new/1"]
    with pytest.raises(NotFound):
        registry.get_model("old")
    assert "model.rename" in _events(db, "new")


def test_delete_model_removes_versions_and_aliases(registry: SqlModelRegistry, db: Database) -> None:
    registry.create_mlflow_version("gone", source="runs:/x/model", run_id=None, actor="u")
    registry.set_alias("gone", "prod", 1, actor="u")
    registry.delete_model("gone", actor="u")
    assert [m.name for m in registry.list_models()] == []
    with pytest.raises(NotFound):
        registry.delete_model("gone", actor="u")
    assert _events(db, "gone")[-1] == "model.delete"


def test_search_models_and_versions_by_name_tags_run_and_source(registry: SqlModelRegistry) -> None:
    registry.create_model("churn-a", tags={"team": "growth"}, actor="u")
    registry.create_model("churn-b", tags={"team": "risk"}, actor="u")
    registry.create_model("fraud", tags={"team": "growth"}, actor="u")
    assert [m.name for m in registry.search_models([("name", "LIKE", "churn%")])] == ["churn-a", "churn-b"]
    assert [m.name for m in registry.search_models([("tags.team", "=", "growth")])] == ["churn-a", "fraud"]
    assert [m.name for m in registry.search_models([("name", "!=", "fraud"), ("tags.team", "=", "growth")])] == [
        "churn-a"
    ]
    page = registry.search_models(order_by=[("name", False)], limit=2, offset=1)
    assert [m.name for m in page] == ["churn-b", "churn-a"]
    run_a, run_b = "a" * 32, "b" * 32
    registry.create_mlflow_version("churn-a", source="s3://x/1", run_id=run_a, tags={"stage": "dev"}, actor="u")
    registry.create_mlflow_version("churn-a", source="s3://x/2", run_id=run_b, actor="u")
    registry.create_mlflow_version("fraud", source="s3://y/1", run_id=run_a, actor="u")
    found = registry.search_versions([("run_id", "IN", [run_a])])
    assert [(v.name, v.version) for v in found] == [("churn-a", 1), ("fraud", 1)]
    assert [v.version for v in registry.search_versions([("name", "=", "churn-a")], order_by=[("version", False)])] == [
        2,
        1,
    ]
    assert [v.source for v in registry.search_versions([("source", "LIKE", "s3://x/%")])] == [
        "s3://x/2",
        "s3://x/1",
    ]  # newest first
    assert [v.version for v in registry.search_versions([("tags.stage", "=", "dev")])] == [1]
    for bad in (("nope", "=", "x"), ("name", "~", "x"), ("run_id", "IN", "x"), ('tags.a"b', "=", "x")):
        with pytest.raises(InvalidInput) as exc:
            registry.search_versions([bad])
        assert exc.value.details[0]["field"] == "filter"
