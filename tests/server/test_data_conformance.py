"""The dataset, lineage and blob store conformance suite, run against the HTTP stores over a live server.

The suite is ``tests/store/test_data_stores.py`` (SQL stores and local blobs); here each test gets
a fresh server (uvicorn in a thread) on SQLite or PostgreSQL, and the same assertions hold across
the HTTP boundary: same records, same exception classes and messages.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.server.conftest import settings_for, thread_server
from tests.store.test_data_stores import (  # noqa: F401  (collected here against the HTTP stores)
    test_blob_errors,
    test_blob_round_trips,
    test_dataset_errors,
    test_dataset_versions,
    test_implements_protocols,
    test_lineage_edges,
)

from loopml.store.http.data import HttpBlobStore, HttpDatasetStore, HttpLineageStore
from loopml.store.http.tracking import HttpTrackingStore


@pytest.fixture
def client(db_url: str, tmp_path: Path) -> Iterator[HttpTrackingStore]:
    """An HTTP client of a fresh server over ``db_url`` (SQLite file or PostgreSQL schema)."""
    with thread_server(settings_for(tmp_path / "server", db_url)) as live:
        store = HttpTrackingStore(live.url, actor="ann")
        yield store
        store.close()


@pytest.fixture
def datasets(client: HttpTrackingStore) -> HttpDatasetStore:
    return HttpDatasetStore(client.transport)


@pytest.fixture
def lineage(client: HttpTrackingStore) -> HttpLineageStore:
    return HttpLineageStore(client.transport)


@pytest.fixture
def blobs(client: HttpTrackingStore) -> HttpBlobStore:
    return HttpBlobStore(client.transport)
