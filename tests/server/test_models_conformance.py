"""The model registry conformance suite, run against :class:`HttpModelRegistry` over a live server.

The suite is ``tests/store/test_model_registry.py`` (the SQL registry); here each test gets a
fresh server (uvicorn in a thread) on SQLite or PostgreSQL, and the same assertions hold across
the HTTP boundary: same records, same exception classes and messages, same audit trail (read
from the server's database, with the actor each call named).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.server.conftest import settings_for, thread_server
from tests.store.test_model_registry import (  # noqa: F401  (collected here against the HTTP registry)
    package,
    test_aliases_set_move_and_resolve,
    test_archive,
    test_audit_events_for_every_write,
    test_concurrent_alias_moves_end_consistent,
    test_concurrent_creates_get_distinct_numbers,
    test_delete_and_archive_refused_while_aliased,
    test_errors_name_what_exists,
    test_failed_write_records_nothing,
    test_implements_protocol,
    test_latest_is_the_newest_ready_version_in_list_and_get,
    test_list_models,
    test_numbers_are_never_reused_after_delete,
    test_registration_checks_the_package,
    test_update_version,
    test_versions_are_numbered_per_model_and_round_trip,
)

from loopml.store.http.models import HttpModelRegistry
from loopml.store.http.tracking import HttpTrackingStore
from loopml.store.sql import Database


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """The server's database, for the audit assertions."""
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def registry(db: Database, tmp_path: Path) -> Iterator[HttpModelRegistry]:
    """An HTTP registry on a fresh server over ``db_url`` (SQLite file or PostgreSQL schema)."""
    with thread_server(settings_for(tmp_path / "server", db.url)) as live:
        store = HttpTrackingStore(live.url, actor="ann")
        yield HttpModelRegistry(store.transport)
        store.close()
