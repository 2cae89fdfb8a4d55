"""Lineage edges between recorded objects (dataset version -> run, run -> model version, ...)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from loopml.core.clock import now_ms
from loopml.core.records import LineageEdge
from loopml.store.sql import schema as t
from loopml.store.sql.audit import record_audit
from loopml.store.sql.database import Database
from loopml.store.sql.references import referenced


class SqlLineageStore:
    """Add and query lineage edges; adding an existing edge is a no-op."""

    def __init__(self, db: Database) -> None:
        self.db = db
        insert = postgresql.insert if db.dialect == "postgresql" else sqlite.insert
        self._insert = insert(t.lineage_edges).on_conflict_do_nothing()

    def referenced_blobs(self, among: Collection[str] | None = None) -> dict[str, set[str]]:
        """Digests lineage names as ``artifact`` nodes (step inputs and outputs); garbage collection keeps them."""
        e = t.lineage_edges.c
        query = sa.union(
            sa.select(e.source_id.label("sha256")).where(e.source_type == "artifact"),
            sa.select(e.target_id.label("sha256")).where(e.target_type == "artifact"),
        )
        return referenced(self.db, {"lineage_artifact": query}, among)

    def add_edge(self, source: tuple[str, str], target: tuple[str, str], *, relation: str, actor: str) -> LineageEdge:
        """Record ``source -> target``; each side is ``(object_type, object_id)``."""
        edge = LineageEdge(source[0], source[1], target[0], target[1], relation, now_ms())
        with self.db.write() as conn:
            result = conn.execute(
                self._insert.values(
                    source_type=edge.source_type,
                    source_id=edge.source_id,
                    target_type=edge.target_type,
                    target_id=edge.target_id,
                    relation=relation,
                    created_at=edge.created_at,
                )
            )
            if result.rowcount:
                record_audit(
                    conn, actor, "lineage.add", edge.target_type, edge.target_id,
                    {"source": f"{edge.source_type}:{edge.source_id}", "relation": relation},
                )  # fmt: skip
        return edge

    def edges(
        self, object_type: str, object_id: str, *, direction: Literal["in", "out", "both"] = "both"
    ) -> list[LineageEdge]:
        """Edges into (``in``), out of (``out``) or touching (``both``) one object."""
        e = t.lineage_edges.c
        incoming = sa.and_(e.target_type == object_type, e.target_id == object_id)
        outgoing = sa.and_(e.source_type == object_type, e.source_id == object_id)
        where = {"in": incoming, "out": outgoing, "both": sa.or_(incoming, outgoing)}[direction]
        with self.db.read() as conn:
            rows = conn.execute(sa.select(t.lineage_edges).where(where).order_by(e.id)).all()
        return [
            LineageEdge(r.source_type, r.source_id, r.target_type, r.target_id, r.relation, r.created_at) for r in rows
        ]
