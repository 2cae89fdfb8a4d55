"""Pipeline schedules in the SQL store: create, list, delete, claim a due run, record its outcome.

Rows go in and out as plain dictionaries (``params`` decoded). Creating and deleting a schedule
write an audit event in the same transaction. :meth:`SqlScheduleStore.claim` is a compare-and-set
on the schedule's trigger state, so two schedulers polling the same database run a due schedule once.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from loopml.store.sql import schema as t
from loopml.store.sql.database import Database
from loopml.store.sql.lookup import row_by_id_or_prefix
from loopml.store.sql.tracking import record_audit


class SqlScheduleStore:
    """Create, query and update pipeline schedules."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, row: dict[str, Any], *, actor: str) -> None:
        """Insert a schedule (``params`` as a dict)."""
        values = {**row, "params": json.dumps(row["params"], sort_keys=True, default=str)}
        with self.db.write() as conn:
            conn.execute(t.pipeline_schedules.insert().values(**values))
            details = {"target": row["target"], "cron": row["cron"], "on_dataset": row["on_dataset"]}
            record_audit(conn, actor, "pipeline.schedule.create", "pipeline_schedule", row["id"], details)

    def get(self, schedule_id: str) -> dict[str, Any]:
        """A schedule by id or unique id prefix (at least 4 characters)."""
        row = row_by_id_or_prefix(
            self.db,
            t.pipeline_schedules,
            schedule_id,
            what="schedule",
            list_hint="List them with `loopml pipeline schedules`.",
        )
        return _decode(row._mapping)

    def list_schedules(self, *, enabled_only: bool = False) -> list[dict[str, Any]]:
        """Every schedule, oldest first."""
        c = t.pipeline_schedules.c
        query = sa.select(t.pipeline_schedules).order_by(c.created_at, c.id)
        if enabled_only:
            query = query.where(c.enabled.is_(True))
        with self.db.read() as conn:
            return [_decode(row._mapping) for row in conn.execute(query)]

    def delete(self, schedule_id: str, *, actor: str) -> dict[str, Any]:
        """Delete a schedule (id or unique prefix) and return the row it had."""
        row = self.get(schedule_id)
        with self.db.write() as conn:
            conn.execute(t.pipeline_schedules.delete().where(t.pipeline_schedules.c.id == row["id"]))
            record_audit(conn, actor, "pipeline.schedule.delete", "pipeline_schedule", row["id"],
                         {"target": row["target"]})  # fmt: skip
        return row

    def claim(self, row: dict[str, Any], changes: dict[str, Any]) -> bool:
        """Apply ``changes`` only if the schedule's trigger state is still the one in ``row``.

        Returns False when another scheduler claimed (or someone deleted) the schedule first.
        """
        c = t.pipeline_schedules.c
        conditions = [c.id == row["id"]]
        for key in ("next_run_at", "last_dataset_version", "last_run_at"):
            column = c[key]
            conditions.append(column.is_(None) if row[key] is None else column == row[key])
        with self.db.write() as conn:
            result = conn.execute(t.pipeline_schedules.update().where(*conditions).values(**changes))
        return result.rowcount == 1

    def record(self, schedule_id: str, changes: dict[str, Any]) -> None:
        """Store a run's outcome (``last_run_id``, ``last_status``, ``last_error``)."""
        with self.db.write() as conn:
            conn.execute(
                t.pipeline_schedules.update().where(t.pipeline_schedules.c.id == schedule_id).values(**changes)
            )


def _decode(row: Any) -> dict[str, Any]:
    data = dict(row)
    data["params"] = json.loads(data["params"])
    data["enabled"] = bool(data["enabled"])
    return data
