"""Feature definitions kept by a ``loopml server`` (``/api/v1/features``).

>>> transport = HttpTransport("http://127.0.0.1:5050", actor="ann")          # doctest: +SKIP
>>> HttpFeatureStore(transport).list_definitions("entity")                     # doctest: +SKIP
[]

:class:`HttpFeatureStore` implements :class:`~loopml.store.base.FeatureStore`, as
:class:`~loopml.store.sql.features.SqlFeatureStore` (which the server runs) does. Arguments are
checked by :mod:`loopml.store.features` before a request is sent; records travel in the form of
their codec (:data:`~loopml.core.wire.FEATURE_DEFINITION`); the server records the caller as
``created_by`` and in the audit log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from loopml.core.records import FeatureDefinitionRecord
from loopml.core.wire import FEATURE_DEFINITION
from loopml.store.features import check_apply, check_kind, check_name, check_version
from loopml.store.http.transport import HttpTransport


class HttpFeatureStore:
    """The feature store over ``/api/v1/features``."""

    def __init__(self, transport: HttpTransport) -> None:
        self.transport = transport

    def __repr__(self) -> str:
        return f"HttpFeatureStore({self.transport.base_url!r})"

    def apply(
        self,
        definitions: Sequence[tuple[str, str, Mapping[str, Any]]],
        *,
        delete: Sequence[tuple[str, str]] = (),
        actor: str,
    ) -> list[FeatureDefinitionRecord]:
        """Store changed definitions and delete others in one transaction on the server."""
        checked, deleted = check_apply(definitions, delete)
        body = {
            "definitions": [{"kind": kind, "name": name, "spec": spec} for kind, name, spec in checked],
            "delete": [{"kind": kind, "name": name} for kind, name in deleted],
        }
        found = self.transport.request_json("POST", "/features/apply", json=body, actor=actor)
        return FEATURE_DEFINITION.decode_many(found["definitions"])

    def get_definition(self, kind: str, name: str, *, version: int | None = None) -> FeatureDefinitionRecord:
        """A definition's current version (``NotFound`` when unknown or deleted), or the given version."""
        path = f"/features/definitions/{check_kind(kind)}/{check_name(name)}"
        params = None if version is None else {"version": check_version(version)}
        return FEATURE_DEFINITION.decode(self.transport.request_json("GET", path, params=params))

    def list_definitions(self, kind: str | None = None) -> list[FeatureDefinitionRecord]:
        """The current version of every live definition (of one kind), by kind then name."""
        params = None if kind is None else {"kind": check_kind(kind)}
        found = self.transport.request_json("GET", "/features/definitions", params=params)
        return FEATURE_DEFINITION.decode_many(found["definitions"])

    def definition_history(self, kind: str, name: str) -> list[FeatureDefinitionRecord]:
        """Every version of one definition, oldest first (``NotFound`` when it never existed)."""
        path = f"/features/definitions/{check_kind(kind)}/{check_name(name)}/history"
        return FEATURE_DEFINITION.decode_many(self.transport.request_json("GET", path)["definitions"])
