"""Request and response bodies of ``/api/v1`` (pydantic models; they make ``/openapi.json`` exact).

Requests are validated here for shape and type only; the store checks the rest (key lengths,
names, filters, ...) and its messages reach the client unchanged. Responses are built by
:mod:`loopml.server.encoding` and documented by the ``*Out`` models.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictInt,
    StrictStr,
    WithJsonSchema,
)
from typing_extensions import TypedDict  # pydantic needs this one, not typing's, before Python 3.12

from loopml.core.codec import NONFINITE
from loopml.core.records import PipelineStatus
from loopml.store.pipelines import FINAL_RUN_STATUSES, RUN_STATUSES

NonFinite = Literal["NaN", "Infinity", "-Infinity"]
_NUMBER_SCHEMA = {
    "anyOf": [{"type": "number"}, {"type": "string", "enum": list(NONFINITE)}],
    "description": "A number; NaN and infinities are sent as the strings 'NaN', 'Infinity', '-Infinity'.",
}
_SCALAR_SCHEMA = {
    "anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}],
    "description": "Stored as a string (numbers and booleans are converted).",
}


def _metric_value(value: object) -> float:
    if isinstance(value, float) or (isinstance(value, int) and not isinstance(value, bool)):
        try:
            return float(value)
        except OverflowError:
            raise ValueError("number out of range for a 64-bit float") from None
    if isinstance(value, str) and value in NONFINITE:
        return NONFINITE[value]
    raise ValueError("expected a number, or one of the strings 'NaN', 'Infinity', '-Infinity'")


def _scalar(value: object) -> str | int | float | bool:
    if isinstance(value, str | int | float | bool):
        return value
    raise ValueError("expected a string, number or boolean")


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _nul_to_replacement(value: str | None) -> str | None:
    """Free text (logs, errors) as PostgreSQL can store it: NUL becomes U+FFFD."""
    return value if value is None or "\x00" not in value else value.replace("\x00", "\ufffd")


Int64 = Annotated[StrictInt, Field(ge=-(2**63), le=2**63 - 1)]
MetricValue = Annotated[float, PlainValidator(_metric_value), WithJsonSchema(_NUMBER_SCHEMA)]
Scalar = Annotated[str | int | float | bool, PlainValidator(_scalar), WithJsonSchema(_SCALAR_SCHEMA)]
OutFloat = Annotated[float | NonFinite, WithJsonSchema(_NUMBER_SCHEMA)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- requests ---------------------------------------------------------------------------------------


class ExperimentCreate(_Request):
    """``POST /experiments``."""

    name: StrictStr = Field(description="Letters, digits, '_', '.', '-'; starts with a letter or digit.")
    tags: dict[str, Scalar] = Field(default_factory=dict)


class ExperimentName(_Request):
    """``POST /experiments/get-or-create``."""

    name: StrictStr


class RunCreate(_Request):
    """``POST /runs``."""

    experiment_id: StrictStr
    name: StrictStr | None = None
    parent_run_id: StrictStr | None = None
    tags: dict[str, Scalar] | None = None
    start_time: Int64 | None = Field(default=None, description="Epoch milliseconds; default: now.")


class RunUpdate(_Request):
    """``PATCH /runs/{run_id}``."""

    status: Literal["RUNNING", "FINISHED", "FAILED", "KILLED"]
    end_time: Int64 | None = Field(default=None, description="Epoch milliseconds; default: now when terminal.")


class MetricIn(TypedDict):
    """One metric point of a batch (``step`` defaults to 0, ``timestamp`` in epoch ms to now).

    A TypedDict rather than a model: a batch holds thousands of points and dicts validate ~6x faster.
    """

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    key: StrictStr
    value: MetricValue
    step: NotRequired[Int64]
    timestamp: NotRequired[Int64 | None]


class BatchLog(_Request):
    """``POST /runs/{run_id}/batch``: written in one transaction (a changed param rejects it all)."""

    metrics: list[MetricIn] = Field(default_factory=list)
    params: dict[str, Scalar] = Field(default_factory=dict)
    tags: dict[str, Scalar] = Field(default_factory=dict)


class Heartbeat(_Request):
    """``POST /runs/heartbeat``: the tracking process of these runs is alive."""

    run_ids: list[StrictStr] = Field(max_length=10_000)


class RunSearch(_Request):
    """``POST /runs/search``; ``filter`` and ``order_by`` use the grammar of ``loopml.store.search``."""

    experiment_ids: list[StrictStr] | None = None
    filter: StrictStr | None = Field(default=None, examples=["metrics.f1 > 0.8 and params.model = 'rf'"])
    order_by: list[StrictStr] | None = Field(default=None, examples=[["metrics.f1 DESC"]])
    max_results: Int64 = Field(default=1000, description="1 to 50000.")
    offset: Int64 = 0


class ArtifactRecord(_Request):
    """A blob already in the server's artifact store, recorded under a run-relative path."""

    path: StrictStr
    sha256: StrictStr
    size: Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]


class ArtifactRecords(_Request):
    """``POST /runs/{run_id}/artifacts``."""

    artifacts: list[ArtifactRecord]


class TokenCreate(_Request):
    """``POST /tokens``."""

    name: StrictStr
    role: Literal["reader", "writer", "admin"]


class DatasetVersionCreate(_Request):
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


class LineageEdgeCreate(_Request):
    """``POST /lineage``: ``source -> target``; adding an existing edge is a no-op."""

    source_type: Annotated[StrictStr, Field(min_length=1, max_length=64, examples=["dataset_version"])]
    source_id: Annotated[StrictStr, Field(min_length=1, max_length=256)]
    target_type: Annotated[StrictStr, Field(min_length=1, max_length=64, examples=["run"])]
    target_id: Annotated[StrictStr, Field(min_length=1, max_length=256)]
    relation: Annotated[StrictStr, Field(min_length=1, max_length=64, examples=["input"])]


class ModelVersionCreate(_Request):
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


class ModelVersionUpdate(_Request):
    """``PATCH /models/{name}/versions/{version}``: tags are merged, a ``null`` value removes a tag."""

    description: StrictStr | None = None
    tags: dict[str, Scalar | None] | None = None


class AliasSet(_Request):
    """``PUT /models/{name}/aliases/{alias}``: create or move the alias to a READY version."""

    version: Int64 = Field(description="The version number (1, 2, ...).")


# Pipelines: statuses from ``loopml.core.records.PipelineStatus`` (runs are never SKIPPED), ids from ``new_id()``.


def _among(allowed: tuple[PipelineStatus, ...]) -> tuple[AfterValidator, WithJsonSchema]:
    """Validation and JSON schema of a :class:`PipelineStatus` limited to ``allowed``."""
    names = [status.value for status in allowed]

    def check(value: PipelineStatus) -> PipelineStatus:
        if value not in allowed:
            raise ValueError(f"expected one of {names}")
        return value

    return AfterValidator(check), WithJsonSchema({"type": "string", "enum": names})


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


# -- responses --------------------------------------------------------------------------------------


class Health(BaseModel):
    status: Literal["ok"]
    version: str


class ServerInfo(BaseModel):
    """What a client needs to know to talk to this server well."""

    version: str
    max_json_bytes: int = Field(description="Largest JSON request body accepted; clients split batches below it.")
    max_artifact_bytes: int = Field(description="Largest artifact upload accepted.")


class ExperimentOut(BaseModel):
    id: str
    name: str
    created_at: int
    tags: dict[str, str]


class ExperimentList(BaseModel):
    experiments: list[ExperimentOut]


class RunOut(BaseModel):
    id: str
    experiment_id: str
    name: str
    status: Literal["RUNNING", "FINISHED", "FAILED", "KILLED"]
    start_time: int
    end_time: int | None
    parent_run_id: str | None
    user: str
    params: dict[str, str]
    metrics: dict[str, OutFloat] = Field(description="Latest value of each metric.")
    tags: dict[str, str]
    heartbeat_at: int | None = Field(description="Epoch ms of the tracking process's last heartbeat.")
    stale: bool = Field(description="RUNNING, but no heartbeat for 3 heartbeat intervals: its process likely died.")


class RunList(BaseModel):
    runs: list[RunOut]


class MetricOut(BaseModel):
    key: str
    value: OutFloat
    step: int
    timestamp: int


class MetricHistory(BaseModel):
    metrics: list[MetricOut]


class ArtifactOut(BaseModel):
    path: str
    sha256: str
    size: int


class ArtifactList(BaseModel):
    artifacts: list[ArtifactOut]


class AuditEventOut(BaseModel):
    id: int
    time: int
    actor: str
    action: str
    object_type: str
    object_id: str
    details: dict[str, Any]


class AuditList(BaseModel):
    events: list[AuditEventOut]


class TokenOut(BaseModel):
    id: str
    name: str
    role: Literal["reader", "writer", "admin"]
    created_at: int
    revoked: bool


class TokenCreated(TokenOut):
    token: str = Field(description="The secret: shown only in this response.")


class TokenList(BaseModel):
    tokens: list[TokenOut]


class BlobOut(BaseModel):
    sha256: str
    size: int


class DatasetVersionOut(BaseModel):
    id: str
    name: str
    version: int
    uri: str = Field(description="``datasets:/<name>/<version>``.")
    sha256: str
    blob_sha256: str
    n_rows: int
    n_columns: int
    size_bytes: int
    schema_: dict[str, Any] = Field(alias="schema")
    profile: dict[str, Any]
    source: dict[str, Any]
    created_at: int
    created_by: str
    description: str


class DatasetVersionCreated(BaseModel):
    version: DatasetVersionOut
    created: bool = Field(description="False when a version with this content already existed (it is returned).")


class DatasetVersionList(BaseModel):
    versions: list[DatasetVersionOut]


class DatasetOut(BaseModel):
    name: str
    created_at: int
    versions: int
    latest: int | None


class DatasetList(BaseModel):
    datasets: list[DatasetOut]


class LineageEdgeOut(BaseModel):
    source_type: str
    source_id: str
    target_type: str
    target_id: str
    relation: str
    created_at: int


class LineageEdgeList(BaseModel):
    edges: list[LineageEdgeOut]


class ModelVersionOut(BaseModel):
    name: str
    version: int
    uri: str = Field(description="``models:/<name>/<version>``.")
    source: str
    run_id: str | None
    manifest_sha256: str
    flavor: str
    signature: dict[str, Any]
    metrics: dict[str, OutFloat]
    dataset_version: str | None
    description: str
    tags: dict[str, str]
    status: Literal["READY", "ARCHIVED"]
    created_at: int
    created_by: str
    aliases: list[str]


class ModelVersionList(BaseModel):
    versions: list[ModelVersionOut]


class ModelOut(BaseModel):
    name: str
    description: str
    versions: int = Field(description="How many versions are stored.")
    latest: int | None = Field(description="The newest READY version (what @latest names); null when none is ready.")
    aliases: dict[str, int] = Field(description="Each alias and the version it points at.")
    created_at: int
    updated_at: int


class ModelList(BaseModel):
    models: list[ModelOut]


class PipelineRunOut(BaseModel):
    id: str
    pipeline: str
    params: dict[str, Any]
    status: PipelineRunStatus
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
    status: PipelineStatus
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


class ErrorDetail(BaseModel):
    field: str
    problem: str


class ErrorOut(BaseModel):
    """Every error response: what went wrong, the loopml exception type, and per-field problems."""

    error: str
    type: str
    details: list[ErrorDetail]
