"""Table definitions of the metadata store (SQLAlchemy Core). Migrations live in ``store/migrations``."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

# Autoincrementing 64-bit key that is SQLite's rowid on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")
Double = Float(precision=53)

metadata = MetaData()

experiments = Table(
    "experiments",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
    # MLflow's soft deletion: "active" or "deleted" (a deleted experiment keeps its name and runs)
    Column("lifecycle_stage", String(16), nullable=False, server_default="active"),
    Column("deleted_at", BigInteger, nullable=True),
    Column("updated_at", BigInteger, nullable=True),
)

experiment_tags = Table(
    "experiment_tags",
    metadata,
    Column("experiment_id", String(32), ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("experiment_id", String(32), ForeignKey("experiments.id"), nullable=False),
    Column("name", String(256), nullable=False),
    Column("status", String(16), nullable=False),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger, nullable=True),
    Column("parent_run_id", String(32), ForeignKey("runs.id"), nullable=True),
    Column("user", String(256), nullable=False),
    Column("heartbeat_at", BigInteger, nullable=True),
    Column("lifecycle_stage", String(16), nullable=False, server_default="active"),  # "active" or "deleted"
    Column("deleted_at", BigInteger, nullable=True),
    Index("ix_runs_experiment_start", "experiment_id", "start_time"),
    Index("ix_runs_parent", "parent_run_id"),
)

params = Table(
    "params",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    Index("ix_params_key", "key"),
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    Index("ix_tags_key", "key"),
)

metrics = Table(
    "metrics",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    # NULL stands for NaN: SQLite cannot store NaN.
    Column("value", Double, nullable=True),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Index("ix_metrics_run_key_step", "run_id", "key", "step"),
)

latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Double, nullable=True),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Index("ix_latest_metrics_key_value", "key", "value"),
)

# the datasets a run used (MLflow's log-inputs): one row per (run, dataset name, digest)
run_inputs = Table(
    "run_inputs",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(500), primary_key=True),
    Column("digest", String(64), primary_key=True),
    Column("source_type", String(64), nullable=False),
    Column("source", Text, nullable=False),
    Column("schema", Text, nullable=True),
    Column("profile", Text, nullable=True),
    Column("tags", Text, nullable=False),  # JSON object of the input's tags (mlflow.data.context, ...)
    Column("created_at", BigInteger, nullable=False),
)

run_artifacts = Table(
    "run_artifacts",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("time", BigInteger, nullable=False),
    Column("actor", String(256), nullable=False),
    Column("action", String(64), nullable=False),
    Column("object_type", String(64), nullable=False),
    Column("object_id", String(256), nullable=False),
    Column("details", Text, nullable=False),
    Index("ix_audit_object", "object_type", "object_id"),
    Index("ix_audit_time", "time"),
    Index("ix_audit_actor", "actor", "id"),
    Index("ix_audit_action", "action", "id"),
)

lineage_edges = Table(
    "lineage_edges",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("source_type", String(64), nullable=False),
    Column("source_id", String(256), nullable=False),
    Column("target_type", String(64), nullable=False),
    Column("target_id", String(256), nullable=False),
    Column("relation", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("source_type", "source_id", "target_type", "target_id", "relation", name="uq_lineage_edge"),
    Index("ix_lineage_target", "target_type", "target_id"),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
)

datasets = Table(
    "datasets",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
)

dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("dataset_id", String(32), ForeignKey("datasets.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("blob_sha256", String(64), nullable=False),
    Column("n_rows", BigInteger, nullable=False),
    Column("n_columns", Integer, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("schema", Text, nullable=False),
    Column("profile", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=False),
    UniqueConstraint("dataset_id", "version", name="uq_dataset_version"),
    UniqueConstraint("dataset_id", "sha256", name="uq_dataset_content"),
)

registered_models = Table(
    "registered_models",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("description", Text, nullable=False),
    # highest number ever given, so a deleted version's number is never reused
    Column("last_version", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("tags", Text, nullable=False, server_default="{}"),  # JSON object of the model's tags
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("model_id", String(32), ForeignKey("registered_models.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("source", Text, nullable=False),
    Column("run_id", String(32), nullable=True),
    Column("manifest_sha256", String(64), nullable=False),
    Column("flavor", String(64), nullable=False),
    Column("signature", Text, nullable=False),
    Column("metrics", Text, nullable=False),
    Column("dataset_version", Text, nullable=True),
    Column("description", Text, nullable=False),
    Column("tags", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("mlflow_model_id", String(64), nullable=True),  # the MLflow 3 logged model of an "mlflow" version
    UniqueConstraint("model_id", "version", name="uq_model_version"),
    Index("ix_model_versions_run", "run_id"),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("model_id", String(32), ForeignKey("registered_models.id"), primary_key=True),
    Column("alias", String(256), primary_key=True),
    Column("version_id", String(32), ForeignKey("model_versions.id"), nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_model_aliases_version", "version_id"),
)

pipeline_runs = Table(
    "pipeline_runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("pipeline", String(256), nullable=False),
    Column("params", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("executor", String(32), nullable=False),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger, nullable=True),
    Column("error", Text, nullable=True),
    Column("resumed_from", String(32), nullable=True),
    # what the pipeline function returned, with step outputs as {"$step": ..., "$output": ...} (JSON)
    Column("result", Text, nullable=True),
    Column("created_by", String(256), nullable=False),
    # what started it, when a dataset schedule did: the version(s) it is pinned to, e.g. datasets:/customers/5
    Column("trigger", Text, nullable=True),
    Index("ix_pipeline_runs_pipeline_start", "pipeline", "start_time"),
    Index("ix_pipeline_runs_start", "start_time"),
)

step_runs = Table(
    "step_runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("pipeline_run_id", String(32), ForeignKey("pipeline_runs.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(256), nullable=False),
    # topological position in the run's DAG, and the names of the steps it reads from (JSON list)
    Column("position", Integer, nullable=False),
    Column("upstream", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("cache_key", String(64), nullable=True),
    Column("cache_hit", Boolean, nullable=False),
    Column("reused_from", String(32), nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("start_time", BigInteger, nullable=True),
    Column("end_time", BigInteger, nullable=True),
    Column("duration_ms", BigInteger, nullable=True),
    Column("inputs", Text, nullable=False),
    Column("outputs", Text, nullable=False),
    Column("logs", Text, nullable=False),
    Column("error", Text, nullable=True),
    Column("traceback", Text, nullable=True),
    # what the step resolved that can change (dataset @latest, model aliases, files): JSON list, checked on lookup
    Column("reads", Text, nullable=True),
    Column("miss_reason", Text, nullable=True),  # why a cached run with the same key was not reused
    UniqueConstraint("pipeline_run_id", "name", name="uq_step_run_name"),
    Index("ix_step_runs_cache_key", "cache_key"),
)

pipeline_schedules = Table(
    "pipeline_schedules",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("target", String(512), nullable=False),  # MODULE:PIPELINE, imported by the scheduler
    # when it runs: a cron expression (UTC) and/or the name of a dataset whose new versions trigger it
    Column("cron", String(128), nullable=True),
    Column("on_dataset", String(256), nullable=True),
    Column("params", Text, nullable=False),  # JSON object
    Column("executor", String(16), nullable=False, server_default="local"),  # local, process or ray
    Column("enabled", Boolean, nullable=False),
    Column("last_run_at", BigInteger, nullable=True),
    Column("last_run_id", String(32), nullable=True),
    Column("last_status", String(16), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("last_dataset_version", Integer, nullable=True),  # the newest version of on_dataset already seen
    Column("next_run_at", BigInteger, nullable=True),  # the next cron time (ms), None without cron
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=False),
)

# -- monitoring (migration 0009) -----------------------------------------------------------------

monitor_feedback = Table(
    "monitor_feedback",
    metadata,
    Column("model", String(128), primary_key=True),
    Column("request_id", String(64), primary_key=True),
    Column("row", Integer, primary_key=True),
    Column("label", Text, nullable=False),  # the label as JSON (a string, number or boolean)
    Column("received_at", BigInteger, nullable=False),
    Column("predicted_at", BigInteger, nullable=True),  # from the request id; NULL when it is not one
    Index("ix_monitor_feedback_model_predicted", "model", "predicted_at"),
)

monitor_alerts = Table(
    "monitor_alerts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("rule", String(256), nullable=False),
    Column("model", String(128), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("severity", String(32), nullable=False),
    Column("state", String(16), nullable=False),  # firing | resolved
    Column("value", Double, nullable=True),
    Column("threshold", Double, nullable=False),
    Column("message", Text, nullable=False),
    Column("window", String(64), nullable=False),
    Column("evidence", Text, nullable=False),  # JSON object
    Column("report_uri", Text, nullable=True),
    Column("started_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("resolved_at", BigInteger, nullable=True),
    Column("occurrences", Integer, nullable=False),
    Index("ix_monitor_alerts_model_started", "model", "started_at"),
    Index("ix_monitor_alerts_state", "state"),
    Index("ix_monitor_alerts_rule", "rule"),
    # at most one firing alert per (rule, model): two monitor processes cannot both open one
    Index(
        "uq_monitor_alerts_firing",
        "rule",
        "model",
        unique=True,
        sqlite_where=text("state = 'firing'"),
        postgresql_where=text("state = 'firing'"),
    ),
)

monitor_reports = Table(
    "monitor_reports",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("model", String(128), nullable=False),
    Column("version", Integer, nullable=True),
    Column("kind", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),  # the HTML blob
    Column("size", BigInteger, nullable=False),
    Column("summary", Text, nullable=False),  # JSON object
    Index("ix_monitor_reports_model_created", "model", "created_at"),
)

monitor_profiles = Table(
    "monitor_profiles",
    metadata,
    Column("model", String(128), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("sha256", String(64), nullable=False),  # the profile JSON blob
    Column("n_rows", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# -- promotion decisions (migration 0010) --------------------------------------------------------

model_decisions = Table(
    "model_decisions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("model", String(256), nullable=False),
    Column("challenger_version", Integer, nullable=False),
    Column("champion_version", Integer, nullable=True),  # NULL: no champion yet
    Column("passed", Boolean, nullable=False),
    Column("metric", String(256), nullable=False),
    # NULL stands for "not computed" (and NaN: SQLite cannot store NaN)
    Column("champion_score", Double, nullable=True),
    Column("challenger_score", Double, nullable=True),
    Column("p_value", Double, nullable=True),
    Column("reasons", Text, nullable=False),  # JSON list of strings
    Column("evidence", Text, nullable=False),  # JSON object: GateDecision.to_dict() plus references
    Column("trigger", Text, nullable=True),
    Column("dataset_version", Text, nullable=True),  # datasets:/NAME/VERSION
    Column("pipeline_run_id", String(32), nullable=True),
    Column("policy", String(256), nullable=True),
    Column("alias", String(256), nullable=True),
    Column("alias_moved", Boolean, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=False),
    Index("ix_model_decisions_model_created", "model", "created_at"),
)

# -- retrain policies, their cycles and the per-model lock (migration 0011) -----------------------

retrain_policies = Table(
    "retrain_policies",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("model", String(256), nullable=False),
    Column("spec", Text, nullable=False),  # JSON object: RetrainPolicy.to_dict()
    Column("enabled", Boolean, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=False),
    Index("ix_retrain_policies_model", "model"),
)

retrain_cycles = Table(
    "retrain_cycles",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("policy", String(256), nullable=False),  # no foreign key: cycles outlive a deleted policy
    Column("model", String(256), nullable=False),
    Column("status", String(16), nullable=False),  # running, promoted, refused, failed
    Column("reason", String(16), nullable=False),  # triggers, forced, schedule
    Column("triggers", Text, nullable=False),  # JSON list of the trigger results that fired
    Column("started_at", BigInteger, nullable=False),
    Column("ended_at", BigInteger, nullable=True),
    Column("dataset_version", Text, nullable=True),  # datasets:/NAME/VERSION
    Column("pipeline_run_id", String(32), nullable=True),
    Column("challenger_version", Integer, nullable=True),
    Column("decision_id", String(32), nullable=True),
    Column("error", Text, nullable=True),
    Column("details", Text, nullable=False),  # JSON object
    Column("created_by", String(256), nullable=False),
    Index("ix_retrain_cycles_policy_started", "policy", "started_at"),
    Index("ix_retrain_cycles_model_started", "model", "started_at"),
)

retrain_locks = Table(
    "retrain_locks",
    metadata,
    Column("model", String(256), primary_key=True),  # one retrain per model at a time
    Column("cycle_id", String(32), nullable=False),
    Column("acquired_at", BigInteger, nullable=False),
)


# -- feature store: definitions and materialisations (migration 0014) -------------------------------

feature_definitions = Table(
    "feature_definitions",
    metadata,
    Column("kind", String(32), primary_key=True),  # entity, feature_view, on_demand_feature_view
    Column("name", String(128), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("spec", Text, nullable=False),  # JSON object: the definition's to_spec()
    Column("spec_hash", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("deleted", Boolean, nullable=False),  # set on the version that records a deletion
    Index("ix_feature_definitions_name", "name"),
)

feature_materializations = Table(
    "feature_materializations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("view", String(128), nullable=False),  # no foreign key: history outlives a deleted view
    Column("view_version", Integer, nullable=False),
    Column("online_store", Text, nullable=False),  # the online store's URI, password masked
    Column("start_ms", BigInteger, nullable=False),
    Column("end_ms", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),  # running, succeeded, failed
    Column("started_at", BigInteger, nullable=False),
    Column("ended_at", BigInteger, nullable=True),
    Column("rows_read", BigInteger, nullable=False),
    Column("entities_written", BigInteger, nullable=False),
    Column("newest_event_ms", BigInteger, nullable=True),
    Column("profile", Text, nullable=False),  # JSON object: a mergeable profile per feature
    Column("error", Text, nullable=True),
    Column("created_by", String(256), nullable=False),
    Index("ix_feature_materializations_view_started", "view", "started_at"),
)
