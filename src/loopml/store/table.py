"""One table from store name to its SQL and HTTP implementations.

>>> print(*sorted(STORES))  # doctest: +NORMALIZE_WHITESPACE
datasets decisions features lineage logged_models materializations models monitoring pipelines
policies schedules tokens tracking
>>> STORES["models"].http
'loopml.store.http.models:HttpModelRegistry'

A session opens a store over its database (``sqlite://``, ``postgresql://``) or over the
:class:`~loopml.store.http.transport.HttpTransport` of a ``loopml server`` (``http(s)://``); the
server opens the SQL side of every entry. Adding a store (monitoring, features) is one entry
here: a SQL class built with the :class:`~loopml.store.sql.database.Database`, and an HTTP class
built with the transport (``None`` when the store lives only next to a database). Classes are
named as ``"module:Class"`` and imported when first opened, so ``import loopml`` stays light.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml.core.errors import InvalidInput

if TYPE_CHECKING:
    from loopml.store.http.transport import HttpTransport
    from loopml.store.sql.database import Database


@dataclass(frozen=True, slots=True)
class StoreEntry:
    """Where a store's implementations live (``"module:Class"``)."""

    sql: str
    http: str | None


STORES: dict[str, StoreEntry] = {
    "tracking": StoreEntry(
        "loopml.store.sql.tracking:SqlTrackingStore", "loopml.store.http.tracking:HttpTrackingStore"
    ),
    "datasets": StoreEntry("loopml.store.sql.datasets:SqlDatasetStore", "loopml.store.http.data:HttpDatasetStore"),
    "lineage": StoreEntry("loopml.store.sql.lineage:SqlLineageStore", "loopml.store.http.data:HttpLineageStore"),
    "models": StoreEntry("loopml.store.sql.models:SqlModelRegistry", "loopml.store.http.models:HttpModelRegistry"),
    "pipelines": StoreEntry(
        "loopml.store.sql.pipelines:SqlPipelineStore", "loopml.store.http.pipelines:HttpPipelineStore"
    ),
    "monitoring": StoreEntry(
        "loopml.store.sql.monitoring:SqlMonitoringStore", "loopml.store.http.monitoring:HttpMonitoringStore"
    ),
    "decisions": StoreEntry(
        "loopml.store.sql.decisions:SqlDecisionStore", "loopml.store.http.decisions:HttpDecisionStore"
    ),
    "materializations": StoreEntry(
        "loopml.store.sql.materializations:SqlMaterializationStore",
        "loopml.store.http.materializations:HttpMaterializationStore",
    ),
    "features": StoreEntry("loopml.store.sql.features:SqlFeatureStore", "loopml.store.http.features:HttpFeatureStore"),
    "tokens": StoreEntry("loopml.store.sql.tokens:SqlTokenStore", None),
    "schedules": StoreEntry("loopml.store.sql.schedules:SqlScheduleStore", None),
    "policies": StoreEntry("loopml.store.sql.policies:SqlPolicyStore", None),
    "logged_models": StoreEntry("loopml.store.sql.logged_models:SqlLoggedModelStore", None),
}


def open_store(name: str, backend: Database | HttpTransport) -> Any:
    """The ``name`` store over ``backend``: its SQL class for a database, its HTTP class for a transport."""
    try:
        entry = STORES[name]
    except KeyError:
        raise InvalidInput(f"Unknown store {name!r}; known stores: {', '.join(sorted(STORES))}.") from None
    remote = _is_transport(backend)
    target = entry.http if remote else entry.sql
    if target is None:
        raise InvalidInput(
            f"The {name} store needs a database; it is not served over HTTP ({getattr(backend, 'base_url', '')}). "
            "Point LOOPML_TRACKING_URI at sqlite:///... or postgresql+psycopg://... to use it."
        )
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)(backend)


def _is_transport(backend: object) -> bool:
    """Whether ``backend`` is an :class:`HttpTransport`, without importing the HTTP client (httpx) on the
    embedded path: if its module was never imported, no transport exists."""
    transport = sys.modules.get("loopml.store.http.transport")
    return transport is not None and isinstance(backend, transport.HttpTransport)
