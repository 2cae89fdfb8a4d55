"""Request and response bodies of the pipeline endpoints."""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr
from typing_extensions import TypedDict  # pydantic needs this one, not typing's, before Python 3.12

from loopml.server.schemas.common import RequestBody as _Request


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _nul_to_replacement(value: str | None) -> str | None:
    """Free text (logs, errors) as PostgreSQL can store it: NUL becomes U+FFFD."""
    return value if value is None or "\x00" not in value else value.replace("\x00", "\ufffd")


# Pipelines: the statuses of ``loopml.pipelines.Status`` (a test pins them), ids from ``new_id()``.
PipelineStatus = Literal["RUNNING", "SUCCEEDED", "FAILED"]
StepStatus = Literal["RUNNING", "SUCCEEDED", "FAILED", "SKIPPED"]
PipelineExecutor = Literal["local", "process", "ray"]
HexId = Annotated[StrictStr, Field(pattern=r"^[0-9a-f]{32}$", description="32 lowercase hex characters.")]
Sha256 = Annotated[StrictStr, Field(pattern=r"^[0-9a-f]{64}$", description="64 lowercase hex characters.")]
Millis = Annotated[StrictInt, Field(ge=0, le=2**63 - 1, description="Epoch milliseconds (durations: ms).")]
Count = Annotated[StrictInt, Field(ge=0, le=2**31 - 1)]
PipelineName = Annotated[StrictStr, Field(min_length=1, max_length=256), AfterValidator(_no_nul)]  # and step names
Text = Annotated[StrictStr, AfterValidator(_nul_to_replacement)]


class StepArtifact(TypedDict):
    """A stored step output (``loopml.pipelines.materialize.Artifact``): its blob and how to load it."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    sha256: Sha256
    size: Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]
    format: StrictStr
    type: NotRequired[StrictStr]
    trusted: NotRequired[list[StrictStr]]


class StepRead(TypedDict):
    """Something a step resolved that can change (``loopml.core.reads``), checked again on cache lookup."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    kind: Literal["dataset", "model", "file"]
    ref: Annotated[StrictStr, Field(min_length=1, max_length=4096), AfterValidator(_no_nul)]
    resolved: Annotated[StrictStr, Field(min_length=1, max_length=512), AfterValidator(_no_nul)]
    size: NotRequired[Annotated[StrictInt, Field(ge=0, le=2**63 - 1)] | None]
    mtime_ns: NotRequired[Annotated[StrictInt, Field(ge=-(2**63), le=2**63 - 1)] | None]
    files: NotRequired[Count | None]


StepReads = Annotated[list[StepRead], Field(max_length=10_000)]


class PipelineRunCreate(_Request):
    """``POST /pipelines/runs``: a pipeline run starts (``created_by`` is the caller)."""

    id: HexId
    pipeline: PipelineName
    params: dict[str, Any] = Field(default_factory=dict, description="The run's parameters (any JSON values).")
    status: PipelineStatus = "RUNNING"
    executor: PipelineExecutor = "local"
    start_time: Millis
    resumed_from: HexId | None = None
    trigger: Annotated[Text, Field(max_length=4096)] | None = None


class PipelineRunFinish(_Request):
    """``POST /pipelines/runs/{run_id}/finish``: the run ends ``SUCCEEDED`` or ``FAILED``."""

    status: Literal["SUCCEEDED", "FAILED"]
    end_time: Millis
    error: Text | None = None
    result: Any = Field(default=None, description="What the pipeline returned, as JSON.")


class StepRunCreate(_Request):
    """``POST /pipelines/steps``: a step run of a recorded pipeline run (a terminal status is audited)."""

    id: HexId
    pipeline_run_id: HexId
    name: PipelineName
    position: Count = Field(description="Topological position in the run's DAG.")
    upstream: list[PipelineName] = Field(default_factory=list)
    status: StepStatus
    cache_key: Sha256 | None = None
    cache_hit: StrictBool = False
    reused_from: HexId | None = None
    attempts: Count = 0
    start_time: Millis | None = None
    end_time: Millis | None = None
    duration_ms: Millis | None = None
    inputs: dict[str, Sha256] = Field(default_factory=dict, description="Argument name -> input artifact SHA-256.")
    outputs: dict[str, StepArtifact] = Field(default_factory=dict)
    logs: Text = ""
    error: Text | None = None
    traceback: Text | None = None
    reads: StepReads | None = Field(
        default_factory=list, description="What the step resolved that can change (null: unknown, never a cache hit)."
    )
    miss_reason: Text | None = None


class StepRunUpdate(TypedDict, total=False):
    """``PATCH /pipelines/steps/{step_run_id}``: the fields to change (absent ones stay).

    A TypedDict rather than a model: what was sent is exactly what changes, and ``null`` is refused
    for fields that cannot be empty.
    """

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    name: PipelineName
    position: Count
    upstream: list[PipelineName]
    status: StepStatus
    cache_key: Sha256 | None
    cache_hit: StrictBool
    reused_from: HexId | None
    attempts: Count
    start_time: Millis | None
    end_time: Millis | None
    duration_ms: Millis | None
    inputs: dict[str, Sha256]
    outputs: dict[str, StepArtifact]
    logs: Text
    error: Text | None
    traceback: Text | None
    reads: StepReads
    miss_reason: Text | None


class PipelineRunOut(BaseModel):
    id: str
    pipeline: str
    params: dict[str, Any]
    status: PipelineStatus
    executor: str
    start_time: int
    end_time: int | None
    error: str | None
    resumed_from: str | None
    result: Any = Field(description="What the pipeline returned (step outputs as {'$step', '$output'}).")
    created_by: str
    trigger: str | None = Field(default=None, description="The dataset version a schedule ran it on, if any.")


class PipelineRunSummary(PipelineRunOut):
    steps: int = Field(description="How many step runs are recorded.")
    cached: int = Field(description="How many of them were cache hits.")
    failed: int = Field(description="How many of them failed.")


class PipelineRunList(BaseModel):
    runs: list[PipelineRunSummary]


class StepRunOut(BaseModel):
    id: str
    pipeline_run_id: str
    name: str
    position: int
    upstream: list[str]
    status: StepStatus
    cache_key: str | None
    cache_hit: bool
    reused_from: str | None
    attempts: int
    start_time: int | None
    end_time: int | None
    duration_ms: int | None
    inputs: dict[str, str]
    outputs: dict[str, dict[str, Any]]
    logs: str
    error: str | None
    traceback: str | None
    reads: list[dict[str, Any]] | None = Field(
        default=None, description="What it resolved that can change (null: recorded before reads were)."
    )
    miss_reason: str | None = Field(default=None, description="Why a cached run with its key was not reused.")


class StepRunList(BaseModel):
    steps: list[StepRunOut]
