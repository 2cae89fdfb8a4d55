"""A tracking session: the store, run artifacts and metric buffer that the SDK writes through."""

from __future__ import annotations

import atexit
import threading
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from loopml.config import Settings, load_settings
from loopml.core.errors import InvalidInput
from loopml.store.base import TrackingStore
from loopml.tracking.artifacts import RunArtifacts
from loopml.tracking.buffer import MetricBuffer
from loopml.tracking.context import current_user

if TYPE_CHECKING:
    from loopml.artifacts.base import BlobStore
    from loopml.store.sql.database import Database


class Session:
    """Everything one process needs to track runs against one tracking URI."""

    def __init__(self, settings: Settings, *, actor: str | None = None) -> None:
        self.settings = settings
        self.actor = actor or current_user()
        self.store, self.artifacts = open_backend(settings, actor=self.actor)
        # the local database and blob store, for capabilities built on them (datasets, lineage)
        self.db: Database | None = getattr(self.store, "db", None)
        self.blobs: BlobStore | None = getattr(self.artifacts, "blobs", None)
        self.experiment_id: str | None = None
        self.runs: list[Any] = []  # stack of ActiveRun, innermost last
        self.lock = threading.RLock()
        self.buffer = MetricBuffer(
            self.store,
            actor=self.actor,
            flush_interval=settings.flush_interval,
            flush_size=settings.flush_size,
        )

    def local(self, what: str) -> tuple[Database, BlobStore]:
        """The local database and blob store, or a clear error when tracking is remote."""
        if self.db is None or self.blobs is None:
            raise InvalidInput(
                f"{what} needs a database tracking URI (sqlite:///... or postgresql+psycopg://...), "
                f"not {self.settings.tracking_uri!r}. Set LOOPML_TRACKING_URI to the server's database."
            )
        return self.db, self.blobs

    def close(self) -> None:
        """Flush pending metrics, stop the background writer and release connections."""
        self.buffer.close()
        self.store.close()


def open_backend(settings: Settings, *, actor: str) -> tuple[TrackingStore, RunArtifacts]:
    """The tracking store and run artifacts that ``settings`` point at."""
    if settings.is_remote:
        from loopml.store.http import HttpTrackingStore
        from loopml.tracking.remote import HttpRunArtifacts

        http_store = HttpTrackingStore(settings.tracking_uri, token=settings.token, actor=actor)
        return http_store, HttpRunArtifacts(http_store)
    from loopml.artifacts import open_blob_store
    from loopml.store.sql import Database, SqlTrackingStore
    from loopml.tracking.artifacts import LocalRunArtifacts

    sql_store = SqlTrackingStore(Database(settings.tracking_uri))
    return sql_store, LocalRunArtifacts(sql_store, open_blob_store(settings.artifact_uri))


_lock = threading.RLock()
_session: Session | None = None
_overrides: dict[str, str] = {}


def get_session() -> Session:
    """The process-wide session, created from settings on first use."""
    global _session
    session = _session
    if session is not None:
        return session
    with _lock:
        if _session is None:
            settings = load_settings()
            if _overrides:
                settings = replace(settings, **_overrides)  # type: ignore[arg-type]
            _session = Session(settings)
        return _session


def current_session() -> Session | None:
    """The session if one has been opened, without opening one."""
    return _session


def configure(*, tracking_uri: str | None = None, artifact_uri: str | None = None) -> None:
    """Point the SDK at another tracking/artifact URI; the next call opens it."""
    global _session
    with _lock:
        if _session is not None and _session.runs:
            raise InvalidInput(f"Cannot reconfigure tracking while run {_session.runs[-1].id} is active; end it first.")
        if tracking_uri is not None:
            _overrides["tracking_uri"] = tracking_uri
        if artifact_uri is not None:
            _overrides["artifact_uri"] = artifact_uri
        if _session is not None:
            _session.close()
            _session = None


def reset() -> None:
    """Close the current session and forget overrides (settings are read again on next use)."""
    global _session
    with _lock:
        _overrides.clear()
        if _session is not None:
            _session.close()
            _session = None


@atexit.register
def _flush_at_exit() -> None:
    session = _session
    if session is not None:
        session.close()
