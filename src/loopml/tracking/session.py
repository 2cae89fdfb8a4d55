"""A tracking session: the store, run artifacts and metric buffer that the SDK writes through."""

from __future__ import annotations

import atexit
import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

from loopml.config import Settings, load_settings
from loopml.core.errors import InvalidInput
from loopml.store.base import TrackingStore
from loopml.store.table import open_store
from loopml.tracking.artifacts import RunArtifacts
from loopml.tracking.buffer import MetricBuffer
from loopml.tracking.context import current_user

if TYPE_CHECKING:
    from loopml.artifacts.base import BlobStore
    from loopml.store.base import DatasetStore, DecisionStore, LineageStore, ModelRegistry
    from loopml.store.http.monitoring import HttpMonitoringStore
    from loopml.store.http.pipelines import HttpPipelineStore
    from loopml.store.http.transport import HttpTransport
    from loopml.store.sql.database import Database
    from loopml.store.sql.monitoring import SqlMonitoringStore
    from loopml.store.sql.pipelines import SqlPipelineStore
    from loopml.store.sql.policies import SqlPolicyStore


class Session:
    """Everything one process needs to track runs against one tracking URI."""

    def __init__(self, settings: Settings, *, actor: str | None = None) -> None:
        self.settings = settings
        self.actor = actor or current_user()
        self.store, self.artifacts = open_backend(settings, actor=self.actor)
        # the local database or the server's transport, and the local blob store, for the other stores
        self.db: Database | None = getattr(self.store, "db", None)
        self.transport: HttpTransport | None = getattr(self.store, "transport", None)
        self._backend = cast("Database | HttpTransport", self.db if self.db is not None else self.transport)
        self._stores: dict[str, Any] = {}
        self.blobs: BlobStore | None = getattr(self.artifacts, "blobs", None)
        self.experiment_id: str | None = None
        self.runs: list[Any] = []  # stack of ActiveRun, innermost last
        self.lock = threading.RLock()
        self.buffer = MetricBuffer(
            self.store,
            actor=self.actor,
            flush_interval=settings.flush_interval,
            flush_size=settings.flush_size,
            max_points=settings.buffer_max_points,
            retries=settings.flush_retries,
            heartbeat_interval=settings.heartbeat_interval,
        )

    def open_store(self, name: str) -> Any:
        """The ``name`` store of :data:`~loopml.store.table.STORES`, next to the runs (opened once)."""
        found = self._stores.get(name)
        if found is None:
            with self.lock:
                found = self._stores.get(name)
                if found is None:
                    found = self._stores[name] = open_store(name, self._backend)
        return found

    @property
    def datasets(self) -> DatasetStore:
        """Dataset versions in the same place as runs (database, or the server when remote)."""
        return self.open_store("datasets")

    @property
    def lineage(self) -> LineageStore:
        """Lineage edges, next to the runs they connect."""
        return self.open_store("lineage")

    @property
    def models(self) -> ModelRegistry:
        """The model registry, next to the runs it points at (database, or the server when remote)."""
        return self.open_store("models")

    @property
    def pipelines(self) -> SqlPipelineStore | HttpPipelineStore:
        """Pipeline and step runs, next to the runs their steps track (database, or the server when remote)."""
        return self.open_store("pipelines")

    @property
    def monitoring(self) -> SqlMonitoringStore | HttpMonitoringStore:
        """Feedback, alerts, reports and reference profiles of served models (database, or the server when remote)."""
        return self.open_store("monitoring")

    @property
    def decisions(self) -> DecisionStore:
        """Promotion decisions with their evidence, next to the models they judge (database, or the server)."""
        return self.open_store("decisions")

    @property
    def policies(self) -> SqlPolicyStore:
        """Retrain policies, their cycles and the per-model retrain lock (a database only, not a server)."""
        return self.open_store("policies")

    @functools.cached_property
    def blob_store(self) -> BlobStore:
        """Content-addressed blobs (dataset files): the local store, or the server's when remote."""
        if self.blobs is not None:
            return self.blobs
        from loopml.store.http.data import HttpBlobStore

        return HttpBlobStore(cast("HttpTransport", self._backend))

    def close(self) -> None:
        """Flush pending metrics, stop the background writer and release connections."""
        self.buffer.close()
        self.store.close()


def open_backend(settings: Settings, *, actor: str) -> tuple[TrackingStore, RunArtifacts]:
    """The tracking store and run artifacts that ``settings`` point at."""
    if settings.is_remote:
        from loopml.store.http.transport import HttpTransport
        from loopml.tracking.remote import HttpRunArtifacts

        http_store = open_store("tracking", HttpTransport(settings.tracking_uri, token=settings.token, actor=actor))
        return http_store, HttpRunArtifacts(http_store)
    from loopml.artifacts import open_blob_store
    from loopml.store.sql import Database
    from loopml.tracking.artifacts import LocalRunArtifacts

    sql_store = open_store("tracking", Database(settings.tracking_uri))
    return sql_store, LocalRunArtifacts(sql_store, open_blob_store(settings.artifact_uri))


_lock = threading.RLock()
_session: Session | None = None
_overrides: dict[str, Any] = {}  # Settings fields set by set_tracking_uri() and set_artifact_uri()


_scoped: ContextVar[Session | None] = ContextVar("loopml_scoped_session", default=None)


@contextmanager
def using_session(session: Session) -> Iterator[Session]:
    """Make ``session`` what :func:`get_session` returns in this context (this thread or task).

    For code that serves a store other than the process's own, such as a server built with
    ``create_app(settings)``: the capability functions it calls, and what they call, then read
    that store instead of the one ``LOOPML_TRACKING_URI`` names.
    """
    token = _scoped.set(session)
    try:
        yield session
    finally:
        _scoped.reset(token)


def get_session() -> Session:
    """The session of this context (:func:`using_session`), else the process-wide session, created
    from settings on first use."""
    global _session
    scoped = _scoped.get()
    if scoped is not None:
        return scoped
    session = _session
    if session is not None:
        return session
    with _lock:
        if _session is None:
            settings = load_settings()
            if _overrides:
                settings = replace(settings, **_overrides)
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


def forget_inherited_session() -> None:
    """In a forked child: drop the parent's session (its connections and writer thread) unclosed.

    The next call opens a session of the child's own, with the same settings and overrides.
    """
    global _session, _lock
    _lock = threading.RLock()
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
