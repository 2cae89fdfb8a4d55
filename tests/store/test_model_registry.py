"""Conformance suite of the SQL model registry, run against SQLite and PostgreSQL."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from loopml.core.errors import Conflict, InvalidInput, NotFound
from loopml.core.hashing import sha256_bytes
from loopml.core.records import ArtifactInfo, ModelVersion
from loopml.store.base import ModelRegistry
from loopml.store.sql import Database, SqlTrackingStore
from loopml.store.sql.models import SqlModelRegistry

SIGNATURE = {"inputs": [{"name": "age", "dtype": "int"}], "output": {"dtype": "int", "shape": [-1]}}


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def registry(db: Database) -> SqlModelRegistry:
    return SqlModelRegistry(db)


@dataclass(frozen=True)
class Package:
    """A model package's records in the store: a run with ``model/model.json`` logged."""

    run_id: str
    source: str
    manifest_sha256: str


@pytest.fixture
def package(db: Database) -> Package:
    """A run with a logged manifest, written to the (server's) database, that versions can point at."""
    tracking = SqlTrackingStore(db)
    experiment = tracking.create_experiment("registry", actor="ann")
    run = tracking.create_run(experiment.id, actor="ann")
    manifest = b'{"flavor": "sklearn"}'
    digest = sha256_bytes(manifest)
    tracking.record_artifacts(
        run.id,
        [ArtifactInfo("model/model.json", digest, len(manifest)), ArtifactInfo("model/x.skops", "0" * 64, 1)],
        actor="ann",
    )
    return Package(run.id, f"runs:/{run.id}/model", digest)


def _create(registry: SqlModelRegistry, package: Package, name: str = "churn", **overrides: Any) -> ModelVersion:
    fields: dict[str, Any] = {
        "source": package.source,
        "run_id": package.run_id,
        "manifest_sha256": package.manifest_sha256,
        "flavor": "sklearn",
        "signature": SIGNATURE,
        "metrics": {"f1": 0.9},
        "dataset_version": "datasets:/customers/1",
        "description": "",
        "tags": None,
        "actor": "ann",
    }
    return registry.create_version(name, **{**fields, **overrides})


def _audit(db: Database, object_type: str, object_id: str) -> list[Any]:
    return list(reversed(SqlTrackingStore(db).list_audit_events(object_type=object_type, object_id=object_id)))


def test_implements_protocol(registry: SqlModelRegistry) -> None:
    assert isinstance(registry, ModelRegistry)


def test_versions_are_numbered_per_model_and_round_trip(registry: SqlModelRegistry, package: Package) -> None:
    v1 = _create(
        registry, package, tags={"team": "growth", "n": 3}, description="baseline", metrics={"f1": 0.9, "x": math.nan}
    )
    v2 = _create(registry, package)
    other = _create(registry, package, "fraud")
    assert (v1.version, v2.version, other.version) == (1, 2, 1)
    assert v1.uri == "models:/churn/1" and v1.status == "READY" and v1.aliases == []
    assert v1.tags == {"team": "growth", "n": "3"} and v1.description == "baseline"
    assert v1.signature == SIGNATURE and v1.dataset_version == "datasets:/customers/1"
    assert v1.created_by == "ann" and v1.created_at > 0
    stored = registry.get_version("churn", version=1)
    assert math.isnan(stored.metrics["x"]) and stored.metrics["f1"] == 0.9
    assert {**stored.to_dict(), "metrics": None} == {**v1.to_dict(), "metrics": None}
    assert [v.version for v in registry.list_versions("churn")] == [1, 2]


def test_numbers_are_never_reused_after_delete(registry: SqlModelRegistry, package: Package) -> None:
    _create(registry, package)
    _create(registry, package)
    registry.delete_version("churn", 2, actor="ann")
    assert _create(registry, package).version == 3
    assert [v.version for v in registry.list_versions("churn")] == [1, 3]


def test_concurrent_creates_get_distinct_numbers(registry: SqlModelRegistry, package: Package) -> None:
    errors: list[BaseException] = []

    def create() -> None:
        try:
            _create(registry, package, "race")
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [v.version for v in registry.list_versions("race")] == list(range(1, 9))


def test_aliases_set_move_and_resolve(registry: SqlModelRegistry, package: Package) -> None:
    for _ in range(3):
        _create(registry, package)
    pointed = registry.set_alias("churn", "production", 1, actor="ann")
    assert pointed.version == 1 and pointed.aliases == ["production"]
    registry.set_alias("churn", "staging", 1, actor="ann")
    assert registry.get_version("churn", alias="production").aliases == ["production", "staging"]
    moved = registry.set_alias("churn", "production", 3, actor="bob")
    assert moved.version == 3 and moved.aliases == ["production"]
    assert registry.get_version("churn", alias="production").version == 3
    assert registry.get_version("churn", version=1).aliases == ["staging"]
    by_version = {v.version: v.aliases for v in registry.list_versions("churn")}
    assert by_version == {1: ["staging"], 2: [], 3: ["production"]}
    assert registry.get_version("churn", alias="latest").version == 3
    registry.delete_alias("churn", "staging", actor="ann")
    assert registry.get_version("churn", version=1).aliases == []
    with pytest.raises(NotFound, match=r"no alias 'staging'.*Aliases: production -> 3"):
        registry.delete_alias("churn", "staging", actor="ann")


def test_list_models(registry: SqlModelRegistry, package: Package) -> None:
    assert registry.list_models() == []
    _create(registry, package)
    _create(registry, package)
    _create(registry, package, "fraud")
    registry.set_alias("churn", "production", 2, actor="ann")
    models = registry.list_models()
    assert [(m.name, m.versions, m.latest, m.aliases) for m in models] == [
        ("churn", 2, 2, {"production": 2}),
        ("fraud", 1, 1, {}),
    ]
    assert models[0].updated_at >= models[0].created_at


def test_latest_is_the_newest_ready_version_in_list_and_get(registry: SqlModelRegistry, package: Package) -> None:
    for _ in range(3):
        _create(registry, package)
    _create(registry, package, "fraud")
    registry.archive_version("churn", 3, actor="ann")
    latest = {m.name: m.latest for m in registry.list_models()}
    assert latest == {"churn": 2, "fraud": 1}
    assert registry.get_version("churn", alias="latest").version == latest["churn"]
    registry.archive_version("churn", 1, actor="ann")  # an older archived version changes nothing
    assert registry.list_models()[0].latest == registry.get_version("churn", alias="latest").version == 2
    registry.archive_version("churn", 2, actor="ann")
    assert [(m.name, m.versions, m.latest) for m in registry.list_models()] == [
        ("churn", 3, None),
        ("fraud", 1, 1),
    ]
    with pytest.raises(NotFound, match="no READY version"):
        registry.get_version("churn", alias="latest")


def test_concurrent_alias_moves_end_consistent(db: Database, registry: SqlModelRegistry, package: Package) -> None:
    for _ in range(4):
        _create(registry, package)
    errors: list[BaseException] = []

    def move(version: int) -> None:
        try:
            for _ in range(5):
                registry.set_alias("churn", "production", version, actor=f"user{version}")
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=move, args=(v,)) for v in (1, 2, 3, 4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    final = registry.get_version("churn", alias="production")
    assert sum("production" in v.aliases for v in registry.list_versions("churn")) == 1
    events = _audit(db, "model_alias", "churn@production")
    assert len(events) == 20
    # the writes were serialised: each event's "previous" is the version the event before set
    chain = [None] + [e.details["version"] for e in events]
    assert [e.details["previous"] for e in events] == chain[:-1]
    assert chain[-1] == final.version


def test_delete_and_archive_refused_while_aliased(registry: SqlModelRegistry, package: Package) -> None:
    _create(registry, package)
    _create(registry, package)
    registry.set_alias("churn", "production", 1, actor="ann")
    with pytest.raises(Conflict, match=r"Cannot delete models:/churn/1: alias\(es\) production point at it"):
        registry.delete_version("churn", 1, actor="ann")
    with pytest.raises(Conflict, match="Cannot archive models:/churn/1"):
        registry.archive_version("churn", 1, actor="ann")
    registry.set_alias("churn", "production", 2, actor="ann")  # the rollback/forward that frees it
    registry.delete_version("churn", 1, actor="ann")
    with pytest.raises(NotFound, match=r"models:/churn/1 does not exist. Versions of 'churn': \[2\]"):
        registry.get_version("churn", version=1)


def test_archive(registry: SqlModelRegistry, package: Package) -> None:
    _create(registry, package)
    _create(registry, package)
    archived = registry.archive_version("churn", 1, actor="ann")
    assert archived.status == "ARCHIVED"
    assert registry.get_version("churn", version=1).status == "ARCHIVED"
    assert registry.archive_version("churn", 1, actor="ann").status == "ARCHIVED"  # idempotent
    with pytest.raises(Conflict, match=r"models:/churn/1 is ARCHIVED.*Ready versions: \[2\]"):
        registry.set_alias("churn", "production", 1, actor="ann")
    registry.archive_version("churn", 2, actor="ann")
    with pytest.raises(NotFound, match="no READY version"):
        registry.get_version("churn", alias="latest")


def test_update_version(registry: SqlModelRegistry, package: Package) -> None:
    _create(registry, package, tags={"team": "growth", "stage": "dev"})
    registry.set_alias("churn", "production", 1, actor="ann")
    updated = registry.update_version(
        "churn", 1, description="tuned", tags={"stage": "prod", "team": None}, actor="ann"
    )
    assert updated.description == "tuned" and updated.tags == {"stage": "prod"}
    assert updated.aliases == ["production"]
    assert registry.get_version("churn", version=1) == updated
    same = registry.update_version("churn", 1, actor="ann")
    assert same == updated


def test_audit_events_for_every_write(db: Database, registry: SqlModelRegistry, package: Package) -> None:
    _create(registry, package)
    _create(registry, package)
    registry.set_alias("churn", "production", 1, actor="bob")
    registry.set_alias("churn", "production", 2, actor="bob")
    registry.delete_alias("churn", "production", actor="bob")
    registry.update_version("churn", 1, description="d", actor="cat")
    registry.archive_version("churn", 1, actor="cat")
    registry.delete_version("churn", 1, actor="cat")
    assert [(e.actor, e.action) for e in _audit(db, "registered_model", "churn")] == [("ann", "model.create")]
    v1 = _audit(db, "model_version", "churn/1")
    assert [(e.actor, e.action) for e in v1] == [
        ("ann", "model.version.create"),
        ("cat", "model.version.update"),
        ("cat", "model.version.archive"),
        ("cat", "model.version.delete"),
    ]
    assert v1[0].details["source"] == package.source
    alias = _audit(db, "model_alias", "churn@production")
    assert [(e.action, e.details) for e in alias] == [
        ("model.alias.set", {"version": 1, "previous": None}),
        ("model.alias.set", {"version": 2, "previous": 1}),
        ("model.alias.delete", {"previous": 2}),
    ]


def test_failed_write_records_nothing(db: Database, registry: SqlModelRegistry, package: Package) -> None:
    _create(registry, package)
    registry.set_alias("churn", "production", 1, actor="ann")
    before = len(_audit(db, "model_version", "churn/1"))
    with pytest.raises(Conflict):
        registry.delete_version("churn", 1, actor="ann")
    assert len(_audit(db, "model_version", "churn/1")) == before
    assert registry.get_version("churn", version=1).aliases == ["production"]


def test_errors_name_what_exists(registry: SqlModelRegistry, package: Package) -> None:
    with pytest.raises(NotFound, match="no model is registered yet"):
        registry.get_version("churn", version=1)
    _create(registry, package)
    _create(registry, package, "fraud")
    with pytest.raises(NotFound, match=r"Model 'nope' does not exist. Registered models: churn, fraud."):
        registry.list_versions("nope")
    with pytest.raises(NotFound, match=r"models:/churn/9 does not exist. Versions of 'churn': \[1\]"):
        registry.set_alias("churn", "production", 9, actor="ann")
    with pytest.raises(NotFound, match=r"no alias 'production'. It has no aliases; set one"):
        registry.get_version("churn", alias="production")
    with pytest.raises(InvalidInput, match="exactly one of version= or alias="):
        registry.get_version("churn")
    with pytest.raises(InvalidInput, match="exactly one of version= or alias="):
        registry.get_version("churn", version=1, alias="production")
    with pytest.raises(InvalidInput, match="Invalid model version 0"):
        registry.get_version("churn", version=0)
    with pytest.raises(InvalidInput, match="Invalid alias 'bad alias'"):
        registry.set_alias("churn", "bad alias", 1, actor="ann")
    with pytest.raises(InvalidInput, match="'latest' is reserved"):
        registry.set_alias("churn", "latest", 1, actor="ann")
    with pytest.raises(InvalidInput, match="cannot be a number"):
        registry.set_alias("churn", "3", 1, actor="ann")
    with pytest.raises(InvalidInput, match="Invalid model name"):
        _create(registry, package, "bad/name")
    with pytest.raises(InvalidInput, match="Invalid object URI"):
        _create(registry, package, source="s3://bucket/model")
    with pytest.raises(NotFound, match="Model 'nope' does not exist"):
        registry.set_alias("nope", "production", 1, actor="ann")


def _field(exc: pytest.ExceptionInfo[InvalidInput]) -> list[str]:
    return [d["field"] for d in exc.value.details]


def test_registration_checks_the_package(registry: SqlModelRegistry, package: Package) -> None:
    missing_run = f"runs:/{'e' * 32}/model"
    with pytest.raises(InvalidInput, match=rf"Cannot register {missing_run}: run e+ does not exist") as exc:
        _create(registry, package, source=missing_run, run_id=None)
    assert _field(exc) == ["source"]
    with pytest.raises(InvalidInput, match=r"runs:/\w+/elsewhere: it has no model.json") as exc:
        _create(registry, package, source=f"runs:/{package.run_id}/elsewhere")
    assert _field(exc) == ["source"]
    with pytest.raises(InvalidInput, match=r"manifest_sha256 f{64} is not the SHA-256 of its model.json") as exc:
        _create(registry, package, manifest_sha256="f" * 64)
    assert _field(exc) == ["manifest_sha256"]
    with pytest.raises(InvalidInput, match=r"Invalid manifest_sha256 'F+'") as exc:
        _create(registry, package, manifest_sha256="F" * 64)
    assert _field(exc) == ["manifest_sha256"]
    with pytest.raises(InvalidInput, match="is not the run of source") as exc:
        _create(registry, package, run_id="b" * 32)
    assert _field(exc) == ["run_id"]
    with pytest.raises(InvalidInput, match="name the logged package") as exc:
        _create(registry, package, source=f"runs:/{package.run_id}")
    assert _field(exc) == ["source"]
    with pytest.raises(InvalidInput, match="Invalid object URI") as exc:
        _create(registry, package, source="s3://bucket/model")
    assert _field(exc) == ["source"]
    with pytest.raises(InvalidInput, match="records the full 32-character run id") as exc:  # a prefix is resolved first
        _create(registry, package, source=f"runs:/{package.run_id[:8]}/model", run_id=None)
    assert _field(exc) == ["source"]
    # nothing was recorded, so nothing can be aliased
    assert registry.list_models() == []
    with pytest.raises(NotFound):
        registry.set_alias("churn", "production", 1, actor="ann")
    version = _create(registry, package, run_id=None)  # run_id defaults to the source's run
    assert version.run_id == package.run_id and version.manifest_sha256 == package.manifest_sha256
