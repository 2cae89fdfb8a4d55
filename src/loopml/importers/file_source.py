"""Read an MLflow file store (``./mlruns``): ``meta.yaml`` files, ``metrics/<key>`` lines, ``params/``,
``tags/`` and ``models/`` for the registry. YAML is read with ``yaml.safe_load`` (data only)."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from loopml.core.errors import InvalidInput
from loopml.importers.local_files import local_path, walk_files
from loopml.importers.records import (
    MetricPoint,
    MlflowAlias,
    MlflowExperiment,
    MlflowFile,
    MlflowLoggedModel,
    MlflowModelVersion,
    MlflowRegisteredModel,
    MlflowRun,
    logged_model_id,
    status_of,
)
from loopml.importers.source import METRIC_CHUNK

__all__ = ["FileSource"]

_NOT_RUNS = {"models", "tags", "datasets", "traces", "meta.yaml"}
_DELETED_VERSION = "Deleted_Internal"


class FileSource:
    """An MLflow ``mlruns`` folder (a path or ``file:///...``)."""

    def __init__(self, location: str) -> None:
        self.location = location
        root = local_path(location)
        if root is None or not root.is_dir():
            raise InvalidInput(
                f"Invalid --from {location!r}: the folder {str(root or location)!r} does not exist.",
                details=[{"field": "from", "problem": "no such folder"}],
            )
        self.root = root
        self._experiment_dirs: dict[str, Path] = {}

    def close(self) -> None:
        """Nothing to release."""

    # -- tracking -------------------------------------------------------------------------------

    def experiments(self) -> list[MlflowExperiment]:
        found: list[MlflowExperiment] = []
        for parent, deleted in ((self.root, False), (self.root / ".trash", True)):
            if not parent.is_dir():
                continue
            for folder in sorted(parent.iterdir()):
                meta_file = folder / "meta.yaml"
                if folder.name.startswith(".") or folder.name == "models" or not meta_file.is_file():
                    continue
                meta = _meta(meta_file)
                experiment_id = str(_field(meta, "experiment_id", meta_file))
                self._experiment_dirs[experiment_id] = folder
                found.append(
                    MlflowExperiment(
                        experiment_id,
                        str(_field(meta, "name", meta_file)),
                        _kv_dir(folder / "tags"),
                        deleted or meta.get("lifecycle_stage") == "deleted",
                        meta.get("creation_time"),
                    )
                )
        if not found and not (self.root / "models").is_dir():
            raise InvalidInput(
                f"Invalid --from {self.location!r}: {str(self.root)!r} holds no MLflow experiment "
                "(no <id>/meta.yaml); point --from at the mlruns folder.",
                details=[{"field": "from", "problem": "not an mlruns folder"}],
            )
        return found

    def _experiment_dir(self, experiment_id: str) -> Path:
        if not self._experiment_dirs:
            self.experiments()
        return self._experiment_dirs[experiment_id]

    def runs(self, experiment_ids: Sequence[str]) -> list[MlflowRun]:
        runs: list[MlflowRun] = []
        for experiment_id in experiment_ids:
            folder = self._experiment_dir(experiment_id)
            for run_dir in sorted(folder.iterdir()):
                meta_file = run_dir / "meta.yaml"
                if run_dir.name in _NOT_RUNS or not meta_file.is_file():
                    continue
                meta = _meta(meta_file)
                tags = _kv_dir(run_dir / "tags")
                runs.append(
                    MlflowRun(
                        id=str(_field(meta, "run_id", meta_file, fallback="run_uuid")),
                        experiment_id=experiment_id,
                        name=str(meta.get("run_name") or tags.get("mlflow.runName", "")),
                        status=status_of(meta.get("status", "FINISHED")),
                        start_time=meta.get("start_time"),
                        end_time=meta.get("end_time"),
                        user=str(meta.get("user_id") or ""),
                        artifact_uri=str(meta.get("artifact_uri") or ""),
                        deleted=meta.get("lifecycle_stage") == "deleted",
                        params=_kv_dir(run_dir / "params"),
                        tags=tags,
                    )
                )
        runs.sort(key=lambda r: r.start_time or 0)
        self._run_dirs = {r.id: self._experiment_dir(r.experiment_id) / r.id for r in runs}
        return runs

    def metric_chunks(self, run_ids: Sequence[str]) -> Iterator[tuple[str, list[MetricPoint]]]:
        for run_id in run_ids:
            metrics = self._run_dirs[run_id] / "metrics"
            chunk: list[MetricPoint] = []
            for file in _files(metrics):
                key = file.relative_to(metrics).as_posix()
                for number, line in enumerate(file.read_text().splitlines(), 1):
                    if line.strip():
                        chunk.append(_point(key, line, file, number))
                    if len(chunk) >= METRIC_CHUNK:
                        yield run_id, chunk
                        chunk = []
            if chunk:
                yield run_id, chunk

    def artifacts(self, run: MlflowRun) -> list[MlflowFile] | None:
        return walk_files(local_path(run.artifact_uri, base=self.root.parent))

    # -- models -----------------------------------------------------------------------------------

    def logged_models(self, experiment_ids: Sequence[str]) -> list[MlflowLoggedModel]:
        found: list[MlflowLoggedModel] = []
        for experiment_id in experiment_ids:
            models = self._experiment_dir(experiment_id) / "models"
            if not models.is_dir():
                continue
            for folder in sorted(models.iterdir()):
                meta_file = folder / "meta.yaml"
                if not meta_file.is_file():
                    continue
                meta = _meta(meta_file)
                if meta.get("lifecycle_stage") == "deleted":
                    continue
                found.append(
                    MlflowLoggedModel(
                        str(_field(meta, "model_id", meta_file)),
                        str(meta.get("name") or ""),
                        experiment_id,
                        meta.get("source_run_id"),
                        str(meta.get("artifact_location") or ""),
                        meta.get("creation_timestamp"),
                    )
                )
        return found

    def model_files(self, model: MlflowLoggedModel) -> list[MlflowFile] | None:
        return walk_files(local_path(model.artifact_location, base=self.root.parent))

    def registered_models(self) -> list[MlflowRegisteredModel]:
        root = self.root / "models"
        if not root.is_dir():
            return []
        models: list[MlflowRegisteredModel] = []
        for folder in sorted(root.iterdir()):
            meta_file = folder / "meta.yaml"
            if not meta_file.is_file():
                continue
            meta = _meta(meta_file)
            versions: list[MlflowModelVersion] = []
            for version_dir in sorted(folder.glob("version-*")):
                version_file = version_dir / "meta.yaml"
                if not version_file.is_file():
                    continue
                v = _meta(version_file)
                if v.get("current_stage") == _DELETED_VERSION:
                    continue
                versions.append(
                    MlflowModelVersion(
                        version=int(_field(v, "version", version_file)),
                        source=str(v.get("source") or ""),
                        run_id=v.get("run_id") or None,
                        description=str(v.get("description") or ""),
                        tags=_kv_dir(version_dir / "tags"),
                        status=str(v.get("status") or "READY"),
                        created_at=v.get("creation_timestamp"),
                        updated_at=v.get("last_updated_timestamp"),
                        user=v.get("user_id") or None,
                        model_id=v.get("model_id") or logged_model_id(str(v.get("source") or "")),
                    )
                )
            versions.sort(key=lambda v: v.version)
            aliases = {str(k): int(n) for k, n in (meta.get("aliases") or {}).items()}
            models.append(
                MlflowRegisteredModel(
                    name=str(_field(meta, "name", meta_file)),
                    description=str(meta.get("description") or ""),
                    tags=_kv_dir(folder / "tags"),
                    created_at=meta.get("creation_timestamp"),
                    versions=versions,
                    aliases=[MlflowAlias(a, n) for a, n in sorted(aliases.items())],
                )
            )
        return models


def _meta(path: Path) -> dict[str, Any]:
    """A ``meta.yaml`` as a mapping; ``InvalidInput`` naming the file when it is not one."""
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            f"Corrupted MLflow file {str(path)!r}: not valid YAML ({exc.__class__.__name__}).",
            details=[{"field": str(path), "problem": "invalid YAML"}],
        ) from exc
    if not isinstance(data, dict):
        raise InvalidInput(
            f"Corrupted MLflow file {str(path)!r}: expected a mapping of fields, got {type(data).__name__}.",
            details=[{"field": str(path), "problem": "not a mapping"}],
        )
    return data


def _field(meta: dict[str, Any], name: str, path: Path, *, fallback: str | None = None) -> Any:
    value = meta.get(name, meta.get(fallback) if fallback else None)
    if value is None or value == "":
        raise InvalidInput(
            f"Corrupted MLflow file {str(path)!r}: the field {name!r} is missing.",
            details=[{"field": f"{path}:{name}", "problem": "missing"}],
        )
    return value


def _files(folder: Path) -> list[Path]:
    """Regular files below ``folder`` (keys with '/' are nested folders), sorted; none if it is missing."""
    if not folder.is_dir():
        return []
    return sorted(Path(d) / n for d, _, names in os.walk(folder) for n in names)


def _kv_dir(folder: Path) -> dict[str, str]:
    """``{key: file content}`` of a ``params/`` or ``tags/`` folder."""
    return {file.relative_to(folder).as_posix(): file.read_text() for file in _files(folder)}


def _point(key: str, line: str, file: Path, number: int) -> MetricPoint:
    """One ``timestamp value [step]`` line; ``InvalidInput`` naming the file and line when malformed."""
    parts = line.split()
    try:
        if len(parts) not in (2, 3):
            raise ValueError(line)
        value = float(parts[1])
        return key, (math.nan if value != value else value), int(parts[2]) if len(parts) == 3 else 0, int(parts[0])
    except ValueError:
        raise InvalidInput(
            f"Corrupted MLflow metric file {str(file)!r}, line {number}: expected 'timestamp value step', "
            f"got {line!r}.",
            details=[{"field": str(file), "problem": f"bad line {number}"}],
        ) from None
