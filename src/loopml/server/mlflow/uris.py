"""The ``mlflow-artifacts:/`` URIs the MLflow-compatible API hands out, and the experiment id ``"0"``.

An MLflow client with an ``http://`` tracking URI uploads and downloads artifacts through the
server's artifact proxy (``/api/2.0/mlflow-artifacts/artifacts/<path>``) whenever an artifact URI
has the ``mlflow-artifacts:`` scheme. loopml hands out:

- an experiment's ``artifact_location``: ``mlflow-artifacts:/<experiment_id>``;
- a run's ``artifact_uri``: ``mlflow-artifacts:/<experiment_id>/<run_id>/artifacts``, whose files are
  the run's ordinary loopml artifacts;
- a logged model's ``artifact_location``: ``mlflow-artifacts:/<experiment_id>/models/<model_id>/artifacts``.

MLflow clients fall back to experiment ``"0"`` when none is set; it is loopml's ``Default``
experiment.
"""

from __future__ import annotations

SCHEME = "mlflow-artifacts:"
DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"  # loopml.tracking.fluent.DEFAULT_EXPERIMENT


def experiment_artifact_location(experiment_id: str) -> str:
    """``artifact_location`` of an experiment."""
    return f"{SCHEME}/{experiment_id}"


def run_artifact_uri(experiment_id: str, run_id: str) -> str:
    """``artifact_uri`` of a run: its loopml artifacts, through the proxy."""
    return f"{SCHEME}/{experiment_id}/{run_id}/artifacts"


def logged_model_artifact_location(experiment_id: str, model_id: str) -> str:
    """``artifact_location`` of an MLflow 3 logged model."""
    return f"{SCHEME}/{experiment_id}/models/{model_id}/artifacts"
