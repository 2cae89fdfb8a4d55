"""The model registry in the SQL store: registered models, immutable numbered versions, aliases.

Rules the registry keeps:

- Versions are numbered 1, 2, ... per model and a number is never reused, even after a delete
  (``registered_models.last_version`` remembers the highest number given).
- An alias (``production``, ``staging``, ...) points at exactly one ``READY`` version and moves
  atomically: readers see the old or the new version, never neither.
- A version an alias points at cannot be archived or deleted: move the alias first.
- :func:`move_alias` moves an alias inside a caller's transaction, optionally as a compare-and-set
  on the version it points at (a promotion decision moves its alias in its own transaction).
- ``latest`` is reserved: ``get_version(name, alias="latest")`` is the newest ``READY`` version.
- A version points at a real package: its ``source`` run exists, has the package's ``model.json``
  recorded, and ``manifest_sha256`` is that artifact's SHA-256 (checked in the write transaction,
  so every client of the store, SDK or HTTP, gets the same 422 naming the field).
- A version registered through the MLflow API (:meth:`SqlModelRegistry.create_mlflow_version`) has
  flavor ``mlflow``: its ``source`` is MLflow's (``models:/<model_id>``, ``runs:/...``,
  ``mlflow-artifacts:/...``), it has no manifest (``manifest_sha256`` is empty) and loopml never
  loads it (MLflow models are pickles written by whoever logged them).

Every write locks the registered model's row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite
write transactions are serialised by ``BEGIN IMMEDIATE``), so the writes on one model happen one
after another, and records its audit event in the same transaction.
"""

from __future__ import annotations

import functools
import json
import re
from collections import defaultdict
from collections.abc import Collection, Sequence
from enum import Enum
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from loopml.core.clock import now_ms
from loopml.core.errors import Conflict, InvalidInput, NotFound, invalid
from loopml.core.hashing import is_sha256
from loopml.core.ids import is_id, new_id
from loopml.core.records import ModelVersion, RegisteredModel
from loopml.core.uris import check_name, parse_uri
from loopml.core.validation import check_key, check_metric_value, stringify
from loopml.store import checks
from loopml.store.sql import model_search
from loopml.store.sql import schema as t
from loopml.store.sql.audit import record_audit
from loopml.store.sql.database import Database
from loopml.store.sql.model_search import Condition
from loopml.store.sql.references import referenced

READY, ARCHIVED = "READY", "ARCHIVED"
MLFLOW_FLAVOR = "mlflow"
LATEST = "latest"
MANIFEST = "model.json"  # the package's manifest (loopml.registry.packaging.MANIFEST)
_ATTEMPTS = 5
_LISTED = 20  # names listed in a NotFound message
_MAX_SOURCE = 4000
_MAX_TEXT = 65_536  # characters of a description
_MLFLOW_MODEL_ID = re.compile(r"m-[0-9a-f]{32}")

_m, _v, _a = t.registered_models.c, t.model_versions.c, t.model_aliases.c


class SqlModelRegistry:
    """Create, find, alias, archive and delete model versions."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- writes ---------------------------------------------------------------------------------

    def referenced_blobs(self, among: Collection[str] | None = None) -> dict[str, set[str]]:
        """Digests of the manifests (``model.json``) of registered versions; garbage collection keeps them and
        the files each manifest lists."""
        query = sa.select(_v.manifest_sha256.label("sha256")).where(_v.manifest_sha256 != "")
        return referenced(self.db, {"model_manifest": query}, among)

    def create_version(
        self,
        name: str,
        *,
        source: str,
        run_id: str | None,
        manifest_sha256: str,
        flavor: str,
        signature: dict[str, Any] | None = None,
        metrics: dict[str, float] | None = None,
        dataset_version: str | None = None,
        description: str = "",
        tags: dict[str, Any] | None = None,
        actor: str,
    ) -> ModelVersion:
        """Record the next version of ``name`` (the model is created on first use)."""
        check_name(name, field="model name")
        source_run, manifest_path = _check_source(source, run_id, manifest_sha256)
        row: dict[str, Any] = {
            "source": source,
            "run_id": source_run,
            "manifest_sha256": manifest_sha256,
            "flavor": flavor,
            "signature": json.dumps(signature or {}, default=str),
            "metrics": json.dumps(
                {check_key(k, field="metric"): check_metric_value(k, x) for k, x in (metrics or {}).items()}
            ),
            "dataset_version": dataset_version,
            "description": description or "",
            "tags": json.dumps(checks.string_dict(tags, "tag")),
            "status": READY,
            "created_by": actor,
        }
        for _ in range(_ATTEMPTS):
            try:
                with self.db.write() as conn:
                    _check_package(conn, source, source_run, manifest_path, manifest_sha256)
                    model_id, last = _lock_model(conn, name, create=True, actor=actor)
                    now = now_ms()
                    row.update(id=new_id(), model_id=model_id, version=last + 1, created_at=now)
                    conn.execute(
                        t.registered_models.update()
                        .where(_m.id == model_id)
                        .values(last_version=row["version"], updated_at=now)
                    )
                    conn.execute(t.model_versions.insert().values(**row))
                    record_audit(
                        conn, actor, "model.version.create", "model_version", f"{name}/{row['version']}",
                        {"source": source, "manifest_sha256": manifest_sha256, "flavor": flavor},
                    )  # fmt: skip
                return _version(name, row, [])
            except SqlIntegrityError:
                continue  # a concurrent writer created the model or took the number: try again
        raise Conflict(f"Could not record a version of model {name!r} after {_ATTEMPTS} attempts; retry.")

    def set_alias(self, name: str, alias: str, version: int, *, actor: str) -> ModelVersion:
        """Point ``alias`` at ``version`` (creating or moving it); returns the version it now names.

        Only ``READY`` versions can carry an alias (``Conflict`` for an archived one).
        """
        with self.db.write() as conn:
            return move_alias(conn, name, alias, version, actor=actor)

    def delete_alias(self, name: str, alias: str, *, actor: str) -> None:
        """Remove ``alias`` from model ``name`` (``NotFound`` when it does not exist)."""
        _check_alias(alias)
        with self.db.write() as conn:
            model_id, _ = _lock_model(conn, name, create=False)
            previous = _alias_target(conn, model_id, alias)
            if previous is None:
                raise NotFound(f"Model {name!r} has no alias {alias!r}. {_alias_listing(conn, model_id)}")
            conn.execute(t.model_aliases.delete().where(_a.model_id == model_id, _a.alias == alias))
            conn.execute(t.registered_models.update().where(_m.id == model_id).values(updated_at=now_ms()))
            record_audit(conn, actor, "model.alias.delete", "model_alias", f"{name}@{alias}", {"previous": previous})

    def archive_version(self, name: str, version: int, *, actor: str) -> ModelVersion:
        """Mark a version ``ARCHIVED`` (kept, loadable by number, but no alias may point at it)."""
        checks.model_version_number(version)
        with self.db.write() as conn:
            model_id, _ = _lock_model(conn, name, create=False)
            row = _version_row(conn, name, model_id, version)
            _refuse_if_aliased(conn, name, row, "archive")
            if row["status"] != ARCHIVED:
                conn.execute(t.model_versions.update().where(_v.id == row["id"]).values(status=ARCHIVED))
                record_audit(
                    conn, actor, "model.version.archive", "model_version", f"{name}/{version}",
                    {"status": ARCHIVED, "previous": {"status": row["status"]}},
                )  # fmt: skip
        return _version(name, {**row, "status": ARCHIVED}, [])

    def delete_version(self, name: str, version: int, *, actor: str) -> None:
        """Delete a version's record (its number is never reused; the run's artifacts stay)."""
        checks.model_version_number(version)
        with self.db.write() as conn:
            model_id, _ = _lock_model(conn, name, create=False)
            row = _version_row(conn, name, model_id, version)
            _refuse_if_aliased(conn, name, row, "delete")
            conn.execute(t.model_versions.delete().where(_v.id == row["id"]))
            record_audit(
                conn, actor, "model.version.delete", "model_version", f"{name}/{version}",
                {
                    "source": row["source"], "manifest_sha256": row["manifest_sha256"],
                    "previous": {
                        "status": row["status"], "description": row["description"], "tags": _loads(row["tags"]),
                    },
                },
            )  # fmt: skip

    def update_version(
        self,
        name: str,
        version: int,
        *,
        description: str | None = None,
        tags: dict[str, Any] | None = None,
        actor: str,
    ) -> ModelVersion:
        """Change a version's description and/or tags (merged; a ``None`` value removes a tag)."""
        checks.model_version_number(version)
        with self.db.write() as conn:
            model_id, _ = _lock_model(conn, name, create=False)
            row = _version_row(conn, name, model_id, version)
            changes: dict[str, Any] = {}
            if description is not None:
                changes["description"] = str(description)
            if tags is not None:
                changes["tags"] = json.dumps(_merge_tags(_loads(row["tags"]), tags))
            if changes:
                conn.execute(t.model_versions.update().where(_v.id == row["id"]).values(**changes))
                record_audit(
                    conn, actor, "model.version.update", "model_version", f"{name}/{version}",
                    {
                        "description": description, "tags": tags,
                        "previous": {"description": row["description"], "tags": _loads(row["tags"])},
                    },
                )  # fmt: skip
            aliases = _aliases_of(conn, [row["id"]]).get(row["id"], [])
        return _version(name, {**row, **changes}, aliases)

    # -- registered models and MLflow versions --------------------------------------------------

    def create_model(
        self,
        name: str,
        *,
        description: str = "",
        tags: dict[str, Any] | None = None,
        created_at: int | None = None,
        actor: str,
    ) -> RegisteredModel:
        """Create an empty registered model with a description and tags (``Conflict`` when it exists)."""
        check_name(name, field="name")
        row = {
            "id": new_id(),
            "name": name,
            "description": _text(description, "description"),
            "tags": json.dumps(checks.string_dict(tags, "tag")),
            "last_version": 0,
            "created_at": _timestamp(created_at),
        }
        row["updated_at"] = row["created_at"]
        try:
            with self.db.write() as conn:
                if conn.execute(sa.select(_m.id).where(_m.name == name)).first() is not None:
                    raise _model_exists(name)
                conn.execute(t.registered_models.insert().values(**row))
                record_audit(
                    conn, actor, "model.create", "registered_model", name,
                    {"description": row["description"], "tags": _loads(row["tags"])},
                )  # fmt: skip
        except SqlIntegrityError:
            raise _model_exists(name) from None  # a concurrent writer created it
        return self.get_model(name)

    def get_model(self, name: str) -> RegisteredModel:
        """One registered model with its tags, version count, latest and aliases (``NotFound`` lists what exists)."""
        with self.db.read() as conn:
            found = _models(conn, _m.name == name)
            if not found:
                raise _model_not_found(conn, name)
        return found[0]

    def update_model(
        self, name: str, *, description: str | None = None, tags: dict[str, Any] | None = None, actor: str
    ) -> RegisteredModel:
        """Change a model's description and/or tags (merged; a ``None`` value removes a tag)."""
        with self.db.write() as conn:
            model_id, _ = _lock_model(conn, name, create=False)
            row = conn.execute(sa.select(_m.description, _m.tags).where(_m.id == model_id)).one()
            changes: dict[str, Any] = {}
            if description is not None:
                changes["description"] = _text(description, "description")
            if tags is not None:
                changes["tags"] = json.dumps(_merge_tags(_loads(row.tags), tags))
            if changes:
                conn.execute(
                    t.registered_models.update().where(_m.id == model_id).values(updated_at=now_ms(), **changes)
                )
                record_audit(
                    conn, actor, "model.update", "registered_model", name,
                    {
                        "description": description, "tags": tags,
                        "previous": {"description": row.description, "tags": _loads(row.tags)},
                    },
                )  # fmt: skip
        return self.get_model(name)

    def rename_model(self, name: str, new_name: str, *, actor: str) -> RegisteredModel:
        """Rename a model; its versions, aliases and lineage follow (``Conflict`` when ``new_name`` exists).

        Records keyed by the old name elsewhere (monitoring, promotion decisions, retrain
        policies) keep it.
        """
        check_name(new_name, field="new_name")
        try:
            with self.db.write() as conn:
                model_id, _ = _lock_model(conn, name, create=False)
                if new_name != name:
                    if conn.execute(sa.select(_m.id).where(_m.name == new_name)).first() is not None:
                        raise _model_exists(new_name, field="new_name")
                    conn.execute(
                        t.registered_models.update().where(_m.id == model_id).values(name=new_name, updated_at=now_ms())
                    )
                    _rename_lineage(conn, name, new_name)
                    record_audit(conn, actor, "model.rename", "registered_model", new_name, {"previous": name})
        except SqlIntegrityError:
            raise _model_exists(new_name, field="new_name") from None
        return self.get_model(new_name)

    def delete_model(self, name: str, *, actor: str) -> None:
        """Delete a registered model with its aliases and version records (the runs' artifacts stay)."""
        with self.db.write() as conn:
            model_id, _ = _lock_model(conn, name, create=False)
            versions = _numbers(conn, model_id)
            aliases = _alias_listing(conn, model_id)
            conn.execute(t.model_aliases.delete().where(_a.model_id == model_id))
            conn.execute(t.model_versions.delete().where(_v.model_id == model_id))
            conn.execute(t.registered_models.delete().where(_m.id == model_id))
            record_audit(
                conn, actor, "model.delete", "registered_model", name, {"versions": versions, "aliases": aliases}
            )

    def create_mlflow_version(
        self,
        name: str,
        *,
        source: str,
        run_id: str | None,
        model_id: str | None = None,
        description: str = "",
        tags: dict[str, Any] | None = None,
        created_at: int | None = None,
        actor: str,
    ) -> ModelVersion:
        """Record the next version of ``name`` as an MLflow model (flavor ``mlflow``, no loopml manifest).

        ``source`` is kept as MLflow sent it (``models:/<model_id>``, ``runs:/<run_id>/<path>``,
        ``mlflow-artifacts:/...``); ``run_id`` and ``model_id`` (MLflow 3's logged model) are kept
        too. The model is created on first use. loopml never loads such a version.
        """
        check_name(name, field="name")
        if not isinstance(source, str) or not source.strip() or len(source) > _MAX_SOURCE:
            raise invalid("source", "expected a non-empty URI", f"Invalid source {str(source)[:80]!r}: expected the "
                          f"URI of the MLflow model (at most {_MAX_SOURCE} characters).")  # fmt: skip
        if run_id is not None and (not isinstance(run_id, str) or not is_id(run_id)):
            raise invalid("run_id", "not a run id", f"Invalid run_id {str(run_id)[:80]!r}: expected 32 lowercase "
                          "hex characters.")  # fmt: skip
        if model_id is not None and (not isinstance(model_id, str) or not _MLFLOW_MODEL_ID.fullmatch(model_id)):
            raise invalid("model_id", "not an MLflow model id", f"Invalid model_id {str(model_id)[:80]!r}: expected "
                          "an MLflow logged model id such as m-0123456789abcdef0123456789abcdef.")  # fmt: skip
        row: dict[str, Any] = {
            "source": source,
            "run_id": run_id,
            "manifest_sha256": "",
            "flavor": MLFLOW_FLAVOR,
            "signature": "{}",
            "metrics": "{}",
            "dataset_version": None,
            "description": _text(description, "description"),
            "tags": json.dumps(checks.string_dict(tags, "tag")),
            "status": READY,
            "created_by": actor,
            "mlflow_model_id": model_id,
        }
        for _ in range(_ATTEMPTS):
            try:
                with self.db.write() as conn:
                    registered_id, last = _lock_model(conn, name, create=True, actor=actor)
                    now = now_ms()
                    row.update(id=new_id(), model_id=registered_id, version=last + 1, created_at=created_at or now)
                    conn.execute(
                        t.registered_models.update()
                        .where(_m.id == registered_id)
                        .values(last_version=row["version"], updated_at=now)
                    )
                    conn.execute(t.model_versions.insert().values(**row))
                    record_audit(
                        conn, actor, "model.version.create", "model_version", f"{name}/{row['version']}",
                        {"source": source, "run_id": run_id, "mlflow_model_id": model_id, "flavor": MLFLOW_FLAVOR},
                    )  # fmt: skip
                return _version(name, row, [])
            except SqlIntegrityError:
                continue  # a concurrent writer created the model or took the number: try again
        raise Conflict(f"Could not record a version of model {name!r} after {_ATTEMPTS} attempts; retry.")

    def search_models(
        self,
        where: Sequence[Condition] = (),
        *,
        order_by: Sequence[tuple[str, bool]] = (("name", True),),
        limit: int = 100,
        offset: int = 0,
    ) -> list[RegisteredModel]:
        """Registered models matching every condition (:mod:`~loopml.store.sql.model_search`), ordered, one page."""
        query = model_search.models_where(where, dialect=self.db.dialect)
        with self.db.read() as conn:
            return _models(conn, query, order_by=model_search.model_order(order_by), limit=limit, offset=offset)

    def search_versions(
        self,
        where: Sequence[Condition] = (),
        *,
        order_by: Sequence[tuple[str, bool]] = (("name", True), ("version", False)),
        limit: int = 100,
        offset: int = 0,
    ) -> list[ModelVersion]:
        """Versions of any model matching every condition, ordered, one page (one query, plus one for aliases)."""
        query = (
            sa.select(t.model_versions, _m.name.label("model_name"))
            .join(t.registered_models, _m.id == _v.model_id)
            .where(model_search.versions_where(where, dialect=self.db.dialect))
            .order_by(*model_search.version_order(order_by), _v.id)
            .limit(limit)
            .offset(offset)
        )
        with self.db.read() as conn:
            rows = [r._mapping for r in conn.execute(query)]
            aliases = _aliases_of(conn, [r["id"] for r in rows])
        return [_version(r["model_name"], r, aliases.get(r["id"], [])) for r in rows]

    def set_model_tag(self, name: str, key: str, value: Any, *, actor: str) -> RegisteredModel:
        """Set one tag of a registered model."""
        return self.update_model(name, tags={check_key(key, field="tag"): value}, actor=actor)

    def delete_model_tag(self, name: str, key: str, *, actor: str) -> RegisteredModel:
        """Remove one tag of a registered model (``NotFound`` when it has no such tag)."""
        found = self.get_model(name)
        if key not in found.tags:
            raise NotFound(f"Registered model {name!r} has no tag {str(key)[:80]!r}. Tags: {sorted(found.tags)}.")
        return self.update_model(name, tags={key: None}, actor=actor)

    # -- reads ----------------------------------------------------------------------------------

    def get_version(self, name: str, *, version: int | None = None, alias: str | None = None) -> ModelVersion:
        """A version by number or by alias (exactly one); ``NotFound`` lists what exists."""
        if (version is None) == (alias is None):
            raise InvalidInput(
                f"Pass exactly one of version= or alias= to find a version of model {name!r} "
                f"(got version={version!r}, alias={alias!r}).",
                details=[{"field": "version", "problem": "exactly one of version and alias is required"}],
            )
        with self.db.read() as conn:
            model_id = _model_id(conn, name)
            if version is not None:
                checks.model_version_number(version)
                row = _version_row(conn, name, model_id, version)
            elif alias == LATEST:
                row = _first(conn, _versions_query(model_id, status=READY).order_by(_v.version.desc()).limit(1))
                if row is None:
                    raise NotFound(f"Model {name!r} has no READY version, so models:/{name}@latest names nothing.")
            else:
                query = _versions_query(model_id).join(t.model_aliases, _a.version_id == _v.id).where(_a.alias == alias)
                row = _first(conn, query)
                if row is None:
                    raise NotFound(f"Model {name!r} has no alias {alias!r}. {_alias_listing(conn, model_id)}")
            aliases = _aliases_of(conn, [row["id"]]).get(row["id"], [])
        return _version(name, row, aliases)

    def list_versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, oldest first, with its aliases."""
        with self.db.read() as conn:
            model_id = _model_id(conn, name)
            rows = [r._mapping for r in conn.execute(_versions_query(model_id).order_by(_v.version))]
            aliases = _aliases_of(conn, [r["id"] for r in rows])
        return [_version(name, r, aliases.get(r["id"], [])) for r in rows]

    def list_models(self) -> list[RegisteredModel]:
        """Every registered model, by name.

        ``versions`` counts the stored versions, ``latest`` is the newest ``READY`` version (the
        one ``models:/<name>@latest`` names; ``None`` when none is ready), ``aliases`` maps each
        alias to its version number. One query for all models, one for all aliases.
        """
        with self.db.read() as conn:
            return _models(conn)


# -- helpers --------------------------------------------------------------------------------------


class _Any(Enum):
    ANY = "any"


ANY_VERSION: Final = _Any.ANY
"""``move_alias(expect_version=ANY_VERSION)``: move the alias wherever it points now."""


def move_alias(
    conn: Connection,
    name: str,
    alias: str,
    version: int,
    *,
    actor: str,
    expect_version: int | _Any | None = ANY_VERSION,
    details: dict[str, Any] | None = None,
) -> ModelVersion:
    """Point ``alias`` at ``version`` inside the caller's write transaction (with its audit event).

    ``expect_version`` makes it a compare-and-set: ``Conflict`` unless the alias points at that
    version now (``None``: unless the alias does not exist yet). ``details`` are added to the audit
    event's. ``Conflict`` for a version that is not ``READY``.
    """
    _check_alias(alias)
    checks.model_version_number(version)
    model_id, _ = _lock_model(conn, name, create=False)
    row = _version_row(conn, name, model_id, version)
    if row["status"] != READY:
        raise Conflict(
            f"models:/{name}/{version} is {row['status']}; an alias can only point at a READY version. "
            f"Ready versions: {_numbers(conn, model_id, status=READY)}."
        )
    previous = _alias_target(conn, model_id, alias)
    if expect_version is not ANY_VERSION and previous != expect_version:
        now_at = "does not exist" if previous is None else f"is now version {previous}"
        compared = "no champion" if expect_version is None else expect_version
        raise Conflict(
            f"The alias moved meanwhile: models:/{name}@{alias} {now_at}, the gate compared against {compared}. "
            "Gate the challenger again against the current champion.",
            details=[{"field": "alias", "problem": "moved meanwhile"}],
        )
    now = now_ms()
    conn.execute(_alias_upsert(conn.dialect.name).values(model_id=model_id, alias=alias, version_id=row["id"],
                                                          updated_at=now))  # fmt: skip
    conn.execute(t.registered_models.update().where(_m.id == model_id).values(updated_at=now))
    record_audit(
        conn, actor, "model.alias.set", "model_alias", f"{name}@{alias}",
        {"version": version, "previous": previous, **(details or {})},
    )  # fmt: skip
    aliases = _aliases_of(conn, [row["id"]]).get(row["id"], [])
    return _version(name, row, aliases)


@functools.cache
def _alias_upsert(dialect: str) -> Any:
    """``INSERT ... ON CONFLICT (model_id, alias) DO UPDATE`` of an alias row, in ``dialect``."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(t.model_aliases)
    return statement.on_conflict_do_update(
        index_elements=["model_id", "alias"],
        set_={"version_id": statement.excluded.version_id, "updated_at": statement.excluded.updated_at},
    )


def _check_source(source: str, run_id: str | None, manifest_sha256: str) -> tuple[str, str]:
    """The source's run id and manifest path, after checking the fields' shapes (422 naming the field)."""
    if not isinstance(source, str):
        raise invalid("source", "expected a string", f"Invalid source {source!r}: expected runs:/<run_id>/<path>.")
    try:
        parsed = parse_uri(source, expect="runs")
    except InvalidInput as exc:
        raise invalid("source", "expected runs:/<run_id>/<path>", exc.message) from None
    if not is_id(parsed.name):
        raise invalid(
            "source",
            "expected the full run id",
            f"Invalid source {source!r}: a version records the full 32-character run id; resolve the prefix "
            "first (lm.register_model does).",
        )
    if not parsed.path:
        raise invalid(
            "source",
            "no package path",
            f"Invalid source {source!r}: name the logged package, runs:/<run_id>/<path> "
            f"(e.g. runs:/{parsed.name}/model).",
        )
    if run_id is not None and run_id != parsed.name:
        raise invalid(
            "run_id",
            "differs from the source's run",
            f"run_id {str(run_id)[:80]!r} is not the run of source {source!r}; pass {parsed.name!r} or leave it out.",
        )
    if not isinstance(manifest_sha256, str) or not is_sha256(manifest_sha256):
        raise invalid(
            "manifest_sha256",
            "not a lowercase hex SHA-256",
            f"Invalid manifest_sha256 {str(manifest_sha256)[:80]!r}: expected the 64 lowercase hex characters of the "
            f"SHA-256 of {source}/{MANIFEST}.",
        )
    return parsed.name, f"{parsed.path}/{MANIFEST}"


def _check_package(conn: Connection, source: str, run_id: str, manifest_path: str, manifest_sha256: str) -> None:
    """Refuse a version whose source run, manifest artifact or manifest hash is not what is stored."""
    if _first(conn, sa.select(t.runs.c.id).where(t.runs.c.id == run_id)) is None:
        raise invalid(
            "source",
            "the run does not exist",
            f"Cannot register {source}: run {run_id} does not exist in this store; log the model in a run of this "
            "store first (lm.log_model(model, 'model')).",
        )
    art = t.run_artifacts.c
    stored = conn.execute(
        sa.select(art.sha256).where(art.run_id == run_id, art.path == manifest_path)
    ).scalar_one_or_none()
    if stored is None:
        raise invalid(
            "source",
            f"no {MANIFEST} in the run",
            f"Cannot register {source}: it has no {MANIFEST}, so it is not a logged model package; log it with "
            f"lm.log_model(model, {manifest_path.rsplit('/', 1)[0]!r}).",
        )
    if stored != manifest_sha256:
        raise invalid(
            "manifest_sha256",
            "does not match the stored manifest",
            f"Cannot register {source}: manifest_sha256 {manifest_sha256} is not the SHA-256 of its {MANIFEST} "
            f"({stored}); send the hash of the stored manifest.",
        )


def _lock_model(conn: Connection, name: str, *, create: bool, actor: str = "") -> tuple[str, int]:
    """``(model_id, last_version)`` with the model's row locked for this transaction."""
    query = sa.select(_m.id, _m.last_version).where(_m.name == name).with_for_update()
    found = conn.execute(query).first()
    if found is not None:
        return found.id, found.last_version
    if not create:
        raise _model_not_found(conn, name)
    model_id, now = new_id(), now_ms()
    conn.execute(
        t.registered_models.insert().values(
            id=model_id, name=name, description="", last_version=0, created_at=now, updated_at=now
        )
    )
    record_audit(conn, actor, "model.create", "registered_model", name, {})
    return model_id, 0


def _model_id(conn: Connection, name: str) -> str:
    found = conn.execute(sa.select(_m.id).where(_m.name == name)).scalar()
    if found is None:
        raise _model_not_found(conn, name)
    return found


def _model_not_found(conn: Connection, name: str) -> NotFound:
    names = list(conn.execute(sa.select(_m.name).order_by(_m.name).limit(_LISTED + 1)).scalars())
    if not names:
        return NotFound(f"Model {name!r} does not exist: no model is registered yet (see lm.register_model).")
    more = ", ..." if len(names) > _LISTED else ""
    return NotFound(f"Model {name!r} does not exist. Registered models: {', '.join(names[:_LISTED])}{more}.")


def _versions_query(model_id: str, *, status: str | None = None) -> sa.Select[Any]:
    query = sa.select(t.model_versions).where(_v.model_id == model_id)
    return query if status is None else query.where(_v.status == status)


def _first(conn: Connection, query: sa.Select[Any]) -> Any:
    row = conn.execute(query).first()
    return None if row is None else row._mapping


def _version_row(conn: Connection, name: str, model_id: str, version: int) -> Any:
    row = _first(conn, _versions_query(model_id).where(_v.version == version))
    if row is None:
        known = _numbers(conn, model_id)
        hint = f"Versions of {name!r}: {known}." if known else f"Model {name!r} has no versions."
        raise NotFound(f"Model version models:/{name}/{version} does not exist. {hint}")
    return row


def _numbers(conn: Connection, model_id: str, *, status: str | None = None) -> list[int]:
    query = sa.select(_v.version).where(_v.model_id == model_id).order_by(_v.version)
    if status is not None:
        query = query.where(_v.status == status)
    return list(conn.execute(query).scalars())


def _alias_target(conn: Connection, model_id: str, alias: str) -> int | None:
    query = (
        sa.select(_v.version)
        .join(t.model_aliases, _a.version_id == _v.id)
        .where(_a.model_id == model_id, _a.alias == alias)
    )
    return conn.execute(query).scalar()


def _alias_listing(conn: Connection, model_id: str) -> str:
    query = (
        sa.select(_a.alias, _v.version)
        .join(t.model_versions, _v.id == _a.version_id)
        .where(_a.model_id == model_id)
        .order_by(_a.alias)
    )
    pairs = [f"{r.alias} -> {r.version}" for r in conn.execute(query)]
    if not pairs:
        return "It has no aliases; set one with lm.set_model_alias(name, alias, version)."
    return f"Aliases: {', '.join(pairs)}."


def _aliases_of(conn: Connection, version_ids: list[str]) -> dict[str, list[str]]:
    """Aliases of each version, in one query."""
    found: dict[str, list[str]] = defaultdict(list)
    if version_ids:
        query = sa.select(_a.version_id, _a.alias).where(_a.version_id.in_(version_ids)).order_by(_a.alias)
        for r in conn.execute(query):
            found[r.version_id].append(r.alias)
    return found


def _refuse_if_aliased(conn: Connection, name: str, row: Any, verb: str) -> None:
    aliases = _aliases_of(conn, [row["id"]]).get(row["id"], [])
    if aliases:
        raise Conflict(
            f"Cannot {verb} models:/{name}/{row['version']}: alias(es) {', '.join(aliases)} point at it. "
            f"Move them first, e.g. `loopml models alias {name} {aliases[0]} --version N`, "
            f"or remove them with `loopml models alias {name} {aliases[0]} --delete`."
        )


def _check_alias(alias: str) -> None:
    check_name(alias, field="alias")
    if alias == LATEST:
        raise InvalidInput(
            "The alias 'latest' is reserved: models:/<name>@latest always names the newest READY version.",
            details=[{"field": "alias", "problem": "reserved"}],
        )
    if alias.isdigit():
        raise InvalidInput(
            f"Invalid alias {alias!r}: an alias cannot be a number (it would read like a version).",
            details=[{"field": "alias", "problem": "numeric"}],
        )


def _models(
    conn: Connection,
    where: sa.ColumnElement[bool] | None = None,
    *,
    order_by: Sequence[sa.UnaryExpression[Any]] = (),
    limit: int | None = None,
    offset: int = 0,
) -> list[RegisteredModel]:
    """Registered models (all, or those ``where`` selects, one page): one query for the models and
    their version counts, one for their aliases."""
    newest_ready = sa.func.max(sa.case((_v.status == READY, _v.version)))
    columns = (_m.id, _m.name, _m.description, _m.tags, _m.created_at, _m.updated_at)
    counts = (
        sa.select(*columns, sa.func.count(_v.id).label("versions"), newest_ready.label("latest"))
        .select_from(t.registered_models.outerjoin(t.model_versions, _v.model_id == _m.id))
        .group_by(*columns)
        .order_by(*(order_by or (_m.name.asc(),)), _m.id)
        .offset(offset)
    )
    if where is not None:
        counts = counts.where(where)
    if limit is not None:
        counts = counts.limit(limit)
    rows = conn.execute(counts).all()
    alias_query = sa.select(_a.model_id, _a.alias, _v.version).join(t.model_versions, _v.id == _a.version_id)
    if where is not None or limit is not None:
        alias_query = alias_query.where(_a.model_id.in_([r.id for r in rows]))
    aliases: dict[str, dict[str, int]] = defaultdict(dict)
    for r in conn.execute(alias_query.order_by(_a.alias)):
        aliases[r.model_id][str(r.alias)] = r.version
    return [
        RegisteredModel(
            str(r.name),
            r.description,
            r.versions,
            r.latest,
            aliases.get(r.id, {}),
            r.created_at,
            r.updated_at,
            _loads(r.tags),
        )
        for r in rows
    ]


def _model_exists(name: str, *, field: str = "name") -> Conflict:
    return Conflict(
        f"Registered model {name!r} already exists; pick another name or add a version to it.",
        details=[{"field": field, "problem": "already exists"}],
    )


def _text(value: Any, field: str) -> str:
    """A description: a string of at most ``_MAX_TEXT`` characters (``None`` reads as empty)."""
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > _MAX_TEXT:
        raise invalid(field, "expected a string", f"Invalid {field}: expected a string of at most {_MAX_TEXT} "
                      "characters.")  # fmt: skip
    return value


def _timestamp(value: Any) -> int:
    """A creation time in epoch milliseconds (now when ``None``), for imported records."""
    if value is None:
        return now_ms()
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise invalid("created_at", "expected epoch milliseconds", f"Invalid created_at {value!r}: expected a "
                      "non-negative integer of epoch milliseconds.")  # fmt: skip
    return value


def _merge_tags(current: dict[str, str], tags: Any) -> dict[str, str]:
    """``current`` with ``tags`` merged in (a ``None`` value removes the key)."""
    if not isinstance(tags, dict):
        raise InvalidInput(
            f"tags must be a mapping of key to value, got {type(tags).__name__}.",
            details=[{"field": "tags", "problem": "not a mapping"}],
        )
    merged = {**current}
    for key, value in tags.items():
        check_key(key, field="tag")
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = stringify(value, field="tag", key=key)
    return merged


def _rename_lineage(conn: Connection, old: str, new: str) -> None:
    """Point lineage edges of ``old``'s versions (``old/N``) at ``new/N``."""
    edges = t.lineage_edges.c
    prefix = f"{old}/"
    for column in (edges.source_id, edges.target_id):
        kind = edges.source_type if column is edges.source_id else edges.target_type
        renamed = sa.literal(f"{new}/") + sa.func.substr(column, len(prefix) + 1)
        conn.execute(
            t.lineage_edges.update()
            .where(kind == "model_version", sa.func.substr(column, 1, len(prefix)) == prefix)
            .values({column.name: renamed})
        )


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _version(name: str, row: Any, aliases: list[str]) -> ModelVersion:
    return ModelVersion(
        name=name,
        version=row["version"],
        source=row["source"],
        run_id=row["run_id"],
        manifest_sha256=row["manifest_sha256"],
        flavor=row["flavor"],
        signature=_loads(row["signature"]),
        metrics=_loads(row["metrics"]),
        dataset_version=row["dataset_version"],
        description=row["description"],
        tags=_loads(row["tags"]),
        status=row["status"],
        created_at=row["created_at"],
        created_by=row["created_by"],
        aliases=list(aliases),
        mlflow_model_id=row.get("mlflow_model_id"),
    )
