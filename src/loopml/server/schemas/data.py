"""Request bodies of the dataset and lineage endpoints."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StrictInt, StrictStr

from loopml.server.schemas.common import RequestBody


class DatasetVersionCreate(RequestBody):
    """``POST /datasets/{name}/versions``: a version whose Parquet blob the server already holds."""

    sha256: StrictStr = Field(description="Content hash of the logical table (64 lowercase hex characters).")
    blob_sha256: StrictStr = Field(description="SHA-256 of the Parquet file, uploaded with PUT /blobs/{sha256}.")
    n_rows: Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]
    n_columns: Annotated[StrictInt, Field(ge=0, le=2**31 - 1)]
    size_bytes: Annotated[StrictInt, Field(ge=0, le=2**63 - 1, description="Size of the blob; must match it.")]
    schema_: dict[str, Any] = Field(alias="schema", description='``{"columns": [{name, type, nullable}]}``.')
    profile: dict[str, Any] = Field(default_factory=dict)
    source: dict[str, Any] = Field(default_factory=dict)
    description: StrictStr = ""


class LineageEdgeCreate(RequestBody):
    """``POST /lineage``: ``source -> target``; adding an existing edge is a no-op."""

    source_type: Annotated[StrictStr, Field(min_length=1, max_length=64, examples=["dataset_version"])]
    source_id: Annotated[StrictStr, Field(min_length=1, max_length=256)]
    target_type: Annotated[StrictStr, Field(min_length=1, max_length=64, examples=["run"])]
    target_id: Annotated[StrictStr, Field(min_length=1, max_length=256)]
    relation: Annotated[StrictStr, Field(min_length=1, max_length=64, examples=["input"])]
