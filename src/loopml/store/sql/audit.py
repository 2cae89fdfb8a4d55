"""Audit events in SQL: every state change writes one, in the transaction that makes the change.

>>> record_audit(conn, "ann", "run.create", "run", run_id, {"name": "baseline"})   # doctest: +SKIP
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.engine import Connection

from loopml.core.clock import now_ms
from loopml.core.records import AuditEvent
from loopml.store.sql import schema as t


def record_audit(
    conn: Connection, actor: str, action: str, object_type: str, object_id: str, details: dict[str, Any] | None = None
) -> None:
    """Write one audit event inside the caller's transaction (``details`` as JSON, what JSON lacks by ``str``)."""
    conn.execute(
        t.audit_events.insert().values(
            time=now_ms(),
            actor=actor or "unknown",
            action=action,
            object_type=object_type,
            object_id=object_id,
            details=json.dumps(details or {}, default=str),
        )
    )


def audit_event(row: Any) -> AuditEvent:
    """The :class:`AuditEvent` of an ``audit_events`` row."""
    return AuditEvent(row.id, row.time, row.actor, row.action, row.object_type, row.object_id, json.loads(row.details))
