"""The JSON codec of each record: what the server sends, the HTTP client reads and OpenAPI documents.

>>> from loopml.core.records import Metric
>>> METRIC.encode(Metric("loss", float("inf"), 1, 1700000000000))
{'key': 'loss', 'value': 'Infinity', 'step': 1, 'timestamp': 1700000000000}

One :class:`~loopml.core.codec.RecordCodec` per record, derived from its dataclass: adding a field
to a record changes the server's responses, the client's decoding and ``/openapi.json`` at once.
"""

from __future__ import annotations

from typing import Any

from loopml.core.codec import RecordCodec
from loopml.core.records import (
    AlertRecord,
    ArtifactInfo,
    AuditEvent,
    Blob,
    CycleRecord,
    DatasetSummary,
    DatasetVersion,
    DecisionRecord,
    Experiment,
    FeatureDefinitionRecord,
    FeedbackRecord,
    FeedbackResult,
    LineageEdge,
    MaterializationRecord,
    Metric,
    ModelVersion,
    PipelineRunRecord,
    PipelineRunSummary,
    PolicyRecord,
    RegisteredModel,
    ReportRecord,
    Run,
    StepRunRecord,
    Token,
)

EXPERIMENT = RecordCodec(Experiment)
RUN = RecordCodec(Run)
METRIC = RecordCodec(Metric)
ARTIFACT = RecordCodec(ArtifactInfo)
AUDIT_EVENT = RecordCodec(AuditEvent)
TOKEN = RecordCodec(Token)
BLOB = RecordCodec(Blob)
DATASET = RecordCodec(DatasetSummary)
DATASET_VERSION = RecordCodec(DatasetVersion, computed=("uri",))
LINEAGE_EDGE = RecordCodec(LineageEdge)
MODEL = RecordCodec(RegisteredModel)
MODEL_VERSION = RecordCodec(ModelVersion, computed=("uri",))
PIPELINE_RUN = RecordCodec(PipelineRunRecord)
PIPELINE_RUN_SUMMARY = RecordCodec(PipelineRunSummary)
STEP_RUN = RecordCodec(StepRunRecord)
FEEDBACK = RecordCodec(FeedbackRecord)
FEEDBACK_RESULT = RecordCodec(FeedbackResult)
ALERT = RecordCodec(AlertRecord)
REPORT = RecordCodec(ReportRecord)
DECISION = RecordCodec(DecisionRecord)
POLICY = RecordCodec(PolicyRecord)
CYCLE = RecordCodec(CycleRecord)
FEATURE_DEFINITION = RecordCodec(FeatureDefinitionRecord)
MATERIALIZATION = RecordCodec(MaterializationRecord)

CODECS: tuple[RecordCodec[Any], ...] = (
    EXPERIMENT,
    RUN,
    METRIC,
    ARTIFACT,
    AUDIT_EVENT,
    TOKEN,
    BLOB,
    DATASET,
    DATASET_VERSION,
    LINEAGE_EDGE,
    MODEL,
    MODEL_VERSION,
    PIPELINE_RUN,
    PIPELINE_RUN_SUMMARY,
    STEP_RUN,
    FEEDBACK,
    FEEDBACK_RESULT,
    ALERT,
    REPORT,
    DECISION,
    POLICY,
    CYCLE,
    FEATURE_DEFINITION,
    MATERIALIZATION,
)
"""Every record codec (the round-trip and schema tests walk them)."""
