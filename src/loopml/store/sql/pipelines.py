"""Pipeline runs and their step runs in the SQL store, and the step cache lookup.

Implements :class:`~loopml.store.base.PipelineStore`: records in and out, arguments checked by
:mod:`loopml.store.pipelines`. Starting and finishing a pipeline run, and a step run reaching a
terminal status, write an audit event in the same transaction. The database's unique keys (run id,
step run id, one step name per run) are turned into ``Conflict`` here, with what collided.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from loopml.core.errors import Conflict, NotFound
from loopml.core.hashing import is_sha256
from loopml.core.records import PipelineRunRecord, PipelineRunSummary, PipelineStatus, StepRunRecord
from loopml.store.pipelines import (
    FINAL_RUN_STATUSES,
    RUN_HINT,
    STEP_HINT,
    check_changes,
    check_id,
    check_limit,
    check_pipeline_name,
    check_run,
    check_run_ref,
    check_status,
    check_step,
    jsonable,
)
from loopml.store.sql import schema as t
from loopml.store.sql.audit import record_audit
from loopml.store.sql.database import Database
from loopml.store.sql.lookup import row_by_id_or_prefix
from loopml.store.sql.references import json_values, referenced

_JSON_RUN = ("params", "result")
_JSON_STEP = ("upstream", "inputs", "outputs", "reads")
_RUN_COLUMNS = tuple(c.name for c in t.pipeline_runs.columns)  # the fields of PipelineRunRecord
_STEP_COLUMNS = tuple(c.name for c in t.step_runs.columns)  # the fields of StepRunRecord


class SqlPipelineStore:
    """Create, update and query pipeline runs and step runs."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def referenced_blobs(self, among: Collection[str] | None = None) -> dict[str, set[str]]:
        """Digests of step outputs (what the step cache reuses) and step inputs, unpacked from their JSON
        columns by the database (garbage collection keeps them)."""
        queries = {
            "step_output": json_values(self.db, "step_runs", "outputs", key="sha256"),
            "step_input": json_values(self.db, "step_runs", "inputs", key=None),
        }
        return referenced(self.db, queries, among)

    def create_run(self, run: PipelineRunRecord, *, actor: str) -> None:
        """Insert a pipeline run."""
        run = check_run(run)
        values = {name: getattr(run, name) for name in _RUN_COLUMNS}
        values["params"] = json.dumps(jsonable(run.params, "run.params"), sort_keys=True)
        values["result"] = None if run.result is None else json.dumps(run.result, default=str)
        try:
            with self.db.write() as conn:
                conn.execute(t.pipeline_runs.insert().values(**values))
                record_audit(conn, actor, "pipeline.run.start", "pipeline_run", run.id, {"pipeline": run.pipeline})
        except SqlIntegrityError as exc:
            raise Conflict(f"Pipeline run {run.id} already exists.") from exc

    def finish_run(
        self,
        run_id: str,
        *,
        status: PipelineStatus,
        end_time: int,
        error: str | None = None,
        result: Any = None,
        actor: str,
    ) -> None:
        """Move a pipeline run to ``SUCCEEDED`` or ``FAILED``; ``result`` is JSON-able (what the pipeline returned)."""
        check_id(run_id, "run_id")
        status = check_status(status, "status", FINAL_RUN_STATUSES)
        encoded = json.dumps(jsonable(result, "result"))
        with self.db.write() as conn:
            done = conn.execute(
                t.pipeline_runs.update()
                .where(t.pipeline_runs.c.id == run_id)
                .values(status=status.value, end_time=end_time, error=error, result=encoded)
            )
            if done.rowcount == 0:
                raise NotFound(f"Pipeline run {run_id} does not exist. {RUN_HINT}")
            record_audit(conn, actor, "pipeline.run.finish", "pipeline_run", run_id, {"status": status.value})

    def insert_step(self, step: StepRunRecord, *, actor: str) -> None:
        """Insert a step run (its pipeline run must be recorded)."""
        step = check_step(step)
        values = _encode_step({name: getattr(step, name) for name in _STEP_COLUMNS})
        try:
            with self.db.write() as conn:
                conn.execute(t.step_runs.insert().values(**values))
                if step.status.terminal:
                    _audit_step(conn, actor, step.id, step.status, step.name)
        except SqlIntegrityError as exc:
            raise self._insert_failure(step) from exc

    def update_step(self, step_run_id: str, changes: Mapping[str, Any], *, actor: str) -> None:
        """Change some fields of a step run (a terminal ``status`` is audited)."""
        check_id(step_run_id, "step_run_id")
        values = check_changes(changes)
        s = t.step_runs.c
        try:
            with self.db.write() as conn:
                if values:
                    done = conn.execute(t.step_runs.update().where(s.id == step_run_id).values(**_encode_step(values)))
                    found = done.rowcount > 0
                else:
                    found = conn.execute(sa.select(s.id).where(s.id == step_run_id)).first() is not None
                if not found:
                    raise NotFound(f"Step run {step_run_id} does not exist. {STEP_HINT}")
                status = values.get("status")
                if status is not None and status.terminal:
                    name = values.get("name") or conn.execute(sa.select(s.name).where(s.id == step_run_id)).scalar()
                    _audit_step(conn, actor, step_run_id, status, str(name))
        except SqlIntegrityError as exc:  # the only key a change can break: one step name per run
            message = f"The pipeline run of step run {step_run_id} already has a step {values.get('name')!r}."
            raise Conflict(message) from exc

    def find_cached(self, cache_key: str) -> StepRunRecord | None:
        """The newest succeeded step run with this cache key, if any."""
        if not isinstance(cache_key, str) or not is_sha256(cache_key):
            return None  # no step run can have it
        s = t.step_runs.c
        query = (
            sa.select(t.step_runs)
            .where(s.cache_key == cache_key, s.status == PipelineStatus.SUCCEEDED.value)
            .order_by(s.end_time.desc(), s.id)
            .limit(1)
        )
        with self.db.read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _step(row._mapping)

    def get_run(self, run_id: str) -> PipelineRunRecord:
        """A pipeline run by id or unique id prefix (at least 4 characters)."""
        row = row_by_id_or_prefix(
            self.db, t.pipeline_runs, check_run_ref(run_id), what="pipeline run", list_hint=RUN_HINT
        )
        return PipelineRunRecord(**_run_values(row._mapping))

    def list_runs(self, *, pipeline: str | None = None, limit: int = 50) -> list[PipelineRunSummary]:
        """Newest pipeline runs first (ties by id), with step counts (``steps``, ``cached``, ``failed``)."""
        pipeline, limit = check_pipeline_name(pipeline), check_limit(limit)
        r, s = t.pipeline_runs.c, t.step_runs.c
        counts = (
            sa.select(
                s.pipeline_run_id,
                sa.func.count().label("steps"),
                sa.func.sum(sa.case((s.cache_hit, 1), else_=0)).label("cached"),
                sa.func.sum(sa.case((s.status == PipelineStatus.FAILED.value, 1), else_=0)).label("failed"),
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
        return [
            PipelineRunSummary(
                **_run_values(row._mapping),
                steps=int(row.steps or 0),
                cached=int(row.cached or 0),
                failed=int(row.failed or 0),
            )
            for row in rows
        ]

    def get_step(self, step_run_id: str) -> StepRunRecord:
        """One step run by full id."""
        check_id(step_run_id, "step_run_id")
        with self.db.read() as conn:
            row = conn.execute(sa.select(t.step_runs).where(t.step_runs.c.id == step_run_id)).first()
        if row is None:
            raise NotFound(f"Step run {step_run_id} does not exist. {STEP_HINT}")
        return _step(row._mapping)

    def list_steps(self, pipeline_run_id: str) -> list[StepRunRecord]:
        """The step runs of a pipeline run in topological order."""
        check_id(pipeline_run_id, "pipeline_run_id")
        s = t.step_runs.c
        query = sa.select(t.step_runs).where(s.pipeline_run_id == pipeline_run_id).order_by(s.position, s.id)
        with self.db.read() as conn:
            steps = [_step(row._mapping) for row in conn.execute(query)]
            if not steps and not self._run_exists(conn, pipeline_run_id):
                raise NotFound(f"Pipeline run {pipeline_run_id} does not exist. {RUN_HINT}")
        return steps

    def _insert_failure(self, step: StepRunRecord) -> Exception:
        """What a refused step insert collided with: its id, its name in the run, or a run that is not there."""
        with self.db.read() as conn:
            if conn.execute(sa.select(t.step_runs.c.id).where(t.step_runs.c.id == step.id)).first() is not None:
                return Conflict(f"Step run {step.id} already exists.")
            if not self._run_exists(conn, step.pipeline_run_id):
                return NotFound(f"Pipeline run {step.pipeline_run_id} does not exist. {RUN_HINT}")
        return Conflict(f"Pipeline run {step.pipeline_run_id} already has a step {step.name!r}.")

    @staticmethod
    def _run_exists(conn: sa.Connection, run_id: str) -> bool:
        return conn.execute(sa.select(t.pipeline_runs.c.id).where(t.pipeline_runs.c.id == run_id)).first() is not None


def _encode_step(values: dict[str, Any]) -> dict[str, Any]:
    """Column values of a step run: JSON columns as text, the status as its value (keeps output order)."""
    encoded = {k: v if k not in _JSON_STEP or v is None else json.dumps(v) for k, v in values.items()}
    if "status" in encoded:
        encoded["status"] = PipelineStatus(encoded["status"]).value
    return encoded


def _run_values(row: sa.RowMapping) -> dict[str, Any]:
    data = {key: row[key] for key in _RUN_COLUMNS}
    for key in _JSON_RUN:
        data[key] = None if data[key] is None else json.loads(data[key])
    data["status"] = PipelineStatus(data["status"])
    return data


def _step(row: sa.RowMapping) -> StepRunRecord:
    data = {key: row[key] for key in _STEP_COLUMNS}
    for key in _JSON_STEP:
        data[key] = None if data[key] is None else json.loads(data[key])
    data["status"] = PipelineStatus(data["status"])
    data["cache_hit"] = bool(data["cache_hit"])
    return StepRunRecord(**data)


def _audit_step(conn: sa.Connection, actor: str, step_run_id: str, status: PipelineStatus, name: str) -> None:
    record_audit(conn, actor, "pipeline.step.finish", "step_run", step_run_id, {"status": status.value, "step": name})
