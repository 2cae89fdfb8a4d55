"""Bulk metric writes for importers: hundreds of thousands of points per second into one run.

``log_batch`` checks and converts every point in Python and lets SQLAlchemy build a parameter set
per row. :func:`insert_points` takes points whose columns pass a few whole-column checks (exact
types, ranges and the distinct keys, in C: ``zip``, ``map``, ``min``/``max``) straight to the driver:
``executemany`` of the tuples for SQLite, ``COPY`` for PostgreSQL. ``latest_metrics`` is then
brought up to date by one statement over the rows just written (ids above the largest before).
Points that fail a check are refused (``False``, nothing written): the caller then writes them
through ``log_batch``, whose errors name them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from loopml.core.errors import NotFound
from loopml.core.ids import is_id
from loopml.core.validation import INT64_MAX, INT64_MIN, MAX_KEY_LENGTH
from loopml.store.base import MetricPoint
from loopml.store.sql import schema as t
from loopml.store.sql.audit import record_audit
from loopml.store.sql.database import Database

__all__ = ["insert_points"]

_SQLITE_INSERT = "INSERT INTO metrics (run_id, key, value, step, timestamp) VALUES ('{run_id}', ?, ?, ?, ?)"
_PG_COPY = "COPY metrics (key, value, step, timestamp, run_id) FROM STDIN"
_LATEST = """
INSERT INTO latest_metrics (run_id, key, value, step, timestamp)
SELECT run_id, key, value, step, timestamp FROM (
  SELECT run_id, key, value, step, timestamp,
         ROW_NUMBER() OVER (PARTITION BY key ORDER BY step DESC, timestamp DESC, id DESC) AS rn
  FROM metrics WHERE id > :since AND run_id = :run_id
) AS ranked WHERE rn = 1
ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, step = excluded.step, timestamp = excluded.timestamp
WHERE excluded.step > latest_metrics.step
   OR (excluded.step = latest_metrics.step AND excluded.timestamp >= latest_metrics.timestamp)
"""
"""The newest of the points just written (ids above ``since``) per key, where newer than the stored one."""


def insert_points(db: Database, run_id: str, points: Sequence[MetricPoint], *, actor: str) -> bool:
    """Append ``points`` to run ``run_id`` in one transaction; ``False`` (nothing written) when a point
    is not plainly valid (a key of bad length or with NUL, a value that is not a float or int, a step or
    timestamp out of range) or the database is neither SQLite nor PostgreSQL."""
    if not points:
        return True
    if db.dialect not in ("sqlite", "postgresql") or not is_id(run_id):
        return False
    keys_col, values, steps, times = zip(*points, strict=True)
    keys = set(keys_col)
    if not set(map(type, values)) <= {float, int} or not set(map(type, steps)) | set(map(type, times)) <= {int}:
        return False
    if min(steps) < INT64_MIN or max(steps) > INT64_MAX or min(times) < 0 or max(times) > INT64_MAX:
        return False
    if any(type(k) is not str or not k or len(k) > MAX_KEY_LENGTH or "\x00" in k for k in keys):
        return False
    with db.write() as conn:
        if conn.execute(sa.select(t.runs.c.id).where(t.runs.c.id == run_id)).first() is None:
            raise NotFound(f"Run {run_id!r} does not exist.")
        since = conn.execute(sa.select(sa.func.coalesce(sa.func.max(t.metrics.c.id), 0))).scalar_one()
        driver = conn.connection.driver_connection
        if db.dialect == "sqlite":  # SQLite stores a NaN as NULL, which is how loopml keeps NaN
            driver.executemany(_SQLITE_INSERT.format(run_id=run_id), points)  # type: ignore[union-attr]
        else:
            with driver.cursor() as cursor, cursor.copy(_PG_COPY) as copy:  # type: ignore[union-attr]
                for point in points:
                    copy.write_row((*point, run_id))
            conn.execute(
                sa.text("UPDATE metrics SET value = NULL WHERE run_id = :run_id AND value = 'NaN'::float8"),
                {"run_id": run_id},
            )
        conn.execute(sa.text(_LATEST), {"run_id": run_id, "since": since})
        record_audit(conn, actor, "run.log", "run", run_id, {"metrics": len(points), "params": [], "tags": []})
    return True
