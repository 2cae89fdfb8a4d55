"""The default online store: one table in a SQLite file (WAL), keyed by (view, entity key).

Reads are one ``SELECT`` for the whole batch, every view at once; writes are one transaction per
batch whose upsert keeps the newer record (``ON CONFLICT ... DO UPDATE ... WHERE``). Each thread
has its own connection, so concurrent readers do not wait for each other (WAL).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from loopml.core.errors import InvalidInput, StoreError
from loopml.features.online.base import EntityKey

_SCHEMA = """
CREATE TABLE IF NOT EXISTS online_features (
    view TEXT NOT NULL,
    entity_key TEXT NOT NULL,
    event_ms INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    record BLOB NOT NULL,
    PRIMARY KEY (view, entity_key)
) WITHOUT ROWID
"""
_UPSERT = """
INSERT INTO online_features (view, entity_key, event_ms, created_ms, record) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (view, entity_key) DO UPDATE SET
    event_ms = excluded.event_ms, created_ms = excluded.created_ms, record = excluded.record
WHERE excluded.event_ms > online_features.event_ms
   OR (excluded.event_ms = online_features.event_ms AND excluded.created_ms >= online_features.created_ms)
"""
_MAX_PAIRS = 16_000
"""(view, key) pairs per SELECT: SQLite allows 32,766 parameters."""


def sqlite_path(uri: str) -> Path:
    """The file a ``sqlite:///PATH`` URI (or a plain path) names."""
    if uri.startswith("sqlite:///"):
        path = uri[len("sqlite:///") :]
        path = "/" + path.lstrip("/") if uri.startswith("sqlite:////") else path
    elif uri.startswith("file://"):
        path = uri[len("file://") :]
    elif "://" in uri:
        raise InvalidInput(f"Invalid SQLite online store URI {uri!r}: use sqlite:///PATH.")
    else:
        path = uri
    if not path or path == ":memory:":
        raise InvalidInput(f"Invalid SQLite online store URI {uri!r}: name a file (sqlite:///PATH/online.db).")
    return Path(path).expanduser()


class SqliteOnlineStore:
    """Online records in a SQLite file."""

    def __init__(self, uri: str) -> None:
        self.path = sqlite_path(uri)
        self.uri = f"sqlite:///{self.path}"
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._connection()  # create the file and table now: a bad path fails here, naming it

    def _connection(self) -> sqlite3.Connection:
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is not None:
            return con
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"Cannot open the online store {self.uri}: {exc}") from exc
        self._local.con = con
        with self._lock:
            self._connections.append(con)
        return con

    def write(
        self,
        view: str,
        keys: Sequence[EntityKey],
        event_ms: Sequence[int],
        created_ms: Sequence[int],
        records: Sequence[bytes],
    ) -> int:
        """Upsert the records, keeping the newer one per key, in one transaction."""
        con = self._connection()
        rows = zip([view] * len(keys), keys, event_ms, created_ms, records, strict=True)
        con.execute("BEGIN IMMEDIATE")
        try:
            before = con.total_changes
            con.executemany(_UPSERT, rows)
            written = con.total_changes - before
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return written

    def read(self, items: Sequence[tuple[str, EntityKey]]) -> list[bytes | None]:
        """Every item's record in one query (a batch of more than 16,000 items in several)."""
        if not items:
            return []
        con = self._connection()
        found: dict[tuple[str, str], bytes] = {}
        for start in range(0, len(items), _MAX_PAIRS):
            chunk = items[start : start + _MAX_PAIRS]
            values = ",".join(["(?,?)"] * len(chunk))
            params = [part for item in chunk for part in item]
            cursor = con.execute(
                f"SELECT view, entity_key, record FROM online_features WHERE (view, entity_key) IN (VALUES {values})",
                params,
            )
            found.update(((view, key), record) for view, key, record in cursor)
        return [found.get(item) for item in items]

    def delete_view(self, view: str) -> int:
        """Remove every record of ``view``."""
        con = self._connection()
        return con.execute("DELETE FROM online_features WHERE view = ?", (view,)).rowcount

    def close(self) -> None:
        """Close every thread's connection."""
        with self._lock:
            connections, self._connections = self._connections, []
        for con in connections:
            con.close()
        self._local = threading.local()
