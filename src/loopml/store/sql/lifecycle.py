"""Soft deletion, renames, tag removal, run inputs and paged histories of the SQL tracking store.

The methods the MLflow-compatible API needs beyond :class:`~loopml.store.base.TrackingStore`,
mixed into :class:`~loopml.store.sql.tracking.SqlTrackingStore`. A deleted experiment or run keeps
its rows (``lifecycle_stage = 'deleted'``) and can be restored; loopml's own listings hide it.
Deleting an experiment deletes its active runs with the same ``deleted_at``; restoring it restores
exactly those.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from loopml.core.clock import now_ms
from loopml.core.errors import Conflict, InvalidInput, NotFound
from loopml.core.records import Metric, RunStatus
from loopml.core.uris import check_name
from loopml.core.validation import check_key
from loopml.store import checks
from loopml.store.search import Comparison
from loopml.store.sql import schema as t
from loopml.store.sql.audit import record_audit
from loopml.store.sql.database import Database
from loopml.store.sql.filters import compare

ACTIVE = "active"
DELETED = "deleted"
Stage = Literal["active", "deleted"]
View = Literal["active", "deleted", "all"]

_EXPERIMENT_COLUMNS = {"name": "name", "creation_time": "created_at", "last_update_time": "updated_at"}


@dataclass(frozen=True, slots=True)
class ExperimentEntry:
    """An experiment with its lifecycle (``active`` or ``deleted``) and last update time."""

    id: str
    name: str
    created_at: int
    updated_at: int
    lifecycle_stage: str
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunInfoRow:
    """A run's own columns (no params, metrics or tags) and its lifecycle."""

    id: str
    experiment_id: str
    name: str
    status: RunStatus
    start_time: int
    end_time: int | None
    user: str
    lifecycle_stage: str


@dataclass(frozen=True, slots=True)
class RunInput:
    """A dataset a run used: name, digest, where it came from, and the input's tags."""

    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None = None
    profile: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


def stage_condition(column: sa.ColumnElement[Any], view: View) -> sa.ColumnElement[bool] | None:
    """The WHERE clause keeping rows of ``view`` (``None`` for ``all``)."""
    if view == "all":
        return None
    return column == view


class TrackingLifecycle:
    """Mixed into :class:`~loopml.store.sql.tracking.SqlTrackingStore` (which sets ``db``)."""

    db: Database

    # -- experiments --------------------------------------------------------------------------

    def experiment_entries(self, *, ids: Sequence[str] = (), names: Sequence[str] = ()) -> list[ExperimentEntry]:
        """The experiments whose id is in ``ids`` or whose name is in ``names`` (deleted ones too)."""
        e = t.experiments.c
        with self.db.read() as conn:
            rows = conn.execute(sa.select(t.experiments).where(sa.or_(e.id.in_(list(ids)), e.name.in_(list(names)))))
            return _with_tags(conn, list(rows))

    def search_experiment_entries(
        self,
        *,
        view: View = "active",
        conditions: Sequence[Comparison] = (),
        order_by: Sequence[tuple[str, bool]] = (),
        limit: int = 1000,
        offset: int = 0,
    ) -> list[ExperimentEntry]:
        """Experiments of ``view`` matching every condition (attribute ``name``, ``creation_time``,
        ``last_update_time``, or a tag), ordered by ``(attribute, ascending)`` terms then newest
        first, one page of ``limit`` from ``offset``: two queries."""
        e = t.experiments.c
        query = sa.select(t.experiments)
        where = stage_condition(e.lifecycle_stage, view)
        if where is not None:
            query = query.where(where)
        for c in conditions:
            if c.kind == "tag":
                tags = t.experiment_tags.c
                sub = sa.select(tags.experiment_id).where(tags.key == c.key, compare(tags.value, c.op, c.value))
                query = query.where(e.id.in_(sub))
            else:
                column = _experiment_column(c.key)
                query = query.where(compare(column, c.op, c.value))
        for key, ascending in order_by:
            column = _experiment_column(key)
            query = query.order_by(column.asc() if ascending else column.desc())
        query = query.order_by(e.created_at.desc(), e.id).limit(limit).offset(offset)
        with self.db.read() as conn:
            return _with_tags(conn, list(conn.execute(query)))

    def rename_experiment(self, experiment_id: str, name: str, *, actor: str) -> None:
        """Give an active experiment a new (unique) name."""
        check_name(name, field="new_name")
        try:
            with self.db.write() as conn:
                _require_experiment(conn, experiment_id, active=True)
                conn.execute(
                    t.experiments.update()
                    .where(t.experiments.c.id == experiment_id)
                    .values(name=name, updated_at=now_ms())
                )
                record_audit(conn, actor, "experiment.rename", "experiment", experiment_id, {"name": name})
        except SqlIntegrityError:
            raise Conflict(f"Experiment {name!r} already exists.") from None

    def set_experiment_stage(self, experiment_id: str, stage: Stage, *, actor: str) -> None:
        """Delete (soft) or restore an experiment, with its runs (see the module docstring)."""
        now = now_ms()
        e, r = t.experiments.c, t.runs.c
        with self.db.write() as conn:
            row = _require_experiment(conn, experiment_id)
            if stage == DELETED:
                if row.lifecycle_stage == DELETED:
                    return
                conn.execute(
                    t.runs.update()
                    .where(r.experiment_id == experiment_id, r.lifecycle_stage == ACTIVE)
                    .values(lifecycle_stage=DELETED, deleted_at=now)
                )
                values: dict[str, Any] = {"lifecycle_stage": DELETED, "deleted_at": now, "updated_at": now}
            else:
                if row.lifecycle_stage == ACTIVE:
                    return
                if row.deleted_at is not None:
                    conn.execute(
                        t.runs.update()
                        .where(r.experiment_id == experiment_id, r.deleted_at == row.deleted_at)
                        .values(lifecycle_stage=ACTIVE, deleted_at=None)
                    )
                values = {"lifecycle_stage": ACTIVE, "deleted_at": None, "updated_at": now}
            conn.execute(t.experiments.update().where(e.id == experiment_id).values(**values))
            action = "experiment.delete" if stage == DELETED else "experiment.restore"
            record_audit(conn, actor, action, "experiment", experiment_id)

    def set_experiment_tag(self, experiment_id: str, key: str, value: str, *, actor: str) -> None:
        """Set (or overwrite) one tag of an active experiment."""
        tags = checks.string_dict({key: value}, "tag")
        table = t.experiment_tags
        with self.db.write() as conn:
            _require_experiment(conn, experiment_id, active=True)
            conn.execute(table.delete().where(table.c.experiment_id == experiment_id, table.c.key == key))
            conn.execute(table.insert().values(experiment_id=experiment_id, key=key, value=tags[key]))
            conn.execute(t.experiments.update().where(t.experiments.c.id == experiment_id).values(updated_at=now_ms()))
            record_audit(conn, actor, "experiment.set_tag", "experiment", experiment_id, {"key": key})

    def delete_experiment_tag(self, experiment_id: str, key: str, *, actor: str) -> None:
        """Remove one tag of an active experiment (``NotFound`` if it has no such tag)."""
        check_key(key, field="tag")
        table = t.experiment_tags
        with self.db.write() as conn:
            _require_experiment(conn, experiment_id, active=True)
            gone = conn.execute(table.delete().where(table.c.experiment_id == experiment_id, table.c.key == key))
            if gone.rowcount == 0:
                raise NotFound(f"No tag with name {key!r} in experiment {experiment_id}.")
            record_audit(conn, actor, "experiment.delete_tag", "experiment", experiment_id, {"key": key})

    # -- runs -----------------------------------------------------------------------------------

    def run_stages(self, run_ids: Sequence[str]) -> dict[str, str]:
        """The lifecycle stage of each known run of ``run_ids`` (one query)."""
        r = t.runs.c
        with self.db.read() as conn:
            rows = conn.execute(sa.select(r.id, r.lifecycle_stage).where(r.id.in_(list(run_ids))))
            return {row.id: row.lifecycle_stage for row in rows}

    def update_run(
        self,
        run_id: str,
        *,
        status: RunStatus | None = None,
        end_time: int | None = None,
        name: str | None = None,
        actor: str,
    ) -> RunInfoRow:
        """Set an active run's status, end time and name (each if given), and return its columns."""
        values: dict[str, Any] = {}
        if status is not None:
            values["status"] = checks.run_status(status).value
            if status is RunStatus.RUNNING:
                values["heartbeat_at"] = now_ms()
        if end_time is not None:
            values["end_time"] = end_time
        elif status is not None and status is not RunStatus.RUNNING:
            values["end_time"] = now_ms()
        if name is not None:
            values["name"] = check_run_name(name)
        with self.db.write() as conn:
            require_active_run(conn, run_id)
            if values:
                conn.execute(t.runs.update().where(t.runs.c.id == run_id).values(**values))
                details = {k: v for k, v in values.items() if k in ("status", "name")}
                record_audit(conn, actor, "run.update", "run", run_id, details)
            row = conn.execute(sa.select(t.runs).where(t.runs.c.id == run_id)).one()
        return RunInfoRow(
            row.id,
            row.experiment_id,
            row.name,
            RunStatus(row.status),
            row.start_time,
            row.end_time,
            row.user,
            row.lifecycle_stage,
        )

    def set_run_stage(self, run_id: str, stage: Stage, *, actor: str) -> None:
        """Delete (soft) or restore a run."""
        deleted_at = now_ms() if stage == DELETED else None
        with self.db.write() as conn:
            if conn.execute(sa.select(t.runs.c.id).where(t.runs.c.id == run_id)).first() is None:
                raise NotFound(f"Run {run_id!r} does not exist.")
            conn.execute(
                t.runs.update().where(t.runs.c.id == run_id).values(lifecycle_stage=stage, deleted_at=deleted_at)
            )
            record_audit(conn, actor, "run.delete" if stage == DELETED else "run.restore", "run", run_id)

    def delete_run_tag(self, run_id: str, key: str, *, actor: str) -> None:
        """Remove one tag of an active run (``NotFound`` if it has no such tag)."""
        check_key(key, field="tag")
        with self.db.write() as conn:
            require_active_run(conn, run_id)
            gone = conn.execute(t.tags.delete().where(t.tags.c.run_id == run_id, t.tags.c.key == key))
            if gone.rowcount == 0:
                raise NotFound(f"No tag with name {key!r} in run {run_id}.")
            record_audit(conn, actor, "run.delete_tag", "run", run_id, {"key": key})

    def log_run_inputs(self, run_id: str, inputs: Sequence[RunInput], *, actor: str) -> None:
        """Record datasets an active run used; one already recorded (same name and digest) is kept as is."""
        if not inputs:
            return
        now = now_ms()
        rows = [
            {
                "run_id": run_id,
                "name": i.name,
                "digest": i.digest,
                "source_type": i.source_type,
                "source": i.source,
                "schema": i.schema,
                "profile": i.profile,
                "tags": json.dumps(i.tags, sort_keys=True),
                "created_at": now,
            }
            for i in inputs
        ]
        insert = (
            sa.dialects.postgresql.insert(t.run_inputs)
            if self.db.dialect == "postgresql"
            else sa.dialects.sqlite.insert(t.run_inputs)
        ).on_conflict_do_nothing()
        with self.db.write() as conn:
            require_active_run(conn, run_id)
            conn.execute(insert, rows)
            names = sorted({i.name for i in inputs})[:100]
            record_audit(conn, actor, "run.log_inputs", "run", run_id, {"datasets": names})

    def run_inputs(self, run_ids: Sequence[str]) -> dict[str, list[RunInput]]:
        """The inputs of each of ``run_ids`` in the order they were logged (one query)."""
        i = t.run_inputs.c
        query = sa.select(t.run_inputs).where(i.run_id.in_(list(run_ids))).order_by(i.run_id, i.created_at, i.name)
        out: dict[str, list[RunInput]] = {}
        with self.db.read() as conn:
            for r in conn.execute(query):
                out.setdefault(r.run_id, []).append(
                    RunInput(r.name, r.digest, r.source_type, r.source, r.schema, r.profile, json.loads(r.tags))
                )
        return out

    def latest_metric_points(self, run_ids: Sequence[str]) -> dict[str, list[tuple[str, float, int, int]]]:
        """The latest ``(key, value, step, timestamp)`` of each metric of each of ``run_ids`` (one
        query per 500 runs)."""
        lm = t.latest_metrics.c
        ids = list(run_ids)
        out: dict[str, list[tuple[str, float, int, int]]] = {}
        nan = float("nan")
        with self.db.read() as conn:
            for start in range(0, len(ids), 500):
                query = sa.select(lm.run_id, lm.key, lm.value, lm.step, lm.timestamp).where(
                    lm.run_id.in_(ids[start : start + 500])
                )
                for run_id, key, value, step, ts in conn.execute(query).cursor.fetchall():
                    out.setdefault(run_id, []).append((key, nan if value is None else value, step, ts))
        return out

    def metric_history_page(self, run_id: str, key: str, *, limit: int | None, offset: int = 0) -> list[Metric]:
        """Points ``offset`` to ``offset + limit`` of one metric in step order (all with ``limit=None``)."""
        check_key(key, field="metric")
        m = t.metrics.c
        query = (
            sa.select(m.step, m.timestamp, m.value)
            .where(m.run_id == run_id, m.key == key)
            .order_by(m.step, m.timestamp, m.id)
            .offset(offset)
        )
        if limit is not None:
            query = query.limit(limit)
        with self.db.read() as conn:
            if conn.execute(sa.select(t.runs.c.id).where(t.runs.c.id == run_id)).first() is None:
                raise NotFound(f"Run {run_id!r} does not exist.")
            rows = conn.execute(query).cursor.fetchall()
        nan = float("nan")
        return [Metric(key, nan if value is None else value, step, ts) for step, ts, value in rows]


def check_run_name(name: object) -> str:
    """A run name: a string of at most 256 characters."""
    if not isinstance(name, str) or len(name) > 256:
        raise InvalidInput(
            f"Invalid run name {name!r}: expected a string of at most 256 characters.",
            details=[{"field": "run_name", "problem": "not a string of at most 256 characters"}],
        )
    return name


def require_active_run(conn: Connection, run_id: str) -> None:
    """``NotFound`` for an unknown run, ``InvalidInput`` for a deleted one (writes are refused)."""
    r = t.runs.c
    row = conn.execute(sa.select(r.lifecycle_stage).where(r.id == run_id)).first() if isinstance(run_id, str) else None
    if row is None:
        raise NotFound(f"Run {run_id!r} does not exist.")
    if row.lifecycle_stage != ACTIVE:
        raise InvalidInput(
            f"The run {run_id} must be in the 'active' state to be changed; it is {row.lifecycle_stage!r} "
            "(restore it first).",
            details=[{"field": "run_id", "problem": f"run is {row.lifecycle_stage}"}],
        )


def _require_experiment(conn: Connection, experiment_id: str, *, active: bool = False) -> Any:
    row = conn.execute(sa.select(t.experiments).where(t.experiments.c.id == experiment_id)).first()
    if row is None:
        raise NotFound(f"No experiment with id {experiment_id!r} exists.")
    if active and row.lifecycle_stage != ACTIVE:
        raise InvalidInput(
            f"The experiment {experiment_id} must be in the 'active' state; it is {row.lifecycle_stage!r} "
            "(restore it first).",
            details=[{"field": "experiment_id", "problem": f"experiment is {row.lifecycle_stage}"}],
        )
    return row


def _with_tags(conn: Connection, rows: list[Any]) -> list[ExperimentEntry]:
    if not rows:
        return []
    tags: dict[str, dict[str, str]] = {r.id: {} for r in rows}
    et = t.experiment_tags.c
    for tag in conn.execute(sa.select(t.experiment_tags).where(et.experiment_id.in_(list(tags)))):
        tags[tag.experiment_id][tag.key] = tag.value
    return [
        ExperimentEntry(
            r.id,
            r.name,
            r.created_at,
            r.updated_at if r.updated_at is not None else r.created_at,
            r.lifecycle_stage,
            tags[r.id],
        )
        for r in rows
    ]


def _experiment_column(key: str) -> sa.ColumnElement[Any]:
    column = _EXPERIMENT_COLUMNS.get(key)
    if column is None:
        valid = ", ".join(sorted(_EXPERIMENT_COLUMNS))
        raise InvalidInput(
            f"Invalid experiment attribute {key!r}; valid attributes are {valid}.",
            details=[{"field": "filter", "problem": f"unknown attribute {key!r}"}],
        )
    if column == "updated_at":
        return sa.func.coalesce(t.experiments.c.updated_at, t.experiments.c.created_at)
    return t.experiments.c[column]
