"""Dataset versions in the SQL store: immutable, numbered 1, 2, ... per name, deduplicated by content."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from loopml.core.clock import now_ms
from loopml.core.errors import InvalidInput, NotFound
from loopml.core.ids import new_id
from loopml.core.records import DatasetSummary, DatasetVersion
from loopml.core.uris import check_name
from loopml.store.sql import schema as t
from loopml.store.sql.audit import record_audit
from loopml.store.sql.database import Database
from loopml.store.sql.references import referenced

_ATTEMPTS = 5


class SqlDatasetStore:
    """Create, find and list dataset versions."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def referenced_blobs(self, among: Collection[str] | None = None) -> dict[str, set[str]]:
        """Digests of the Parquet blobs dataset versions hold (garbage collection keeps them)."""
        query = sa.select(t.dataset_versions.c.blob_sha256.label("sha256"))
        return referenced(self.db, {"dataset_version": query}, among)

    def create_version(
        self,
        name: str,
        *,
        sha256: str,
        blob_sha256: str,
        n_rows: int,
        n_columns: int,
        size_bytes: int,
        schema: dict[str, Any],
        profile: dict[str, Any],
        source: dict[str, Any],
        description: str = "",
        actor: str,
    ) -> tuple[DatasetVersion, bool]:
        """Record a new version; returns ``(version, created)``.

        When a version of ``name`` with the same content hash exists, it is returned with
        ``created=False`` and nothing is written.
        """
        check_name(name, field="dataset name")
        for _ in range(_ATTEMPTS):
            existing = self.find_by_content(name, sha256)
            if existing is not None:
                return existing, False
            try:
                with self.db.write() as conn:
                    dataset_id = self._dataset_id(conn, name, create=True)
                    v = t.dataset_versions.c
                    number = conn.execute(
                        sa.select(sa.func.coalesce(sa.func.max(v.version), 0)).where(v.dataset_id == dataset_id)
                    ).scalar_one()
                    row = {
                        "id": new_id(),
                        "dataset_id": dataset_id,
                        "version": number + 1,
                        "sha256": sha256,
                        "blob_sha256": blob_sha256,
                        "n_rows": n_rows,
                        "n_columns": n_columns,
                        "size_bytes": size_bytes,
                        "schema": json.dumps(schema),
                        "profile": json.dumps(profile, default=str),
                        "source": json.dumps(source, default=str),
                        "description": description,
                        "created_at": now_ms(),
                        "created_by": actor,
                    }
                    conn.execute(t.dataset_versions.insert().values(**row))
                    record_audit(
                        conn, actor, "dataset.version.create", "dataset_version", row["id"],
                        {"name": name, "version": row["version"], "sha256": sha256},
                    )  # fmt: skip
                return _version(name, row), True
            except SqlIntegrityError:
                continue  # a concurrent writer took the number or the content: look again
        raise InvalidInput(f"Could not record a version of dataset {name!r} after {_ATTEMPTS} attempts.")

    def find_by_content(self, name: str, sha256: str) -> DatasetVersion | None:
        """The version of ``name`` with this content hash, if any."""
        query = _versions_query().where(t.datasets.c.name == name, t.dataset_versions.c.sha256 == sha256)
        with self.db.read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _version(name, row._mapping)

    def get_version(self, name: str, version: int | str = "latest") -> DatasetVersion:
        """Version ``version`` of ``name`` (an int, or the alias ``latest``)."""
        query = _versions_query().where(t.datasets.c.name == name)
        if version == "latest":
            query = query.order_by(t.dataset_versions.c.version.desc()).limit(1)
        elif isinstance(version, int) and not isinstance(version, bool):
            query = query.where(t.dataset_versions.c.version == version)
        else:
            raise InvalidInput(
                f"Invalid dataset version {version!r}: use a version number or 'latest'.",
                details=[{"field": "version", "problem": "not a number or 'latest'"}],
            )
        with self.db.read() as conn:
            row = conn.execute(query).first()
        if row is None:
            known = self.list_versions(name) if version != "latest" else []
            hint = f" Known versions: {[v.version for v in known]}." if known else ""
            raise NotFound(f"Dataset version datasets:/{name}/{version} does not exist.{hint}")
        return _version(name, row._mapping)

    def list_versions(self, name: str) -> list[DatasetVersion]:
        """Every version of ``name``, oldest first (``NotFound`` for an unknown dataset)."""
        query = _versions_query().where(t.datasets.c.name == name).order_by(t.dataset_versions.c.version)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
            if not rows and conn.execute(sa.select(t.datasets.c.id).where(t.datasets.c.name == name)).first() is None:
                raise NotFound(f"Dataset {name!r} does not exist.")
        return [_version(name, r._mapping) for r in rows]

    def list_datasets(self) -> list[DatasetSummary]:
        """Each dataset with its number of versions and latest version."""
        v = t.dataset_versions.c
        query = (
            sa.select(
                t.datasets.c.name,
                t.datasets.c.created_at,
                sa.func.count(v.id).label("versions"),
                sa.func.max(v.version).label("latest"),
            )
            .select_from(t.datasets.outerjoin(t.dataset_versions, v.dataset_id == t.datasets.c.id))
            .group_by(t.datasets.c.name, t.datasets.c.created_at)
            .order_by(t.datasets.c.name)
        )
        with self.db.read() as conn:
            return [DatasetSummary(str(r.name), r.created_at, r.versions, r.latest) for r in conn.execute(query)]

    def _dataset_id(self, conn: sa.Connection, name: str, *, create: bool) -> str:
        found = conn.execute(sa.select(t.datasets.c.id).where(t.datasets.c.name == name)).scalar()
        if found is not None:
            return found
        if not create:
            raise NotFound(f"Dataset {name!r} does not exist.")
        dataset_id = new_id()
        conn.execute(t.datasets.insert().values(id=dataset_id, name=name, created_at=now_ms()))
        return dataset_id


def _versions_query() -> sa.Select[Any]:
    return sa.select(t.dataset_versions).join(t.datasets, t.datasets.c.id == t.dataset_versions.c.dataset_id)


def _version(name: str, row: Any) -> DatasetVersion:
    def loads(value: Any) -> dict[str, Any]:
        return json.loads(value) if isinstance(value, str) else value

    return DatasetVersion(
        id=row["id"],
        name=name,
        version=row["version"],
        sha256=row["sha256"],
        blob_sha256=row["blob_sha256"],
        n_rows=row["n_rows"],
        n_columns=row["n_columns"],
        size_bytes=row["size_bytes"],
        schema=loads(row["schema"]),
        profile=loads(row["profile"]),
        source=loads(row["source"]),
        created_at=row["created_at"],
        created_by=row["created_by"],
        description=row["description"],
    )
