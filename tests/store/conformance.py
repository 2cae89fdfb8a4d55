"""One way to run a store's conformance suite on SQLite, PostgreSQL and HTTP (a live server).

A test module names its store (an entry of :data:`loopml.store.table.STORES`) and gets both sides
from the same table the SDK and the server use::

    @pytest.fixture(params=BACKENDS)
    def backend(request, tmp_path):
        yield from store_backend(request, tmp_path, "monitoring")
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from loopml.store.http.transport import HttpTransport
from loopml.store.sql import Database, SqlTrackingStore
from loopml.store.table import open_store
from tests.server.conftest import settings_for, thread_server

BACKENDS = ["sqlite", "postgresql", "http"]
ACTOR = "ann"


@dataclass
class Backend:
    """A store under test, the database it writes to (the server's, over HTTP), and the tracking
    store next to it (the HTTP one over HTTP: the audit log as users read it)."""

    store: Any
    db: Database
    tracking: Any
    actor: str = ACTOR

    def audit(self, object_type: str, object_id: str) -> list[tuple[str, str, dict[str, Any]]]:
        """``(actor, action, details)`` of an object's audit events, oldest first, read from the database."""
        events = SqlTrackingStore(self.db).list_audit_events(object_type=object_type, object_id=object_id)
        return [(e.actor, e.action, e.details) for e in reversed(events)]


def store_backend(
    request: pytest.FixtureRequest, tmp_path: Path, name: str, *, prepare: Callable[[Database], None] | None = None
) -> Iterator[Backend]:
    """The ``name`` store over the backend ``request.param`` names; ``prepare`` fills the database first."""
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else f"sqlite:///{tmp_path / 'store.db'}"
    db = Database(url)
    try:
        if prepare is not None:
            prepare(db)
        if request.param != "http":
            yield Backend(open_store(name, db), db, open_store("tracking", db))
            return
        with thread_server(settings_for(tmp_path / "server", url)) as live:
            client = HttpTransport(live.url, actor=ACTOR)
            yield Backend(open_store(name, client), db, open_store("tracking", client))
            client.close()
    finally:
        db.dispose()
