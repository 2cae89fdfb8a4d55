"""Promotion decisions in the SQL store, each written with its audit event and lineage edges.

Implements :class:`~loopml.store.base.DecisionStore`; records are checked by
:mod:`loopml.store.decisions`. One write transaction stores the decision, checks that the versions
and references it names exist, writes one ``model.decision.record`` audit event on the model, and
the lineage edges that place the decision in the loop. A decision that moved its alias moves it in
that same transaction (:func:`~loopml.store.sql.models.move_alias`, a compare-and-set on the
champion the gate compared against), so the alias and the decision that moved it never disagree::

    dataset_version --data--> decision --challenger--> model_version (the challenger)
    pipeline_run --produced--> decision --champion--> model_version (the champion, if any)
                               decision --promoted--> model_alias (when the alias moved)
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from loopml.core.errors import Conflict, NotFound
from loopml.core.records import DecisionRecord
from loopml.store.decisions import DECISION_HINT, check_dataset_version, check_decision, check_passed
from loopml.store.monitoring import check_id, check_limit, check_model
from loopml.store.sql import schema as t
from loopml.store.sql.audit import record_audit
from loopml.store.sql.database import Database
from loopml.store.sql.models import move_alias

DECISION_ACTION = "model.decision.record"
"""The audit action of a stored decision (object ``("model", name)``)."""
_COLUMNS = tuple(c.name for c in t.model_decisions.columns)  # the fields of DecisionRecord
_d = t.model_decisions.c


class SqlDecisionStore:
    """Decisions in a SQL database. Build with ``SqlDecisionStore(Database(url))``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def __repr__(self) -> str:
        return f"SqlDecisionStore({self.db.safe_url!r})"

    def add_decision(self, record: DecisionRecord, *, actor: str) -> DecisionRecord:
        """Store a decision (``created_by`` is ``actor``) with its audit event and lineage edges, atomically.

        When ``alias_moved``, the same transaction moves ``alias`` to the challenger, a compare-and-set
        on the champion the gate judged: ``Conflict`` (and nothing written) when the alias points
        elsewhere now. ``NotFound`` naming the field when the challenger or champion version, the
        dataset version or the pipeline run does not exist; ``Conflict`` for a known id.
        """
        record = check_decision(record)
        values: dict[str, Any] = {name: getattr(record, name) for name in _COLUMNS}
        values.update(
            reasons=json.dumps(list(record.reasons)),
            evidence=json.dumps(record.evidence, default=str),
            champion_score=_finite_or_none(record.champion_score),
            challenger_score=_finite_or_none(record.challenger_score),
            p_value=_finite_or_none(record.p_value),
            created_by=actor or "unknown",
        )
        try:
            with self.db.write() as conn:
                edges = _edges(conn, record)
                conn.execute(t.model_decisions.insert().values(**values))
                if record.alias_moved and record.alias is not None:
                    move_alias(
                        conn, record.model, record.alias, record.challenger_version, actor=actor,
                        expect_version=record.champion_version, details={"decision": record.id},
                    )  # fmt: skip
                conn.execute(t.lineage_edges.insert(), [{**edge, "created_at": record.created_at} for edge in edges])
                details = {
                    "decision": record.id,
                    "challenger_version": record.challenger_version,
                    "champion_version": record.champion_version,
                    "passed": record.passed,
                    "metric": record.metric,
                    "alias": record.alias,
                    "alias_moved": record.alias_moved,
                }
                record_audit(conn, actor, DECISION_ACTION, "model", record.model, details)
        except SqlIntegrityError as exc:
            raise Conflict(f"Decision {record.id} already exists.") from exc
        return self.get_decision(record.id)

    def list_decisions(self, model: str, *, limit: int = 50, passed: bool | None = None) -> list[DecisionRecord]:
        """Decisions on ``model``, newest first (ties by id); ``passed`` keeps the passed or the refused ones."""
        query = (
            sa.select(t.model_decisions)
            .where(_d.model == check_model(model))
            .order_by(_d.created_at.desc(), _d.id)
            .limit(check_limit(limit))
        )
        if check_passed(passed) is not None:
            query = query.where(_d.passed == passed)
        with self.db.read() as conn:
            return [_decision(row._mapping) for row in conn.execute(query)]

    def get_decision(self, decision_id: str) -> DecisionRecord:
        """A decision by id."""
        check_id(decision_id, "decision_id")
        with self.db.read() as conn:
            row = conn.execute(sa.select(t.model_decisions).where(_d.id == decision_id)).first()
        if row is None:
            raise NotFound(f"Decision {decision_id} does not exist. {DECISION_HINT}")
        return _decision(row._mapping)


def _edges(conn: Connection, record: DecisionRecord) -> list[dict[str, str]]:
    """The lineage edges of ``record``, after checking that what they point at exists."""
    node = ("decision", record.id)
    edges = [lineage_edge(node, ("model_version", _version_id(conn, record, "challenger_version")), "challenger")]
    if record.champion_version is not None:
        edges.append(lineage_edge(node, ("model_version", _version_id(conn, record, "champion_version")), "champion"))
    if record.dataset_version is not None:
        edges.append(lineage_edge(("dataset_version", dataset_version_id(conn, record.dataset_version)), node, "data"))
    if record.pipeline_run_id is not None:
        found = conn.execute(sa.select(t.pipeline_runs.c.id).where(t.pipeline_runs.c.id == record.pipeline_run_id))
        if found.first() is None:
            raise _missing("record.pipeline_run_id", f"Pipeline run {record.pipeline_run_id} does not exist.")
        edges.append(lineage_edge(("pipeline_run", record.pipeline_run_id), node, "produced"))
    if record.alias_moved and record.alias is not None:
        edges.append(lineage_edge(node, ("model_alias", f"{record.model}@{record.alias}"), "promoted"))
    return edges


def _version_id(conn: Connection, record: DecisionRecord, field: str) -> str:
    """``NAME/VERSION`` (the lineage id of a model version) once the version is known to exist."""
    version = getattr(record, field)
    m, v = t.registered_models.c, t.model_versions.c
    query = sa.select(v.id).join(t.registered_models, m.id == v.model_id)
    if conn.execute(query.where(m.name == record.model, v.version == version)).first() is None:
        raise _missing(
            f"record.{field}",
            f"Model version models:/{record.model}/{version} ({field}) does not exist. "
            f"List the versions with `loopml models versions {record.model}`.",
        )
    return f"{record.model}/{version}"


def dataset_version_id(conn: Connection, uri: str, field: str = "record.dataset_version") -> str:
    """The row id of dataset version ``uri`` (``datasets:/NAME/VERSION``); ``NotFound`` naming ``field``."""
    name, version = check_dataset_version(uri, field)
    ds, dv = t.datasets.c, t.dataset_versions.c
    query = sa.select(dv.id).join(t.datasets, ds.id == dv.dataset_id).where(ds.name == name, dv.version == version)
    found = conn.execute(query).scalar()
    if found is None:
        hint = f"List them with `loopml data versions {name}`."
        raise _missing(field, f"Dataset version {uri} does not exist. {hint}")
    return str(found)


def lineage_edge(source: tuple[str, str], target: tuple[str, str], relation: str) -> dict[str, str]:
    """A ``lineage_edges`` row (without ``created_at``): ``source`` --``relation``--> ``target``."""
    return {
        "source_type": source[0],
        "source_id": source[1],
        "target_type": target[0],
        "target_id": target[1],
        "relation": relation,
    }


def _missing(field: str, message: str) -> NotFound:
    return NotFound(message, details=[{"field": field, "problem": "does not exist"}])


def _finite_or_none(value: float | None) -> float | None:
    """NULL stands for NaN (not computed; SQLite cannot store NaN); infinities are kept."""
    return None if value is None or value != value else value


def _decision(row: sa.RowMapping) -> DecisionRecord:
    data = {key: row[key] for key in _COLUMNS}
    data["reasons"] = json.loads(data["reasons"])
    data["evidence"] = json.loads(data["evidence"])
    data["passed"] = bool(data["passed"])
    data["alias_moved"] = bool(data["alias_moved"])
    return DecisionRecord(**data)
