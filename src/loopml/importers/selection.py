"""Which MLflow experiments and runs an import takes, and the loopml names they get."""

from __future__ import annotations

import re
from collections.abc import Sequence

from loopml.core.errors import InvalidInput
from loopml.importers.records import MlflowExperiment, MlflowRun

__all__ = ["loopml_experiment_name", "parents_first", "select_experiments"]

_INVALID = re.compile(r"[\x00-\x1f\x7f/]+")


def select_experiments(
    found: list[MlflowExperiment], wanted: Sequence[str] | None, *, include_deleted: bool
) -> list[MlflowExperiment]:
    """The experiments named in ``wanted`` (by name or id), else all live ones (and deleted ones when asked).

    ``InvalidInput`` naming ``--experiments`` for an unknown or (without ``include_deleted``) deleted one.
    """
    if not wanted:
        return [e for e in found if include_deleted or not e.deleted]
    by_key = {e.name: e for e in found} | {e.id: e for e in found}
    chosen: dict[str, MlflowExperiment] = {}
    for key in wanted:
        experiment = by_key.get(key)
        if experiment is None:
            names = ", ".join(sorted(e.name for e in found if not e.deleted)) or "none"
            raise InvalidInput(
                f"Invalid --experiments: the MLflow store has no experiment {key!r} (by name or id); "
                f"its experiments are: {names}.",
                details=[{"field": "experiments", "problem": f"unknown experiment {key!r}"}],
            )
        if experiment.deleted and not include_deleted:
            raise InvalidInput(
                f"Invalid --experiments: MLflow experiment {key!r} is deleted; pass --include-deleted to import it.",
                details=[{"field": "experiments", "problem": f"experiment {key!r} is deleted"}],
            )
        chosen[experiment.id] = experiment
    return list(chosen.values())


def loopml_experiment_name(name: str) -> str:
    """An MLflow experiment name as a loopml name: runs of ``/`` and control characters become ``-``
    (``/Users/a b/churn`` -> ``Users-a b-churn``), at most 256 characters, no outer whitespace or ``-``."""
    cleaned = _INVALID.sub("-", name).strip(" -")[:256].rstrip(" -")
    return cleaned or "mlflow-experiment"


def parents_first(runs: list[MlflowRun]) -> list[MlflowRun]:
    """``runs`` ordered so that a parent comes before its children (otherwise in their order)."""
    ids = {r.id for r in runs}
    children: dict[str | None, list[MlflowRun]] = {}
    for run in runs:
        parent = run.parent_id if run.parent_id in ids and run.parent_id != run.id else None
        children.setdefault(parent, []).append(run)
    ordered: list[MlflowRun] = []
    stack = list(reversed(children.get(None, [])))
    while stack:
        run = stack.pop()
        ordered.append(run)
        stack.extend(reversed(children.get(run.id, [])))
    seen = {r.id for r in ordered}
    ordered += [r for r in runs if r.id not in seen]  # a cycle of parents (corrupted store): no parent link
    return ordered
