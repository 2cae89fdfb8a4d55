"""Registered models, their versions and aliases from MLflow into loopml's registry.

Each version becomes an MLflow-flavor version (``create_mlflow_version``: loopml records it and
never loads it) whose run is the imported loopml run and whose source points at the copied files
(``runs:/<loopml run>/<path>``); it keeps its MLflow number as the tag ``mlflow.version``, which
is how a second import recognises it. loopml numbers versions itself: with no gaps in MLflow's
numbering (no deleted version) the numbers match.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loopml.core.errors import NotFound
from loopml.importers.records import MlflowModelVersion, MlflowRegisteredModel
from loopml.importers.selection import loopml_experiment_name
from loopml.importers.summary import ImportSummary

__all__ = ["VERSION_TAG", "import_registry"]

VERSION_TAG = "mlflow.version"
"""The tag of a loopml model version holding its MLflow version number."""
MODEL_NAME_TAG = "mlflow.registered_model_name"


def import_registry(
    registry: Any,
    models: list[MlflowRegisteredModel],
    summary: ImportSummary,
    *,
    placed: Mapping[str, tuple[str, str]],
    only_runs: set[str] | None,
    actor: str,
    dry_run: bool,
) -> None:
    """Import ``models`` into ``registry`` (a loopml model registry with MLflow versions).

    ``placed``: MLflow logged model id -> (loopml run id, folder its files were copied to);
    ``only_runs``: when set, only versions of these MLflow runs (an import of some experiments).
    """
    for model in models:
        versions = [v for v in model.versions if only_runs is None or (v.run_id or "") in only_runs]
        if only_runs is not None and not versions:
            continue
        name = loopml_experiment_name(model.name)
        try:
            registry.get_model(name)
            summary.add("models", present=1)
            stored = {v.tags.get(VERSION_TAG): v for v in registry.list_versions(name)}
        except NotFound:
            summary.add("models", imported=1)
            stored = {}
            if not dry_run:
                tags = dict(model.tags) | ({MODEL_NAME_TAG: model.name} if name != model.name else {})
                registry.create_model(
                    name, description=model.description, tags=tags, created_at=model.created_at, actor=actor
                )
        numbers: dict[int, int] = {}  # MLflow version -> loopml version
        for version in versions:
            found = stored.get(str(version.version))
            if found is not None:
                summary.add("versions", present=1)
                numbers[version.version] = found.version
                continue
            summary.add("versions", imported=1)
            if not dry_run:
                created = _create_version(registry, name, version, summary, placed, actor=actor)
                numbers[version.version] = created.version
        current = {} if dry_run and not stored else _aliases(registry, name)
        for alias in model.aliases:
            target = numbers.get(alias.version)
            if target is None:
                continue  # its version was not imported
            if current.get(alias.alias) == target:
                summary.add("aliases", present=1)
                continue
            summary.add("aliases", imported=1)
            if not dry_run:
                registry.set_alias(name, alias.alias, target, actor=actor)


def _aliases(registry: Any, name: str) -> dict[str, int]:
    try:
        aliases: dict[str, int] = registry.get_model(name).aliases
        return aliases
    except NotFound:
        return {}


def _create_version(
    registry: Any,
    name: str,
    version: MlflowModelVersion,
    summary: ImportSummary,
    placed: Mapping[str, tuple[str, str]],
    *,
    actor: str,
) -> Any:
    run_id = summary.run_ids.get(version.run_id) if version.run_id else None
    source = version.source
    if version.model_id and version.model_id in placed:
        placed_run, folder = placed[version.model_id]
        source, run_id = f"runs:/{placed_run}/{folder}", placed_run
    elif run_id is not None and version.run_id and source.startswith(f"runs:/{version.run_id}"):
        source = f"runs:/{run_id}" + source.removeprefix(f"runs:/{version.run_id}")
    tags = dict(version.tags) | {VERSION_TAG: str(version.version)}
    if version.source != source:
        tags["mlflow.source"] = version.source
    if version.status != "READY":
        tags["mlflow.status"] = version.status
    return registry.create_mlflow_version(
        name,
        source=source,
        run_id=run_id,
        model_id=version.model_id,
        description=version.description,
        tags=tags,
        created_at=version.created_at,
        actor=version.user or actor,
    )
