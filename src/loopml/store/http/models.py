"""The model registry kept by a ``loopml server``, over its REST API (``/api/v1/models``).

>>> transport = HttpTransport("http://127.0.0.1:5050", actor="ann")         # doctest: +SKIP
>>> HttpModelRegistry(transport).get_version("churn", alias="production").uri   # doctest: +SKIP
'models:/churn/3'

:class:`HttpModelRegistry` wraps an :class:`~loopml.store.http.transport.HttpTransport`, sharing its
connection pool, token, retries and error mapping. The server runs the SQL registry, so its rules
and messages hold unchanged; the client checks locally only what the wire cannot carry (a version
that is not a number, tags that are not a mapping) and raises the same errors the SQL registry would.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from loopml.core.codec import encode_float
from loopml.core.errors import InvalidInput
from loopml.core.records import ModelVersion, RegisteredModel
from loopml.core.uris import check_name
from loopml.core.validation import check_key, check_metric_value, stringify
from loopml.core.wire import MODEL, MODEL_VERSION
from loopml.store import checks
from loopml.store.http.transport import HttpTransport, segment


class HttpModelRegistry:
    """:class:`~loopml.store.base.ModelRegistry` over ``/api/v1/models``."""

    def __init__(self, transport: HttpTransport) -> None:
        self.transport = transport

    def __repr__(self) -> str:
        return f"HttpModelRegistry({self.transport.base_url!r})"

    # -- writes ---------------------------------------------------------------------------------

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
        body = {
            "source": source,
            "run_id": run_id,
            "manifest_sha256": manifest_sha256,
            "flavor": flavor,
            "signature": signature or {},
            "metrics": {
                check_key(k, field="metric"): encode_float(check_metric_value(k, x)) for k, x in (metrics or {}).items()
            },
            "dataset_version": dataset_version,
            "description": str(description or ""),
            "tags": checks.string_dict(tags, "tag"),
        }
        response = self.transport.request(
            "POST",
            f"{_model(name)}/versions",
            content=_dumps(body),
            headers={"Content-Type": "application/json"},
            actor=actor,
        )
        return MODEL_VERSION.decode(orjson.loads(response.content))

    def set_alias(self, name: str, alias: str, version: int, *, actor: str) -> ModelVersion:
        """Point ``alias`` at ``version`` (creating or moving it); returns the version it now names."""
        check_name(alias, field="alias")
        body = {"version": checks.model_version_number(version)}
        return MODEL_VERSION.decode(self.transport.request_json("PUT", _alias(name, alias), json=body, actor=actor))

    def delete_alias(self, name: str, alias: str, *, actor: str) -> None:
        """Remove ``alias`` from model ``name`` (``NotFound`` when it does not exist)."""
        check_name(alias, field="alias")
        self.transport.request("DELETE", _alias(name, alias), actor=actor)

    def archive_version(self, name: str, version: int, *, actor: str) -> ModelVersion:
        """Mark a version ``ARCHIVED`` (kept, loadable by number, but no alias may point at it)."""
        return MODEL_VERSION.decode(
            self.transport.request_json("POST", f"{_version_path(name, version)}/archive", actor=actor)
        )

    def delete_version(self, name: str, version: int, *, actor: str) -> None:
        """Delete a version's record (its number is never reused; the run's artifacts stay)."""
        self.transport.request("DELETE", _version_path(name, version), actor=actor)

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
        path = _version_path(name, version)
        body: dict[str, Any] = {}
        if description is not None:
            body["description"] = str(description)
        if tags is not None:
            body["tags"] = {
                check_key(k, field="tag"): None if v is None else stringify(v, field="tag", key=k)
                for k, v in _mapping(tags).items()
            }
        return MODEL_VERSION.decode(self.transport.request_json("PATCH", path, json=body, actor=actor))

    # -- reads ----------------------------------------------------------------------------------

    def get_version(self, name: str, *, version: int | None = None, alias: str | None = None) -> ModelVersion:
        """A version by number or by alias (exactly one); ``NotFound`` lists what exists."""
        if (version is None) == (alias is None):
            raise InvalidInput(
                f"Pass exactly one of version= or alias= to find a version of model {name!r} "
                f"(got version={version!r}, alias={alias!r}).",
                details=[{"field": "version", "problem": "exactly one of version and alias is required"}],
            )
        path = _version_path(name, version) if alias is None else _alias(name, alias)
        return MODEL_VERSION.decode(self.transport.request_json("GET", path))

    def list_versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, oldest first, with its aliases."""
        return MODEL_VERSION.decode_many(self.transport.request_json("GET", f"{_model(name)}/versions")["versions"])

    def list_models(self) -> list[RegisteredModel]:
        """Every registered model, by name, with its aliases."""
        return MODEL.decode_many(self.transport.request_json("GET", "/models")["models"])


def _model(name: str) -> str:
    return f"/models/{segment(name)}"


def _alias(name: str, alias: str) -> str:
    return f"{_model(name)}/aliases/{segment(alias)}"


def _version_path(name: str, version: object) -> str:
    return f"{_model(name)}/versions/{checks.model_version_number(version)}"


def _mapping(tags: Any) -> dict[str, Any]:
    if not isinstance(tags, dict):
        raise InvalidInput(f"tags must be a mapping of key to value, got {type(tags).__name__}.")
    return tags


def _dumps(body: dict[str, Any]) -> bytes:
    """JSON for a version: signatures may hold values JSON lacks (the SQL registry stores them with str())."""
    try:
        return orjson.dumps(body, default=str)
    except TypeError:
        return json.dumps(body, default=str).encode()
