"""The audit trail's before/after values and its filters (time range, paging by id), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from loopml.core.hashing import sha256_bytes
from loopml.core.records import ArtifactInfo
from loopml.store.sql import Database, SqlTrackingStore
from loopml.store.sql.models import SqlModelRegistry
from loopml.store.sql.tokens import SqlTokenStore


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


def _versions(db: Database, count: int) -> SqlModelRegistry:
    """Model ``churn`` with ``count`` READY versions of one logged package."""
    tracking = SqlTrackingStore(db)
    run = tracking.create_run(tracking.create_experiment("audit", actor="ann").id, actor="ann")
    manifest = b'{"flavor": "sklearn"}'
    tracking.record_artifacts(run.id, [ArtifactInfo("model/model.json", sha256_bytes(manifest), 9)], actor="ann")
    registry = SqlModelRegistry(db)
    for _ in range(count):
        registry.create_version(
            "churn", source=f"runs:/{run.id}/model", run_id=run.id, manifest_sha256=sha256_bytes(manifest),
            flavor="sklearn", signature={}, metrics={}, dataset_version=None, description="first",
            tags={"team": "growth"}, actor="ann",
        )  # fmt: skip
    return registry


def _details(db: Database, object_type: str, object_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    events = SqlTrackingStore(db).list_audit_events(object_type=object_type, object_id=object_id)
    return [(e.actor, e.action, e.details) for e in reversed(events)]


def test_every_change_records_its_actor_and_before_and_after(db: Database) -> None:
    registry = _versions(db, 3)
    registry.set_alias("churn", "production", 1, actor="bob")
    registry.set_alias("churn", "production", 2, actor="bob")
    registry.update_version("churn", 3, description="second", tags={"team": "risk"}, actor="cat")
    registry.archive_version("churn", 3, actor="cat")
    registry.delete_version("churn", 3, actor="dan")
    SqlTokenStore(db).create("ci", "writer", actor="eve")

    alias = _details(db, "model_alias", "churn@production")
    assert alias == [
        ("bob", "model.alias.set", {"version": 1, "previous": None}),
        ("bob", "model.alias.set", {"version": 2, "previous": 1}),
    ]
    changes = _details(db, "model_version", "churn/3")[1:]
    assert changes[0][:2] == ("cat", "model.version.update")
    assert changes[0][2]["description"] == "second" and changes[0][2]["tags"] == {"team": "risk"}
    assert changes[0][2]["previous"] == {"description": "first", "tags": {"team": "growth"}}
    assert changes[1] == ("cat", "model.version.archive", {"status": "ARCHIVED", "previous": {"status": "READY"}})
    assert changes[2][:2] == ("dan", "model.version.delete")
    assert changes[2][2]["previous"] == {"status": "ARCHIVED", "description": "second", "tags": {"team": "risk"}}
    tokens = SqlTrackingStore(db).list_audit_events(actions=["token.create"])
    assert [(e.actor, e.details) for e in tokens] == [("eve", {"name": "ci", "role": "writer"})]


def test_audit_pages_by_id_and_filters_a_time_range(db: Database) -> None:
    registry = _versions(db, 1)
    for _ in range(5):
        registry.set_alias("churn", "staging", 1, actor="bob")
    store = SqlTrackingStore(db)
    moves = store.list_audit_events(actions=["model.alias.set"])
    assert len(moves) == 5
    first = store.list_audit_events(actions=["model.alias"], limit=2)
    second = store.list_audit_events(actions=["model.alias"], limit=2, before_id=first[-1].id)
    rest = store.list_audit_events(actions=["model.alias"], limit=2, before_id=second[-1].id)
    assert [e.id for e in first + second + rest] == [e.id for e in moves]
    assert store.list_audit_events(actions=["model.alias"], before_id=moves[-1].id) == []
    every = store.list_audit_events(limit=1000)
    newest, oldest = every[0].time, every[-1].time
    assert store.list_audit_events(until_ms=oldest) == []
    assert len(store.list_audit_events(since_ms=oldest, until_ms=newest + 1, limit=1000)) == len(every)
    assert [e.actor for e in store.list_audit_events(actor="bob", limit=1000)] == ["bob"] * 5
