"""Feedback labels, alerts, report records and reference profiles in the SQL store.

Implements :class:`~loopml.store.base.MonitoringStore`; arguments are checked by
:mod:`loopml.store.monitoring`. Labels go in with one ``INSERT ... ON CONFLICT DO UPDATE`` executed
for the whole batch in one transaction (a second label for the same ``(model, request_id, row)``
replaces the first). A partial unique index (``state = 'firing'``) keeps at most one firing alert
per ``(rule, model)`` on SQLite and PostgreSQL alike, so two monitor processes cannot both open one:
the loser gets ``Conflict``.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from loopml.core.clock import now_ms
from loopml.core.errors import Conflict, NotFound, invalid
from loopml.core.records import AlertRecord, FeedbackRecord, ReportRecord
from loopml.store.base import MONITOR_ACTOR
from loopml.store.monitoring import (
    ALERT_HINT,
    REPORT_HINT,
    check_alert,
    check_count,
    check_evidence,
    check_feedback,
    check_float,
    check_id,
    check_limit,
    check_millis,
    check_model,
    check_report,
    check_sha256,
    check_state,
    check_text,
    check_version,
)
from loopml.store.sql import schema as t
from loopml.store.sql.audit import record_audit
from loopml.store.sql.database import Database
from loopml.store.sql.references import referenced

FEEDBACK_COLUMNS = ["request_id", "row", "label", "received_at", "predicted_at"]
"""The columns of :meth:`SqlMonitoringStore.feedback_frame`, in order."""
_FEEDBACK_PARAMS = ("model", "request_id", "row", "label", "received_at", "predicted_at")
_PG_FEEDBACK_UPSERT = (
    'INSERT INTO monitor_feedback (model, request_id, "row", label, received_at, predicted_at) '
    "SELECT %(model)s, u.r, u.w, u.l, u.a, u.p FROM unnest(%(ids)s::varchar[], %(rows)s::int[], %(labels)s::text[], "
    "%(received)s::bigint[], %(predicted)s::bigint[]) AS u(r, w, l, a, p) "
    'ON CONFLICT (model, request_id, "row") DO UPDATE SET label = excluded.label, '
    "received_at = excluded.received_at, predicted_at = excluded.predicted_at"
)
"""The feedback upsert on PostgreSQL: the batch as five arrays (keys unique within it)."""
_ID_CHUNK = 5_000  # request ids per IN (...) list: under every backend's bound-parameter limit
_ALERT_COLUMNS = tuple(c.name for c in t.monitor_alerts.columns)  # the fields of AlertRecord
_REPORT_COLUMNS = tuple(c.name for c in t.monitor_reports.columns)  # the fields of ReportRecord


class SqlMonitoringStore:
    """Monitoring records in a SQL database. Build with ``SqlMonitoringStore(Database(url))``."""

    def __init__(self, db: Database) -> None:
        self.db = db
        dialect_insert = postgresql.insert if db.dialect == "postgresql" else sqlite.insert
        feedback = dialect_insert(t.monitor_feedback)
        self._feedback_upsert = feedback.on_conflict_do_update(
            index_elements=["model", "request_id", "row"],
            set_={
                "label": feedback.excluded.label,
                "received_at": feedback.excluded.received_at,
                "predicted_at": feedback.excluded.predicted_at,
            },
        )
        # SQLite runs it as driver SQL (SQLAlchemy's per-row parameter processing costs more than the insert
        # itself); PostgreSQL runs _PG_FEEDBACK_UPSERT over arrays instead
        compiled = self._feedback_upsert.compile(dialect=db.engine.dialect)
        self._feedback_sql = str(compiled)
        self._feedback_order: list[str] | None = list(compiled.positiontup or ()) if compiled.positional else None
        profile = dialect_insert(t.monitor_profiles)
        self._profile_upsert = profile.on_conflict_do_update(
            index_elements=["model", "version"],
            set_={
                "sha256": profile.excluded.sha256,
                "n_rows": profile.excluded.n_rows,
                "created_at": profile.excluded.created_at,
            },
        )

    def referenced_blobs(self, among: Collection[str] | None = None) -> dict[str, set[str]]:
        """Digests of stored reports (HTML) and reference profiles (JSON); garbage collection keeps them."""
        queries = {
            "monitor_report": sa.select(t.monitor_reports.c.sha256),
            "reference_profile": sa.select(t.monitor_profiles.c.sha256),
        }
        return referenced(self.db, queries, among)

    def __repr__(self) -> str:
        return f"SqlMonitoringStore({self.db.safe_url!r})"

    # -- feedback ---------------------------------------------------------------------------------

    def add_feedback(self, model: str, items: Sequence[FeedbackRecord], *, actor: str = MONITOR_ACTOR) -> int:
        """Store labels in one transaction; a label for a stored key replaces it. Returns how many keys were written."""
        items = check_feedback(model, items)
        # one row per key, the last label winning (PostgreSQL refuses to update a row twice in one statement)
        latest = {(item.request_id, item.row): item for item in items}
        dumps = json.dumps
        values = [
            (model, rid, row, dumps(item.label), item.received_at, item.predicted_at)
            for (rid, row), item in latest.items()
        ]
        if values:
            with self.db.write() as conn:
                if self.db.dialect == "postgresql":  # one statement over arrays: no per-row round trip
                    _, ids, rows, labels, received, predicted = (list(column) for column in zip(*values, strict=True))
                    arrays = {"model": model, "ids": ids, "rows": rows, "labels": labels, "received": received,
                              "predicted": predicted}  # fmt: skip
                    conn.exec_driver_sql(_PG_FEEDBACK_UPSERT, arrays)
                else:
                    conn.exec_driver_sql(self._feedback_sql, self._feedback_params(values))
                record_audit(conn, actor, "monitor.feedback", "model", model, {"labels": len(values)})
        return len(values)

    def _feedback_params(self, values: list[tuple[Any, ...]]) -> list[Any]:
        """Rows for the driver's ``executemany``: tuples for positional parameters, else dicts."""
        if self._feedback_order == list(_FEEDBACK_PARAMS):
            return values
        return [dict(zip(_FEEDBACK_PARAMS, value, strict=True)) for value in values]

    def feedback_frame(
        self,
        model: str,
        *,
        since_ms: int | None = None,
        until_ms: int | None = None,
        request_ids: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Labels of ``model`` with ``predicted_at`` in ``[since_ms, until_ms)``, optionally of some request ids.

        Columns :data:`FEEDBACK_COLUMNS`, ordered by ``predicted_at``, ``request_id`` and ``row``; the labels
        are decoded from JSON in one pass (a column of ints, floats, strings or booleans).
        """
        check_model(model)
        since = check_millis(since_ms, "since_ms", optional=True)
        until = check_millis(until_ms, "until_ms", optional=True)
        f = t.monitor_feedback.c
        query = sa.select(f.request_id, f.row, f.label, f.received_at, f.predicted_at).where(f.model == model)
        if since is not None:
            query = query.where(f.predicted_at >= since)
        if until is not None:
            query = query.where(f.predicted_at < until)
        query = query.order_by(f.predicted_at.asc().nulls_last(), f.request_id, f.row)
        with self.db.read() as conn:
            if request_ids is None:
                rows = conn.execute(query).all()
            else:
                ids = _id_list(request_ids)
                rows = [
                    row
                    for start in range(0, len(ids), _ID_CHUNK)
                    for row in conn.execute(query.where(f.request_id.in_(ids[start : start + _ID_CHUNK]))).all()
                ]
        return feedback_frame(rows, sort=request_ids is not None and len(request_ids) > _ID_CHUNK)

    # -- alerts -----------------------------------------------------------------------------------

    def open_alert(self, record: AlertRecord, *, actor: str = MONITOR_ACTOR) -> AlertRecord:
        """Record a firing alert; ``Conflict`` if one is already firing for its ``(rule, model)``."""
        record = check_alert(record)
        values = {name: getattr(record, name) for name in _ALERT_COLUMNS}
        values["evidence"] = json.dumps(check_evidence(record.evidence, "record.evidence"))
        values["value"] = _finite_or_none(record.value)
        try:
            with self.db.write() as conn:
                conn.execute(t.monitor_alerts.insert().values(**values))
                details = {"rule": record.rule, "model": record.model, "value": values["value"]}
                record_audit(conn, actor, "monitor.alert.open", "alert", record.id, details)
        except SqlIntegrityError as exc:
            raise self._open_failure(record) from exc
        return self.get_alert(record.id)

    def update_alert(
        self,
        alert_id: str,
        *,
        value: float | None,
        evidence: Mapping[str, Any],
        message: str,
        updated_at: int,
        report_uri: str | None = None,
    ) -> AlertRecord:
        """A firing alert seen again: new value, evidence and message, ``occurrences`` + 1 (report kept if ``None``)."""
        check_id(alert_id, "alert_id")
        changes: dict[str, Any] = {
            "value": _finite_or_none(check_float(value, "value", optional=True)),
            "evidence": json.dumps(check_evidence(evidence)),
            "message": check_text(message, "message", max_length=100_000),
            "updated_at": check_millis(updated_at, "updated_at"),
            "occurrences": t.monitor_alerts.c.occurrences + 1,
        }
        if check_text(report_uri, "report_uri", max_length=4096, optional=True) is not None:
            changes["report_uri"] = report_uri
        self._change_firing(alert_id, changes, "update")
        return self.get_alert(alert_id)

    def resolve_alert(
        self, alert_id: str, *, resolved_at: int, value: float | None, actor: str = MONITOR_ACTOR
    ) -> AlertRecord:
        """Mark a firing alert ``resolved``; ``Conflict`` if it is resolved already."""
        check_id(alert_id, "alert_id")
        at = check_millis(resolved_at, "resolved_at")
        changes = {
            "state": "resolved",
            "resolved_at": at,
            "updated_at": at,
            "value": _finite_or_none(check_float(value, "value", optional=True)),
        }
        self._change_firing(alert_id, changes, "resolve", actor=actor)
        return self.get_alert(alert_id)

    def get_alert(self, alert_id: str) -> AlertRecord:
        """An alert by id."""
        check_id(alert_id, "alert_id")
        with self.db.read() as conn:
            row = conn.execute(sa.select(t.monitor_alerts).where(t.monitor_alerts.c.id == alert_id)).first()
        if row is None:
            raise NotFound(f"Alert {alert_id} does not exist. {ALERT_HINT}")
        return _alert(row._mapping)

    def list_alerts(
        self,
        *,
        model: str | None = None,
        state: str | None = None,
        rule: str | None = None,
        since_ms: int | None = None,
        limit: int = 100,
    ) -> list[AlertRecord]:
        """Alerts, newest ``started_at`` first (ties by id); ``since_ms`` keeps those updated at or after it."""
        a = t.monitor_alerts.c
        query = sa.select(t.monitor_alerts).order_by(a.started_at.desc(), a.id).limit(check_limit(limit))
        if model is not None:
            query = query.where(a.model == check_model(model))
        if state is not None:
            query = query.where(a.state == check_state(state))
        if rule is not None:
            query = query.where(a.rule == check_text(rule, "rule"))
        if since_ms is not None:
            query = query.where(a.updated_at >= check_millis(since_ms, "since_ms"))
        with self.db.read() as conn:
            return [_alert(row._mapping) for row in conn.execute(query)]

    def _change_firing(self, alert_id: str, changes: dict[str, Any], action: str, *, actor: str | None = None) -> None:
        a = t.monitor_alerts.c
        with self.db.write() as conn:
            done = conn.execute(
                t.monitor_alerts.update().where(a.id == alert_id, a.state == "firing").values(**changes)
            )
            if done.rowcount == 0:
                state = conn.execute(sa.select(a.state).where(a.id == alert_id)).scalar()
                if state is None:
                    raise NotFound(f"Alert {alert_id} does not exist. {ALERT_HINT}")
                raise Conflict(
                    f"Cannot {action} alert {alert_id}: it is {state}, not firing. A condition that "
                    "holds again opens a new alert."
                )
            if actor is not None:  # audited: a state change
                details = {"state": changes.get("state"), "value": changes.get("value")}
                record_audit(conn, actor, f"monitor.alert.{action}", "alert", alert_id, details)

    def _open_failure(self, record: AlertRecord) -> Exception:
        a = t.monitor_alerts.c
        with self.db.read() as conn:
            if conn.execute(sa.select(a.id).where(a.id == record.id)).first() is not None:
                return Conflict(f"Alert {record.id} already exists.")
            firing = conn.execute(
                sa.select(a.id).where(a.rule == record.rule, a.model == record.model, a.state == "firing")
            ).scalar()
        return Conflict(
            f"Rule {record.rule!r} already has a firing alert for model {record.model!r} ({firing}): update it "
            "(update_alert) or resolve it (resolve_alert) before opening another."
        )

    # -- reports ----------------------------------------------------------------------------------

    def add_report(self, record: ReportRecord, *, actor: str = MONITOR_ACTOR) -> ReportRecord:
        """Record a report whose HTML is already a blob; ``Conflict`` for a known id."""
        record = check_report(record)
        values = {name: getattr(record, name) for name in _REPORT_COLUMNS}
        values["summary"] = json.dumps(check_evidence(record.summary, "record.summary"))
        try:
            with self.db.write() as conn:
                conn.execute(t.monitor_reports.insert().values(**values))
                details = {"model": record.model, "version": record.version, "kind": record.kind}
                record_audit(conn, actor, "monitor.report.add", "report", record.id, details)
        except SqlIntegrityError as exc:
            raise Conflict(f"Report {record.id} already exists.") from exc
        return self.get_report(record.id)

    def list_reports(self, model: str, *, version: int | None = None, limit: int = 50) -> list[ReportRecord]:
        """Reports of ``model`` (of one version), newest first (ties by id)."""
        r = t.monitor_reports.c
        query = (
            sa.select(t.monitor_reports)
            .where(r.model == check_model(model))
            .order_by(r.created_at.desc(), r.id)
            .limit(check_limit(limit))
        )
        if version is not None:
            query = query.where(r.version == check_version(version))
        with self.db.read() as conn:
            return [_report(row._mapping) for row in conn.execute(query)]

    def get_report(self, report_id: str) -> ReportRecord:
        """A report record by id."""
        check_id(report_id, "report_id")
        with self.db.read() as conn:
            row = conn.execute(sa.select(t.monitor_reports).where(t.monitor_reports.c.id == report_id)).first()
        if row is None:
            raise NotFound(f"Report {report_id} does not exist. {REPORT_HINT}")
        return _report(row._mapping)

    # -- reference profiles -----------------------------------------------------------------------

    def set_reference_profile(
        self, model: str, version: int, sha256: str, n_rows: int, *, actor: str = MONITOR_ACTOR
    ) -> None:
        """Point a model version at its reference profile blob (replacing any previous one)."""
        model = check_model(model)
        values = {
            "model": model,
            "version": check_version(version),
            "sha256": check_sha256(sha256),
            "n_rows": check_count(n_rows, "n_rows"),
            "created_at": now_ms(),
        }
        with self.db.write() as conn:
            conn.execute(self._profile_upsert, [values])
            details = {"version": values["version"], "sha256": values["sha256"], "n_rows": values["n_rows"]}
            record_audit(conn, actor, "monitor.profile.set", "model", model, details)

    def get_reference_profile(self, model: str, version: int) -> str | None:
        """The SHA-256 of the version's reference profile blob, ``None`` when it has none."""
        p = t.monitor_profiles.c
        query = sa.select(p.sha256).where(p.model == check_model(model), p.version == check_version(version))
        with self.db.read() as conn:
            found = conn.execute(query).scalar()
        return None if found is None else str(found)


def feedback_frame(rows: Sequence[Sequence[Any]], *, sort: bool = False) -> pd.DataFrame:
    """The :data:`FEEDBACK_COLUMNS` frame of ``(request_id, row, label_json, received_at, predicted_at)`` rows."""
    columns: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [() for _ in FEEDBACK_COLUMNS]
    frame = pd.DataFrame(dict(zip(FEEDBACK_COLUMNS, columns, strict=True)))  # by column: no per-row attribute probes
    labels = frame["label"].tolist()
    frame["label"] = pd.Series(
        json.loads("[" + ",".join(labels) + "]") if labels else [], dtype=None, index=frame.index
    )
    frame["row"] = frame["row"].astype("int64")
    frame["received_at"] = frame["received_at"].astype("int64")
    frame["predicted_at"] = frame["predicted_at"].astype("Int64")
    if sort:
        frame = frame.sort_values(["predicted_at", "request_id", "row"], ignore_index=True, na_position="last")
    return frame


def _id_list(request_ids: Sequence[str]) -> list[str]:
    if isinstance(request_ids, str) or not isinstance(request_ids, Sequence):
        raise invalid("request_ids", "not a list of strings", "Invalid request_ids: expected a list of strings.")
    return list(dict.fromkeys(str(rid) for rid in request_ids))


def _finite_or_none(value: float | None) -> float | None:
    """NULL stands for NaN (SQLite cannot store NaN); infinities are kept."""
    return None if value is None or value != value else value


def _alert(row: sa.RowMapping) -> AlertRecord:
    data = {key: row[key] for key in _ALERT_COLUMNS}
    data["evidence"] = json.loads(data["evidence"])
    return AlertRecord(**data)


def _report(row: sa.RowMapping) -> ReportRecord:
    data = {key: row[key] for key in _REPORT_COLUMNS}
    data["summary"] = json.loads(data["summary"])
    return ReportRecord(**data)
