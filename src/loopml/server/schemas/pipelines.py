"""Request and response bodies of the pipeline endpoints.

Requests are validated here for shape; the responses are derived from the record codecs
(:func:`~loopml.server.schemas.records.response_model`), as the routes send them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from pydantic import AfterValidator, ConfigDict, Field, StrictBool, StrictInt, StrictStr, WithJsonSchema
from typing_extensions import TypedDict  # pydantic needs this one, not typing's, before Python 3.12

from loopml.core.records import PipelineStatus
from loopml.core.wire import PIPELINE_RUN, PIPELINE_RUN_SUMMARY, STEP_RUN
from loopml.server.schemas.common import RequestBody as _Request
from loopml.server.schemas.records import list_model, response_model
from loopml.store.pipelines import FINAL_RUN_STATUSES, RUN_STATUSES


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _nul_to_replacement(value: str | None) -> str | None:
    """Free text (logs, errors) as PostgreSQL can store it: NUL becomes U+FFFD."""
    return value if value is None or "\x00" not in value else value.replace("\x00", "\ufffd")


def _among(allowed: tuple[PipelineStatus, ...]) -> tuple[AfterValidator, WithJsonSchema]:
    """Validation and JSON schema of a :class:`PipelineStatus` limited to ``allowed``."""
    names = [status.value for status in allowed]

    def check(value: PipelineStatus) -> PipelineStatus:
        if value not in allowed:
            raise ValueError(f"expected one of {names}")
        return value

    return AfterValidator(check), WithJsonSchema({"type": "string", "enum": names})


# Statuses: ``loopml.core.records.PipelineStatus`` (runs are never SKIPPED); ids from ``new_id()``.
_RUN_CHECK, _RUN_SCHEMA = _among(RUN_STATUSES)
_FINAL_CHECK, _FINAL_SCHEMA = _among(FINAL_RUN_STATUSES)
PipelineRunStatus = Annotated[PipelineStatus, _RUN_CHECK, _RUN_SCHEMA]
FinalRunStatus = Annotated[PipelineStatus, _FINAL_CHECK, _FINAL_SCHEMA]
PipelineExecutor = Literal["local", "process", "ray"]
HexId = Annotated[StrictStr, Field(pattern=r"^[0-9a-f]{32}$", description="32 lowercase hex characters.")]
Sha256 = Annotated[StrictStr, Field(pattern=r"^[0-9a-f]{64}$", description="64 lowercase hex characters.")]
Millis = Annotated[StrictInt, Field(ge=0, le=2**63 - 1, description="Epoch milliseconds (durations: ms).")]
Count = Annotated[StrictInt, Field(ge=0, le=2**31 - 1)]
PipelineName = Annotated[StrictStr, Field(min_length=1, max_length=256), AfterValidator(_no_nul)]  # and step names
Text = Annotated[StrictStr, AfterValidator(_nul_to_replacement)]


class StepArtifact(TypedDict):
    """A stored step output (``loopml.pipelines.materialize.Artifact``): its blob and how to load it."""

    # pydantic reads __pydantic_config__ on a TypedDict; typing does not know the key
    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    sha256: Sha256
    size: Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]
    format: StrictStr
    type: NotRequired[StrictStr]
    trusted: NotRequired[list[StrictStr]]


class StepRead(TypedDict):
    """Something a step resolved that can change (``loopml.core.reads``), checked again on cache lookup."""

    # pydantic reads __pydantic_config__ on a TypedDict; typing does not know the key
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
    status: PipelineRunStatus = PipelineStatus.RUNNING
    executor: PipelineExecutor = "local"
    start_time: Millis
    resumed_from: HexId | None = None
    trigger: Annotated[Text, Field(max_length=4096)] | None = None


class PipelineRunFinish(_Request):
    """``POST /pipelines/runs/{run_id}/finish``: the run ends ``SUCCEEDED`` or ``FAILED``."""

    status: FinalRunStatus
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
    status: PipelineStatus
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

    # pydantic reads __pydantic_config__ on a TypedDict; typing does not know the key
    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    name: PipelineName
    position: Count
    upstream: list[PipelineName]
    status: PipelineStatus
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


PipelineRunOut = response_model(PIPELINE_RUN, overrides={"status": PipelineRunStatus}, name="PipelineRunOut")
PipelineRunSummary = response_model(
    PIPELINE_RUN_SUMMARY, overrides={"status": PipelineRunStatus}, name="PipelineRunSummary"
)
PipelineRunList = list_model("PipelineRunList", "runs", PipelineRunSummary, "Newest first.")
StepRunOut = response_model(STEP_RUN, name="StepRunOut")
StepRunList = list_model("StepRunList", "steps", StepRunOut, "In topological order.")
