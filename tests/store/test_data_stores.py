"""Conformance suite of the dataset, lineage and blob stores, run here against SQL + local files.

``tests/server/test_data_conformance.py`` runs the same tests against the HTTP stores over a live
server by providing ``datasets``, ``lineage`` and ``blobs`` fixtures of its own.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loopml.artifacts import BlobStore, LocalBlobStore
from loopml.core.errors import InvalidInput, NotFound
from loopml.core.hashing import sha256_bytes
from loopml.store.base import DatasetStore, LineageStore
from loopml.store.sql import Database
from loopml.store.sql.datasets import SqlDatasetStore
from loopml.store.sql.lineage import SqlLineageStore

SCHEMA = {"columns": [{"name": "x", "type": "int64", "nullable": False}]}


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    db = Database(db_url)
    yield db
    db.dispose()


@pytest.fixture
def datasets(database: Database) -> SqlDatasetStore:
    return SqlDatasetStore(database)


@pytest.fixture
def lineage(database: Database) -> SqlLineageStore:
    return SqlLineageStore(database)


@pytest.fixture
def blobs(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def implements_blob_store(blobs: object) -> bool:
    """``BlobStore`` is not ``runtime_checkable``: check its methods by name."""
    names = [n for n in vars(BlobStore) if not n.startswith("_")]
    return bool(names) and all(callable(getattr(blobs, n, None)) for n in names)


def _record(datasets: Any, blobs: Any, name: str, payload: bytes, **overrides: Any) -> Any:
    blob = blobs.put_bytes(payload)
    fields = {
        "sha256": sha256_bytes(b"table:" + payload),
        "blob_sha256": blob.sha256,
        "n_rows": 3,
        "n_columns": 1,
        "size_bytes": blob.size,
        "schema": SCHEMA,
        "profile": {"n_rows": 3, "columns": {"x": {"dtype": "int", "min": 1, "max": 3.5}}},
        "source": {"kind": "file", "uri": "/data/x.csv"},
        "description": "three rows",
        "actor": "ann",
        **overrides,
    }
    return datasets.create_version(name, **fields)


def test_implements_protocols(datasets: Any, lineage: Any, blobs: Any) -> None:
    assert isinstance(datasets, DatasetStore)
    assert isinstance(lineage, LineageStore)
    assert implements_blob_store(blobs)


def test_dataset_versions(datasets: Any, blobs: Any) -> None:
    v1, created = _record(datasets, blobs, "customers", b"one")
    assert created and (v1.name, v1.version, v1.uri) == ("customers", 1, "datasets:/customers/1")
    assert (v1.n_rows, v1.size_bytes, v1.created_by, v1.description) == (3, 3, "ann", "three rows")
    assert v1.schema == SCHEMA and v1.profile["columns"]["x"]["max"] == 3.5
    again, created = _record(datasets, blobs, "customers", b"one", description="ignored")
    assert (again, created) == (v1, False)
    v2, created = _record(datasets, blobs, "customers", b"two")
    assert created and v2.version == 2
    _record(datasets, blobs, "accounts", b"one")
    assert datasets.get_version("customers") == v2
    assert datasets.get_version("customers", "latest") == v2
    assert datasets.get_version("customers", 1) == v1
    assert datasets.find_by_content("customers", v1.sha256) == v1
    assert datasets.find_by_content("customers", sha256_bytes(b"nothing")) is None
    assert datasets.find_by_content("nobody", v1.sha256) is None
    assert datasets.list_versions("customers") == [v1, v2]
    listed = datasets.list_datasets()
    assert [(d.name, d.versions, d.latest) for d in listed] == [("accounts", 1, 1), ("customers", 2, 2)]
    assert all(isinstance(d.created_at, int) for d in listed)


def test_dataset_errors(datasets: Any, blobs: Any) -> None:
    _record(datasets, blobs, "customers", b"one")
    with pytest.raises(NotFound, match=r"datasets:/customers/9 does not exist.*Known versions: \[1\]"):
        datasets.get_version("customers", 9)
    with pytest.raises(NotFound):
        datasets.get_version("nobody")
    with pytest.raises(NotFound, match="'nobody' does not exist"):
        datasets.list_versions("nobody")
    with pytest.raises(InvalidInput, match="use a version number or 'latest'") as info:
        datasets.get_version("customers", "newest")
    assert info.value.details == [{"field": "version", "problem": "not a number or 'latest'"}]
    with pytest.raises(InvalidInput, match="Invalid dataset name"):
        _record(datasets, blobs, "bad name/", b"x")


def test_lineage_edges(lineage: Any) -> None:
    first = lineage.add_edge(("dataset_version", "d1"), ("run", "r1"), relation="input", actor="ann")
    assert (first.source_type, first.source_id, first.target_type, first.target_id) == (
        "dataset_version",
        "d1",
        "run",
        "r1",
    )
    assert first.relation == "input" and first.created_at > 0
    lineage.add_edge(("dataset_version", "d1"), ("run", "r1"), relation="input", actor="ann")  # no-op
    lineage.add_edge(("run", "r1"), ("model_version", "m1"), relation="trained", actor="ann")
    both = lineage.edges("run", "r1")
    assert [(e.source_id, e.target_id, e.relation) for e in both] == [("d1", "r1", "input"), ("r1", "m1", "trained")]
    assert [e.relation for e in lineage.edges("run", "r1", direction="in")] == ["input"]
    assert [e.relation for e in lineage.edges("run", "r1", direction="out")] == ["trained"]
    assert lineage.edges("run", "nobody") == []


def test_blob_round_trips(blobs: Any, tmp_path: Path) -> None:
    data = b"parquet-bytes" * 1000
    blob = blobs.put_bytes(data)
    assert (blob.sha256, blob.size) == (sha256_bytes(data), len(data))
    assert blobs.put_stream(io.BytesIO(data)) == blob
    source = tmp_path / "data.bin"
    source.write_bytes(data)
    assert blobs.put_file(source) == blob
    assert blobs.exists(blob.sha256) and not blobs.exists(sha256_bytes(b"other"))
    assert blobs.read_bytes(blob.sha256) == data
    copied = blobs.copy_to(blob.sha256, tmp_path / "out" / "copy.bin")
    assert copied.read_bytes() == data
    empty = blobs.put_bytes(b"")
    assert empty.size == 0 and blobs.read_bytes(empty.sha256) == b""


def test_blob_errors(blobs: Any, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        blobs.read_bytes(sha256_bytes(b"never stored"))
    with pytest.raises(NotFound):
        blobs.copy_to(sha256_bytes(b"never stored"), tmp_path / "x")
    assert not (tmp_path / "x").exists()
    with pytest.raises(InvalidInput, match="expected 64 lowercase hex"):
        blobs.read_bytes("NOT-A-DIGEST")
    with pytest.raises(NotFound, match="does not exist"):
        blobs.put_file(tmp_path / "missing.bin")
    with pytest.raises(InvalidInput, match="is a directory"):
        blobs.put_file(tmp_path)
