"""The tracking store protocol, implemented by the SQL store and the HTTP client store.

Records in, records out; the SDK, the server and the CLI sit on top of it. Every write takes the
``actor`` recorded in the audit log.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from loopml.core.records import (
    AlertRecord,
    ArtifactInfo,
    AuditEvent,
    DatasetSummary,
    DatasetVersion,
    DecisionRecord,
    Experiment,
    FeatureDefinitionRecord,
    FeedbackRecord,
    LineageEdge,
    MaterializationRecord,
    Metric,
    ModelVersion,
    PipelineRunRecord,
    PipelineRunSummary,
    PipelineStatus,
    RegisteredModel,
    ReportRecord,
    Run,
    RunStatus,
    StepRunRecord,
)

if TYPE_CHECKING:
    import pandas as pd

MONITOR_ACTOR = "monitor"
"""The audit actor of monitoring writes that name none (the monitor service)."""

MetricPoint = tuple[str, float, int, int]
"""``(key, value, step, timestamp_ms)``: the buffered form of a metric point."""


@runtime_checkable
class BlobReferences(Protocol):
    """A store that records SHA-256 digests of blobs: garbage collection keeps every blob one of them names."""

    def referenced_blobs(self, among: Collection[str] | None = None) -> dict[str, set[str]]:
        """``{kind: digests}`` this store references (all of them, or those in ``among``), by set-based queries."""
        ...


@runtime_checkable
class TrackingStore(Protocol):
    """Experiments, runs, their params/metrics/tags and artifact records."""

    def create_experiment(self, name: str, *, tags: Mapping[str, Any] | None = None, actor: str) -> Experiment:
        """Create an experiment; ``Conflict`` if the name is taken."""
        ...

    def get_experiment(self, id_or_name: str) -> Experiment:
        """An experiment by id or name; ``NotFound`` if missing."""
        ...

    def get_or_create_experiment(self, name: str, *, actor: str) -> Experiment:
        """The experiment called ``name``, created if needed (safe under concurrency)."""
        ...

    def list_experiments(self) -> list[Experiment]:
        """All experiments, oldest first."""
        ...

    def create_run(
        self,
        experiment_id: str,
        *,
        name: str | None = None,
        parent_run_id: str | None = None,
        tags: Mapping[str, Any] | None = None,
        start_time: int | None = None,
        actor: str,
    ) -> Run:
        """Start a run in ``RUNNING`` state."""
        ...

    def get_run(self, run_id: str) -> Run:
        """A run by id or unique prefix (4+ hex), with params, latest metrics and tags; ``NotFound`` if missing."""
        ...

    def resolve_run_id(self, ref: str) -> str:
        """The full id of the run ``ref`` names (its id or a unique prefix of 4+ hex characters).

        ``InvalidInput`` for a malformed or ambiguous ``ref`` (listing the matches), ``NotFound`` when
        no run matches.
        """
        ...

    def set_run_status(self, run_id: str, status: RunStatus, *, end_time: int | None = None, actor: str) -> None:
        """Move a run to ``status`` (terminal states record ``end_time``)."""
        ...

    def heartbeat(self, run_ids: Sequence[str], *, actor: str) -> None:
        """Record that the process tracking these runs is alive (running runs only)."""
        ...

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[MetricPoint] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        actor: str,
    ) -> None:
        """Write metrics, params and tags in one transaction; ``Conflict`` if a param changes value."""
        ...

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of one metric, ordered by step then timestamp."""
        ...

    def get_runs(self, run_ids: Sequence[str]) -> list[Run]:
        """1 to 200 runs by full id, in the order asked; ``NotFound`` naming the first unknown one."""
        ...

    def get_metric_histories(
        self, run_ids: Sequence[str], keys: Sequence[str], *, max_points: int | None = None
    ) -> dict[str, dict[str, list[Metric]]]:
        """The histories of ``keys`` in each of 1-200 ``run_ids`` (run id -> key -> points, by step);
        with ``max_points`` (4+) each curve is downsampled keeping its extremes (LTTB)."""
        ...

    def experiment_keys(self, experiment: str) -> dict[str, list[str]]:
        """The distinct ``params``, ``metrics`` and ``tags`` keys of an experiment's runs (id or name)."""
        ...

    def count_runs(self) -> dict[str, int]:
        """How many runs each experiment holds (experiment id -> count)."""
        ...

    def search_runs(
        self,
        experiment_ids: Sequence[str] | None = None,
        *,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        offset: int = 0,
    ) -> list[Run]:
        """Runs matching the filter grammar of :mod:`loopml.store.search`."""
        ...

    def record_artifacts(self, run_id: str, artifacts: Sequence[ArtifactInfo], *, actor: str) -> None:
        """Record files logged to a run (their blobs are already stored)."""
        ...

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[ArtifactInfo]:
        """Artifacts of a run whose path is ``prefix`` or lies below it."""
        ...

    def list_audit_events(
        self,
        *,
        object_type: str | None = None,
        object_id: str | None = None,
        object_uri: str | None = None,
        actor: str | None = None,
        actions: Sequence[str] | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[AuditEvent]:
        """Newest audit events first, matching every filter given.

        ``object_uri`` names an object and what belongs to it (``models:/churn``: the model, its versions,
        aliases and decisions; see :mod:`loopml.store.audit`); ``actions`` are actions or prefixes of them
        (``model.alias``); ``since_ms`` keeps events at or after it, ``until_ms`` those before it;
        ``before_id`` keeps events with a smaller id (the next page after a page ending at that id).
        """
        ...

    def close(self) -> None:
        """Release connections (pooled database connections, HTTP clients)."""
        ...


@runtime_checkable
class DatasetStore(Protocol):
    """Immutable dataset versions, numbered per name and deduplicated by content hash."""

    def create_version(
        self,
        name: str,
        *,
        sha256: str,
        blob_sha256: str,
        n_rows: int,
        n_columns: int,
        size_bytes: int,
        schema: dict[str, Any],
        profile: dict[str, Any],
        source: dict[str, Any],
        description: str = "",
        actor: str,
    ) -> tuple[DatasetVersion, bool]:
        """Record a version (its blob is already stored); ``(existing, False)`` for known content."""
        ...

    def find_by_content(self, name: str, sha256: str) -> DatasetVersion | None:
        """The version of ``name`` with this content hash, if any."""
        ...

    def get_version(self, name: str, version: int | str = "latest") -> DatasetVersion:
        """A version by number or ``"latest"``; ``NotFound`` if missing."""
        ...

    def list_versions(self, name: str) -> list[DatasetVersion]:
        """Every version of ``name``, oldest first."""
        ...

    def list_datasets(self) -> list[DatasetSummary]:
        """Every dataset, sorted by name."""
        ...


@runtime_checkable
class LineageStore(Protocol):
    """Edges between recorded objects; adding an existing edge is a no-op."""

    def add_edge(self, source: tuple[str, str], target: tuple[str, str], *, relation: str, actor: str) -> LineageEdge:
        """Record ``source -> target``, each ``(object_type, object_id)``."""
        ...

    def edges(
        self, object_type: str, object_id: str, *, direction: Literal["in", "out", "both"] = "both"
    ) -> list[LineageEdge]:
        """Edges into, out of, or touching one object."""
        ...


@runtime_checkable
class ModelRegistry(Protocol):
    """Registered models: immutable numbered versions and aliases that move atomically.

    A version number is never reused; an alias points at one ``READY`` version; a version an
    alias points at cannot be archived or deleted. ``alias="latest"`` names the newest ``READY``
    version and cannot be set.
    """

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
        """Record the next version of ``name`` (a ``runs:/`` package), creating the model on first use."""
        ...

    def get_version(self, name: str, *, version: int | None = None, alias: str | None = None) -> ModelVersion:
        """A version by number or alias (exactly one); ``NotFound`` names what exists."""
        ...

    def list_models(self) -> list[RegisteredModel]:
        """Every registered model, by name.

        ``latest`` is the newest ``READY`` version (what ``alias="latest"`` names), ``None`` when none is.
        """
        ...

    def list_versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, oldest first, with its aliases."""
        ...

    def set_alias(self, name: str, alias: str, version: int, *, actor: str) -> ModelVersion:
        """Create or move ``alias`` to a ``READY`` version; returns that version."""
        ...

    def delete_alias(self, name: str, alias: str, *, actor: str) -> None:
        """Remove an alias; ``NotFound`` if it does not exist."""
        ...

    def archive_version(self, name: str, version: int, *, actor: str) -> ModelVersion:
        """Mark a version ``ARCHIVED``; ``Conflict`` while an alias points at it."""
        ...

    def delete_version(self, name: str, version: int, *, actor: str) -> None:
        """Delete a version's record; ``Conflict`` while an alias points at it."""
        ...

    def update_version(
        self,
        name: str,
        version: int,
        *,
        description: str | None = None,
        tags: dict[str, Any] | None = None,
        actor: str,
    ) -> ModelVersion:
        """Change the description and/or merge tags (a ``None`` value removes a tag)."""
        ...


@runtime_checkable
class PipelineStore(Protocol):
    """Pipeline runs and their step runs, and the step cache lookup (``loopml.pipelines`` on top).

    Records in, records out (:class:`~loopml.core.records.PipelineRunRecord`,
    :class:`~loopml.core.records.StepRunRecord`); arguments are checked by
    :mod:`loopml.store.pipelines` in every implementation. Starting and finishing a run, and a step
    run reaching a terminal status, are audited with ``actor``. A duplicate key (run id, step run
    id, or a step name already used in the run) is ``Conflict``; an unknown id is ``NotFound``.
    """

    def create_run(self, run: PipelineRunRecord, *, actor: str) -> None:
        """Record a pipeline run (``RUNNING``, ``SUCCEEDED`` or ``FAILED``)."""
        ...

    def finish_run(
        self,
        run_id: str,
        *,
        status: PipelineStatus,
        end_time: int,
        error: str | None = None,
        result: Any = None,
        actor: str,
    ) -> None:
        """End a run ``SUCCEEDED`` or ``FAILED``; ``result`` is JSON-able (what the pipeline returned)."""
        ...

    def insert_step(self, step: StepRunRecord, *, actor: str) -> None:
        """Record a step run of a recorded pipeline run."""
        ...

    def update_step(self, step_run_id: str, changes: Mapping[str, Any], *, actor: str) -> None:
        """Change some fields of a step run (``loopml.store.pipelines.STEP_CHANGES``)."""
        ...

    def find_cached(self, cache_key: str) -> StepRunRecord | None:
        """The newest ``SUCCEEDED`` step run with this cache key, if any (``None`` for a malformed key)."""
        ...

    def get_run(self, run_id: str) -> PipelineRunRecord:
        """A pipeline run by id or unique prefix (4+ hex characters)."""
        ...

    def list_runs(self, *, pipeline: str | None = None, limit: int = 50) -> list[PipelineRunSummary]:
        """Newest runs first (ties by id), optionally of one pipeline, with step counts."""
        ...

    def get_step(self, step_run_id: str) -> StepRunRecord:
        """A step run by full id."""
        ...

    def list_steps(self, pipeline_run_id: str) -> list[StepRunRecord]:
        """A run's step runs in topological order (``position``)."""
        ...


@runtime_checkable
class MonitoringStore(Protocol):
    """Feedback labels, alerts, report records and reference profiles of served models.

    Records in, records out (:class:`~loopml.core.records.FeedbackRecord`,
    :class:`~loopml.core.records.AlertRecord`, :class:`~loopml.core.records.ReportRecord`);
    arguments are checked by :mod:`loopml.store.monitoring` in every implementation. Stored labels
    (one event per batch), opened and resolved alerts, reports and profiles are audited with
    ``actor``; alert updates (each evaluation that finds the condition again) are not. At most one
    alert per ``(rule, model)`` is firing: opening a second is ``Conflict``. An unknown alert or
    report id is ``NotFound``.
    """

    def add_feedback(self, model: str, items: Sequence[FeedbackRecord], *, actor: str = MONITOR_ACTOR) -> int:
        """Store labels (a label for a known ``(model, request_id, row)`` replaces it); how many were written."""
        ...

    def feedback_frame(
        self,
        model: str,
        *,
        since_ms: int | None = None,
        until_ms: int | None = None,
        request_ids: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Labels of ``model`` (columns request_id, row, label, received_at, predicted_at), ``predicted_at``
        in ``[since_ms, until_ms)``."""
        ...

    def open_alert(self, record: AlertRecord, *, actor: str = MONITOR_ACTOR) -> AlertRecord:
        """Record a firing alert; ``Conflict`` if one is already firing for its ``(rule, model)``."""
        ...

    def update_alert(
        self,
        alert_id: str,
        *,
        value: float | None,
        evidence: Mapping[str, Any],
        message: str,
        updated_at: int,
        report_uri: str | None = None,
    ) -> AlertRecord:
        """A firing alert seen again: new value and evidence, ``occurrences`` + 1."""
        ...

    def resolve_alert(
        self, alert_id: str, *, resolved_at: int, value: float | None, actor: str = MONITOR_ACTOR
    ) -> AlertRecord:
        """Mark an alert ``resolved`` (its condition cleared)."""
        ...

    def get_alert(self, alert_id: str) -> AlertRecord:
        """An alert by id."""
        ...

    def list_alerts(
        self,
        *,
        model: str | None = None,
        state: str | None = None,
        rule: str | None = None,
        since_ms: int | None = None,
        limit: int = 100,
    ) -> list[AlertRecord]:
        """Alerts, newest ``started_at`` first, optionally filtered (``since_ms`` on ``updated_at``)."""
        ...

    def add_report(self, record: ReportRecord, *, actor: str = MONITOR_ACTOR) -> ReportRecord:
        """Record a report whose HTML is already a blob (``record.sha256``)."""
        ...

    def list_reports(self, model: str, *, version: int | None = None, limit: int = 50) -> list[ReportRecord]:
        """Reports of ``model``, newest first."""
        ...

    def get_report(self, report_id: str) -> ReportRecord:
        """A report by id."""
        ...

    def set_reference_profile(
        self, model: str, version: int, sha256: str, n_rows: int, *, actor: str = MONITOR_ACTOR
    ) -> None:
        """Point ``model`` version ``version`` at its reference profile (a JSON blob), replacing any."""
        ...

    def get_reference_profile(self, model: str, version: int) -> str | None:
        """The SHA-256 of the version's reference profile blob, ``None`` when it has none."""
        ...


@runtime_checkable
class DecisionStore(Protocol):
    """Promotion decisions: what a gate decided on a challenger, with its evidence.

    Records in, records out (:class:`~loopml.core.records.DecisionRecord`), checked by
    :mod:`loopml.store.decisions` in every implementation. Storing a decision writes, in the same
    transaction, a ``model.decision.record`` audit event on the model (``actor``) and the lineage
    edges that place it in the loop (data -> decision -> challenger, decision -> alias when moved).
    Decisions are immutable: a known id is ``Conflict``; an unknown id is ``NotFound``.
    """

    def add_decision(self, record: DecisionRecord, *, actor: str) -> DecisionRecord:
        """Store a decision; ``NotFound`` naming the field when a version or reference it names does not exist."""
        ...

    def list_decisions(self, model: str, *, limit: int = 50, passed: bool | None = None) -> list[DecisionRecord]:
        """Decisions on ``model``, newest first; ``passed=True``/``False`` keeps the passed/refused ones."""
        ...

    def get_decision(self, decision_id: str) -> DecisionRecord:
        """A decision by id."""
        ...


@runtime_checkable
class FeatureStore(Protocol):
    """Versioned feature definitions: entities, feature views and on-demand views (``kind``).

    Feature views and on-demand views share one namespace of names; entities have their own.
    A definition's versions are numbered from 1; applying a spec equal to the current one (same
    ``spec_hash``) adds no version. Deleting adds a version marked ``deleted`` (the history stays).
    Every change writes an audit event (object ``feature_view:NAME`` / ``entity:NAME``, before and
    after specs) in the same transaction.
    """

    def apply(
        self,
        definitions: Sequence[tuple[str, str, Mapping[str, Any]]],
        *,
        delete: Sequence[tuple[str, str]] = (),
        actor: str,
    ) -> list[FeatureDefinitionRecord]:
        """Store each changed ``(kind, name, spec)`` as a new version and delete ``(kind, name)`` pairs,
        all in one transaction (all or nothing). Returns the versions written, in input order."""
        ...

    def get_definition(self, kind: str, name: str, *, version: int | None = None) -> FeatureDefinitionRecord:
        """A definition's current version (``NotFound`` when unknown or deleted), or the given version."""
        ...

    def list_definitions(self, kind: str | None = None) -> list[FeatureDefinitionRecord]:
        """The current version of every live definition (of one kind), by kind then name."""
        ...

    def definition_history(self, kind: str, name: str) -> list[FeatureDefinitionRecord]:
        """Every version of one definition, oldest first (``NotFound`` when it never existed)."""
        ...


@runtime_checkable
class MaterializationStore(Protocol):
    """The record of each materialisation of a feature view into an online store."""

    def start_materialization(self, record: MaterializationRecord, *, actor: str) -> None:
        """Record a materialisation that starts (status ``running``)."""
        ...

    def finish_materialization(
        self,
        materialization_id: str,
        *,
        status: str,
        rows_read: int = 0,
        entities_written: int = 0,
        newest_event_ms: int | None = None,
        profile: Mapping[str, Any] | None = None,
        error: str | None = None,
        ended_at: int | None = None,
        actor: str,
    ) -> MaterializationRecord:
        """End a running materialisation (``succeeded`` or ``failed``); returns the stored record."""
        ...

    def get_materialization(self, materialization_id: str) -> MaterializationRecord:
        """One materialisation (``NotFound`` when unknown)."""
        ...

    def list_materializations(
        self,
        *,
        view: str | None = None,
        online_store: str | None = None,
        status: str | None = None,
        limit: int = 50,
    ) -> list[MaterializationRecord]:
        """Materialisations, newest first (by ``started_at``), optionally of one view, store and status."""
        ...
