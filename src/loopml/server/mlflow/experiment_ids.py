"""MLflow's experiment ids on loopml's experiments: ``"0"`` is loopml's ``Default`` experiment, any
other id is the loopml experiment id itself (see :mod:`.uris`)."""

from __future__ import annotations

from loopml.core.errors import NotFound
from loopml.server.backend import Backend
from loopml.server.mlflow.uris import DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT_NAME


def to_loopml(backend: Backend, experiment_id: str, *, actor: str) -> str:
    """The loopml id of MLflow experiment ``experiment_id`` (``"0"``: ``Default``, created on first use);
    ``NotFound`` if there is no such experiment."""
    if experiment_id == DEFAULT_EXPERIMENT_ID:
        return backend.store.get_or_create_experiment(DEFAULT_EXPERIMENT_NAME, actor=actor).id
    experiment = backend.store.get_experiment(experiment_id)
    if experiment.id != experiment_id:  # get_experiment also matches names; MLflow ids are ids
        raise NotFound(f"Experiment {experiment_id!r} does not exist.")
    return experiment.id


def default_experiment_id(backend: Backend) -> str | None:
    """The loopml id of the ``Default`` experiment (MLflow's ``"0"``), ``None`` before it exists."""
    try:
        return backend.store.get_experiment(DEFAULT_EXPERIMENT_NAME).id
    except NotFound:
        return None


def to_mlflow(experiment_id: str, default_id: str | None) -> str:
    """The MLflow id of loopml experiment ``experiment_id``: ``"0"`` for ``Default`` (whose loopml id is
    ``default_id``: :func:`default_experiment_id`), else the id itself."""
    return DEFAULT_EXPERIMENT_ID if experiment_id == default_id else experiment_id


def same_experiment(backend: Backend, mlflow_id: str, loopml_id: str) -> bool:
    """Whether MLflow experiment ``mlflow_id`` is loopml experiment ``loopml_id``."""
    if mlflow_id == loopml_id:
        return True
    return mlflow_id == DEFAULT_EXPERIMENT_ID and default_experiment_id(backend) == loopml_id
