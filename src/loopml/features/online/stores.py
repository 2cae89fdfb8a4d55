"""The table of online stores: ``open_online_store(uri)`` picks the implementation by the URI's scheme.

Stores are opened once per process and URI (their connections are reused by every read).
"""

from __future__ import annotations

import threading

from loopml.config import load_settings
from loopml.core.errors import InvalidInput, invalid
from loopml.features.online.base import OnlineStore, mask_uri

_OPEN: dict[str, OnlineStore] = {}
_OPEN_LOCK = threading.Lock()


def open_online_store(uri: str | None = None) -> OnlineStore:
    """The online store at ``uri`` (default: the ``LOOPML_ONLINE_STORE_URI`` setting), opened once per process.

    ``sqlite:///path/online.db`` (or a plain path) or ``redis://[:password@]host:port/db[?prefix=...]``.
    """
    if uri is None:
        uri = load_settings().online_store_uri
    if not isinstance(uri, str) or not uri:
        raise invalid("online_store_uri", "empty", "The online store URI is empty: use sqlite:///PATH or redis://HOST.")
    with _OPEN_LOCK:
        store = _OPEN.get(uri)
        if store is None:
            store = _create(uri)
            _OPEN[uri] = store
        return store


def close_online_stores() -> None:
    """Close every store :func:`open_online_store` opened (tests, and a process that changes settings)."""
    with _OPEN_LOCK:
        stores = list(_OPEN.values())
        _OPEN.clear()
    for store in stores:
        store.close()


def _create(uri: str) -> OnlineStore:
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme in ("", "sqlite", "file"):
        from loopml.features.online.sqlite import SqliteOnlineStore

        return SqliteOnlineStore(uri)
    if scheme in ("redis", "rediss", "unix"):
        from loopml.features.online.redis import RedisOnlineStore

        return RedisOnlineStore(uri)
    raise InvalidInput(
        f"Unknown online store {mask_uri(uri)!r}: use sqlite:///PATH (the default) or redis://HOST:PORT/DB.",
        details=[{"field": "online_store_uri", "problem": "unknown scheme"}],
    )
