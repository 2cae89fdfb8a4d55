"""MLflow 3 logged models: what ``mlflow.<flavor>.log_model`` creates, its files, and the runs that output it.

A logged model (id ``m-<32 hex>``) belongs to an experiment, optionally to a source run, and holds
files stored by content hash like a run's artifacts (``logged_model_artifacts``), so garbage
collection keeps them (:meth:`SqlLoggedModelStore.referenced_blobs`). Its status goes from
``PENDING`` (created) to ``READY`` or ``FAILED`` (finalized). Deleting one is MLflow's soft deletion:
the record and its files stay, hidden from search and ``get`` unless asked for.

The model registry reads a logged model through :meth:`SqlLoggedModelStore.get` (experiment, source
run) and :meth:`SqlLoggedModelStore.list_artifacts` (its files) to register ``models:/<model_id>``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from loopml.core.clock import now_ms
from loopml.core.errors import InvalidInput, NotFound, invalid
from loopml.core.ids import new_id
from loopml.core.records import ArtifactInfo
from loopml.store import checks
from loopml.store.sql import schema as t
from loopml.store.sql.artifact_rows import delete_rows, list_rows, upsert_rows
from loopml.store.sql.audit import record_audit
from loopml.store.sql.database import Database
from loopml.store.sql.references import referenced

STATUSES = ("PENDING", "READY", "FAILED")
"""A logged model's status: created, finalized with its files, or finalized after a failed upload."""
ACTIVE, DELETED = "active", "deleted"
MAX_NAME_LENGTH = 500
MAX_SEARCH_RESULTS = 1000
ORDER_COLUMNS = ("created_at", "updated_at", "name")
FILTER_COLUMNS = ("id", "name", "source_run_id", "model_type", "status")
_MODEL_ID = re.compile(r"m-[0-9a-f]{32}")


@dataclass(frozen=True, slots=True)
class LoggedModel:
    """One logged model. ``experiment_id`` and ``source_run_id`` are loopml ids."""

    id: str
    experiment_id: str
    name: str
    source_run_id: str | None
    model_type: str | None
    status: str
    status_message: str | None
    created_by: str
    created_at: int
    updated_at: int
    lifecycle_stage: str = ACTIVE
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)


def new_model_id() -> str:
    """A new logged model id, ``m-<32 hex>`` like MLflow's."""
    return f"m-{new_id()}"


def check_model_id(value: object, field: str = "model_id") -> str:
    """``value`` if it has the shape of a logged model id; ``InvalidInput`` naming ``field`` otherwise."""
    if not isinstance(value, str) or not _MODEL_ID.fullmatch(value):
        shown = value[:80] if isinstance(value, str) else value
        raise invalid(field, "not a logged model id", f"Invalid {field} {shown!r}: expected 'm-' and 32 hex digits.")
    return value


class SqlLoggedModelStore:
    """Logged models in the SQL database. Build with ``SqlLoggedModelStore(Database(url))``."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._insert = postgresql.insert if db.dialect == "postgresql" else sqlite.insert

    def referenced_blobs(self, among: Collection[str] | None = None) -> dict[str, set[str]]:
        """Digests of the blobs logged models' files point at (garbage collection keeps them)."""
        return referenced(self.db, {"logged_model_artifact": sa.select(t.logged_model_artifacts.c.sha256)}, among)

    # -- the model --------------------------------------------------------------------------------

    def create(
        self,
        experiment_id: str,
        *,
        name: str | None = None,
        source_run_id: str | None = None,
        model_type: str | None = None,
        tags: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        actor: str,
    ) -> LoggedModel:
        """Create a ``PENDING`` logged model in ``experiment_id`` (and of ``source_run_id``, which must be
        a run of that experiment)."""
        model_id = new_model_id()
        name = _check_name(name) if name else f"model-{model_id[2:10]}"
        tag_map = checks.string_dict(tags, "tag")
        param_map = checks.string_dict(params, "param")
        now = now_ms()
        with self.db.write() as conn:
            if conn.execute(sa.select(t.experiments.c.id).where(t.experiments.c.id == experiment_id)).first() is None:
                raise NotFound(f"Experiment {experiment_id!r} does not exist.")
            if source_run_id:
                run_experiment = conn.execute(
                    sa.select(t.runs.c.experiment_id).where(t.runs.c.id == source_run_id)
                ).scalar()
                if run_experiment is None:
                    raise NotFound(f"Run {source_run_id!r} does not exist.")
                if run_experiment != experiment_id:
                    raise invalid(
                        "source_run_id",
                        "a run of another experiment",
                        f"Run {source_run_id} belongs to experiment {run_experiment}, not {experiment_id}: "
                        "log the model in the run's experiment.",
                    )
            conn.execute(
                t.logged_models.insert().values(
                    id=model_id,
                    experiment_id=experiment_id,
                    name=name,
                    source_run_id=source_run_id or None,
                    model_type=model_type or None,
                    status="PENDING",
                    status_message=None,
                    tags=json.dumps(tag_map),
                    params=json.dumps(param_map),
                    created_by=actor,
                    created_at=now,
                    updated_at=now,
                    lifecycle_stage=ACTIVE,
                )
            )
            record_audit(conn, actor, "logged_model.create", "logged_model", model_id, {"name": name})
        return LoggedModel(
            model_id, experiment_id, name, source_run_id or None, model_type or None, "PENDING", None, actor, now,
            now, ACTIVE, tag_map, param_map,
        )  # fmt: skip

    def get(self, model_id: str, *, allow_deleted: bool = False) -> LoggedModel:
        """A logged model by id; ``NotFound`` if missing (or deleted, unless ``allow_deleted``)."""
        check_model_id(model_id)
        with self.db.read() as conn:
            return _get(conn, model_id, allow_deleted=allow_deleted)

    def finalize(self, model_id: str, status: str, *, message: str | None = None, actor: str) -> LoggedModel:
        """Set the status to ``READY`` or ``FAILED`` (or back to ``PENDING``); the updated model."""
        if status not in STATUSES:
            raise invalid("status", "unknown status", f"Invalid status {status!r}; valid: {', '.join(STATUSES)}.")
        return self._update(model_id, {"status": status, "status_message": message}, "logged_model.finalize", actor)

    def set_tags(self, model_id: str, tags: Mapping[str, Any], *, actor: str) -> LoggedModel:
        """Add or replace tags."""
        new = checks.string_dict(tags, "tag")
        return self._merge(model_id, "tags", new, (), "logged_model.tag.set", actor)

    def delete_tag(self, model_id: str, key: str, *, actor: str) -> LoggedModel:
        """Remove one tag; ``NotFound`` if the model has no such tag."""
        return self._merge(model_id, "tags", {}, (key,), "logged_model.tag.delete", actor)

    def log_params(self, model_id: str, params: Mapping[str, Any], *, actor: str) -> LoggedModel:
        """Add params (a param, once logged, keeps its value: MLflow refuses to change one)."""
        new = checks.string_dict(params, "param")
        return self._merge(model_id, "params", new, (), "logged_model.params.log", actor)

    def delete(self, model_id: str, *, actor: str) -> None:
        """Soft-delete: hidden from search and ``get``; record and files stay."""
        self._update(model_id, {"lifecycle_stage": DELETED, "deleted_at": now_ms()}, "logged_model.delete", actor)

    def search(
        self,
        experiment_ids: Sequence[str],
        *,
        where: Sequence[tuple[str, str, str]] = (),
        order_by: str = "created_at",
        ascending: bool = False,
        max_results: int = 100,
        offset: int = 0,
    ) -> list[LoggedModel]:
        """Active logged models of ``experiment_ids``, one page, newest first unless ordered otherwise
        (``order_by``: one of :data:`ORDER_COLUMNS`); ``where``: ``(column, "=" or "!=", value)`` AND-ed,
        on the columns of :data:`FILTER_COLUMNS`."""
        if not 1 <= max_results <= MAX_SEARCH_RESULTS:
            raise invalid("max_results", f"must be 1 to {MAX_SEARCH_RESULTS}")
        if order_by not in ORDER_COLUMNS:
            raise invalid("order_by", f"not one of {', '.join(ORDER_COLUMNS)}")
        m = t.logged_models.c
        conditions = [m.experiment_id.in_(list(experiment_ids)), m.lifecycle_stage == ACTIVE]
        for name, op, value in where:
            if name not in FILTER_COLUMNS or op not in ("=", "!="):
                raise invalid("filter", f"not a comparison of {', '.join(FILTER_COLUMNS)} with = or !=")
            conditions.append(m[name] == value if op == "=" else sa.or_(m[name] != value, m[name].is_(None)))
        column = m[order_by]
        query = (
            sa.select(t.logged_models)
            .where(*conditions)
            .order_by(column.asc() if ascending else column.desc(), m.id)
            .limit(max_results)
            .offset(max(0, offset))
        )
        with self.db.read() as conn:
            return [_model(row) for row in conn.execute(query)]

    # -- files --------------------------------------------------------------------------------------

    def record_artifacts(self, model_id: str, artifacts: Sequence[ArtifactInfo], *, actor: str) -> None:
        """Record files (blobs already stored) under the model's paths, replacing files at the same path."""
        if not artifacts:
            return
        with self.db.write() as conn:
            _get(conn, model_id, allow_deleted=False)
            upsert_rows(conn, self._insert, t.logged_model_artifacts, "model_id", model_id, artifacts)
            paths = [a.path for a in artifacts][:100]
            record_audit(conn, actor, "logged_model.artifact.log", "logged_model", model_id, {"paths": paths})

    def list_artifacts(self, model_id: str, prefix: str = "") -> list[ArtifactInfo]:
        """The model's files at or below ``prefix`` (all of them by default), by path."""
        with self.db.read() as conn:
            _get(conn, model_id, allow_deleted=True)
            return list_rows(conn, t.logged_model_artifacts, "model_id", model_id, prefix)

    def delete_artifacts(self, model_id: str, path: str = "", *, actor: str) -> int:
        """Forget the files at or below ``path`` (every file when empty); how many. The blobs stay until gc."""
        with self.db.write() as conn:
            _get(conn, model_id, allow_deleted=True)
            count = delete_rows(conn, t.logged_model_artifacts, "model_id", model_id, path)
            record_audit(conn, actor, "logged_model.artifact.delete", "logged_model", model_id, {"path": path})
        return count

    def listed_in_run(self, run_id: str) -> set[tuple[str, str]]:
        """``(run path, sha256)`` of the files of ``run_id``'s active ``READY`` models as listed among the
        run's artifacts (``<model name>/<path>``), in one query."""
        m, a = t.logged_models.c, t.logged_model_artifacts.c
        query = (
            sa.select((m.name + "/" + a.path).label("path"), a.sha256)
            .join_from(t.logged_models, t.logged_model_artifacts, a.model_id == m.id)
            .where(m.source_run_id == run_id, m.status == "READY", m.lifecycle_stage == ACTIVE)
        )
        with self.db.read() as conn:
            return {(row.path, row.sha256) for row in conn.execute(query)}

    # -- runs' outputs ------------------------------------------------------------------------------

    def log_outputs(self, run_id: str, outputs: Sequence[tuple[str, int]], *, actor: str) -> None:
        """Record that ``run_id`` produced the logged models ``outputs`` (``(model_id, step)`` pairs)."""
        if not outputs:
            return
        rows: list[dict[str, Any]] = [
            {"run_id": run_id, "model_id": check_model_id(m, "models.model_id"), "step": s} for m, s in outputs
        ]
        ids = sorted({str(row["model_id"]) for row in rows})
        insert = self._insert(t.run_model_outputs)
        upsert = insert.on_conflict_do_update(
            index_elements=["run_id", "model_id"], set_={"step": insert.excluded.step}
        )
        with self.db.write() as conn:
            if conn.execute(sa.select(t.runs.c.id).where(t.runs.c.id == run_id)).first() is None:
                raise NotFound(f"Run {run_id!r} does not exist.")
            found = set(conn.execute(sa.select(t.logged_models.c.id).where(t.logged_models.c.id.in_(ids))).scalars())
            if missing := [m for m in ids if m not in found]:
                raise NotFound(f"Logged model {missing[0]!r} does not exist.")
            conn.execute(upsert, rows)
            record_audit(conn, actor, "run.outputs.log", "run", run_id, {"models": ids[:100]})

    def run_outputs(self, run_ids: Sequence[str]) -> dict[str, list[tuple[str, int]]]:
        """``{run_id: [(model_id, step), ...]}`` for the runs that output logged models (one query)."""
        o = t.run_model_outputs.c
        query = sa.select(o.run_id, o.model_id, o.step).where(o.run_id.in_(list(run_ids))).order_by(o.run_id, o.step)
        out: dict[str, list[tuple[str, int]]] = {}
        with self.db.read() as conn:
            for row in conn.execute(query):
                out.setdefault(row.run_id, []).append((row.model_id, row.step))
        return out

    # -- helpers ------------------------------------------------------------------------------------

    def _update(self, model_id: str, values: dict[str, Any], action: str, actor: str) -> LoggedModel:
        check_model_id(model_id)
        with self.db.write() as conn:
            _get(conn, model_id, allow_deleted=False)
            conn.execute(
                t.logged_models.update().where(t.logged_models.c.id == model_id).values(**values, updated_at=now_ms())
            )
            record_audit(conn, actor, action, "logged_model", model_id, {k: v for k, v in values.items() if v})
            return _get(conn, model_id, allow_deleted=True)

    def _merge(
        self, model_id: str, column: str, new: dict[str, str], removed: Sequence[str], action: str, actor: str
    ) -> LoggedModel:
        check_model_id(model_id)
        with self.db.write() as conn:
            model = _get(conn, model_id, allow_deleted=False)
            current = dict(model.tags if column == "tags" else model.params)
            if column == "params":
                changed = [k for k, v in new.items() if k in current and current[k] != v]
                if changed:
                    raise invalid(
                        f"params.{changed[0]}",
                        "already logged with another value",
                        f"Logged model {model_id} already has param {changed[0]!r} = {current[changed[0]]!r}; "
                        "a param cannot change.",
                    )
            for key in removed:
                if key not in current:
                    raise NotFound(f"Logged model {model_id} has no tag {key!r}.")
                del current[key]
            current.update(new)
            conn.execute(
                t.logged_models.update()
                .where(t.logged_models.c.id == model_id)
                .values({column: json.dumps(current), "updated_at": now_ms()})
            )
            record_audit(conn, actor, action, "logged_model", model_id, {"keys": [*new, *removed][:100]})
            return _get(conn, model_id, allow_deleted=True)


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(
            f"Invalid logged model name {str(name)[:80]!r}: expected 1 to {MAX_NAME_LENGTH} characters.",
            details=[{"field": "name", "problem": f"must be 1 to {MAX_NAME_LENGTH} characters"}],
        )
    return name


def _get(conn: Connection, model_id: str, *, allow_deleted: bool) -> LoggedModel:
    row = conn.execute(sa.select(t.logged_models).where(t.logged_models.c.id == model_id)).first()
    if row is None or (row.lifecycle_stage == DELETED and not allow_deleted):
        raise NotFound(f"Logged model {model_id!r} does not exist.")
    return _model(row)


def _model(row: Any) -> LoggedModel:
    return LoggedModel(
        row.id, row.experiment_id, row.name, row.source_run_id, row.model_type, row.status, row.status_message,
        row.created_by, row.created_at, row.updated_at, row.lifecycle_stage, json.loads(row.tags),
        json.loads(row.params),
    )  # fmt: skip
