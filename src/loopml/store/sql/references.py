"""Which blobs the metadata store references, for garbage collection: set-based queries, one per kind.

Each SQL store that records SHA-256 digests of blobs says where, as ``{kind: select}``: a query of
one column named ``sha256``. :func:`referenced` runs them in one read transaction, optionally
restricted to a batch of digests (the re-check just before a delete), and returns
``{kind: {digest, ...}}``. Digests inside JSON columns (a step run's outputs and inputs) are
unpacked by the database (SQLite ``json_each``, PostgreSQL ``jsonb_each``), not row by row here.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import sqlalchemy as sa

from loopml.store.sql.database import Database

Queries = Mapping[str, Any]
"""``{kind: query}``: a ``select`` or ``text(...).columns(sha256=...)`` of one column named ``sha256``."""

BATCH = 500
"""At most this many digests in one ``IN (...)`` list."""


def referenced(db: Database, queries: Queries, among: Collection[str] | None = None) -> dict[str, set[str]]:
    """``{kind: referenced digests}``, all of them or those in ``among``."""
    found: dict[str, set[str]] = {kind: set() for kind in queries}
    wanted = None if among is None else sorted(set(among))
    if wanted == []:
        return found
    with db.read() as conn:
        for kind, query in queries.items():
            sub = query.subquery()
            column = sub.c.sha256
            base = sa.select(column).where(column.is_not(None)).distinct()
            if wanted is None:
                found[kind].update(conn.execute(base).scalars())
                continue
            for start in range(0, len(wanted), BATCH):
                chunk = wanted[start : start + BATCH]
                found[kind].update(conn.execute(base.where(column.in_(chunk))).scalars())
    return found


def json_values(db: Database, table: str, column: str, *, key: str | None) -> Any:
    """A query of the digests in a JSON object column: each value (``key=None``) or each value's ``key`` field.

    ``table`` and ``column`` are names from the schema module, never user input.
    """
    if db.dialect == "postgresql":
        value = "o.value" if key is None else f"o.value ->> '{key}'"
        each = "jsonb_each_text" if key is None else "jsonb_each"
        doc = f"{table}.{column}::jsonb"
        obj = f"CASE WHEN jsonb_typeof({doc}) = 'object' THEN {doc} ELSE '{{}}'::jsonb END"
        sql = f"SELECT {value} AS sha256 FROM {table} CROSS JOIN LATERAL {each}({obj}) AS o"
    else:
        value = "o.value" if key is None else f"CASE WHEN o.type = 'object' THEN json_extract(o.value, '$.{key}') END"
        doc = f"{table}.{column}"
        obj = f"CASE WHEN json_valid({doc}) AND json_type({doc}) = 'object' THEN {doc} ELSE '{{}}' END"
        sql = f"SELECT {value} AS sha256 FROM {table}, json_each({obj}) AS o"
    return sa.text(sql).columns(sha256=sa.String)
