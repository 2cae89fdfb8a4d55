"""The response body of ``GET /models/{name}/versions/{version}/card`` (:class:`loopml.registry.card.ModelCard`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from loopml.server.schemas.common import OutFloat
from loopml.server.schemas.decisions import DecisionOut


class LineageNodeOut(BaseModel):
    id: str = Field(description="TYPE:ID, e.g. model_version:churn/3.")
    type: str
    label: str
    link: str | None = Field(description="The object's page in the web UI, when it has one.")
    layer: int = Field(description="Left-to-right column: data, runs, model versions, decisions, aliases.")
    x: int
    y: int


class LineageLinkOut(BaseModel):
    source: str
    target: str
    relation: str


class LineageGraphOut(BaseModel):
    root: str
    nodes: list[LineageNodeOut]
    links: list[LineageLinkOut]
    truncated: bool = Field(description="Whether objects further away were left out.")


class FairnessSliceOut(BaseModel):
    column: str
    value: str
    metric: str
    score: OutFloat


class PackageFileOut(BaseModel):
    path: str
    size: int


class ModelCardOut(BaseModel):
    """A model version's card: intended use, training data, metrics, fairness slices, lineage, decisions."""

    name: str
    version: int
    uri: str
    status: str
    aliases: list[str]
    flavor: str
    created_at: int
    created_by: str
    description: str
    intended_use: str = Field(description="The intended_use tag, else the version's, else the model's description.")
    intended_use_source: str
    limitations: str = Field(description="The version's limitations tag.")
    tags: dict[str, str]
    run_id: str | None
    run_name: str | None
    training_data: list[str] = Field(description="datasets:/NAME/VERSION the source run read.")
    metrics: dict[str, OutFloat]
    params: dict[str, str]
    fairness: list[FairnessSliceOut] = Field(description="The run's metrics named slice/<column>=<value>/<metric>.")
    signature: dict[str, Any]
    package: list[PackageFileOut]
    package_size: int
    lineage: LineageGraphOut
    decisions: list[DecisionOut]  # type: ignore[valid-type]
