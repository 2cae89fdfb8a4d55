"""What a policy store checks before it writes: retrain policies and the records of their cycles.

>>> check_cycle_status("done")
Traceback (most recent call last):
...
loopml.core.errors.InvalidInput: Invalid status 'done': use one of ['running', 'promoted', ...].

:class:`~loopml.store.sql.policies.SqlPolicyStore` calls these before it touches the database, so a
bad argument is an ``InvalidInput`` naming its field. What only the database knows (the dataset
version, pipeline run and decision a cycle names exist) is checked inside the write transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from loopml.core.errors import invalid
from loopml.core.records import CYCLE_REASONS, CYCLE_STATUSES, CycleRecord, PolicyRecord
from loopml.store.decisions import check_bool, check_dataset_version, jsonable
from loopml.store.monitoring import check_evidence, check_id, check_millis, check_model, check_text, check_version

POLICY_HINT = "List them with `loopml policy list`."
CYCLE_HINT = "List a policy's cycles with `loopml policy show NAME`."
MAX_TRIGGERS = 100


def check_policy_record(record: PolicyRecord) -> PolicyRecord:
    """A policy about to be stored (``InvalidInput`` naming the field); ``spec`` made JSON-safe.

    ``spec`` may repeat the model and the name (``RetrainPolicy.to_dict()`` does); when it does they
    must agree with the record's (``name`` may be null: a policy is named after its model by default).
    """
    if not isinstance(record, PolicyRecord):
        raise invalid(
            "record", "not a PolicyRecord", f"Invalid record: expected a PolicyRecord, got {type(record).__name__}."
        )
    check_model(record.name, "name")
    check_model(record.model, "model")
    spec = check_evidence(jsonable(record.spec, "spec"), "spec")
    if spec.get("model", record.model) != record.model:
        raise invalid(
            "spec.model",
            "differs from model",
            f"Invalid spec.model {spec['model']!r}: the policy is stored for model {record.model!r}.",
        )
    if spec.get("name") not in (None, record.name):
        raise invalid(
            "spec.name",
            "differs from name",
            f"Invalid spec.name {spec['name']!r}: the policy is stored as {record.name!r}.",
        )
    check_bool(record.enabled, "enabled")
    check_millis(record.created_at, "created_at")
    check_millis(record.updated_at, "updated_at")
    return replace(record, spec=spec)


def check_cycle_status(value: object, field: str = "status") -> str:
    """A cycle state, one of :data:`~loopml.core.records.CYCLE_STATUSES`."""
    return _one_of(value, field, CYCLE_STATUSES)


def check_cycle_reason(value: object, field: str = "reason") -> str:
    """Why a cycle started, one of :data:`~loopml.core.records.CYCLE_REASONS`."""
    return _one_of(value, field, CYCLE_REASONS)


def check_cycle_record(record: CycleRecord) -> CycleRecord:
    """A cycle about to start: ``running``, not ended, every field of the right shape.

    Returns the record with ``triggers`` and ``details`` made JSON-safe.
    """
    if not isinstance(record, CycleRecord):
        raise invalid(
            "record", "not a CycleRecord", f"Invalid record: expected a CycleRecord, got {type(record).__name__}."
        )
    check_id(record.id, "record.id")
    check_model(record.policy, "record.policy")
    check_model(record.model, "record.model")
    if check_cycle_status(record.status, "record.status") != "running":
        raise invalid(
            "record.status", "not running", f"Invalid record.status {record.status!r}: a cycle starts 'running'."
        )
    check_cycle_reason(record.reason, "record.reason")
    triggers = check_triggers(record.triggers, "record.triggers")
    check_millis(record.started_at, "record.started_at")
    if record.ended_at is not None or record.decision_id is not None or record.error is not None:
        field = next(f for f in ("ended_at", "decision_id", "error") if getattr(record, f) is not None)
        raise invalid(
            f"record.{field}", "set on a starting cycle", f"Invalid record.{field}: a starting cycle has none yet."
        )
    check_progress(
        dataset_version=record.dataset_version,
        pipeline_run_id=record.pipeline_run_id,
        challenger_version=record.challenger_version,
        prefix="record.",
    )
    details = check_evidence(jsonable(record.details, "record.details"), "record.details")
    return replace(record, triggers=triggers, details=details)


def check_progress(
    *,
    dataset_version: object = None,
    pipeline_run_id: object = None,
    challenger_version: object = None,
    decision_id: object = None,
    error: object = None,
    prefix: str = "",
) -> None:
    """The references a cycle learns as it runs, each ``None`` or of the right shape."""
    if dataset_version is not None:
        check_dataset_version(dataset_version, f"{prefix}dataset_version")
    if pipeline_run_id is not None:
        check_id(pipeline_run_id, f"{prefix}pipeline_run_id")
    check_version(challenger_version, f"{prefix}challenger_version", optional=True)
    if decision_id is not None:
        check_id(decision_id, f"{prefix}decision_id")
    check_text(error, f"{prefix}error", max_length=100_000, optional=True)


def check_triggers(value: object, field: str = "triggers") -> list[dict[str, Any]]:
    """A list of at most :data:`MAX_TRIGGERS` JSON objects (the trigger results that fired)."""
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, list | tuple) or len(value) > MAX_TRIGGERS:
        raise invalid(
            field, "not a list of objects", f"Invalid {field}: expected a list of at most {MAX_TRIGGERS} objects."
        )
    return [check_evidence(jsonable(item, f"{field}.{i}"), f"{field}.{i}") for i, item in enumerate(value)]


def check_details(value: object, field: str = "details") -> dict[str, Any] | None:
    """``None`` or a JSON object (what JSON lacks converted as :func:`~loopml.store.decisions.jsonable` does)."""
    return None if value is None else check_evidence(jsonable(value, field), field)


def _one_of(value: object, field: str, names: tuple[str, ...]) -> str:
    if isinstance(value, str) and value in names:
        return value
    shown = value[:80] if isinstance(value, str) else value
    raise invalid(field, f"not one of {list(names)}", f"Invalid {field} {shown!r}: use one of {list(names)}.")
