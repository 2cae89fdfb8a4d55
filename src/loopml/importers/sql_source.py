"""Read an MLflow SQL tracking store (its own SQLAlchemy schema) with SQLAlchemy Core: no mlflow needed.

One query per kind of record for all the experiments asked for; metric points stream one query per
run, handed over in chunks straight from the database cursor (the tuples already have the shape
``(key, value, step, timestamp)`` the tracking store takes). NaN points (``is_nan``) are read in one
query per chunk of runs. Columns and tables later MLflow versions added (``is_nan``, aliases,
logged models) are used only when the database has them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from loopml.core.errors import InvalidInput, StoreError
from loopml.importers.local_files import local_path, walk_files
from loopml.importers.records import (
    MetricPoint,
    MlflowAlias,
    MlflowExperiment,
    MlflowFile,
    MlflowLoggedModel,
    MlflowModelVersion,
    MlflowRegisteredModel,
    MlflowRun,
    logged_model_id,
    status_of,
)
from loopml.importers.source import METRIC_CHUNK

__all__ = ["SqlSource"]

_RUN_CHUNK = 500  # run ids per IN (...) list
_DELETED_VERSION = "Deleted_Internal"  # MLflow's stage of a deleted model version


class SqlSource:
    """An MLflow database at ``url`` (``sqlite:///mlflow.db``, ``postgresql://...``, ``mysql://...``)."""

    def __init__(self, url: str) -> None:
        self.location = url
        try:
            parsed = make_url(url)
            if parsed.drivername.startswith("sqlite"):
                path = parsed.database
                if not path or path == ":memory:" or not Path(path).is_file():
                    raise InvalidInput(
                        f"Invalid --from {url!r}: the SQLite file {path!r} does not exist.",
                        details=[{"field": "from", "problem": "no such file"}],
                    )
                self._base = Path(path).resolve().parent
            else:
                self._base = Path.cwd()
            if parsed.drivername in ("postgresql", "postgres"):
                parsed = parsed.set(drivername="postgresql+psycopg")
            self.engine = sa.create_engine(parsed)
            with self.engine.connect() as conn:
                inspector = sa.inspect(conn)
                self._tables = set(inspector.get_table_names())
                if not {"experiments", "runs", "metrics", "params", "tags"} <= self._tables:
                    raise InvalidInput(
                        f"Invalid --from {url!r}: not an MLflow tracking database (no experiments/runs/metrics "
                        "tables).",
                        details=[{"field": "from", "problem": "not an MLflow database"}],
                    )
                self._columns = {
                    name: {c["name"] for c in inspector.get_columns(name)}
                    for name in ("experiments", "runs", "metrics", "model_versions")
                    if name in self._tables
                }
        except ImportError as exc:
            raise InvalidInput(
                f"Invalid --from {url!r}: its database driver is not installed ({exc.name}); install it "
                "(for MySQL: pip install pymysql, then use mysql+pymysql://...).",
                details=[{"field": "from", "problem": "database driver not installed"}],
            ) from exc
        except (ArgumentError, NoSuchModuleError) as exc:
            raise InvalidInput(
                f"Invalid --from {url!r}: {exc}.", details=[{"field": "from", "problem": "bad database URL"}]
            ) from exc
        except SQLAlchemyError as exc:
            raise StoreError(f"Cannot read the MLflow database {url!r}: {exc.__class__.__name__}: {exc}") from exc
        self._nan = "is_nan" in self._columns["metrics"]
        self._metrics = sa.table(
            "metrics",
            sa.column("run_uuid", sa.String),
            sa.column("key", sa.String),
            sa.column("value", sa.Float),
            sa.column("step", sa.BigInteger),
            sa.column("timestamp", sa.BigInteger),
            sa.column("is_nan", sa.Boolean),
        )

    def close(self) -> None:
        self.engine.dispose()

    def _read(self) -> Any:
        return _Reading(self)

    # -- tracking -------------------------------------------------------------------------------

    def experiments(self) -> list[MlflowExperiment]:
        cols = self._columns["experiments"]
        created: sa.ColumnElement[Any] = sa.column("creation_time") if "creation_time" in cols else sa.null()
        query: sa.Select[Any] = sa.select(
            sa.column("experiment_id"), sa.column("name"), sa.column("lifecycle_stage"), created
        )
        with self._read() as conn:
            rows = conn.execute(query.select_from(sa.table("experiments")).order_by(sa.column("experiment_id"))).all()
            tags = _grouped(conn, self, "experiment_tags", "experiment_id")
        return [
            MlflowExperiment(str(i), name, tags.get(str(i), {}), stage == "deleted", created_at)
            for i, name, stage, created_at in rows
        ]

    def runs(self, experiment_ids: Sequence[str]) -> list[MlflowRun]:
        if not experiment_ids:
            return []
        ids = [int(i) for i in experiment_ids]
        where = sa.column("experiment_id").in_(ids)
        in_runs = sa.column("run_uuid").in_(
            sa.select(sa.column("run_uuid")).select_from(sa.table("runs")).where(sa.column("experiment_id").in_(ids))
        )
        with self._read() as conn:
            rows = conn.execute(
                sa.select(
                    sa.column("run_uuid"), sa.column("experiment_id"), sa.column("name"), sa.column("status"),
                    sa.column("start_time"), sa.column("end_time"), sa.column("user_id"), sa.column("artifact_uri"),
                    sa.column("lifecycle_stage"),
                ).select_from(sa.table("runs")).where(where).order_by(sa.column("start_time"))
            ).all()  # fmt: skip
            params = _grouped(conn, self, "params", "run_uuid", in_runs)
            tags = _grouped(conn, self, "tags", "run_uuid", in_runs)
        return [
            MlflowRun(
                id=r.run_uuid,
                experiment_id=str(r.experiment_id),
                name=r.name or tags.get(r.run_uuid, {}).get("mlflow.runName", ""),
                status=status_of(r.status),
                start_time=r.start_time,
                end_time=r.end_time,
                user=r.user_id or "",
                artifact_uri=r.artifact_uri or "",
                deleted=r.lifecycle_stage == "deleted",
                params=params.get(r.run_uuid, {}),
                tags=tags.get(r.run_uuid, {}),
            )
            for r in rows
        ]

    def metric_chunks(self, run_ids: Sequence[str]) -> Iterator[tuple[str, list[MetricPoint]]]:
        m = self._metrics.c
        point = sa.select(m.key, m.value, m.step, m.timestamp)
        for start in range(0, len(run_ids), _RUN_CHUNK):
            chunk = list(run_ids[start : start + _RUN_CHUNK])
            with self._read() as conn:
                nans = self._nan_points(conn, chunk)
                for run_id in chunk:
                    query = point.where(m.run_uuid == run_id)
                    if self._nan:
                        query = query.where(m.is_nan == sa.false())
                    cursor = conn.execute(query).cursor
                    while rows := cursor.fetchmany(METRIC_CHUNK):
                        yield run_id, rows
                    if run_id in nans:
                        yield run_id, nans[run_id]

    def _nan_points(self, conn: Connection, run_ids: list[str]) -> dict[str, list[MetricPoint]]:
        if not self._nan:
            return {}
        m = self._metrics.c
        rows = conn.execute(
            sa.select(m.run_uuid, m.key, m.step, m.timestamp).where(m.run_uuid.in_(run_ids), m.is_nan == sa.true())
        )
        found: dict[str, list[MetricPoint]] = {}
        for run_id, key, step, timestamp in rows:  # NaN points only: few
            found.setdefault(run_id, []).append((key, math.nan, step, timestamp))
        return found

    def artifacts(self, run: MlflowRun) -> list[MlflowFile] | None:
        return walk_files(local_path(run.artifact_uri, base=self._base))

    # -- models -----------------------------------------------------------------------------------

    def logged_models(self, experiment_ids: Sequence[str]) -> list[MlflowLoggedModel]:
        if "logged_models" not in self._tables or not experiment_ids:
            return []
        query = sa.text(
            "SELECT model_id, name, experiment_id, source_run_id, artifact_location, creation_timestamp_ms "
            "FROM logged_models "
            "WHERE experiment_id IN :ids AND (lifecycle_stage IS NULL OR lifecycle_stage != 'deleted') "
            "ORDER BY creation_timestamp_ms"
        ).bindparams(sa.bindparam("ids", expanding=True))
        with self._read() as conn:
            rows = conn.execute(query, {"ids": [int(i) for i in experiment_ids]}).all()
        return [MlflowLoggedModel(r[0], r[1], str(r[2]), r[3], r[4] or "", r[5]) for r in rows]

    def model_files(self, model: MlflowLoggedModel) -> list[MlflowFile] | None:
        return walk_files(local_path(model.artifact_location, base=self._base))

    def registered_models(self) -> list[MlflowRegisteredModel]:
        if "registered_models" not in self._tables:
            return []
        with self._read() as conn:
            models = conn.execute(
                sa.text("SELECT name, description, creation_time FROM registered_models ORDER BY creation_time")
            ).all()
            versions = conn.execute(
                sa.text(
                    "SELECT name, version, source, run_id, description, status, creation_time, last_updated_time, "
                    "user_id FROM model_versions WHERE current_stage IS NULL OR current_stage != :deleted "
                    "ORDER BY name, version"
                ),
                {"deleted": _DELETED_VERSION},
            ).all()
            model_tags = _grouped(conn, self, "registered_model_tags", "name")
            version_tags: dict[tuple[str, int], dict[str, str]] = {}
            if "model_version_tags" in self._tables:
                columns: tuple[sa.ColumnClause[Any], ...] = (
                    sa.column("name"),
                    sa.column("version"),
                    sa.column("key"),
                    sa.column("value"),
                )
                for name, version, key, value in conn.execute(
                    sa.select(*columns).select_from(sa.table("model_version_tags"))
                ):
                    version_tags.setdefault((name, int(version)), {})[key] = value or ""
            aliases: dict[str, list[MlflowAlias]] = {}
            if "registered_model_aliases" in self._tables:
                for name, alias, version in conn.execute(
                    sa.text("SELECT name, alias, version FROM registered_model_aliases ORDER BY name, alias")
                ):
                    aliases.setdefault(name, []).append(MlflowAlias(alias, int(version)))
        by_model: dict[str, list[MlflowModelVersion]] = {}
        for v in versions:
            source = v.source or ""
            by_model.setdefault(v.name, []).append(
                MlflowModelVersion(
                    version=int(v.version),
                    source=source,
                    run_id=v.run_id or None,
                    description=v.description or "",
                    tags=version_tags.get((v.name, int(v.version)), {}),
                    status=v.status or "READY",
                    created_at=v.creation_time,
                    updated_at=v.last_updated_time,
                    user=v.user_id or None,
                    model_id=logged_model_id(source),
                )
            )
        return [
            MlflowRegisteredModel(
                name,
                description or "",
                model_tags.get(name, {}),
                created,
                by_model.get(name, []),
                aliases.get(name, []),
            )
            for name, description, created in models
        ]


class _Reading:
    """A read-only connection that turns database errors into ``StoreError`` naming the source."""

    def __init__(self, source: SqlSource) -> None:
        self.source = source
        self.conn: Connection | None = None

    def __enter__(self) -> Connection:
        try:
            self.conn = self.source.engine.connect()
        except SQLAlchemyError as exc:
            raise StoreError(f"Cannot read the MLflow database {self.source.location!r}: {exc}") from exc
        return self.conn

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if self.conn is not None:
            self.conn.close()
        if isinstance(exc, SQLAlchemyError):
            raise StoreError(f"Cannot read the MLflow database {self.source.location!r}: {exc}") from exc


def _grouped(
    conn: Connection, source: SqlSource, table: str, owner: str, where: sa.ColumnElement[bool] | None = None
) -> dict[str, dict[str, str]]:
    """``owner -> {key: value}`` of a key/value table (``{}`` when the database has no such table)."""
    if table not in source._tables:
        return {}
    columns: tuple[sa.ColumnClause[Any], ...] = (sa.column(owner), sa.column("key"), sa.column("value"))
    query: sa.Select[Any] = sa.select(*columns).select_from(sa.table(table))
    if where is not None:
        query = query.where(where)
    found: dict[str, dict[str, str]] = {}
    for owner_id, key, value in conn.execute(query):
        found.setdefault(str(owner_id), {})[key] = "" if value is None else value
    return found
