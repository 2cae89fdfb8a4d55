"""The MLflow source protocol and the table from a ``--from`` location to the reader that opens it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

from loopml.core.errors import InvalidInput
from loopml.importers.records import (
    MetricPoint,
    MlflowExperiment,
    MlflowFile,
    MlflowLoggedModel,
    MlflowRegisteredModel,
    MlflowRun,
)

__all__ = ["METRIC_CHUNK", "MlflowSource", "open_source"]

METRIC_CHUNK = 50_000
"""Metric points a reader hands over at a time (and the importer writes per ``log_batch``)."""

SQL_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mssql")


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


def open_source(location: str) -> MlflowSource:
    """The reader for ``location``: a database URL or an ``mlruns`` folder.

    ``InvalidInput`` naming ``--from`` for an unknown scheme or a path that does not exist.
    """
    if not isinstance(location, str) or not location.strip():
        raise _bad(location, "expected a database URL or an mlruns folder")
    scheme = urlparse(location).scheme.lower()
    base = scheme.split("+", 1)[0]
    if base in SQL_SCHEMES:
        from loopml.importers.sql_source import SqlSource

        return SqlSource(location)
    if base in ("http", "https"):
        raise _bad(
            location,
            "reading an MLflow tracking server is not supported yet; import its database "
            "(its --backend-store-uri, e.g. sqlite:///mlflow.db or postgresql://...) instead",
        )
    if base == "file" or scheme == "" or (len(scheme) == 1 and Path(location).exists()):  # c:\... on Windows
        from loopml.importers.file_source import FileSource

        return FileSource(location)
    raise _bad(
        location,
        f"unknown scheme {scheme!r}; use sqlite:///mlflow.db (or postgresql://, mysql://) or a folder such as ./mlruns",
    )


def _bad(location: object, problem: str) -> InvalidInput:
    return InvalidInput(
        f"Invalid --from {location!r}: {problem}.", details=[{"field": "from", "problem": problem}]
    )
