"""Request bodies of the model registry endpoints."""

from __future__ import annotations

from typing import Any

from pydantic import Field, StrictStr

from loopml.server.schemas.common import Int64, MetricValue, RequestBody, Scalar


class ModelVersionCreate(RequestBody):
    """``POST /models/{name}/versions``: the next version of a model (created on first use)."""

    source: StrictStr = Field(description="The logged package, ``runs:/<run_id>/<path>``.")
    run_id: StrictStr | None = None
    manifest_sha256: StrictStr = Field(description="SHA-256 of the package's model.json.")
    flavor: StrictStr = Field(examples=["sklearn"])
    signature: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, MetricValue] = Field(default_factory=dict, description="The source run's metrics.")
    dataset_version: StrictStr | None = Field(default=None, examples=["datasets:/customers/3"])
    description: StrictStr = ""
    tags: dict[str, Scalar] = Field(default_factory=dict)


class ModelVersionUpdate(RequestBody):
    """``PATCH /models/{name}/versions/{version}``: tags are merged, a ``null`` value removes a tag."""

    description: StrictStr | None = None
    tags: dict[str, Scalar | None] | None = None


class AliasSet(RequestBody):
    """``PUT /models/{name}/aliases/{alias}``: create or move the alias to a READY version."""

    version: Int64 = Field(description="The version number (1, 2, ...).")
