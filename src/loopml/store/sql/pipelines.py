"""Pipeline runs and their step runs in the SQL store, and the step cache lookup.

Rows go in and out as plain dictionaries (JSON columns decoded); ``loopml.pipelines`` turns
them into its ``PipelineRun`` / ``StepRun`` records. Starting and finishing a pipeline run, and
finishing a step run, write an audit event in the same transaction.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from loopml.store.sql import schema as t
from loopml.store.sql.database import Database
from loopml.store.sql.lookup import row_by_id_or_prefix
from loopml.store.sql.tracking import record_audit

_JSON_RUN = ("params", "result")
_JSON_STEP = ("upstream", "inputs", "outputs", "reads")
TERMINAL = ("SUCCEEDED", "FAILED", "SKIPPED")


class SqlPipelineStore:
    """Create, update and query pipeline runs and step runs."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create_run(self, row: dict[str, Any], *, actor: str) -> None:
        """Insert a pipeline run (``params`` as a dict)."""
        values = {**row, "params": json.dumps(row["params"], sort_keys=True, default=str)}
        with self.db.write() as conn:
            conn.execute(t.pipeline_runs.insert().values(**values))
            record_audit(conn, actor, "pipeline.run.start", "pipeline_run", row["id"], {"pipeline": row["pipeline"]})

    def finish_run(
        self, run_id: str, *, status: str, end_time: int, error: str | None, result: Any = None, actor: str
    ) -> None:
        """Move a pipeline run to its terminal ``status``; ``result`` is JSON-able (what the pipeline returned)."""
        with self.db.write() as conn:
            conn.execute(
                t.pipeline_runs.update()
                .where(t.pipeline_runs.c.id == run_id)
                .values(status=status, end_time=end_time, error=error, result=json.dumps(result, default=str))
            )
            record_audit(conn, actor, "pipeline.run.finish", "pipeline_run", run_id, {"status": status})

    def insert_step(self, row: dict[str, Any], *, actor: str) -> None:
        """Insert a step run (``upstream``, ``inputs``, ``outputs`` as JSON-able values)."""
        with self.db.write() as conn:
            conn.execute(t.step_runs.insert().values(**_encode_step(row)))
            if row["status"] in TERMINAL:
                _audit_step(conn, actor, row["id"], row["status"], row["name"])

    def update_step(self, step_run_id: str, changes: dict[str, Any], *, actor: str) -> None:
        """Change some columns of a step run (a terminal ``status`` is audited)."""
        with self.db.write() as conn:
            conn.execute(t.step_runs.update().where(t.step_runs.c.id == step_run_id).values(**_encode_step(changes)))
            if changes.get("status") in TERMINAL:
                _audit_step(conn, actor, step_run_id, changes["status"], changes.get("name", ""))

    def find_cached(self, cache_key: str) -> dict[str, Any] | None:
        """The newest succeeded step run with this cache key, if any."""
        s = t.step_runs.c
        query = (
            sa.select(t.step_runs)
            .where(s.cache_key == cache_key, s.status == "SUCCEEDED")
            .order_by(s.end_time.desc())
            .limit(1)
        )
        with self.db.read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _decode(row._mapping, _JSON_STEP)

    def get_run(self, run_id: str) -> dict[str, Any]:
        """A pipeline run by id or unique id prefix (at least 4 characters)."""
        row = row_by_id_or_prefix(
            self.db, t.pipeline_runs, run_id, what="pipeline run", list_hint="List runs with `loopml pipeline list`."
        )
        return _decode(row._mapping, _JSON_RUN)

    def list_runs(self, *, pipeline: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Newest pipeline runs first, with step counts (``steps``, ``cached``, ``failed``)."""
        r, s = t.pipeline_runs.c, t.step_runs.c
        counts = (
            sa.select(
                s.pipeline_run_id,
                sa.func.count().label("steps"),
                sa.func.sum(sa.case((s.cache_hit, 1), else_=0)).label("cached"),
                sa.func.sum(sa.case((s.status == "FAILED", 1), else_=0)).label("failed"),
            )
            .group_by(s.pipeline_run_id)
            .subquery()
        )
        query = (
            sa.select(t.pipeline_runs, counts.c.steps, counts.c.cached, counts.c.failed)
            .select_from(t.pipeline_runs.outerjoin(counts, counts.c.pipeline_run_id == r.id))
            .order_by(r.start_time.desc(), r.id)
            .limit(limit)
        )
        if pipeline is not None:
            query = query.where(r.pipeline == pipeline)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        result = []
        for row in rows:
            data = _decode(row._mapping, _JSON_RUN)
            for key in ("steps", "cached", "failed"):
                data[key] = int(data[key] or 0)
            result.append(data)
        return result

    def get_step(self, step_run_id: str) -> dict[str, Any] | None:
        """One step run by full id, or ``None``."""
        with self.db.read() as conn:
            row = conn.execute(sa.select(t.step_runs).where(t.step_runs.c.id == step_run_id)).first()
        return None if row is None else _decode(row._mapping, _JSON_STEP)

    def list_steps(self, pipeline_run_id: str) -> list[dict[str, Any]]:
        """The step runs of a pipeline run in topological order."""
        s = t.step_runs.c
        query = sa.select(t.step_runs).where(s.pipeline_run_id == pipeline_run_id).order_by(s.position)
        with self.db.read() as conn:
            return [_decode(row._mapping, _JSON_STEP) for row in conn.execute(query)]


def _encode_step(row: dict[str, Any]) -> dict[str, Any]:
    return {k: json.dumps(v) if k in _JSON_STEP else v for k, v in row.items()}  # keeps output order


def _decode(row: Any, json_columns: tuple[str, ...]) -> dict[str, Any]:
    data = dict(row)
    for key in json_columns:
        data[key] = None if data[key] is None else json.loads(data[key])
    return data


def _audit_step(conn: sa.Connection, actor: str, step_run_id: str, status: str, name: str) -> None:
    record_audit(conn, actor, "pipeline.step.finish", "step_run", step_run_id, {"status": status, "step": name})
