"""Materialisations of feature views in the SQL store, each start and finish audited on the view.

Implements :class:`~loopml.store.base.MaterializationStore`; arguments are checked by
:mod:`loopml.store.materializations`. A materialisation starts ``running`` and finishes once,
``succeeded`` or ``failed``: finishing one that is not running is a ``Conflict`` (the update is a
compare-and-set on the status, so two finishers cannot both win). Each change writes an audit event
(object ``feature_view:NAME``) in its transaction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from loopml.core.clock import now_ms
from loopml.core.errors import Conflict, NotFound
from loopml.core.records import MaterializationRecord
from loopml.store.materializations import MATERIALIZATION_HINT, check_filters, check_finish, check_materialization
from loopml.store.monitoring import check_id, check_limit
from loopml.store.sql import schema as t
from loopml.store.sql.audit import record_audit
from loopml.store.sql.database import Database

START_ACTION = "feature_view.materialization.start"
FINISH_ACTION = "feature_view.materialization.finish"
"""The audit actions of a materialisation (object ``("feature_view", view)``)."""
_COLUMNS = tuple(c.name for c in t.feature_materializations.columns)  # the fields of MaterializationRecord
_m = t.feature_materializations.c


class SqlMaterializationStore:
    """Materialisation records in a SQL database. Build with ``SqlMaterializationStore(Database(url))``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def __repr__(self) -> str:
        return f"SqlMaterializationStore({self.db.safe_url!r})"

    def start_materialization(self, record: MaterializationRecord, *, actor: str) -> None:
        """Record a materialisation that starts (status ``running``); ``Conflict`` for a known id."""
        record = check_materialization(record)
        values: dict[str, Any] = {name: getattr(record, name) for name in _COLUMNS}
        values.update(profile=json.dumps(record.profile), created_by=actor or "unknown")
        details = {
            "materialization": record.id,
            "view_version": record.view_version,
            "online_store": record.online_store,
            "start_ms": record.start_ms,
            "end_ms": record.end_ms,
        }
        try:
            with self.db.write() as conn:
                conn.execute(t.feature_materializations.insert().values(**values))
                record_audit(conn, actor, START_ACTION, "feature_view", record.view, details)
        except SqlIntegrityError as exc:
            raise Conflict(f"Materialisation {record.id} already exists.") from exc

    def finish_materialization(
        self,
        materialization_id: str,
        *,
        status: str,
        rows_read: int = 0,
        entities_written: int = 0,
        newest_event_ms: int | None = None,
        profile: Mapping[str, Any] | None = None,
        error: str | None = None,
        ended_at: int | None = None,
        actor: str,
    ) -> MaterializationRecord:
        """End a running materialisation ``succeeded`` or ``failed`` (``ended_at`` defaults to now).

        ``NotFound`` for an unknown id, ``Conflict`` when it is not ``running`` any more.
        """
        check_id(materialization_id, "materialization_id")
        values = check_finish(
            status=status, rows_read=rows_read, entities_written=entities_written, newest_event_ms=newest_event_ms,
            profile=profile, error=error, ended_at=ended_at,
        )  # fmt: skip
        if values["ended_at"] is None:
            values["ended_at"] = now_ms()
        values["profile"] = json.dumps(values["profile"])
        with self.db.write() as conn:
            done = conn.execute(
                t.feature_materializations.update()
                .where(_m.id == materialization_id, _m.status == "running")
                .values(**values)
            )
            row = conn.execute(sa.select(_m.view, _m.status).where(_m.id == materialization_id)).first()
            if row is None:
                raise NotFound(f"Materialisation {materialization_id} does not exist. {MATERIALIZATION_HINT}")
            if done.rowcount == 0:
                raise Conflict(
                    f"Materialisation {materialization_id} of view {row.view!r} is {row.status}, not running: "
                    "it finished already.",
                    details=[{"field": "status", "problem": f"materialisation is {row.status}"}],
                )
            details = {
                "materialization": materialization_id,
                "status": values["status"],
                "rows_read": values["rows_read"],
                "entities_written": values["entities_written"],
                "newest_event_ms": values["newest_event_ms"],
                "error": None if values["error"] is None else values["error"][:1000],
            }
            record_audit(conn, actor, FINISH_ACTION, "feature_view", row.view, details)
        return self.get_materialization(materialization_id)

    def get_materialization(self, materialization_id: str) -> MaterializationRecord:
        """One materialisation by id (``NotFound`` when unknown)."""
        check_id(materialization_id, "materialization_id")
        with self.db.read() as conn:
            row = conn.execute(sa.select(t.feature_materializations).where(_m.id == materialization_id)).first()
        if row is None:
            raise NotFound(f"Materialisation {materialization_id} does not exist. {MATERIALIZATION_HINT}")
        return _record(row._mapping)

    def list_materializations(
        self,
        *,
        view: str | None = None,
        online_store: str | None = None,
        status: str | None = None,
        limit: int = 50,
    ) -> list[MaterializationRecord]:
        """Materialisations, newest first (by ``started_at``, ties by id), optionally of one view, store, status."""
        view, online_store, status = check_filters(view, online_store, status)
        query = sa.select(t.feature_materializations).order_by(_m.started_at.desc(), _m.id).limit(check_limit(limit))
        if view is not None:
            query = query.where(_m.view == view)
        if online_store is not None:
            query = query.where(_m.online_store == online_store)
        if status is not None:
            query = query.where(_m.status == status)
        with self.db.read() as conn:
            return [_record(row._mapping) for row in conn.execute(query)]


def _record(row: sa.RowMapping) -> MaterializationRecord:
    data = {key: row[key] for key in _COLUMNS}
    data["profile"] = json.loads(data["profile"])
    return MaterializationRecord(**data)
