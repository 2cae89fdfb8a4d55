"""Request and response bodies of the feature registry endpoints (``/api/v1/features``).

Requests are validated here for shape; the store checks the rest (a name taken by the other kind
of view, a deletion of something not registered). Responses are derived from the record codec.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StrictStr

from loopml.core.wire import FEATURE_DEFINITION
from loopml.server.schemas.common import RequestBody as _Request
from loopml.server.schemas.records import list_model, response_model

FeatureKind = Literal["entity", "feature_view", "on_demand_feature_view"]
""":data:`~loopml.core.records.FEATURE_KINDS` (a test checks they agree)."""
DefinitionName = Annotated[
    StrictStr, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$", description="An identifier (at most 128 characters).")
]


class DefinitionIn(_Request):
    """One definition to register: its kind, name and JSON spec (``to_spec()``)."""

    kind: FeatureKind
    name: DefinitionName
    spec: dict[str, Any]


class DefinitionRef(_Request):
    """One definition to delete."""

    kind: FeatureKind
    name: DefinitionName


class FeatureApply(_Request):
    """``POST /features/apply``: register changed definitions and delete others, in one transaction."""

    definitions: Annotated[list[DefinitionIn], Field(max_length=10_000)] = Field(default_factory=list)
    delete: Annotated[list[DefinitionRef], Field(max_length=10_000)] = Field(default_factory=list)


FeatureDefinitionOut = response_model(FEATURE_DEFINITION, overrides={"kind": FeatureKind}, name="FeatureDefinitionOut")
FeatureDefinitionList = list_model(
    "FeatureDefinitionList", "definitions", FeatureDefinitionOut, "By kind then name (a history: oldest first)."
)
