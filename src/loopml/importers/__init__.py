"""Bring other tools' histories into loopml: ``import_mlflow`` copies an MLflow tracking store
(database or ``mlruns`` folder) with its runs, metric points, artifacts and models."""

from __future__ import annotations

from loopml.importers.mlflow import RUN_ID_TAG, import_mlflow
from loopml.importers.summary import Count, ImportSummary

__all__ = ["RUN_ID_TAG", "Count", "ImportSummary", "import_mlflow"]
