"""Registered models: register a logged model package as a numbered version, alias it, compare versions.

>>> import loopml as lm                                                          # doctest: +SKIP
>>> mv = lm.register_model(f"runs:/{run.id}/model", name="churn")                 # doctest: +SKIP
>>> lm.set_model_alias("churn", "production", mv.version)                         # doctest: +SKIP
>>> lm.get_model_version("models:/churn@production").version                      # doctest: +SKIP
1
"""

from __future__ import annotations

from typing import Any

from loopml.core import reads
from loopml.core.errors import InvalidInput, NotFound
from loopml.core.records import ModelVersion, Run
from loopml.core.uris import check_name, parse_uri
from loopml.tracking.fluent import get_run, list_artifacts
from loopml.tracking.session import get_session

DATASET_TAG_PREFIX = "loopml.dataset."
MANIFEST = "model.json"


def register_model(
    model_uri: str, name: str, *, description: str = "", tags: dict[str, Any] | None = None
) -> ModelVersion:
    """Register the model package at ``runs:/<run_id>/<path>`` as the next version of ``name``.

    The version records the package's flavor, signature and manifest hash, the source run's
    latest metrics, and the training dataset version (the run's ``loopml.dataset.*`` tag when it
    used exactly one dataset). A lineage edge ``run -> model_version`` is recorded too.
    """
    from loopml.registry.packaging import read_manifest

    parsed = parse_uri(model_uri)
    if parsed.scheme != "runs" or not parsed.path:
        raise InvalidInput(
            f"register_model takes the runs:/<run_id>/<path> URI of a logged model, got {model_uri!r} "
            "(e.g. f'runs:/{run.id}/model' after lm.log_model(model, 'model')).",
            details=[{"field": "model_uri", "problem": "expected runs:/<run_id>/<path>"}],
        )
    check_name(name, field="model name")
    run = get_run(parsed.name)  # a unique prefix works too; the version stores the full id
    run_id, path = run.id, parsed.path
    manifest = read_manifest(run_id, path)
    manifest_info = next((a for a in list_artifacts(run_id, path) if a.path == f"{path}/{MANIFEST}"), None)
    if manifest_info is None:  # read_manifest found it, so only a concurrent change gets here
        raise NotFound(f"{model_uri} has no {MANIFEST}; log the model with lm.log_model(model, {path!r}).")
    session = get_session()
    version = session.models.create_version(
        name,
        source=f"runs:/{run_id}/{path}",
        run_id=run_id,
        manifest_sha256=manifest_info.sha256,
        flavor=str(manifest.get("flavor", "unknown")),
        signature=manifest.get("signature") or {},
        metrics=dict(run.metrics),
        dataset_version=_training_dataset(run),
        description=description,
        tags=tags,
        actor=session.actor,
    )
    session.lineage.add_edge(
        ("run", run_id), ("model_version", f"{name}/{version.version}"), relation="registered", actor=session.actor
    )
    return version


def get_model_version(uri_or_name: str, version: int | None = None) -> ModelVersion:
    """A version from ``models:/name/3``, ``models:/name@alias``, or a name and version number.

    A bare name without a version is the newest ``READY`` version (``models:/name@latest``).
    """
    registry = get_session().models
    if uri_or_name.startswith("models:/"):
        if version is not None:
            raise InvalidInput(f"Pass either a models:/ URI or a name and version, not both ({uri_or_name!r}).")
        parsed = parse_uri(uri_or_name, expect="models")
        found = registry.get_version(parsed.name, version=parsed.version, alias=parsed.alias)
        reads.record_model(parsed.name, parsed.alias, found.version)
        return found
    check_name(uri_or_name, field="model name")
    if version is None:
        found = registry.get_version(uri_or_name, alias="latest")
        reads.record_model(uri_or_name, "latest", found.version)
        return found
    return registry.get_version(uri_or_name, version=version)


def set_model_alias(name: str, alias: str, version: int) -> ModelVersion:
    """Point ``alias`` at ``version`` of ``name``, creating or moving it atomically (also a rollback)."""
    session = get_session()
    return session.models.set_alias(name, alias, version, actor=session.actor)


def delete_model_alias(name: str, alias: str) -> None:
    """Remove ``alias`` from model ``name``."""
    session = get_session()
    session.models.delete_alias(name, alias, actor=session.actor)


def list_models() -> list[dict[str, Any]]:
    """Every registered model: ``name``, ``versions`` (count), ``latest``, ``aliases`` ({alias: version}), ..."""
    return [model.to_dict() for model in get_session().models.list_models()]


def list_model_versions(name: str) -> list[ModelVersion]:
    """Every version of model ``name``, oldest first."""
    check_name(name, field="model name")
    return get_session().models.list_versions(name)


def archive_model_version(name: str, version: int) -> ModelVersion:
    """Archive a version: it stays loadable by number, but no alias may point at it."""
    session = get_session()
    return session.models.archive_version(name, version, actor=session.actor)


def delete_model_version(name: str, version: int) -> None:
    """Delete a version's registry record (refused while an alias points at it; run artifacts stay)."""
    session = get_session()
    session.models.delete_version(name, version, actor=session.actor)


def update_model_version(
    name: str, version: int, *, description: str | None = None, tags: dict[str, Any] | None = None
) -> ModelVersion:
    """Change a version's description and/or merge tags into it (a ``None`` value removes a tag)."""
    session = get_session()
    return session.models.update_version(name, version, description=description, tags=tags, actor=session.actor)


def diff_model_versions(a_uri: str, b_uri: str) -> dict[str, Any]:
    """Compare two versions: source-run params, metrics, signature, flavor and training data.

    Returns ``{"a", "b", "params": {"added", "removed", "changed", "same"}, "metrics": {key: {"a", "b",
    "delta"}}, "signature": {"inputs": {"added", "removed", "changed"}, "output": {"a", "b",
    "changed"}}, "flavor": {...}, "dataset_version": {...}}``; ``changed`` entries are
    ``{"a": ..., "b": ...}``; ``params.same`` counts the params equal in both runs (so "no
    differences" and "no params at all" can be told apart).
    """
    a, b = get_model_version(a_uri), get_model_version(b_uri)
    params_a, params_b = _params(a), _params(b)
    same = sum(1 for k in set(params_a) & set(params_b) if params_a[k] == params_b[k])
    return {
        "a": a.uri,
        "b": b.uri,
        "params": {**_mapping_diff(params_a, params_b), "same": same},
        "metrics": {
            key: {"a": a.metrics.get(key), "b": b.metrics.get(key), "delta": _delta(a.metrics, b.metrics, key)}
            for key in sorted(set(a.metrics) | set(b.metrics))
        },
        "signature": signature_diff(a.signature, b.signature),
        "flavor": {"a": a.flavor, "b": b.flavor, "changed": a.flavor != b.flavor},
        "dataset_version": {
            "a": a.dataset_version,
            "b": b.dataset_version,
            "changed": a.dataset_version != b.dataset_version,
        },
    }


def signature_diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Input columns added, removed or retyped from signature ``a`` to ``b``, and whether the output changed."""
    inputs_a = {c["name"]: c.get("dtype") for c in (a or {}).get("inputs", [])}
    inputs_b = {c["name"]: c.get("dtype") for c in (b or {}).get("inputs", [])}
    output_a, output_b = (a or {}).get("output") or {}, (b or {}).get("output") or {}
    return {
        "inputs": _mapping_diff(inputs_a, inputs_b),
        "output": {"a": output_a, "b": output_b, "changed": output_a != output_b},
    }


def _training_dataset(run: Run) -> str | None:
    datasets = [value for key, value in run.tags.items() if key.startswith(DATASET_TAG_PREFIX)]
    return datasets[0] if len(datasets) == 1 else None


def _params(version: ModelVersion) -> dict[str, str]:
    if version.run_id is None:
        return {}
    try:
        return dict(get_run(version.run_id).params)
    except NotFound:  # the source run was deleted: compare what is left
        return {}


def _mapping_diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return {
        "added": {k: b[k] for k in sorted(set(b) - set(a))},
        "removed": {k: a[k] for k in sorted(set(a) - set(b))},
        "changed": {k: {"a": a[k], "b": b[k]} for k in sorted(set(a) & set(b)) if a[k] != b[k]},
    }


def _delta(a: dict[str, float], b: dict[str, float], key: str) -> float | None:
    if key in a and key in b and a[key] is not None and b[key] is not None:
        return b[key] - a[key]
    return None
