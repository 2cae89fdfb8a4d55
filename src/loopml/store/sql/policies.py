"""Retrain policies and their cycles in the SQL store, with the lock that lets one retrain per model run.

A policy is stored by name with its ``RetrainPolicy.to_dict()`` spec; applying, pausing, resuming
and deleting it write an audit event on ``("policy", name)`` in the same transaction.

A cycle is one retrain of a policy. :meth:`SqlPolicyStore.start_cycle` takes the model's row of
``retrain_locks`` and inserts the cycle in one write transaction, so across processes and machines
sharing the database one cycle per model runs at a time: a second start finds the row (or, racing,
hits its primary key) and gets ``None``. A lock whose cycle started more than ``stale_after_ms``
before is a crashed service's: it is taken over with a compare-and-set on ``(model, cycle_id)``
and the abandoned cycle is marked failed. :meth:`~SqlPolicyStore.finish_cycle` records the end,
releases the lock if it is still the cycle's, and writes the cycle's lineage edges::

    policy --cycle--> policy_cycle --data--> dataset_version
                      policy_cycle --ran--> pipeline_run
                      policy_cycle --decided--> decision

Transactions take the lock row before the cycle row, so a takeover and a finish on PostgreSQL
queue behind each other instead of deadlocking (SQLite serialises writers anyway).
"""

from __future__ import annotations

import json
from dataclasses import fields, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from loopml.core.clock import now_ms
from loopml.core.errors import Conflict, NotFound, invalid
from loopml.core.records import CycleRecord, PolicyRecord
from loopml.store.decisions import check_bool
from loopml.store.monitoring import check_count, check_id, check_limit, check_millis, check_model
from loopml.store.policies import (
    CYCLE_HINT,
    POLICY_HINT,
    check_cycle_record,
    check_cycle_status,
    check_details,
    check_policy_record,
    check_progress,
)
from loopml.store.sql import schema as t
from loopml.store.sql.audit import record_audit
from loopml.store.sql.database import Database
from loopml.store.sql.decisions import dataset_version_id, lineage_edge
from loopml.store.sql.lookup import row_by_id_or_prefix

ABANDONED = "abandoned: its service stopped before it ended (lock taken over by cycle {cycle})"
"""The error of a cycle whose lock was taken over (``{cycle}`` is the new cycle's id)."""
_ATTEMPTS = 5
_p, _c, _l = t.retrain_policies.c, t.retrain_cycles.c, t.retrain_locks.c
_CYCLE_FIELDS = tuple(f.name for f in fields(CycleRecord))
_MISSING = object()


class SqlPolicyStore:
    """Retrain policies, their cycles and the per-model retrain lock. Build with ``SqlPolicyStore(Database(url))``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def __repr__(self) -> str:
        return f"SqlPolicyStore({self.db.safe_url!r})"

    # -- policies -------------------------------------------------------------------------------

    def apply_policy(self, name: str, model: str, spec: dict[str, Any], *, actor: str) -> tuple[PolicyRecord, bool]:
        """Create or replace policy ``name``; ``True`` when it was created.

        An update keeps ``created_at``, ``created_by`` and ``enabled`` (pausing is :meth:`set_enabled`);
        ``updated_at`` moves only when something changed. One ``policy.apply`` audit event names the
        top-level spec keys that changed.
        """
        now = now_ms()
        record = check_policy_record(PolicyRecord(name, model, spec, True, now, now, actor or "unknown"))
        for _ in range(_ATTEMPTS):
            try:
                with self.db.write() as conn:
                    found = conn.execute(sa.select(t.retrain_policies).where(_p.name == name).with_for_update()).first()
                    if found is None:
                        conn.execute(t.retrain_policies.insert().values(**_policy_row(record)))
                        stored, changed = record, sorted(record.spec)
                    else:
                        before = _policy(found._mapping)
                        keys = set(before.spec) | set(record.spec)
                        changed = sorted(
                            k for k in keys if before.spec.get(k, _MISSING) != record.spec.get(k, _MISSING)
                        )
                        differs = changed or before.model != model
                        stored = replace(
                            before, model=model, spec=record.spec, updated_at=now if differs else before.updated_at
                        )
                        conn.execute(t.retrain_policies.update().where(_p.name == name).values(**_policy_row(stored)))
                    details = {"model": model, "created": found is None, "changed": changed}
                    record_audit(conn, actor, "policy.apply", "policy", name, details)
                return stored, found is None
            except SqlIntegrityError:
                continue  # another writer created it first: apply again as an update
        raise Conflict(f"Could not apply policy {name!r} after {_ATTEMPTS} attempts; retry.")

    def get_policy(self, name: str) -> PolicyRecord:
        """A policy by name (``NotFound`` naming ``policy``)."""
        check_model(name, "policy")
        with self.db.read() as conn:
            found = conn.execute(sa.select(t.retrain_policies).where(_p.name == name)).first()
        if found is None:
            raise _policy_not_found(name)
        return _policy(found._mapping)

    def list_policies(self, *, model: str | None = None, enabled: bool | None = None) -> list[PolicyRecord]:
        """Policies by name; ``model`` keeps one model's, ``enabled`` the running (or the paused) ones."""
        query = sa.select(t.retrain_policies).order_by(_p.name)
        if model is not None:
            query = query.where(_p.model == check_model(model, "model"))
        if enabled is not None:
            query = query.where(_p.enabled == check_bool(enabled, "enabled"))
        with self.db.read() as conn:
            return [_policy(row._mapping) for row in conn.execute(query)]

    def delete_policy(self, name: str, *, actor: str) -> PolicyRecord:
        """Delete policy ``name`` and return what it was (its cycles stay, as history)."""
        check_model(name, "policy")
        with self.db.write() as conn:
            stored = _locked_policy(conn, name)
            conn.execute(t.retrain_policies.delete().where(_p.name == name))
            record_audit(conn, actor, "policy.delete", "policy", name, {"model": stored.model})
        return stored

    def set_enabled(self, name: str, enabled: bool, *, actor: str) -> PolicyRecord:
        """Resume (``True``) or pause (``False``) a policy (audited as ``policy.resume`` or ``policy.pause``
        when that changes it)."""
        check_model(name, "policy")
        check_bool(enabled, "enabled")
        with self.db.write() as conn:
            stored = _locked_policy(conn, name)
            if stored.enabled == enabled:
                return stored
            stored = replace(stored, enabled=enabled, updated_at=now_ms())
            conn.execute(
                t.retrain_policies.update().where(_p.name == name).values(enabled=enabled, updated_at=stored.updated_at)
            )
            action = "policy.resume" if enabled else "policy.pause"
            record_audit(conn, actor, action, "policy", name, {"model": stored.model})
        return stored

    # -- cycles ---------------------------------------------------------------------------------

    def start_cycle(self, record: CycleRecord, *, actor: str, stale_after_ms: int) -> CycleRecord | None:
        """Take the model's retrain lock and store ``record`` (``running``) in one transaction.

        ``None``, with nothing written, when another cycle of the model holds the lock and started
        less than ``stale_after_ms`` before ``record.started_at``. An older holder is taken over and
        ends ``failed`` (:data:`ABANDONED`). ``Conflict`` for a known cycle id.
        """
        record = replace(check_cycle_record(record), created_by=actor or "unknown")
        check_count(stale_after_ms, "stale_after_ms")
        try:
            with self.db.write() as conn:
                taken, took_over = _take_lock(conn, record, stale_after_ms, actor)
                if not taken:
                    return None
                _cycle_edges(conn, record, prefix="record.")
                conn.execute(t.retrain_cycles.insert().values(**_cycle_row(record)))
                details = {"cycle": record.id, "model": record.model, "reason": record.reason, "took_over": took_over}
                record_audit(conn, actor, "policy.cycle.start", "policy", record.policy, details)
        except SqlIntegrityError:  # the whole transaction is rolled back (PostgreSQL aborted it anyway)
            with self.db.read() as conn:
                if conn.execute(sa.select(_c.id).where(_c.id == record.id)).first() is not None:
                    raise Conflict(f"Cycle {record.id} already exists.") from None
            return None  # a concurrent start inserted the model's lock row first
        return record

    def update_cycle(
        self,
        cycle_id: str,
        *,
        dataset_version: str | None = None,
        pipeline_run_id: str | None = None,
        challenger_version: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> CycleRecord:
        """Record what a running cycle learned: the fields given change, ``details`` are merged.

        ``Conflict`` when the cycle is not running any more (it ended, or its lock was taken over).
        """
        check_id(cycle_id, "cycle_id")
        check_progress(
            dataset_version=dataset_version, pipeline_run_id=pipeline_run_id, challenger_version=challenger_version
        )
        extra = check_details(details)
        with self.db.write() as conn:
            current = _running_cycle(conn, cycle_id)
            given = {"dataset_version": dataset_version, "pipeline_run_id": pipeline_run_id}
            changes: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
            if challenger_version is not None:
                changes["challenger_version"] = challenger_version
            updated = replace(current, **changes, details={**current.details, **(extra or {})})
            _cycle_edges(conn, updated, fields=set(changes))
            row = _cycle_row(updated)
            conn.execute(
                t.retrain_cycles.update().where(_c.id == cycle_id).values(**{k: row[k] for k in (*changes, "details")})
            )
        return updated

    def finish_cycle(
        self,
        cycle_id: str,
        *,
        status: str,
        actor: str,
        error: str | None = None,
        decision_id: str | None = None,
        challenger_version: int | None = None,
        pipeline_run_id: str | None = None,
        dataset_version: str | None = None,
        details: dict[str, Any] | None = None,
        ended_at: int | None = None,
    ) -> CycleRecord:
        """End a running cycle as ``promoted``, ``passed``, ``refused`` or ``failed`` and release its model's lock.

        The fields given are recorded (``details`` merged) with a ``policy.cycle.<status>`` audit
        event and the cycle's lineage edges, in one transaction. ``Conflict`` when the cycle is not
        running any more (it ended, or its lock was taken over); ``NotFound`` naming the field for a
        dataset version, pipeline run or decision that does not exist.
        """
        check_id(cycle_id, "cycle_id")
        if check_cycle_status(status) == "running":
            raise invalid(
                "status", "still running", "Invalid status 'running': a cycle ends promoted, passed, refused or failed."
            )
        check_progress(
            dataset_version=dataset_version, pipeline_run_id=pipeline_run_id,
            challenger_version=challenger_version, decision_id=decision_id, error=error,
        )  # fmt: skip
        check_millis(ended_at, "ended_at", optional=True)
        extra = check_details(details)
        given = {
            "error": error, "decision_id": decision_id, "challenger_version": challenger_version,
            "pipeline_run_id": pipeline_run_id, "dataset_version": dataset_version,
        }  # fmt: skip
        changes: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        with self.db.write() as conn:
            model = conn.execute(sa.select(_c.model).where(_c.id == cycle_id)).scalar()
            if model is not None:  # the lock row first, as a takeover does: no deadlock between the two
                conn.execute(sa.select(_l.cycle_id).where(_l.model == model).with_for_update()).first()
            current = _running_cycle(conn, cycle_id)
            ended = replace(
                current, **changes, status=status, ended_at=now_ms() if ended_at is None else ended_at,
                details={**current.details, **(extra or {})},
            )  # fmt: skip
            _end_cycle(conn, ended, actor=actor, fields=set(changes))
        return ended

    def get_cycle(self, cycle_id: str) -> CycleRecord:
        """A cycle by id or unique id prefix (at least 4 characters)."""
        row = row_by_id_or_prefix(self.db, t.retrain_cycles, cycle_id, what="cycle", list_hint=CYCLE_HINT)
        return _cycle(row._mapping)

    def list_cycles(
        self, *, policy: str | None = None, model: str | None = None, status: str | None = None, limit: int = 50
    ) -> list[CycleRecord]:
        """Cycles, newest first; ``policy``, ``model`` and ``status`` filter them."""
        query = sa.select(t.retrain_cycles).order_by(_c.started_at.desc(), _c.id.desc()).limit(check_limit(limit))
        if policy is not None:
            query = query.where(_c.policy == check_model(policy, "policy"))
        if model is not None:
            query = query.where(_c.model == check_model(model, "model"))
        if status is not None:
            query = query.where(_c.status == check_cycle_status(status))
        with self.db.read() as conn:
            return [_cycle(row._mapping) for row in conn.execute(query)]

    def last_started(self, policy: str) -> int | None:
        """When the newest cycle of ``policy`` started (``None`` when it never ran): the cooldown reads it."""
        query = sa.select(sa.func.max(_c.started_at)).where(_c.policy == check_model(policy, "policy"))
        with self.db.read() as conn:
            found = conn.execute(query).scalar()
        return None if found is None else int(found)

    def running_cycle(self, model: str) -> CycleRecord | None:
        """The cycle holding ``model``'s retrain lock, if any."""
        query = (
            sa.select(t.retrain_cycles)
            .join(t.retrain_locks, _l.cycle_id == _c.id)
            .where(_l.model == check_model(model, "model"), _c.status == "running")
        )
        with self.db.read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _cycle(row._mapping)


# -- helpers --------------------------------------------------------------------------------------


def _take_lock(conn: Connection, record: CycleRecord, stale_after_ms: int, actor: str) -> tuple[bool, str | None]:
    """Give ``record`` its model's lock: ``(True, None)`` when it was free, ``(True, id)`` when it was
    taken over from cycle ``id``, ``(False, None)`` when a live cycle holds it (nothing written)."""
    held = conn.execute(
        sa.select(_l.cycle_id, _l.acquired_at).where(_l.model == record.model).with_for_update()
    ).first()
    if held is None:
        conn.execute(
            t.retrain_locks.insert().values(model=record.model, cycle_id=record.id, acquired_at=record.started_at)
        )
        return True, None
    found = conn.execute(sa.select(t.retrain_cycles).where(_c.id == held.cycle_id).with_for_update()).first()
    holder = None if found is None or found.status != "running" else _cycle(found._mapping)
    if holder is not None and record.started_at - held.acquired_at < stale_after_ms:
        return False, None
    taken = conn.execute(
        t.retrain_locks.update()
        .where(_l.model == record.model, _l.cycle_id == held.cycle_id)
        .values(cycle_id=record.id, acquired_at=record.started_at)
    )
    if taken.rowcount != 1:
        return False, None
    if holder is not None:
        abandoned = replace(
            holder, status="failed", ended_at=record.started_at, error=ABANDONED.format(cycle=record.id)
        )
        _end_cycle(conn, abandoned, actor=actor, fields=set())
    return True, str(held.cycle_id)


def _end_cycle(conn: Connection, ended: CycleRecord, *, actor: str, fields: set[str]) -> None:
    """Store the end of a running cycle, release its lock, write its lineage edges and audit event."""
    edges = _cycle_edges(conn, ended, fields=fields)
    row = _cycle_row(ended)
    del row["id"]
    done = conn.execute(t.retrain_cycles.update().where(_c.id == ended.id, _c.status == "running").values(**row))
    if done.rowcount != 1:
        raise Conflict(f"Cycle {ended.id} is not running any more. {CYCLE_HINT}")
    conn.execute(t.retrain_locks.delete().where(_l.model == ended.model, _l.cycle_id == ended.id))
    conn.execute(t.lineage_edges.insert(), [{**edge, "created_at": ended.ended_at} for edge in edges])
    details = {
        "cycle": ended.id, "model": ended.model, "status": ended.status, "decision": ended.decision_id,
        "challenger_version": ended.challenger_version, "error": ended.error,
    }  # fmt: skip
    record_audit(conn, actor, f"policy.cycle.{ended.status}", "policy", ended.policy, details)


def _cycle_edges(
    conn: Connection, cycle: CycleRecord, *, fields: set[str] | None = None, prefix: str = ""
) -> list[dict[str, str]]:
    """The lineage edges of ``cycle``. What ``fields`` names (every reference when ``None``) must exist
    (``NotFound`` naming it); a reference stored earlier whose target is gone meanwhile gets no edge."""
    node = ("policy_cycle", cycle.id)
    edges = [lineage_edge(("policy", cycle.policy), node, "cycle")]
    strict = {"dataset_version", "pipeline_run_id", "decision_id"} if fields is None else fields
    if cycle.dataset_version is not None:
        field = f"{prefix}dataset_version"
        try:
            edges.append(
                lineage_edge(node, ("dataset_version", dataset_version_id(conn, cycle.dataset_version, field)), "data")
            )
        except NotFound:
            if "dataset_version" in strict:
                raise
    for name, table, target, relation, what in (
        ("pipeline_run_id", t.pipeline_runs, "pipeline_run", "ran", "Pipeline run"),
        ("decision_id", t.model_decisions, "decision", "decided", "Decision"),
    ):
        value = getattr(cycle, name)
        if value is None:
            continue
        if conn.execute(sa.select(table.c.id).where(table.c.id == value)).first() is not None:
            edges.append(lineage_edge(node, (target, value), relation))
        elif name in strict:
            raise NotFound(
                f"{what} {value} does not exist.", details=[{"field": f"{prefix}{name}", "problem": "does not exist"}]
            )
    return edges


def _running_cycle(conn: Connection, cycle_id: str) -> CycleRecord:
    """The cycle ``cycle_id``, locked for this transaction; ``Conflict`` unless it is running."""
    found = conn.execute(sa.select(t.retrain_cycles).where(_c.id == cycle_id).with_for_update()).first()
    if found is None:
        raise NotFound(
            f"Cycle {cycle_id} does not exist. {CYCLE_HINT}",
            details=[{"field": "cycle_id", "problem": "does not exist"}],
        )
    cycle = _cycle(found._mapping)
    if cycle.status != "running":
        why = f" ({cycle.error})" if cycle.error else ""
        raise Conflict(
            f"Cycle {cycle_id} is not running any more: it ended {cycle.status}{why}.",
            details=[{"field": "cycle_id", "problem": f"ended {cycle.status}"}],
        )
    return cycle


def _locked_policy(conn: Connection, name: str) -> PolicyRecord:
    found = conn.execute(sa.select(t.retrain_policies).where(_p.name == name).with_for_update()).first()
    if found is None:
        raise _policy_not_found(name)
    return _policy(found._mapping)


def _policy_not_found(name: str) -> NotFound:
    return NotFound(
        f"Policy {name!r} does not exist. {POLICY_HINT}", details=[{"field": "policy", "problem": "does not exist"}]
    )


def _policy_row(record: PolicyRecord) -> dict[str, Any]:
    return {**record.to_dict(), "spec": json.dumps(record.spec, sort_keys=True)}


def _policy(row: sa.RowMapping) -> PolicyRecord:
    return PolicyRecord(
        name=row["name"],
        model=row["model"],
        spec=json.loads(row["spec"]),
        enabled=bool(row["enabled"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        created_by=row["created_by"],
    )


def _cycle_row(record: CycleRecord) -> dict[str, Any]:
    return {**record.to_dict(), "triggers": json.dumps(record.triggers), "details": json.dumps(record.details)}


def _cycle(row: sa.RowMapping) -> CycleRecord:
    data = {name: row[name] for name in _CYCLE_FIELDS}
    data["triggers"] = json.loads(data["triggers"])
    data["details"] = json.loads(data["details"])
    return CycleRecord(**data)
