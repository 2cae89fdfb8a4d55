"""Feature view materialisations kept by a ``loopml server`` (``/api/v1/features/materializations``).

>>> transport = HttpTransport("http://127.0.0.1:5050", actor="ann")                 # doctest: +SKIP
>>> HttpMaterializationStore(transport).list_materializations(view="driver_stats")   # doctest: +SKIP
[]

:class:`HttpMaterializationStore` implements :class:`~loopml.store.base.MaterializationStore`, as
:class:`~loopml.store.sql.materializations.SqlMaterializationStore` (which the server runs) does.
Arguments are checked by :mod:`loopml.store.materializations` before a request is sent; records
travel in the form of their codec (:data:`~loopml.core.wire.MATERIALIZATION`); the server stamps
``created_by`` with the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loopml.core.records import MaterializationRecord
from loopml.core.wire import MATERIALIZATION
from loopml.store.http.transport import HttpTransport
from loopml.store.materializations import check_filters, check_finish, check_materialization
from loopml.store.monitoring import check_id, check_limit

_PATH = "/features/materializations"


class HttpMaterializationStore:
    """The materialisation store over ``/api/v1/features/materializations``."""

    def __init__(self, transport: HttpTransport) -> None:
        self.transport = transport

    def __repr__(self) -> str:
        return f"HttpMaterializationStore({self.transport.base_url!r})"

    def start_materialization(self, record: MaterializationRecord, *, actor: str) -> None:
        """Record a materialisation that starts (status ``running``)."""
        body = MATERIALIZATION.encode(check_materialization(record))
        for name in ("created_by", "ended_at"):
            body.pop(name)
        self.transport.request_json("POST", _PATH, json=body, actor=actor)

    def finish_materialization(
        self,
        materialization_id: str,
        *,
        status: str,
        rows_read: int = 0,
        entities_written: int = 0,
        newest_event_ms: int | None = None,
        profile: Mapping[str, Any] | None = None,
        error: str | None = None,
        ended_at: int | None = None,
        actor: str,
    ) -> MaterializationRecord:
        """End a running materialisation ``succeeded`` or ``failed``; returns the stored record."""
        path = f"{_PATH}/{check_id(materialization_id, 'materialization_id')}/finish"
        body = check_finish(
            status=status, rows_read=rows_read, entities_written=entities_written, newest_event_ms=newest_event_ms,
            profile=profile, error=error, ended_at=ended_at,
        )  # fmt: skip
        return MATERIALIZATION.decode(self.transport.request_json("POST", path, json=body, actor=actor))

    def get_materialization(self, materialization_id: str) -> MaterializationRecord:
        """One materialisation by id (``NotFound`` when unknown)."""
        path = f"{_PATH}/{check_id(materialization_id, 'materialization_id')}"
        return MATERIALIZATION.decode(self.transport.request_json("GET", path))

    def list_materializations(
        self,
        *,
        view: str | None = None,
        online_store: str | None = None,
        status: str | None = None,
        limit: int = 50,
    ) -> list[MaterializationRecord]:
        """Materialisations, newest first, optionally of one view, online store and status."""
        view, online_store, status = check_filters(view, online_store, status)
        params: dict[str, Any] = {"limit": check_limit(limit)}
        for key, value in (("view", view), ("online_store", online_store), ("status", status)):
            if value is not None:
                params[key] = value
        found = self.transport.request_json("GET", _PATH, params=params)["materializations"]
        return MATERIALIZATION.decode_many(found)
