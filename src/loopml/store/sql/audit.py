"""Audit events in SQL: every state change writes one, in the transaction that makes the change.

>>> record_audit(conn, "ann", "run.create", "run", run_id, {"name": "baseline"})   # doctest: +SKIP

:func:`audit_query` builds the read side: newest first, filtered by object (type and id, or an
object URI checked by :mod:`loopml.store.audit`), actor, actions or action prefixes, and a time range,
paged by id (``before_id``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopml.core.clock import now_ms
from loopml.core.records import AuditEvent
from loopml.store.audit import check_actions, check_audit_object
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


def audit_query(
    *,
    object_type: str | None = None,
    object_id: str | None = None,
    object_uri: str | None = None,
    actor: str | None = None,
    actions: Sequence[str] | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> sa.Select[Any]:
    """The ``audit_events`` rows matching every filter given, newest first.

    ``until_ms`` keeps events before it (exclusive); ``before_id`` keeps events with a smaller id: the
    next page starts before the last id of the previous one.
    """
    e = t.audit_events.c
    query = sa.select(t.audit_events).order_by(e.id.desc()).limit(limit)
    if object_type:
        query = query.where(e.object_type == object_type)
    if object_id:
        query = query.where(e.object_id == object_id)
    if object_uri is not None:
        query = query.where(_object_clause(object_uri))
    if actor:
        query = query.where(e.actor == actor)
    names = check_actions(actions)
    if names:
        matches = (sa.or_(e.action == a, e.action.like(_escape(a) + ".%", escape="\\")) for a in names)
        query = query.where(sa.or_(*matches))
    if since_ms is not None:
        query = query.where(e.time >= since_ms)
    if until_ms is not None:
        query = query.where(e.time < until_ms)
    if before_id is not None:
        query = query.where(e.id < before_id)
    return query


def _object_clause(uri: str) -> sa.ColumnElement[bool]:
    """What an object URI covers (see :mod:`loopml.store.audit`)."""
    e = t.audit_events.c
    found = check_audit_object(uri)
    if found.scheme == "runs":
        return sa.and_(e.object_type == "run", e.object_id == found.name)
    if found.scheme == "datasets":
        ds, dv = t.datasets.c, t.dataset_versions.c
        ids = sa.select(dv.id).join(t.datasets, ds.id == dv.dataset_id).where(ds.name == found.name)
        if found.version is not None:
            ids = ids.where(dv.version == found.version)
        return sa.and_(e.object_type == "dataset_version", e.object_id.in_(ids))
    name = found.name
    if found.version is not None:
        return sa.and_(e.object_type == "model_version", e.object_id == f"{name}/{found.version}")
    if found.alias is not None:
        return sa.and_(e.object_type == "model_alias", e.object_id == f"{name}@{found.alias}")
    return sa.or_(
        sa.and_(e.object_type.in_(("registered_model", "model")), e.object_id == name),
        sa.and_(e.object_type == "model_version", e.object_id.like(_escape(name) + "/%", escape="\\")),
        sa.and_(e.object_type == "model_alias", e.object_id.like(_escape(name) + "@%", escape="\\")),
    )


def _escape(text: str) -> str:
    """``text`` as a literal LIKE prefix (``\\`` escapes ``%``, ``_`` and itself)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
