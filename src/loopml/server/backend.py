"""What the server works against: the SQL side of every store in :data:`~loopml.store.table.STORES`, and blobs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends
from starlette.requests import Request

from loopml.artifacts import CollectableBlobStore, open_blob_store
from loopml.config import Settings
from loopml.core.errors import InvalidInput
from loopml.server.session import ui_key
from loopml.server.token_cache import TokenCache
from loopml.store.sql import Database, SqlTrackingStore
from loopml.store.sql.datasets import SqlDatasetStore
from loopml.store.sql.lineage import SqlLineageStore
from loopml.store.sql.models import SqlModelRegistry
from loopml.store.sql.pipelines import SqlPipelineStore
from loopml.store.sql.tokens import SqlTokenStore
from loopml.store.table import STORES, open_store
from loopml.tracking.artifacts import LocalRunArtifacts


@dataclass(slots=True)
class Backend:
    """The stores behind one app, plus its auth switch and token cache."""

    settings: Settings
    store: SqlTrackingStore
    tokens: SqlTokenStore
    artifacts: LocalRunArtifacts
    auth: bool
    token_cache: TokenCache
    datasets: SqlDatasetStore
    lineage: SqlLineageStore
    models: SqlModelRegistry
    pipelines: SqlPipelineStore
    stores: dict[str, Any]
    """Every store of :data:`~loopml.store.table.STORES` by name, over the server's database."""
    blobs: CollectableBlobStore
    """The artifact store (``artifacts.blobs``), local or object storage, that the server streams from."""
    ui_key: bytes = b""
    """The key that signs the web UI's CSRF tokens (:func:`loopml.server.session.ui_key`)."""
    _session: Any = None

    def session(self) -> Any:
        """An SDK session over the server's own database and artifacts (made on first use), for
        handlers that call capability functions written against a session (monitoring views)."""
        if self._session is None:
            from loopml.tracking.session import Session

            self._session = Session(self.settings, actor="server")
        return self._session

    @classmethod
    def open(cls, settings: Settings, *, auth: bool) -> Backend:
        """Open (and migrate) the database and the artifact store that ``settings`` name."""
        if settings.is_remote:
            raise InvalidInput(
                f"The server needs a database, but LOOPML_TRACKING_URI is {settings.tracking_uri!r} (another "
                "server). Point it at sqlite:///... or postgresql+psycopg://... for the server process."
            )
        db = Database(settings.tracking_uri)
        try:
            stores = {name: open_store(name, db) for name in STORES}
            blobs = open_blob_store(settings.artifact_uri)
            artifacts = LocalRunArtifacts(stores["tracking"], blobs)
        except BaseException:
            db.dispose()
            raise
        return cls(
            settings,
            stores["tracking"],
            stores["tokens"],
            artifacts,
            auth,
            TokenCache(stores["tokens"].verify),
            stores["datasets"],
            stores["lineage"],
            stores["models"],
            stores["pipelines"],
            stores,
            blobs,
            ui_key(settings),
        )

    def close(self) -> None:
        """Release the database connections."""
        if self._session is not None:
            self._session.close()
        self.store.close()


async def get_backend(request: Request) -> Backend:
    """FastAPI dependency: the app's backend."""
    return request.app.state.backend


BackendDep = Annotated[Backend, Depends(get_backend)]
