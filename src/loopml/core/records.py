"""Plain records shared by stores, services and the HTTP layer (no behaviour, no I/O)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from loopml.core.clock import now_ms


class RunStatus(StrEnum):
    """Lifecycle of a run. ``RUNNING`` is the only non-terminal state."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"


class Role(StrEnum):
    """Token roles, each allowing everything the previous one does."""

    READER = "reader"
    WRITER = "writer"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Metric:
    """One point of a metric's history."""

    key: str
    value: float
    step: int = 0
    timestamp: int = field(default_factory=now_ms)


@dataclass(frozen=True, slots=True)
class Experiment:
    """A named group of runs."""

    id: str
    name: str
    created_at: int
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Run:
    """A run with its latest metric values, params and tags."""

    id: str
    experiment_id: str
    name: str
    status: RunStatus
    start_time: int
    end_time: int | None
    parent_run_id: str | None
    user: str
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict, metadata={"description": "Latest value of each metric."})
    tags: dict[str, str] = field(default_factory=dict)
    heartbeat_at: int | None = field(
        default=None, metadata={"description": "Epoch ms of the tracking process's last heartbeat."}
    )
    """Epoch ms of the last sign of life from the process tracking it (set while ``RUNNING``)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return asdict(self)

    def is_stale(self, after_ms: int, now: int | None = None) -> bool:
        """Whether the run is ``RUNNING`` but its process has not sent a heartbeat for ``after_ms``.

        Such a run's process most likely died (SIGKILL, out of memory, lost machine); end it with
        ``loopml runs end RUN --status KILLED``.
        """
        if self.status is not RunStatus.RUNNING:
            return False
        last = self.heartbeat_at if self.heartbeat_at is not None else self.start_time
        return (now_ms() if now is None else now) - last > after_ms


@dataclass(frozen=True, slots=True)
class Blob:
    """A stored blob: its content hash and size in bytes."""

    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class ArtifactInfo:
    """A file logged to a run, addressed by its content hash."""

    path: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """Who changed what, when."""

    id: int
    time: int
    actor: str
    action: str
    object_type: str
    object_id: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LineageEdge:
    """A directed edge between two recorded objects, e.g. dataset version -> run."""

    source_type: str
    source_id: str
    target_type: str
    target_id: str
    relation: str
    created_at: int


@dataclass(frozen=True, slots=True)
class Token:
    """An API token's stored metadata (the secret itself is only shown once)."""

    id: str
    name: str
    role: Role
    created_at: int
    revoked: bool = False


@dataclass(frozen=True, slots=True)
class DatasetVersion:
    """An immutable version of a named dataset, stored as Parquet in the artifact store.

    ``sha256`` is the content hash of the logical table (column names, types and values in
    row order), stable across file splits and chunking; ``blob_sha256`` addresses the Parquet file.
    """

    id: str
    name: str
    version: int
    sha256: str
    blob_sha256: str
    n_rows: int
    n_columns: int
    size_bytes: int
    schema: dict[str, Any]
    profile: dict[str, Any]
    source: dict[str, Any]
    created_at: int
    created_by: str
    description: str = ""

    @property
    def uri(self) -> str:
        """``datasets:/<name>/<version>``."""
        return f"datasets:/{self.name}/{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (with the URI)."""
        return {**asdict(self), "uri": self.uri}


@dataclass(frozen=True, slots=True)
class DatasetSummary:
    """A named dataset: how many versions it has and the newest one (``None`` before the first)."""

    name: str
    created_at: int
    versions: int
    latest: int | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """A registered model: its versions counted, the newest ``READY`` one, and its aliases."""

    name: str
    description: str
    versions: int = field(metadata={"description": "How many versions are stored."})
    latest: int | None = field(
        metadata={"description": "The newest READY version (what @latest names); null when none is ready."}
    )
    aliases: dict[str, int] = field(metadata={"description": "Each alias and the version it points at."})
    created_at: int
    updated_at: int
    tags: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """A registered model version: an immutable model package plus where it came from."""

    name: str
    version: int
    source: str
    run_id: str | None
    manifest_sha256: str
    flavor: str
    signature: dict[str, Any]
    metrics: dict[str, float]
    dataset_version: str | None
    description: str
    tags: dict[str, str]
    status: str
    created_at: int
    created_by: str
    aliases: list[str] = field(default_factory=list)
    mlflow_model_id: str | None = field(
        default=None,
        metadata={"description": "The MLflow 3 logged model (m-...) of a version registered through the MLflow API."},
    )

    @property
    def uri(self) -> str:
        """``models:/<name>/<version>``."""
        return f"models:/{self.name}/{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (with the URI)."""
        return {**asdict(self), "uri": self.uri}


class PipelineStatus(StrEnum):
    """Pipeline runs are ``RUNNING``, then ``SUCCEEDED`` or ``FAILED``; step runs can also be ``SKIPPED``
    (not started because another step failed)."""

    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"

    @property
    def terminal(self) -> bool:
        """Whether nothing follows this status (every status but ``RUNNING``)."""
        return self is not PipelineStatus.RUNNING


@dataclass(frozen=True, slots=True)
class PipelineRunRecord:
    """A pipeline run as the pipeline store keeps it (``loopml.pipelines.PipelineRun`` adds its steps).

    ``params`` and ``result`` are the user's JSON values (``result`` spells step outputs as
    ``{"$step", "$output"}``); ``trigger`` is the dataset version a schedule ran it on, if any.
    """

    id: str
    pipeline: str
    params: dict[str, Any]
    status: PipelineStatus
    executor: str
    start_time: int
    end_time: int | None = None
    error: str | None = None
    resumed_from: str | None = None
    result: Any = field(
        default=None, metadata={"description": "What the pipeline returned (step outputs as {'$step', '$output'})."}
    )
    created_by: str = ""
    trigger: str | None = field(
        default=None, metadata={"description": "The dataset version a schedule ran it on, if any."}
    )


@dataclass(frozen=True, slots=True)
class PipelineRunSummary(PipelineRunRecord):
    """A listed pipeline run with counts of its step runs: recorded, cache hits, failed."""

    steps: int = field(default=0, metadata={"description": "How many step runs are recorded."})
    cached: int = field(default=0, metadata={"description": "How many of them were cache hits."})
    failed: int = field(default=0, metadata={"description": "How many of them failed."})


@dataclass(frozen=True, slots=True)
class StepRunRecord:
    """One step of one pipeline run as the pipeline store keeps it.

    ``inputs`` maps argument names to input artifact SHA-256; ``outputs`` maps output names to
    stored artifacts (``loopml.pipelines.materialize.Artifact.to_dict()``); ``reads`` lists what
    the step resolved that can change (``loopml.core.reads``), ``None`` when recorded before
    reads were; ``miss_reason`` says why a cached run with the same key was not reused.
    """

    id: str
    pipeline_run_id: str
    name: str
    position: int = field(metadata={"description": "Topological position in the run's DAG."})
    status: PipelineStatus
    upstream: list[str] = field(default_factory=list)
    cache_key: str | None = None
    cache_hit: bool = False
    reused_from: str | None = None
    attempts: int = 0
    start_time: int | None = None
    end_time: int | None = None
    duration_ms: int | None = None
    inputs: dict[str, str] = field(
        default_factory=dict, metadata={"description": "Argument name -> input artifact SHA-256."}
    )
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    logs: str = ""
    error: str | None = None
    traceback: str | None = None
    reads: list[dict[str, Any]] | None = field(
        default_factory=list,
        metadata={"description": "What it resolved that can change (null: recorded before reads were)."},
    )
    miss_reason: str | None = field(
        default=None, metadata={"description": "Why a cached run with its key was not reused."}
    )


@dataclass(frozen=True, slots=True)
class FeedbackRecord:
    """A ground-truth label for one predicted row, keyed by ``(model, request_id, row)``.

    ``label`` is a JSON scalar (str, int, float or bool); ``received_at`` is when it arrived and
    ``predicted_at`` when the prediction was made (read from the request id), both epoch ms.
    """

    model: str
    request_id: str
    row: int
    label: Any = field(metadata={"description": "The true value: a string, number or boolean."})
    received_at: int
    predicted_at: int | None = field(
        default=None, metadata={"description": "Epoch ms of the prediction (from the request id); null if unknown."}
    )


@dataclass(frozen=True, slots=True)
class FeedbackResult:
    """What logging a batch of labels did: labels stored, and the request ids no prediction is known for.

    Unknown ids are stored anyway (a label may arrive before the prediction log is flushed); at most
    100 of them are listed, ``unknown_count`` counts them all.
    """

    accepted: int
    unknown: list[str] = field(default_factory=list, metadata={"description": "At most 100 unknown request ids."})
    unknown_count: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {"accepted": self.accepted, "unknown": list(self.unknown), "unknown_count": self.unknown_count}


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """A monitoring alert: a rule's condition that holds (``firing``) or held (``resolved``) for a model.

    At most one alert per ``(rule, model)`` is firing; while the condition persists it is updated
    (``occurrences`` counts evaluations that found it) instead of opening another.
    """

    id: str
    rule: str
    model: str
    kind: str = field(metadata={"description": "What the rule watches: drift_share, column_drift, quality, ..."})
    severity: str
    state: str = field(metadata={"description": "'firing' or 'resolved'."})
    value: float | None
    threshold: float
    message: str
    window: str
    evidence: dict[str, Any] = field(default_factory=dict)
    report_uri: str | None = None
    started_at: int = 0
    updated_at: int = 0
    resolved_at: int | None = None
    occurrences: int = 1


@dataclass(frozen=True, slots=True)
class ReportRecord:
    """A stored monitoring report (its HTML is a blob of the content-addressed store, by ``sha256``)."""

    id: str
    model: str
    version: int | None
    kind: str
    created_at: int
    sha256: str
    size: int
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """A promotion gate's decision on a challenger, stored with its evidence.

    ``evidence`` is the full ``GateDecision.to_dict()`` plus what led to it (trigger, data, pipeline
    run); the top-level fields repeat what lists and filters need. ``champion_version`` is ``None``
    when the model had no champion yet; ``alias_moved`` says whether ``alias`` was moved to the
    challenger because of this decision. Scores and the p-value are ``None`` when not computed.
    """

    id: str
    model: str
    challenger_version: int
    champion_version: int | None
    passed: bool
    metric: str
    champion_score: float | None
    challenger_score: float | None
    p_value: float | None
    reasons: list[str] = field(default_factory=list, metadata={"description": "Why it passed or was refused."})
    evidence: dict[str, Any] = field(
        default_factory=dict, metadata={"description": "GateDecision.to_dict() plus trigger, data and run references."}
    )
    trigger: str | None = field(default=None, metadata={"description": "What started the cycle (drift, cron, ...)."})
    dataset_version: str | None = field(
        default=None, metadata={"description": "The data the challenger was trained on: datasets:/NAME/VERSION."}
    )
    pipeline_run_id: str | None = None
    policy: str | None = None
    alias: str | None = field(default=None, metadata={"description": "The alias the gate guards (production)."})
    alias_moved: bool = False
    created_at: int = field(default_factory=now_ms)
    created_by: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return asdict(self)


CYCLE_STATUSES = ("running", "promoted", "passed", "refused", "failed")
"""States of a retrain cycle: ``running`` until it ends promoted, passed (the gate passed; the policy
leaves the promotion to a person), refused (by the gate) or failed."""
CYCLE_REASONS = ("triggers", "forced", "schedule")
"""Why a retrain cycle started: its triggers fired, ``loopml policy run`` forced it, or its schedule came."""


@dataclass(frozen=True, slots=True)
class PolicyRecord:
    """A stored retrain policy: ``spec`` is ``RetrainPolicy.to_dict()``; a paused policy is not ``enabled``."""

    name: str
    model: str
    spec: dict[str, Any] = field(
        default_factory=dict, metadata={"description": "RetrainPolicy.to_dict(): pipeline, triggers, promotion."}
    )
    enabled: bool = True
    created_at: int = field(default_factory=now_ms)
    updated_at: int = field(default_factory=now_ms)
    created_by: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class CycleRecord:
    """One retrain cycle of a policy: trigger -> data -> pipeline run -> challenger -> decision.

    ``status`` is one of :data:`CYCLE_STATUSES` and ``reason`` one of :data:`CYCLE_REASONS`;
    ``triggers`` are the trigger results that fired it. The other references are filled in as the
    cycle learns them and stay ``None`` when it ended before.
    """

    id: str
    policy: str
    model: str
    status: str
    reason: str
    triggers: list[dict[str, Any]]
    started_at: int
    ended_at: int | None = None
    dataset_version: str | None = field(
        default=None, metadata={"description": "The data the challenger was trained on: datasets:/NAME/VERSION."}
    )
    pipeline_run_id: str | None = None
    challenger_version: int | None = None
    decision_id: str | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    created_by: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return asdict(self)


FEATURE_KINDS = ("entity", "feature_view", "on_demand_feature_view")
"""What a feature definition is: an entity, a feature view over a source, or an on-demand view."""


@dataclass(frozen=True, slots=True)
class FeatureDefinitionRecord:
    """One version of a registered feature definition (``kind`` is one of :data:`FEATURE_KINDS`).

    ``spec`` is the definition's JSON form (``Entity.to_spec()``, ``FeatureView.to_spec()``, ...);
    ``spec_hash`` is the SHA-256 of its canonical JSON, so applying an unchanged definition adds no
    version. A deleted definition keeps its versions with ``deleted`` set on the last one.
    """

    kind: str
    name: str
    version: int
    spec: dict[str, Any]
    spec_hash: str
    created_at: int = field(default_factory=now_ms)
    created_by: str = ""
    deleted: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return asdict(self)


MATERIALIZATION_STATUSES = ("running", "succeeded", "failed")
"""Where a materialisation is: writing, done, or stopped by an error (nothing half-counted)."""


@dataclass(frozen=True, slots=True)
class MaterializationRecord:
    """One materialisation of a feature view into an online store, over ``[start_ms, end_ms]``.

    ``online_store`` names the store written (its URI with any password masked); ``rows_read`` is
    the number of source rows in the window and ``entities_written`` the number of entity keys
    whose latest row was written; ``newest_event_ms`` is the newest event time among them.
    ``profile`` holds a mergeable profile per feature (what skew
    checks compare); ``view_version`` is the definition version that was materialised.
    """

    id: str
    view: str
    view_version: int
    online_store: str
    start_ms: int
    end_ms: int
    status: str
    started_at: int
    ended_at: int | None = None
    rows_read: int = 0
    entities_written: int = 0
    newest_event_ms: int | None = field(
        default=None, metadata={"description": "The newest event timestamp written (epoch ms): how fresh it is."}
    )
    profile: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    created_by: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return asdict(self)
