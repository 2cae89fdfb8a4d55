"""Experiment ids between MLflow and loopml: ``"0"`` is loopml's ``Default`` experiment.

MLflow clients fall back to experiment ``"0"``; loopml's experiments have hex ids. The API
answers ``"0"`` for the ``Default`` experiment and takes both ``"0"`` and its loopml id.
"""

from __future__ import annotations

from weakref import WeakKeyDictionary

from loopml.core.errors import NotFound
from loopml.server.mlflow.uris import DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT_NAME
from loopml.store.sql import SqlTrackingStore

_DEFAULT_IDS: WeakKeyDictionary[SqlTrackingStore, str] = WeakKeyDictionary()


def default_experiment_id(store: SqlTrackingStore) -> str:
    """The loopml id of the ``Default`` experiment, created on first use (cached: it is never renamed
    or deleted through this API)."""
    found = _DEFAULT_IDS.get(store)
    if found is None:
        found = store.get_or_create_experiment(DEFAULT_EXPERIMENT_NAME, actor="server").id
        _DEFAULT_IDS[store] = found
    return found


def to_loopml(store: SqlTrackingStore, experiment_id: str) -> str:
    """The loopml id of an MLflow experiment id (``"0"``: the ``Default`` experiment)."""
    return default_experiment_id(store) if experiment_id == DEFAULT_EXPERIMENT_ID else experiment_id


def to_mlflow(store: SqlTrackingStore, experiment_id: str) -> str:
    """The MLflow id of a loopml experiment id (``"0"`` for the ``Default`` experiment)."""
    return DEFAULT_EXPERIMENT_ID if experiment_id == default_experiment_id(store) else experiment_id


def experiment_not_found(experiment_id: str) -> NotFound:
    """MLflow's message for an unknown experiment id."""
    return NotFound(
        f"No Experiment with id={experiment_id} exists.",
        details=[{"field": "experiment_id", "problem": "unknown experiment"}],
    )
