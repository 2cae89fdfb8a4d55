"""The MLflow source protocol: what the importer reads, whichever store it comes from."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from loopml.importers.records import (
    MetricPoint,
    MlflowExperiment,
    MlflowFile,
    MlflowLoggedModel,
    MlflowRegisteredModel,
    MlflowRun,
)

__all__ = ["METRIC_CHUNK", "MlflowSource"]

METRIC_CHUNK = 50_000
"""Metric points a reader hands over at a time (and the importer writes per ``log_batch``)."""


class MlflowSource(Protocol):
    """An MLflow tracking store read from the outside: a database or an ``mlruns`` folder."""

    location: str

    def experiments(self) -> list[MlflowExperiment]:
        """Every experiment, deleted ones included (flagged)."""
        ...

    def runs(self, experiment_ids: Sequence[str]) -> list[MlflowRun]:
        """Every run of these experiments with params and tags, deleted ones included (flagged)."""
        ...

    def metric_chunks(self, run_ids: Sequence[str]) -> Iterator[tuple[str, list[MetricPoint]]]:
        """Every metric point of these runs as ``(run_id, points)``, at most :data:`METRIC_CHUNK` points
        each, a run's chunks one after the other."""
        ...

    def artifacts(self, run: MlflowRun) -> list[MlflowFile] | None:
        """The files under the run's artifact root, or ``None`` when this reader cannot reach it."""
        ...

    def logged_models(self, experiment_ids: Sequence[str]) -> list[MlflowLoggedModel]:
        """The MLflow 3 logged models of these experiments (none for older stores)."""
        ...

    def model_files(self, model: MlflowLoggedModel) -> list[MlflowFile] | None:
        """A logged model's files (``MLmodel`` and the rest), or ``None`` when unreachable."""
        ...

    def registered_models(self) -> list[MlflowRegisteredModel]:
        """Registered models with their live versions and aliases."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
