"""loopml records as MLflow's JSON: experiments, runs (info, data, inputs), metrics.

Field names and shapes follow ``mlflow/protos/service.proto``; 64-bit integers are JSON numbers and
non-finite metric values are the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` (proto3 JSON),
which the ``mlflow`` client reads back as floats.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from loopml.core.records import Metric, Run
from loopml.server.mlflow.uris import experiment_artifact_location, run_artifact_uri
from loopml.store.sql.lifecycle import ExperimentEntry, RunInfoRow, RunInput

RUN_NAME_TAG = "mlflow.runName"
PARENT_RUN_TAG = "mlflow.parentRunId"


def float_json(value: float) -> float | str:
    """A metric value as proto3 JSON writes it (NaN and infinities as strings)."""
    if value - value == 0:
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def experiment_json(entry: ExperimentEntry, mlflow_id: str) -> dict[str, Any]:
    """An ``Experiment`` message; ``mlflow_id`` is the id MLflow clients see (``"0"`` for Default)."""
    return {
        "experiment_id": mlflow_id,
        "name": entry.name,
        "artifact_location": experiment_artifact_location(mlflow_id),
        "lifecycle_stage": entry.lifecycle_stage,
        "last_update_time": entry.updated_at,
        "creation_time": entry.created_at,
        "tags": [{"key": k, "value": v} for k, v in entry.tags.items()],
    }


def run_info_json(
    *,
    run_id: str,
    experiment_id: str,
    name: str,
    user: str,
    status: str,
    start_time: int,
    end_time: int | None,
    lifecycle_stage: str,
) -> dict[str, Any]:
    """A ``RunInfo`` message (``experiment_id`` as MLflow clients see it)."""
    info: dict[str, Any] = {
        "run_id": run_id,
        "run_uuid": run_id,
        "run_name": name,
        "experiment_id": experiment_id,
        "user_id": user,
        "status": status,
        "start_time": start_time,
        "artifact_uri": run_artifact_uri(experiment_id, run_id),
        "lifecycle_stage": lifecycle_stage,
    }
    if end_time is not None:
        info["end_time"] = end_time
    return info


def info_row_json(row: RunInfoRow, experiment_id: str) -> dict[str, Any]:
    """The ``RunInfo`` of an updated run."""
    return run_info_json(
        run_id=row.id,
        experiment_id=experiment_id,
        name=row.name,
        user=row.user,
        status=row.status.value,
        start_time=row.start_time,
        end_time=row.end_time,
        lifecycle_stage=row.lifecycle_stage,
    )


def run_json(
    run: Run,
    *,
    experiment_id: str,
    lifecycle_stage: str,
    metrics: Sequence[tuple[str, float, int, int]],
    inputs: Sequence[RunInput],
    outputs: Sequence[tuple[str, int]] = (),
) -> dict[str, Any]:
    """A ``Run`` message: info, data (latest metrics, params, tags with ``mlflow.runName``), inputs, and
    outputs (the logged models the run output, MLflow 3)."""
    tags = [{"key": k, "value": v} for k, v in run.tags.items() if k != RUN_NAME_TAG]
    tags.append({"key": RUN_NAME_TAG, "value": run.name})
    return {
        "info": run_info_json(
            run_id=run.id,
            experiment_id=experiment_id,
            name=run.name,
            user=run.user,
            status=run.status.value,
            start_time=run.start_time,
            end_time=run.end_time,
            lifecycle_stage=lifecycle_stage,
        ),
        "data": {
            "metrics": [
                {"key": key, "value": float_json(value), "step": step, "timestamp": ts}
                for key, value, step, ts in metrics
            ],
            "params": [{"key": k, "value": v} for k, v in run.params.items()],
            "tags": tags,
        },
        "inputs": {"dataset_inputs": [dataset_input_json(i) for i in inputs]},
        "outputs": {"model_outputs": [{"model_id": model_id, "step": step} for model_id, step in outputs]},
    }


def dataset_input_json(item: RunInput) -> dict[str, Any]:
    """A ``DatasetInput`` message."""
    dataset: dict[str, Any] = {
        "name": item.name,
        "digest": item.digest,
        "source_type": item.source_type,
        "source": item.source,
    }
    if item.schema is not None:
        dataset["schema"] = item.schema
    if item.profile is not None:
        dataset["profile"] = item.profile
    return {"tags": [{"key": k, "value": v} for k, v in item.tags.items()], "dataset": dataset}


def metrics_json(points: Sequence[Metric]) -> list[dict[str, Any]]:
    """``Metric`` messages of a history."""
    return [{"key": p.key, "value": float_json(p.value), "timestamp": p.timestamp, "step": p.step} for p in points]
