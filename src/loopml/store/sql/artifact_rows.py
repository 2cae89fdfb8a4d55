"""Rows of ``(owner, path, sha256, size)`` file tables (a run's or a logged model's files): upsert, list, delete.

``table`` and ``owner`` are names from the schema module, never user input. Paths are already checked
(:func:`loopml.artifacts.safe_relpath`); a prefix selects the path itself and everything below it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopml.core.records import ArtifactInfo
from loopml.store.sql import schema as t
from loopml.store.sql.audit import record_audit
from loopml.store.sql.database import Database
from loopml.store.sql.lifecycle import require_active_run


def upsert_rows(
    conn: Connection,
    insert: Callable[[sa.Table], Any],
    table: sa.Table,
    owner: str,
    owner_id: str,
    artifacts: Sequence[ArtifactInfo],
) -> None:
    """Insert the files, replacing the hash and size of paths already recorded (one statement)."""
    rows = [{owner: owner_id, "path": a.path, "sha256": a.sha256, "size": a.size} for a in artifacts]
    statement = insert(table)
    upsert = statement.on_conflict_do_update(
        index_elements=[owner, "path"], set_={"sha256": statement.excluded.sha256, "size": statement.excluded.size}
    )
    conn.execute(upsert, rows)


def list_rows(conn: Connection, table: sa.Table, owner: str, owner_id: str, prefix: str = "") -> list[ArtifactInfo]:
    """The files at or below ``prefix``, ordered by path."""
    c = table.c
    query = sa.select(c.path, c.sha256, c.size).where(c[owner] == owner_id, _below(c.path, prefix)).order_by(c.path)
    return [ArtifactInfo(r.path, r.sha256, r.size) for r in conn.execute(query)]


def delete_rows(conn: Connection, table: sa.Table, owner: str, owner_id: str, prefix: str = "") -> int:
    """Delete the files at or below ``prefix`` (all of the owner's when empty); how many."""
    c = table.c
    result = conn.execute(table.delete().where(c[owner] == owner_id, _below(c.path, prefix)))
    return int(result.rowcount or 0)


def delete_run_artifacts(db: Database, run_id: str, path: str = "", *, actor: str) -> int:
    """Forget an active run's files at or below ``path`` (every file when empty); how many. Blobs stay until gc."""
    with db.write() as conn:
        require_active_run(conn, run_id)
        count = delete_rows(conn, t.run_artifacts, "run_id", run_id, path)
        record_audit(conn, actor, "artifact.delete", "run", run_id, {"path": path, "count": count})
    return count


def _below(path: sa.ColumnElement[str], prefix: str) -> sa.ColumnElement[bool]:
    prefix = prefix.strip("/")
    if not prefix:
        return sa.true()
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return sa.or_(path == prefix, path.like(f"{escaped}/%", escape="\\"))
