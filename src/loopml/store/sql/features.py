"""Versioned feature definitions in the SQL store (``feature_definitions``, migration 0014).

Implements :class:`~loopml.store.base.FeatureStore`; arguments are checked by
:mod:`loopml.store.features`. One apply is one write transaction: deletions first (each adds a
version marked ``deleted``), then every definition whose spec differs from its current version
gets the next version number, with one audit event per change (``feature.apply`` /
``feature.delete`` on ``("entity", NAME)`` or ``("feature_view", NAME)``, before and after specs).

Version numbers are taken safely under concurrency: SQLite writers queue on ``BEGIN IMMEDIATE``,
PostgreSQL applies take a transaction-scoped advisory lock, and a unique-key conflict (a writer
that did neither) retries the whole apply.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from loopml.core.clock import now_ms
from loopml.core.errors import Conflict, NotFound
from loopml.core.records import FeatureDefinitionRecord
from loopml.store.features import (
    FEATURE_HINT,
    VIEW_KINDS,
    check_apply,
    check_kind,
    check_name,
    check_version,
    namespace,
)
from loopml.store.sql import schema as t
from loopml.store.sql.audit import record_audit
from loopml.store.sql.database import Database

_ATTEMPTS = 5
_LOCK_KEY = 0x6C6D6C66656174  # "lmlfeat": serialises feature applies on PostgreSQL
_f = t.feature_definitions.c


class SqlFeatureStore:
    """Feature definitions in a SQL database. Build with ``SqlFeatureStore(Database(url))``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def __repr__(self) -> str:
        return f"SqlFeatureStore({self.db.safe_url!r})"

    def apply(
        self,
        definitions: Sequence[tuple[str, str, Mapping[str, Any]]],
        *,
        delete: Sequence[tuple[str, str]] = (),
        actor: str,
    ) -> list[FeatureDefinitionRecord]:
        """Store each changed ``(kind, name, spec)`` as a new version and delete ``(kind, name)`` pairs, in one
        transaction. Returns the versions written (definitions in input order, then deletions).

        ``Conflict`` when a view's name is taken by a live view of the other kind; ``NotFound`` when a
        deletion names no live definition.
        """
        checked, deleted = check_apply(definitions, delete)
        for attempt in range(_ATTEMPTS):
            try:
                with self.db.write() as conn:
                    if self.db.dialect == "postgresql":
                        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})")
                    return _apply(conn, checked, deleted, actor or "unknown")
            except SqlIntegrityError:
                if attempt == _ATTEMPTS - 1:
                    break
        raise Conflict(f"Could not apply feature definitions after {_ATTEMPTS} attempts (concurrent applies); retry.")

    def get_definition(self, kind: str, name: str, *, version: int | None = None) -> FeatureDefinitionRecord:
        """A definition's current version (``NotFound`` when unknown or deleted), or the given version."""
        check_kind(kind)
        check_name(name)
        query = sa.select(t.feature_definitions).where(_f.kind == kind, _f.name == name)
        if version is not None:
            query = query.where(_f.version == check_version(version))
        else:
            query = query.order_by(_f.version.desc()).limit(1)
        with self.db.read() as conn:
            row = conn.execute(query).first()
        if row is None or (version is None and row.deleted):
            shown = kind.replace("_", " ")
            at = f" version {version}" if version is not None else ""
            raise NotFound(
                f"No {shown} {name!r}{at} is registered. {FEATURE_HINT}",
                details=[{"field": "name", "problem": "not registered"}],
            )
        return _record(row._mapping)

    def list_definitions(self, kind: str | None = None) -> list[FeatureDefinitionRecord]:
        """The current version of every live definition (of one kind), by kind then name."""
        latest = (
            sa.select(_f.kind, _f.name, sa.func.max(_f.version).label("version")).group_by(_f.kind, _f.name).subquery()
        )
        query = (
            sa.select(t.feature_definitions)
            .join(
                latest,
                sa.and_(_f.kind == latest.c.kind, _f.name == latest.c.name, _f.version == latest.c.version),
            )
            .where(_f.deleted.is_(False))
            .order_by(_f.kind, _f.name)
        )
        if kind is not None:
            query = query.where(_f.kind == check_kind(kind))
        with self.db.read() as conn:
            return [_record(row._mapping) for row in conn.execute(query)]

    def definition_history(self, kind: str, name: str) -> list[FeatureDefinitionRecord]:
        """Every version of one definition, oldest first (``NotFound`` when it never existed)."""
        check_kind(kind)
        check_name(name)
        query = sa.select(t.feature_definitions).where(_f.kind == kind, _f.name == name).order_by(_f.version)
        with self.db.read() as conn:
            found = [_record(row._mapping) for row in conn.execute(query)]
        if not found:
            raise NotFound(
                f"No {kind.replace('_', ' ')} {name!r} was ever registered. {FEATURE_HINT}",
                details=[{"field": "name", "problem": "not registered"}],
            )
        return found


def _apply(
    conn: Connection,
    definitions: list[tuple[str, str, dict[str, Any]]],
    deleted: list[tuple[str, str]],
    actor: str,
) -> list[FeatureDefinitionRecord]:
    now = now_ms()
    written: list[FeatureDefinitionRecord] = []
    deletions: list[FeatureDefinitionRecord] = []
    for kind, name in deleted:
        current = _current(conn, kind, name)
        if current is None or current.deleted:
            raise NotFound(
                f"Cannot delete {kind.replace('_', ' ')} {name!r}: it is not registered. {FEATURE_HINT}",
                details=[{"field": "delete", "problem": "not registered"}],
            )
        record = FeatureDefinitionRecord(
            kind, name, current.version + 1, current.spec, current.spec_hash, now, actor, deleted=True
        )
        _insert(conn, record)
        details = {"kind": kind, "version": record.version, "before": current.spec, "after": None}
        record_audit(conn, actor, "feature.delete", _object_type(kind), name, details)
        deletions.append(record)
    for kind, name, spec in definitions:
        if kind in VIEW_KINDS:
            other = VIEW_KINDS[1 - VIEW_KINDS.index(kind)]
            taken = _current(conn, other, name)
            if taken is not None and not taken.deleted:
                raise Conflict(
                    f"Cannot register {kind.replace('_', ' ')} {name!r}: an {other.replace('_', ' ')} of that name "
                    "is registered (views and on-demand views share names). Rename one, or delete the other first.",
                    details=[{"field": "name", "problem": "taken by another kind of view"}],
                )
        current = _current(conn, kind, name)
        digest = _spec_hash(spec)
        if current is not None and not current.deleted and current.spec_hash == digest:
            continue
        record = FeatureDefinitionRecord(kind, name, (current.version if current else 0) + 1, spec, digest, now, actor)
        _insert(conn, record)
        before = None if current is None or current.deleted else current.spec
        details = {"kind": kind, "version": record.version, "before": before, "after": spec}
        record_audit(conn, actor, "feature.apply", _object_type(kind), name, details)
        written.append(record)
    return written + deletions


def _object_type(kind: str) -> str:
    """The audit object of a definition: ``entity`` or ``feature_view`` (both kinds of view share names)."""
    return "feature_view" if namespace(kind) == "view" else "entity"


def _spec_hash(spec: Mapping[str, Any]) -> str:
    """SHA-256 of the spec's canonical JSON (as ``loopml.features.definitions.spec_hash``)."""
    return hashlib.sha256(orjson.dumps(spec, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _current(conn: Connection, kind: str, name: str) -> FeatureDefinitionRecord | None:
    query = (
        sa.select(t.feature_definitions).where(_f.kind == kind, _f.name == name).order_by(_f.version.desc()).limit(1)
    )
    row = conn.execute(query).first()
    return None if row is None else _record(row._mapping)


def _insert(conn: Connection, record: FeatureDefinitionRecord) -> None:
    conn.execute(
        t.feature_definitions.insert().values(
            kind=record.kind,
            name=record.name,
            version=record.version,
            spec=orjson.dumps(record.spec, option=orjson.OPT_SORT_KEYS).decode(),
            spec_hash=record.spec_hash,
            created_at=record.created_at,
            created_by=record.created_by,
            deleted=record.deleted,
        )
    )


def _record(row: sa.RowMapping) -> FeatureDefinitionRecord:
    return FeatureDefinitionRecord(
        kind=row["kind"],
        name=row["name"],
        version=row["version"],
        spec=orjson.loads(row["spec"]),
        spec_hash=row["spec_hash"],
        created_at=row["created_at"],
        created_by=row["created_by"],
        deleted=bool(row["deleted"]),
    )
