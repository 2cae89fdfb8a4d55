"""Conformance suite of the feature store, run against SQLite, PostgreSQL and HTTP (a live server on SQLite).

Every test runs on each implementation of :class:`~loopml.store.base.FeatureStore` and asserts the
same records, exception classes and messages, and audit trail (read from the database written to).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loopml.core.errors import Conflict, InvalidInput, NotFound
from loopml.features.definitions import spec_hash
from loopml.store.base import FeatureStore
from loopml.store.sql import Database
from loopml.store.table import open_store
from tests.store.conformance import BACKENDS, Backend, store_backend

DRIVER = {"name": "driver", "join_keys": ["driver_id"], "description": "", "tags": {}}
STATS = {"name": "stats", "entities": ["driver"], "join_keys": ["driver_id"], "ttl_seconds": 60.0}


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from store_backend(request, tmp_path, "features")


@pytest.fixture
def store(backend: Backend) -> FeatureStore:
    return backend.store


def test_implements_protocol(store: FeatureStore) -> None:
    assert isinstance(store, FeatureStore)


def test_apply_versions_and_reads(store: FeatureStore) -> None:
    written = store.apply([("entity", "driver", DRIVER), ("feature_view", "stats", STATS)], actor="ann")
    assert [(r.kind, r.name, r.version, r.created_by) for r in written] == [
        ("entity", "driver", 1, "ann"),
        ("feature_view", "stats", 1, "ann"),
    ]
    assert written[1].spec == STATS and written[1].spec_hash == spec_hash(STATS) and not written[1].deleted
    assert store.apply([("entity", "driver", DRIVER)], actor="ann") == []  # unchanged: no version
    changed = {**STATS, "ttl_seconds": 120.0}
    assert [r.version for r in store.apply([("feature_view", "stats", changed)], actor="bob")] == [2]
    assert store.get_definition("feature_view", "stats").spec == changed
    assert store.get_definition("feature_view", "stats", version=1).spec == STATS
    assert [r.name for r in store.list_definitions()] == ["driver", "stats"]
    assert [r.name for r in store.list_definitions("entity")] == ["driver"]
    assert [r.version for r in store.definition_history("feature_view", "stats")] == [1, 2]


def test_delete_keeps_history(backend: Backend, store: FeatureStore) -> None:
    store.apply([("entity", "driver", DRIVER), ("feature_view", "stats", STATS)], actor="ann")
    (deleted,) = store.apply([], delete=[("feature_view", "stats")], actor="bob")
    assert (deleted.version, deleted.deleted, deleted.spec) == (2, True, STATS)
    with pytest.raises(NotFound, match="No feature view 'stats' is registered"):
        store.get_definition("feature_view", "stats")
    assert [r.name for r in store.list_definitions()] == ["driver"]
    assert [r.deleted for r in store.definition_history("feature_view", "stats")] == [False, True]
    (again,) = store.apply([("feature_view", "stats", STATS)], actor="ann")  # re-created after a deletion
    assert again.version == 3 and not again.deleted
    assert backend.audit("feature_view", "stats") == [
        ("ann", "feature.apply", {"kind": "feature_view", "version": 1, "before": None, "after": STATS}),
        ("bob", "feature.delete", {"kind": "feature_view", "version": 2, "before": STATS, "after": None}),
        ("ann", "feature.apply", {"kind": "feature_view", "version": 3, "before": None, "after": STATS}),
    ]
    with pytest.raises(NotFound, match="Cannot delete entity 'rider': it is not registered"):
        store.apply([], delete=[("entity", "rider")], actor="ann")


def test_views_share_names_and_apply_is_atomic(store: FeatureStore) -> None:
    store.apply([("feature_view", "stats", STATS)], actor="ann")
    odfv = {"name": "stats", "sources": [], "code_sha256": "0" * 64}
    with pytest.raises(Conflict, match="Cannot register on-demand view 'stats': the name is taken by a feature view"):
        store.apply([("entity", "driver", DRIVER), ("on_demand_feature_view", "stats", odfv)], actor="ann")
    assert store.list_definitions("entity") == []  # nothing of the failed apply was written
    written = store.apply([("on_demand_feature_view", "stats", odfv)], delete=[("feature_view", "stats")], actor="a")
    assert [(r.kind, r.version, r.deleted) for r in written] == [
        ("on_demand_feature_view", 1, False),
        ("feature_view", 2, True),
    ]


@pytest.mark.parametrize(
    ("definitions", "delete", "message"),
    [
        ([("view", "x", {})], [], "Invalid definitions.0.kind 'view'"),
        ([("entity", "a b", {})], [], "Invalid definitions.0.name 'a b'"),
        ([("entity", "x", [])], [], "Invalid definitions.0.spec of 'x': expected a JSON object"),
        ([("entity", "x", {"name": "y"})], [], "Invalid definitions.0.spec.name 'y'"),
        ([("feature_view", "x", {}), ("on_demand_feature_view", "x", {})], [], "'x' is applied twice"),
        ([("entity", "x", {})], [("entity", "x")], "entity 'x' is both applied and deleted"),
        ([], [("entity", "x", "y")], "Invalid delete.0: expected (kind, name)"),
        ([("entity", "x", {"n": 2**90})], [], "Invalid definitions.0.spec of 'x': Integer exceeds 64-bit range"),
        ([("entity", "x", {"\ud800": 1})], [], "Invalid definitions.0.spec of 'x': str is not valid UTF-8"),
    ],
)
def test_bad_arguments(store: FeatureStore, definitions: Any, delete: Any, message: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        store.apply(definitions, delete=delete, actor="ann")
    assert message in str(raised.value)


def test_unknown_definitions(store: FeatureStore) -> None:
    with pytest.raises(NotFound, match="No entity 'driver' is registered"):
        store.get_definition("entity", "driver")
    with pytest.raises(NotFound, match="No feature view 'stats' was ever registered"):
        store.definition_history("feature_view", "stats")
    store.apply([("entity", "driver", DRIVER)], actor="ann")
    with pytest.raises(NotFound, match="No entity 'driver' version 7 is registered"):
        store.get_definition("entity", "driver", version=7)
    with pytest.raises(InvalidInput, match="Invalid kind 'view'"):
        store.list_definitions("view")


def _apply_many(url: str, worker: int) -> list[int]:
    store = open_store("features", Database(url))
    versions = []
    for i in range(5):
        spec = {**DRIVER, "description": f"worker {worker} step {i}"}
        versions += [r.version for r in store.apply([("entity", "driver", spec)], actor=f"w{worker}")]
    return versions


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_concurrent_applies_take_distinct_versions(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("pg_url") if kind == "postgresql" else f"sqlite:///{tmp_path / 'store.db'}"
    Database(url).dispose()  # migrated once, before the workers start
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.starmap(_apply_many, [(url, 0), (url, 1)])
    versions = sorted(v for found in results for v in found)
    assert versions == list(range(1, 11))


def test_route_kinds_are_the_record_kinds() -> None:
    import typing

    from loopml.core.records import FEATURE_KINDS
    from loopml.server.schemas.features import FeatureKind

    assert typing.get_args(FeatureKind) == FEATURE_KINDS
