"""Response models of the records, derived from their codecs (never written by hand).

>>> from loopml.core.wire import METRIC
>>> sorted(response_model(METRIC).model_fields)
['key', 'step', 'timestamp', 'value']

Handlers send ``codec.encode(record)`` through orjson; these pydantic models only document that
shape in ``/openapi.json`` (FastAPI does not validate a returned ``Response``). Each field's type
is its annotation as the codec sends it: ``float`` as a number or ``"NaN"``/``"Infinity"``/
``"-Infinity"``, ``dict[str, float]`` likewise per value, enums as their values; computed fields
(``uri``) take their property's return annotation and docstring; a field's ``description``
metadata becomes its description. The schema fuzz tests check that what is sent matches.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field, create_model

from loopml.core.codec import RecordCodec
from loopml.core.wire import (
    ARTIFACT,
    AUDIT_EVENT,
    BLOB,
    DATASET,
    DATASET_VERSION,
    EXPERIMENT,
    LINEAGE_EDGE,
    METRIC,
    MODEL,
    MODEL_VERSION,
    RUN,
    TOKEN,
)
from loopml.server.schemas.common import OutFloat


def wire_type(annotation: Any) -> Any:
    """The pydantic type of a field sent as ``annotation`` by its codec."""
    if annotation is float:
        return OutFloat
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        converted = tuple(wire_type(a) for a in args)
        return typing.Union[converted]  # noqa: UP007 - built from a runtime tuple
    if origin is dict and args == (str, float):
        return dict[str, OutFloat]
    return annotation


def response_model(
    codec: RecordCodec[Any],
    *,
    extra: Mapping[str, tuple[Any, Any]] | None = None,
    overrides: Mapping[str, Any] | None = None,
    name: str | None = None,
) -> type[BaseModel]:
    """The pydantic model of what ``codec.encode`` sends, plus ``extra`` fields (``name: (type, Field)``).

    ``overrides`` narrows a field's documented type (``status: Literal["READY", "ARCHIVED"]``).
    """
    overrides = overrides or {}
    fields: dict[str, Any] = {}
    for field in codec.fields:
        annotation = overrides.get(field.name, wire_type(codec.hints[field.name]))
        fields.update(_field(field.name, annotation, field.metadata.get("description")))
    for computed in codec.computed:
        prop = getattr(codec.record, computed)
        annotation = typing.get_type_hints(prop.fget)["return"]
        fields.update(_field(computed, annotation, (prop.__doc__ or "").strip() or None))
    fields.update(extra or {})
    return create_model(name or f"{codec.record.__name__}Out", **fields)


def list_model(name: str, key: str, item: type[BaseModel], description: str | None = None) -> type[BaseModel]:
    """``{key: [item, ...]}``, the body of a listing."""
    items: Any = list[item]  # type: ignore[valid-type]  # a runtime type: item is a model built at import
    fields: dict[str, Any] = {key: (items, Field(description=description))}
    return create_model(name, **fields)


def _field(name: str, annotation: Any, description: str | None) -> dict[str, tuple[Any, Any]]:
    """One required field; a name pydantic reserves (``schema``) is stored under ``name_`` with an alias."""
    if hasattr(BaseModel, name):
        return {f"{name}_": (annotation, Field(alias=name, description=description))}
    return {name: (annotation, Field(description=description))}


ExperimentOut = response_model(EXPERIMENT)
RunOut = response_model(
    RUN,
    extra={
        "stale": (
            bool,
            Field(description="RUNNING, but no heartbeat for 3 heartbeat intervals: its process likely died."),
        )
    },
)
MetricOut = response_model(METRIC)
ArtifactOut = response_model(ARTIFACT, name="ArtifactOut")
AuditEventOut = response_model(AUDIT_EVENT)
TokenOut = response_model(TOKEN)
TokenCreated = response_model(
    TOKEN, extra={"token": (str, Field(description="The secret: shown only in this response."))}, name="TokenCreated"
)
BlobOut = response_model(BLOB)
DatasetOut = response_model(DATASET, name="DatasetOut")
DatasetVersionOut = response_model(DATASET_VERSION)
LineageEdgeOut = response_model(LINEAGE_EDGE)
ModelOut = response_model(MODEL, name="ModelOut")
ModelVersionOut = response_model(MODEL_VERSION, overrides={"status": typing.Literal["READY", "ARCHIVED"]})

ExperimentList = list_model("ExperimentList", "experiments", ExperimentOut)
RunList = list_model("RunList", "runs", RunOut)
MetricHistory = list_model("MetricHistory", "metrics", MetricOut)
ArtifactList = list_model("ArtifactList", "artifacts", ArtifactOut)
AuditList = list_model("AuditList", "events", AuditEventOut)
TokenList = list_model("TokenList", "tokens", TokenOut)
DatasetList = list_model("DatasetList", "datasets", DatasetOut)
DatasetVersionList = list_model("DatasetVersionList", "versions", DatasetVersionOut)
LineageEdgeList = list_model("LineageEdgeList", "edges", LineageEdgeOut)
ModelList = list_model("ModelList", "models", ModelOut)
ModelVersionList = list_model("ModelVersionList", "versions", ModelVersionOut)
DatasetVersionCreated = create_model(
    "DatasetVersionCreated",
    version=(DatasetVersionOut, ...),
    created=(bool, Field(description="False when a version with this content already existed (it is returned).")),
)
