"""What an MLflow source hands the importer: plain records, independent of how they were read."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import IO

from loopml.core.records import RunStatus
from loopml.store.base import MetricPoint

__all__ = [
    "MLFLOW_STATUSES",
    "MetricPoint",
    "MlflowAlias",
    "MlflowExperiment",
    "MlflowFile",
    "MlflowLoggedModel",
    "MlflowModelVersion",
    "MlflowRegisteredModel",
    "MlflowRun",
    "logged_model_id",
    "status_of",
]

MLFLOW_STATUSES = {
    "RUNNING": RunStatus.RUNNING,
    "SCHEDULED": RunStatus.RUNNING,  # loopml has no queued state: a scheduled run is not over either
    "FINISHED": RunStatus.FINISHED,
    "FAILED": RunStatus.FAILED,
    "KILLED": RunStatus.KILLED,
}
"""MLflow's run statuses -> loopml's."""

_FILE_STORE_STATUSES = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}


def status_of(value: object) -> RunStatus:
    """A run status as MLflow stores it (a name, or the file store's number) as loopml's; unknown -> FAILED."""
    name = _FILE_STORE_STATUSES.get(value, str(value)) if isinstance(value, int) else str(value).upper()
    return MLFLOW_STATUSES.get(name, RunStatus.FAILED)


def logged_model_id(source: str) -> str | None:
    """``m-...`` of a model version whose source is an MLflow 3 logged model (``models:/m-...``)."""
    if source.startswith("models:/m-"):
        return source.removeprefix("models:/").split("/", 1)[0]
    return None


@dataclass(frozen=True, slots=True)
class MlflowExperiment:
    """An MLflow experiment: its id in the source, name, tags, and whether it was deleted."""

    id: str
    name: str
    tags: dict[str, str] = field(default_factory=dict)
    deleted: bool = False
    created_at: int | None = None


@dataclass(frozen=True, slots=True)
class MlflowRun:
    """An MLflow run with its params and tags (metric points are streamed separately)."""

    id: str
    experiment_id: str
    name: str
    status: RunStatus
    start_time: int | None
    end_time: int | None
    user: str
    artifact_uri: str
    deleted: bool = False
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def parent_id(self) -> str | None:
        """The MLflow id of the parent run (``mlflow.parentRunId``), if nested."""
        return self.tags.get("mlflow.parentRunId") or None


@dataclass(frozen=True, slots=True)
class MlflowFile:
    """One artifact file: its path relative to the folder copied, size if known, and how to read it."""

    path: str
    size: int | None
    open: Callable[[], AbstractContextManager[IO[bytes]]]


@dataclass(frozen=True, slots=True)
class MlflowLoggedModel:
    """An MLflow 3 logged model (``models:/m-...``): its files are copied into the run that logged it."""

    id: str
    name: str
    experiment_id: str
    source_run_id: str | None
    artifact_location: str
    created_at: int | None = None


@dataclass(frozen=True, slots=True)
class MlflowModelVersion:
    """One version of a registered model, as MLflow stores it."""

    version: int
    source: str
    run_id: str | None
    description: str
    tags: dict[str, str]
    status: str
    created_at: int | None
    updated_at: int | None
    user: str | None
    model_id: str | None = None


@dataclass(frozen=True, slots=True)
class MlflowAlias:
    """An alias of a registered model pointing at a version number."""

    alias: str
    version: int


@dataclass(frozen=True, slots=True)
class MlflowRegisteredModel:
    """A registered model with its versions (not deleted) and aliases."""

    name: str
    description: str
    tags: dict[str, str]
    created_at: int | None
    versions: list[MlflowModelVersion]
    aliases: list[MlflowAlias]
