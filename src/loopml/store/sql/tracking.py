"""The SQL tracking store (SQLite and PostgreSQL through the same code)."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from itertools import groupby
from operator import itemgetter
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from loopml.core.clock import now_ms
from loopml.core.errors import Conflict, InvalidInput, NotFound
from loopml.core.ids import check_run_ref, is_id, is_id_prefix, new_id
from loopml.core.records import ArtifactInfo, AuditEvent, Experiment, Metric, Run, RunStatus
from loopml.core.uris import check_experiment_name
from loopml.core.validation import (
    INT64_MAX,
    INT64_MIN,
    check_key,
    check_metric_value,
    check_step,
    check_timestamp,
)
from loopml.store import checks
from loopml.store.base import MetricPoint
from loopml.store.downsample import check_max_points, downsample
from loopml.store.search import (
    parse_filter,
    parse_order_by,
)
from loopml.store.sql import schema as t
from loopml.store.sql.audit import audit_event, audit_query, record_audit
from loopml.store.sql.database import Database
from loopml.store.sql.filters import index_walk_pays, order_runs, run_condition, split_on_leading_metric
from loopml.store.sql.lifecycle import ACTIVE, TrackingLifecycle, View, require_active_run, stage_condition
from loopml.store.sql.references import referenced

__all__ = ["MAX_SEARCH_RESULTS", "SqlTrackingStore", "record_audit"]  # record_audit: still imported from here

MAX_SEARCH_RESULTS = 50_000
MAX_HISTORY_RUNS = 200
"""How many runs one :meth:`SqlTrackingStore.get_metric_histories` call reads (the compare page's limit)."""
MAX_HISTORY_KEYS = 100


class SqlTrackingStore(TrackingLifecycle):
    """Tracking records in a SQL database. Build with ``SqlTrackingStore(Database(url))``.

    Deleted (``lifecycle_stage = 'deleted'``) experiments and runs are left out of
    :meth:`list_experiments`, :meth:`count_runs` and :meth:`search_runs` unless asked for, and take
    no new runs or logs (:mod:`loopml.store.sql.lifecycle`)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        dialect_insert = postgresql.insert if db.dialect == "postgresql" else sqlite.insert
        self._insert = dialect_insert
        self._params_insert = dialect_insert(t.params).on_conflict_do_nothing()
        tag_insert = dialect_insert(t.tags)
        self._tags_upsert = tag_insert.on_conflict_do_update(
            index_elements=["run_id", "key"], set_={"value": tag_insert.excluded.value}
        )
        latest = dialect_insert(t.latest_metrics)
        newer = sa.or_(
            latest.excluded.step > t.latest_metrics.c.step,
            sa.and_(
                latest.excluded.step == t.latest_metrics.c.step,
                latest.excluded.timestamp >= t.latest_metrics.c.timestamp,
            ),
        )
        self._latest_upsert = latest.on_conflict_do_update(
            index_elements=["run_id", "key"],
            set_={"value": latest.excluded.value, "step": latest.excluded.step, "timestamp": latest.excluded.timestamp},
            where=newer,
        )
        self._metrics_insert = t.metrics.insert()

    def referenced_blobs(self, among: Collection[str] | None = None) -> dict[str, set[str]]:
        """Digests of blobs run artifacts point at (garbage collection keeps them), all or those in ``among``."""
        return referenced(self.db, {"run_artifact": sa.select(t.run_artifacts.c.sha256)}, among)

    def close(self) -> None:
        """Dispose of the engine's pooled connections."""
        self.db.dispose()

    # -- experiments --------------------------------------------------------------------------

    def create_experiment(self, name: str, *, tags: Mapping[str, Any] | None = None, actor: str) -> Experiment:
        check_experiment_name(name)
        tags = checks.string_dict(tags, "tag")
        experiment = Experiment(new_id(), name, now_ms(), tags)
        try:
            with self.db.write() as conn:
                conn.execute(
                    t.experiments.insert().values(id=experiment.id, name=name, created_at=experiment.created_at)
                )
                if tags:
                    conn.execute(
                        t.experiment_tags.insert(),
                        [{"experiment_id": experiment.id, "key": k, "value": v} for k, v in tags.items()],
                    )
                record_audit(conn, actor, "experiment.create", "experiment", experiment.id, {"name": name})
        except SqlIntegrityError:
            raise Conflict(f"Experiment {name!r} already exists.") from None
        return experiment

    def get_experiment(self, id_or_name: str) -> Experiment:
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(t.experiments).where(
                    sa.or_(t.experiments.c.id == id_or_name, t.experiments.c.name == id_or_name)
                )
            ).first()
            if row is None:
                raise NotFound(f"Experiment {id_or_name!r} does not exist.")
            tags = _kv(conn, t.experiment_tags, t.experiment_tags.c.experiment_id == row.id)
        return Experiment(row.id, row.name, row.created_at, tags)

    def get_or_create_experiment(self, name: str, *, actor: str) -> Experiment:
        """The experiment called ``name``, created if needed (safe under concurrency)."""
        try:
            return self.get_experiment(name)
        except NotFound:
            pass
        try:
            return self.create_experiment(name, actor=actor)
        except Conflict:
            return self.get_experiment(name)

    def list_experiments(self) -> list[Experiment]:
        """The active experiments, oldest first."""
        e = t.experiments.c
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(t.experiments).where(e.lifecycle_stage == ACTIVE).order_by(e.created_at)
            ).all()
            tag_rows = conn.execute(sa.select(t.experiment_tags)).all()
        tags: dict[str, dict[str, str]] = {}
        for tag in tag_rows:
            tags.setdefault(tag.experiment_id, {})[tag.key] = tag.value
        return [Experiment(r.id, r.name, r.created_at, tags.get(r.id, {})) for r in rows]

    # -- runs -----------------------------------------------------------------------------------

    def create_run(
        self,
        experiment_id: str,
        *,
        name: str | None = None,
        parent_run_id: str | None = None,
        tags: Mapping[str, Any] | None = None,
        start_time: int | None = None,
        actor: str,
    ) -> Run:
        tags = checks.string_dict(tags, "tag")
        run_id = new_id()
        name = name or f"run-{run_id[:8]}"
        if not isinstance(name, str) or len(name) > 256:
            raise InvalidInput(f"Invalid run name {name!r}: expected a string of at most 256 characters.")
        start = now_ms() if start_time is None else check_timestamp("start_time", start_time)
        with self.db.write() as conn:
            e = t.experiments.c
            found = conn.execute(sa.select(e.lifecycle_stage).where(e.id == experiment_id)).first()
            if found is None:
                raise NotFound(f"Experiment {experiment_id!r} does not exist.")
            if found.lifecycle_stage != ACTIVE:
                raise InvalidInput(
                    f"Experiment {experiment_id} is deleted; restore it before starting runs in it.",
                    details=[{"field": "experiment_id", "problem": "experiment is deleted"}],
                )
            if parent_run_id is not None:
                _require_run(conn, parent_run_id, what="Parent run")
            conn.execute(
                t.runs.insert().values(
                    id=run_id,
                    experiment_id=experiment_id,
                    name=name,
                    status=RunStatus.RUNNING.value,
                    start_time=start,
                    end_time=None,
                    parent_run_id=parent_run_id,
                    user=actor,
                    heartbeat_at=start,
                )
            )
            if tags:
                conn.execute(t.tags.insert(), [{"run_id": run_id, "key": k, "value": v} for k, v in tags.items()])
            record_audit(conn, actor, "run.create", "run", run_id, {"experiment_id": experiment_id, "name": name})
        return Run(
            run_id, experiment_id, name, RunStatus.RUNNING, start, None, parent_run_id, actor, {}, {}, tags, start
        )

    def get_run(self, run_id: str) -> Run:
        with self.db.read() as conn:
            if isinstance(run_id, str) and not is_id(run_id) and is_id_prefix(run_id.strip().lower()):
                run_id = _resolve_run_id(conn, run_id)
            row = conn.execute(sa.select(t.runs).where(t.runs.c.id == run_id)).first()
            if row is None:
                raise NotFound(f"Run {run_id!r} does not exist.")
            return _hydrate(conn, [row])[0]

    def get_runs(self, run_ids: Sequence[str]) -> list[Run]:
        """Up to 200 runs by full id, in the order asked (one query plus three for their data);
        ``NotFound`` naming the first unknown id."""
        ids = _run_id_list(run_ids)
        with self.db.read() as conn:
            rows = {r.id: r for r in conn.execute(sa.select(t.runs).where(t.runs.c.id.in_(ids)))}
            missing = [i for i in ids if i not in rows]
            if missing:
                raise _missing_runs(missing)
            return _hydrate(conn, [rows[i] for i in ids])

    def resolve_run_id(self, ref: str) -> str:
        with self.db.read() as conn:
            return _resolve_run_id(conn, ref)

    def set_run_status(self, run_id: str, status: RunStatus, *, end_time: int | None = None, actor: str) -> None:
        status = checks.run_status(status)
        end = None if status is RunStatus.RUNNING else (end_time or now_ms())
        values: dict[str, Any] = {"status": status.value, "end_time": end}
        if status is RunStatus.RUNNING:
            values["heartbeat_at"] = now_ms()
        with self.db.write() as conn:
            _require_run(conn, run_id)
            conn.execute(t.runs.update().where(t.runs.c.id == run_id).values(**values))
            record_audit(conn, actor, "run.set_status", "run", run_id, {"status": status.value})

    def heartbeat(self, run_ids: Sequence[str], *, actor: str) -> None:
        """Record that the processes tracking ``run_ids`` are alive (running runs only; one UPDATE, no audit)."""
        ids = checks.run_ids(run_ids)
        if not ids:
            return
        runs = t.runs.c
        with self.db.write() as conn:
            conn.execute(
                t.runs.update()
                .where(runs.id.in_(ids), runs.status == RunStatus.RUNNING.value)
                .values(heartbeat_at=now_ms())
            )

    # -- logging --------------------------------------------------------------------------------

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[MetricPoint] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        actor: str,
    ) -> None:
        params = checks.string_dict(params, "param")
        tags = checks.string_dict(tags, "tag")
        metric_rows = _metric_rows(run_id, metrics)
        if not (metric_rows or params or tags):
            with self.db.read() as conn:  # nothing to write, but the batch still names a run
                _require_run(conn, run_id)
            return
        with self.db.write() as conn:
            require_active_run(conn, run_id)
            if params:
                self._write_params(conn, run_id, params)
            if tags:
                conn.execute(self._tags_upsert, [{"run_id": run_id, "key": k, "value": v} for k, v in tags.items()])
            if metric_rows:
                conn.execute(self._metrics_insert, metric_rows)
                conn.execute(self._latest_upsert, _latest_rows(metric_rows))
            record_audit(
                conn,
                actor,
                "run.log",
                "run",
                run_id,
                {"metrics": len(metric_rows), "params": sorted(params), "tags": sorted(tags)},
            )

    def _write_params(self, conn: Connection, run_id: str, params: dict[str, str]) -> None:
        conn.execute(self._params_insert, [{"run_id": run_id, "key": k, "value": v} for k, v in params.items()])
        stored = _kv(conn, t.params, sa.and_(t.params.c.run_id == run_id, t.params.c.key.in_(list(params))))
        changed = {k: (stored[k], v) for k, v in params.items() if stored.get(k) != v}
        if changed:
            detail = "; ".join(f"{k!r}: stored {old!r}, new {new!r}" for k, (old, new) in changed.items())
            raise Conflict(
                f"Params of run {run_id} cannot change once logged ({detail}). Log a new key or start a new run.",
                details=[{"field": f"params.{k}", "problem": "already logged with another value"} for k in changed],
            )

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        check_key(key, field="metric")
        m = t.metrics.c
        with self.db.read() as conn:
            _require_run(conn, run_id)
            rows = conn.execute(
                sa.select(m.key, m.value, m.step, m.timestamp)
                .where(m.run_id == run_id, m.key == key)
                .order_by(m.step, m.timestamp, m.id)
            ).all()
        return [Metric(r.key, math.nan if r.value is None else r.value, r.step, r.timestamp) for r in rows]

    def get_metric_histories(
        self, run_ids: Sequence[str], keys: Sequence[str], *, max_points: int | None = None
    ) -> dict[str, dict[str, list[Metric]]]:
        """The histories of ``keys`` in each of ``run_ids`` (run id -> key -> points), read with one query.

        With ``max_points`` each curve is downsampled (:func:`loopml.store.downsample.downsample`,
        LTTB over the steps keeping the global minimum and maximum) to at most that many points.
        A run without a key has no entry for it.
        """
        ids, names = _history_request(run_ids, keys, max_points)
        m = t.metrics.c
        with self.db.read() as conn:
            found = {r.id for r in conn.execute(sa.select(t.runs.c.id).where(t.runs.c.id.in_(ids)))}
            missing = [i for i in ids if i not in found]
            if missing:
                raise _missing_runs(missing)
            if max_points is not None:
                return _series(_reduced_curves(conn, ids, names, max_points), max_points)
            # by step only: a tie-break on (timestamp, id) would sort every row again (points of one step
            # are rare and keep their storage order)
            order = (m.run_id, m.key, m.step)
            where = (m.run_id.in_(ids), m.key.in_(names))
            if len(ids) == 1 and len(names) == 1:  # one curve (the run page): no need to read run and key per row
                result = conn.execute(sa.select(m.step, m.timestamp, m.value).where(*where).order_by(*order))
                points = result.cursor.fetchall()  # plain tuples: no Row objects for 100,000 points
                rows: Sequence[Any] = [(ids[0], names[0], *zip(*points, strict=True))] if points else []
            else:
                result = conn.execute(
                    sa.select(m.run_id, m.key, m.step, m.timestamp, m.value).where(*where).order_by(*order)
                )
                rows = _grouped(result.cursor.fetchall())
        return _series(rows, max_points)

    def experiment_keys(self, experiment: str) -> dict[str, list[str]]:
        """The distinct param, metric and tag keys of the runs of ``experiment`` (id or name), sorted.

        One query per kind: a loose index scan walks the distinct keys of the whole table (one index
        seek per key, over ``ix_params_key``, ``ix_latest_metrics_key_value``, ``ix_tags_key``), and
        each key is kept if one run of the experiment has it (a subquery that stops at the first).
        """
        experiment_id = self.get_experiment(experiment).id
        keys: dict[str, list[str]] = {}
        with self.db.read() as conn:
            for kind, table in (("params", "params"), ("metrics", "latest_metrics"), ("tags", "tags")):
                query = sa.text(_DISTINCT_KEYS.format(table=table))
                keys[kind] = [r.key for r in conn.execute(query, {"experiment_id": experiment_id})]
        return keys

    def count_runs(self) -> dict[str, int]:
        """How many active runs each experiment holds (experiment id -> count; one grouped query)."""
        runs = t.runs.c
        query = (
            sa.select(runs.experiment_id, sa.func.count())
            .where(runs.lifecycle_stage == ACTIVE)
            .group_by(runs.experiment_id)
        )
        with self.db.read() as conn:
            return {r[0]: int(r[1]) for r in conn.execute(query)}

    # -- search ---------------------------------------------------------------------------------

    def search_runs(
        self,
        experiment_ids: Sequence[str] | None = None,
        *,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        offset: int = 0,
        lifecycle: View = "active",
    ) -> list[Run]:
        """Runs matching ``filter`` (:mod:`loopml.store.search`), ordered, one page; ``lifecycle``
        ``"active"`` (the default), ``"deleted"`` or ``"all"``."""
        if not isinstance(max_results, int) or not 0 < max_results <= MAX_SEARCH_RESULTS:
            raise InvalidInput(f"max_results must be between 1 and {MAX_SEARCH_RESULTS}, got {max_results!r}.")
        if not isinstance(offset, int) or offset < 0:
            raise InvalidInput(f"offset must be a non-negative integer, got {offset!r}.")
        comparisons = parse_filter(filter)
        ordering = parse_order_by(list(order_by or []))
        query = sa.select(t.runs)
        if experiment_ids is not None:
            query = query.where(t.runs.c.experiment_id.in_(list(experiment_ids)))
        stage = stage_condition(t.runs.c.lifecycle_stage, lifecycle)
        if stage is not None:
            query = query.where(stage)
        for comparison in comparisons:
            query = query.where(run_condition(comparison))
        with self.db.read() as conn:
            split = None
            if ordering and ordering[0].kind == "metric":
                ids = None if experiment_ids is None else list(experiment_ids)
                sqlite = conn.dialect.name == "sqlite"
                if not sqlite or index_walk_pays(conn, ids, ordering[0].key):
                    split = split_on_leading_metric(query, ordering, force_index=sqlite)
            if split is None:
                rows = conn.execute(order_runs(query, ordering).limit(max_results).offset(offset)).all()
                return _hydrate(conn, rows)
            ranked, count, others = split
            rows = list(conn.execute(ranked.limit(max_results).offset(offset)).all())
            if len(rows) < max_results:  # the page reaches past the runs with a value: those without follow
                valued = offset + len(rows) if rows else conn.execute(count).scalar_one()
                rest = others.limit(max_results - len(rows)).offset(max(0, offset - valued))
                rows += conn.execute(rest).all()
            return _hydrate(conn, rows)

    # -- artifacts and audit --------------------------------------------------------------------

    def record_artifacts(self, run_id: str, artifacts: Sequence[ArtifactInfo], *, actor: str) -> None:
        if not artifacts:
            return
        rows = [{"run_id": run_id, "path": a.path, "sha256": a.sha256, "size": a.size} for a in artifacts]
        insert = self._insert(t.run_artifacts)
        upsert = insert.on_conflict_do_update(
            index_elements=["run_id", "path"], set_={"sha256": insert.excluded.sha256, "size": insert.excluded.size}
        )
        with self.db.write() as conn:
            _require_run(conn, run_id)
            _refuse_path_clash(conn, run_id, [a.path for a in artifacts])
            conn.execute(upsert, rows)
            record_audit(conn, actor, "artifact.log", "run", run_id, {"paths": [a.path for a in artifacts][:100]})

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[ArtifactInfo]:
        a = t.run_artifacts.c
        query = sa.select(a.path, a.sha256, a.size).where(a.run_id == run_id).order_by(a.path)
        prefix = prefix.strip("/")
        if prefix:
            escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(sa.or_(a.path == prefix, a.path.like(f"{escaped}/%", escape="\\")))
        with self.db.read() as conn:
            _require_run(conn, run_id)
            return [ArtifactInfo(r.path, r.sha256, r.size) for r in conn.execute(query)]

    def list_audit_events(
        self,
        *,
        object_type: str | None = None,
        object_id: str | None = None,
        object_uri: str | None = None,
        actor: str | None = None,
        actions: Sequence[str] | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[AuditEvent]:
        """Newest audit events first, matching every filter given (:func:`~loopml.store.sql.audit.audit_query`)."""
        query = audit_query(
            object_type=object_type,
            object_id=object_id,
            object_uri=object_uri,
            actor=actor,
            actions=actions,
            since_ms=since_ms,
            until_ms=until_ms,
            before_id=before_id,
            limit=limit,
        )
        with self.db.read() as conn:
            return [audit_event(r) for r in conn.execute(query)]


_DISTINCT_KEYS = """
WITH RECURSIVE k(key) AS (
  SELECT MIN(key) FROM {table}
  UNION ALL
  SELECT (SELECT MIN(key) FROM {table} WHERE key > k.key) FROM k WHERE k.key IS NOT NULL
)
SELECT k.key AS key FROM k WHERE k.key IS NOT NULL AND (
  SELECT 1 FROM {table} AS kv CROSS JOIN runs
  WHERE kv.key = k.key AND runs.id = kv.run_id AND runs.experiment_id = :experiment_id LIMIT 1
) = 1
ORDER BY k.key
"""
"""The distinct keys of one key/value table among an experiment's runs (a loose index scan).

A scalar ``(... LIMIT 1) = 1`` rather than ``EXISTS``: PostgreSQL would turn ``EXISTS`` into a
semi-join over every row of the table; the scalar subquery runs once per key and stops at a hit.
``CROSS JOIN`` makes SQLite walk the key's rows (``ix_*_key``) rather than every run of the experiment."""

_SHOWN_MATCHES = 5
"""How many matching ids an ambiguous run id prefix's error lists."""


def _history_request(
    run_ids: Sequence[str], keys: Sequence[str], max_points: int | None
) -> tuple[list[str], list[str]]:
    """The checked run ids and keys of a history request (deduplicated, order kept)."""
    ids = _run_id_list(run_ids)
    if isinstance(keys, str):
        raise InvalidInput("keys must be a list of metric keys.", details=[{"field": "keys", "problem": "a list"}])
    names = list(dict.fromkeys(check_key(k, field="metric") for k in keys))
    if not names or len(names) > MAX_HISTORY_KEYS:
        raise InvalidInput(
            f"keys must name 1 to {MAX_HISTORY_KEYS} metrics, got {len(names)}.",
            details=[{"field": "keys", "problem": f"1 to {MAX_HISTORY_KEYS} keys"}],
        )
    if max_points is not None:
        check_max_points(max_points)
    return ids, names


def _run_id_list(run_ids: Sequence[str]) -> list[str]:
    """1 to :data:`MAX_HISTORY_RUNS` run ids, deduplicated in order; ``InvalidInput`` naming ``run_ids``."""
    if isinstance(run_ids, str) or not all(isinstance(i, str) for i in run_ids):
        raise InvalidInput(
            "run_ids must be a list of run ids.", details=[{"field": "run_ids", "problem": "not a list"}]
        )
    ids = list(dict.fromkeys(run_ids))
    if not ids or len(ids) > MAX_HISTORY_RUNS:
        raise InvalidInput(
            f"run_ids must name 1 to {MAX_HISTORY_RUNS} runs, got {len(ids)}.",
            details=[{"field": "run_ids", "problem": f"1 to {MAX_HISTORY_RUNS} runs"}],
        )
    return ids


def _missing_runs(missing: list[str]) -> NotFound:
    return NotFound(
        f"Run {missing[0]!r} does not exist"
        + (f" (nor {len(missing) - 1} more of the runs asked for)." if len(missing) > 1 else "."),
        details=[{"field": "run_ids", "problem": f"{len(missing)} unknown run id(s)"}],
    )


def _grouped(rows: Sequence[Any]) -> list[tuple[str, str, Sequence[int], Sequence[int], Sequence[Any]]]:
    """Rows ordered by (run, key, step) as one ``(run_id, key, steps, timestamps, values)`` per curve.

    ``groupby`` with ``itemgetter`` and ``zip(*...)`` stay in C: no per-row Python code."""
    curves: list[tuple[str, str, Sequence[int], Sequence[int], Sequence[Any]]] = []
    for (run_id, key), group in groupby(rows, key=itemgetter(0, 1)):
        _, _, steps, times, values = zip(*group, strict=True)
        curves.append((run_id, key, steps, times, values))
    return curves


REDUCE_FACTOR = 4
"""A curve of more than ``REDUCE_FACTOR * max_points`` points is reduced in the database first (M4)."""
_FINITE = 1.7976931348623157e308  # the largest double: values beyond it are infinities, which charts cannot draw
_SPEC_CHUNK = 1_000  # long curves per reducing query (4 bound parameters each, far below SQLite's 32,766)

Curve = tuple[str, str, Sequence[int], Sequence[int], Sequence[Any]]
LongCurve = tuple[int, str, str, int, int]
"""A curve to reduce: its number in the query, run id, key, first step and the steps per bucket."""


def _m4_query(curves: Sequence[LongCurve]) -> sa.Select[Any]:
    """The M4 reduction of ``curves`` in one query (rows ordered by run, key and step).

    Each curve's steps are cut into ranges of ``width`` steps from its first step; per range the
    database keeps the first and the last point and the (first) points of the smallest and the
    largest finite value (Jugel et al., 2014), so a chart of the result draws like the whole curve.
    The stages: the aggregates per bucket (one index range scan per curve, grouped by two
    integers), the steps holding the extremes (a correlated subquery per bucket: an index range
    scan of that bucket alone), then the kept rows (an index seek each). Correlated subqueries
    keep the plan a nested loop over ``ix_metrics_run_key_step`` whatever the planner's statistics."""
    spec = (
        sa.values(
            sa.column("curve", sa.Integer),
            sa.column("run_id", sa.String),
            sa.column("key", sa.String),
            sa.column("lo", sa.BigInteger),
            sa.column("width", sa.BigInteger),
            name="m4_curves",
        )
        .data(list(curves))
        .cte("m4_curves")
    )
    c = spec.c
    m = t.metrics.alias("m")
    bucket = ((m.c.step - c.lo) // c.width).label("bucket")
    finite = sa.case((m.c.value.between(-_FINITE, _FINITE), m.c.value))
    agg = (
        sa.select(
            c.curve,
            bucket,
            sa.func.min(m.c.step).label("s0"),
            sa.func.max(m.c.step).label("s1"),
            sa.func.min(finite).label("vmin"),
            sa.func.max(finite).label("vmax"),
        )
        .select_from(spec.join(m, sa.and_(m.c.run_id == c.run_id, m.c.key == c.key)))
        # the same rows again, as constants: the planners then read them by index (a join on the
        # VALUES list alone may become a sequential scan of the whole table in PostgreSQL)
        .where(
            m.c.run_id.in_(sorted({curve[1] for curve in curves})), m.c.key.in_(sorted({curve[2] for curve in curves}))
        )
        .group_by(c.curve, bucket)
        .cte("m4_buckets")
    )
    a = agg.c
    x = t.metrics.alias("x")

    def first_step_at(value: sa.ColumnElement[Any]) -> sa.ScalarSelect[Any]:
        return (
            sa.select(sa.func.min(x.c.step))
            .where(x.c.run_id == c.run_id, x.c.key == c.key, x.c.step.between(a.s0, a.s1), x.c.value == value)
            .scalar_subquery()
        )

    extremes = (
        sa.select(a.curve, a.s0, a.s1, first_step_at(a.vmin).label("smin"), first_step_at(a.vmax).label("smax"))
        .select_from(agg.join(spec, c.curve == a.curve))
        .cte("m4_steps")
    )
    e = extremes.c
    # one row per kept step (UNION drops a step kept twice), then an equality join: an index seek each
    kept = sa.union(
        *(sa.select(e.curve, step.label("step")).where(step.is_not(None)) for step in (e.s0, e.s1, e.smin, e.smax))
    ).cte("m4_kept")
    k = t.metrics.alias("k")
    return (
        sa.select(c.run_id, c.key, k.c.step, k.c.timestamp, k.c.value)
        .select_from(
            kept.join(spec, c.curve == kept.c.curve).join(
                k, sa.and_(k.c.run_id == c.run_id, k.c.key == c.key, k.c.step == kept.c.step)
            )
        )
        .order_by(c.run_id, c.key, k.c.step, k.c.id)
    )


def _reduced_curves(conn: Connection, ids: list[str], names: list[str], max_points: int) -> list[Curve]:
    """The curves of ``ids`` x ``names``, long ones already reduced by :func:`_m4_query` (``max_points``
    buckets, at most four points each) for :func:`_series` to finish with LTTB.

    One query counts the points and finds the first and last step of every curve (an index-only
    scan of ``ix_metrics_run_key_step``); then one query reads the short curves whole and one the
    long ones reduced: no per-curve round trip. A curve is long when it has more than
    ``REDUCE_FACTOR`` points per bucket and its steps span at least as many values (a curve logged
    at a single step has nothing to bucket by)."""
    m = t.metrics.c
    stats = conn.execute(
        sa.select(m.run_id, m.key, sa.func.count(), sa.func.min(m.step), sa.func.max(m.step))
        .where(m.run_id.in_(ids), m.key.in_(names))
        .group_by(m.run_id, m.key)
    ).all()
    least = REDUCE_FACTOR * max_points
    long: list[LongCurve] = []
    short: list[tuple[str, str]] = []
    for run_id, key, points, lo, hi in stats:  # one row per curve, not per point
        if points > least and least <= hi - lo <= INT64_MAX:
            long.append((len(long), run_id, key, lo, (hi - lo) // max_points + 1))
        else:
            short.append((run_id, key))
    curves: list[Curve] = []
    if long and conn.dialect.name == "postgresql":
        # the correlated subqueries' estimates cross jit_above_cost: compiling would take longer than running
        conn.exec_driver_sql("SET LOCAL jit = off")
    for start in range(0, len(long), _SPEC_CHUNK):
        chunk = [(i - start, run_id, key, lo, width) for i, run_id, key, lo, width in long[start : start + _SPEC_CHUNK]]
        curves += _grouped(conn.execute(_m4_query(chunk)).cursor.fetchall())
    if short:
        where: list[sa.ColumnElement[bool]] = [m.run_id.in_(ids), m.key.in_(names)]
        if long:
            where.append(sa.tuple_(m.run_id, m.key).in_(short))
        query = sa.select(m.run_id, m.key, m.step, m.timestamp, m.value).where(*where)
        curves += _grouped(conn.execute(query.order_by(m.run_id, m.key, m.step)).cursor.fetchall())
    return curves


def _series(
    curves: Sequence[tuple[str, str, Sequence[int], Sequence[int], Sequence[Any]]], max_points: int | None
) -> dict[str, dict[str, list[Metric]]]:
    """Curves as points per run and key, each downsampled if asked; only the points kept become
    :class:`Metric` records."""
    out: dict[str, dict[str, list[Metric]]] = {}
    for run_id, key, step_col, time_col, value_col in curves:
        values = np.array(value_col, dtype=np.float64)  # None (NaN) reads as nan
        if max_points is not None and len(values) > max_points:
            steps = np.array(step_col, dtype=np.int64)
            index = downsample(steps.astype(np.float64), values, max_points)
            times = np.array(time_col, dtype=np.int64)
            kept = zip(steps[index].tolist(), times[index].tolist(), values[index].tolist(), strict=True)
        else:
            kept = zip(step_col, time_col, values.tolist(), strict=True)
        out.setdefault(run_id, {})[key] = [Metric(key, v, s, ts) for s, ts, v in kept]
    return out


def _resolve_run_id(conn: Connection, ref: str) -> str:
    """The id of the one run whose id is or starts with ``ref`` (one query)."""
    value = check_run_ref(ref)
    if len(value) == 32:
        matches = [r.id for r in conn.execute(sa.select(t.runs.c.id).where(t.runs.c.id == value))]
        if not matches:
            raise NotFound(f"Run {value!r} does not exist.")
        return matches[0]
    query = sa.select(t.runs.c.id).where(t.runs.c.id.like(f"{value}%")).order_by(t.runs.c.id).limit(_SHOWN_MATCHES + 1)
    matches = [r.id for r in conn.execute(query)]
    if not matches:
        raise NotFound(f"No run id starts with {value!r}; list runs with `loopml runs list` or lm.search_runs().")
    if len(matches) > 1:
        listed = ", ".join(matches[:_SHOWN_MATCHES]) + (", ..." if len(matches) > _SHOWN_MATCHES else "")
        raise InvalidInput(
            f"Run id prefix {value!r} is ambiguous: it matches {listed}; type more of it.",
            details=[{"field": "run_id", "problem": "ambiguous prefix"}],
        )
    return matches[0]


def _require_run(conn: Connection, run_id: str, *, what: str = "Run") -> None:
    if not isinstance(run_id, str) or conn.execute(sa.select(t.runs.c.id).where(t.runs.c.id == run_id)).first() is None:
        raise NotFound(f"{what} {run_id!r} does not exist.")


def _refuse_path_clash(conn: Connection, run_id: str, paths: list[str]) -> None:
    """``Conflict`` when a path would be both a file and a folder of the run (``a`` and ``a/b``).

    Checked within the batch, then against the stored paths in one query per 200 new paths: a stored
    path that equals a folder prefix of a new path, or lies below a new path.
    """
    new = set(paths)
    prefixes: dict[str, str] = {}
    for path in new:
        for prefix in _folder_prefixes(path):
            if prefix in new:
                raise _clash(run_id, prefix, path)
            prefixes.setdefault(prefix, path)
    a = t.run_artifacts.c
    ordered = sorted(new)
    for chunk in _chunks(ordered, 200):
        below = [a.path.like(_like_escape(path) + "/%", escape="\\") for path in chunk]
        chunk_prefixes = [prefix for path in chunk for prefix in _folder_prefixes(path)]
        query = sa.select(a.path).where(a.run_id == run_id, sa.or_(a.path.in_(chunk_prefixes), *below)).limit(1)
        stored = conn.execute(query).scalar()
        if stored is not None:
            if stored in prefixes:
                raise _clash(run_id, stored, prefixes[stored])
            raise _clash(run_id, next(p for p in chunk if stored.startswith(p + "/")), stored)


def _folder_prefixes(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:end]) for end in range(1, len(parts))]


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _clash(run_id: str, file: str, nested: str) -> Conflict:
    return Conflict(
        f"Run {run_id} cannot hold both artifacts {file!r} and {nested!r}: {file!r} is a file, so it cannot also "
        f"be a folder holding {nested!r} (a download would fail). Log one of them under another path.",
        details=[{"field": "path", "problem": f"{file!r} and {nested!r} clash (file vs folder)"}],
    )


def _metric_rows(run_id: str, points: Iterable[MetricPoint]) -> list[dict[str, Any]]:
    """Rows to insert. Exact float/int types in range (the buffer's points) skip the full checks."""
    rows: list[dict[str, Any]] = []
    append_row = rows.append
    keys: set[str] = set()
    for point in points:
        key, value, step, timestamp = point
        if key.__class__ is not str or key not in keys:
            keys.add(check_key(key, field="metric"))
        if value.__class__ is not float:
            value = check_metric_value(key, value)
        if step.__class__ is not int or not INT64_MIN <= step <= INT64_MAX:
            step = check_step(key, step)
        if timestamp.__class__ is not int or not 0 <= timestamp <= INT64_MAX:
            timestamp = check_timestamp(key, timestamp)
        append_row(
            {
                "run_id": run_id,
                "key": key,
                "value": None if value != value else value,
                "step": step,
                "timestamp": timestamp,
            }
        )
    return rows


def _latest_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        best = latest.get(row["key"])
        if best is None or (row["step"], row["timestamp"]) >= (best["step"], best["timestamp"]):
            latest[row["key"]] = row
    return list(latest.values())


def _kv(conn: Connection, table: sa.Table, where: sa.ColumnElement[bool]) -> dict[str, str]:
    return {r.key: r.value for r in conn.execute(sa.select(table.c.key, table.c.value).where(where))}


def _hydrate(conn: Connection, rows: Sequence[Any]) -> list[Run]:
    """Attach params, latest metrics and tags to run rows with three queries in total."""
    if not rows:
        return []
    ids = [r.id for r in rows]
    params: dict[str, dict[str, str]] = {i: {} for i in ids}
    metrics: dict[str, dict[str, float]] = {i: {} for i in ids}
    tags: dict[str, dict[str, str]] = {i: {} for i in ids}
    p, m, g = t.params.c, t.latest_metrics.c, t.tags.c
    for chunk in _chunks(ids, 500):  # rows unpacked as tuples: attribute access costs on 100,000s
        for run_id, key, value in conn.execute(sa.select(p.run_id, p.key, p.value).where(p.run_id.in_(chunk))):
            params[run_id][key] = value
        for run_id, key, number in conn.execute(sa.select(m.run_id, m.key, m.value).where(m.run_id.in_(chunk))):
            metrics[run_id][key] = math.nan if number is None else number
        for run_id, key, value in conn.execute(sa.select(g.run_id, g.key, g.value).where(g.run_id.in_(chunk))):
            tags[run_id][key] = value
    return [
        Run(
            r.id,
            r.experiment_id,
            r.name,
            RunStatus(r.status),
            r.start_time,
            r.end_time,
            r.parent_run_id,
            r.user,
            params[r.id],
            metrics[r.id],
            tags[r.id],
            r.heartbeat_at,
        )
        for r in rows
    ]


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
