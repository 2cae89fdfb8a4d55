"""Run artifacts: logical paths inside a run mapped to content-addressed blobs."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from loopml.artifacts.base import BlobStore
from loopml.artifacts.paths import safe_relpath
from loopml.core.errors import InvalidInput, NotFound
from loopml.core.records import ArtifactInfo
from loopml.store.base import TrackingStore


class RunArtifacts(Protocol):
    """Log, list and fetch the files of a run."""

    def log_files(self, run_id: str, files: list[tuple[Path, str]], *, actor: str) -> list[ArtifactInfo]:
        """Store local files under the given run-relative paths."""
        ...

    def log_bytes(self, run_id: str, data: bytes, path: str, *, actor: str) -> ArtifactInfo:
        """Store ``data`` as the artifact ``path``."""
        ...

    def list(self, run_id: str, prefix: str = "") -> list[ArtifactInfo]:
        """Artifacts at or below ``prefix``."""
        ...

    def read_bytes(self, run_id: str, path: str) -> bytes:
        """One artifact's bytes, verified against its hash."""
        ...

    def download(self, run_id: str, path: str, dest: Path) -> Path:
        """Copy a file artifact, or every file below a directory artifact, under ``dest``."""
        ...


class LocalRunArtifacts:
    """Run artifacts in a local blob store, indexed in the tracking store."""

    def __init__(self, store: TrackingStore, blobs: BlobStore) -> None:
        self.store = store
        self.blobs = blobs

    def log_files(self, run_id: str, files: list[tuple[Path, str]], *, actor: str) -> list[ArtifactInfo]:
        infos = []
        for local, path in files:
            blob = self.blobs.put_file(local)
            infos.append(ArtifactInfo(safe_relpath(path), blob.sha256, blob.size))
        self.store.record_artifacts(run_id, infos, actor=actor)
        return infos

    def log_bytes(self, run_id: str, data: bytes, path: str, *, actor: str) -> ArtifactInfo:
        blob = self.blobs.put_bytes(data)
        info = ArtifactInfo(safe_relpath(path), blob.sha256, blob.size)
        self.store.record_artifacts(run_id, [info], actor=actor)
        return info

    def list(self, run_id: str, prefix: str = "") -> list[ArtifactInfo]:
        return self.store.list_artifacts(run_id, safe_relpath(prefix) if prefix else "")

    def find(self, run_id: str, path: str) -> ArtifactInfo:
        """The artifact stored at exactly ``path``."""
        path = safe_relpath(path)
        for info in self.store.list_artifacts(run_id, path):
            if info.path == path:
                return info
        raise NotFound(f"Run {run_id} has no artifact {path!r}.")

    def read_bytes(self, run_id: str, path: str) -> bytes:
        return self.blobs.read_bytes(self.find(run_id, path).sha256)

    def download(self, run_id: str, path: str, dest: Path) -> Path:
        infos = self.list(run_id, path)
        if not infos:
            raise NotFound(f"Run {run_id} has no artifact at {path or '/'!r}.")
        return download_infos(infos, path, dest, lambda info, target: self.blobs.copy_to(info.sha256, target))


def collect_files(local_path: str | os.PathLike[str], artifact_path: str | None) -> list[tuple[Path, str]]:
    """Pair each file under ``local_path`` with its run-relative artifact path."""
    source = Path(local_path)
    if not source.exists():
        raise NotFound(f"Cannot log artifact: {str(source)!r} does not exist.")
    base = artifact_path.strip("/") if artifact_path else ""
    if source.is_file():
        return [(source, f"{base}/{source.name}" if base else source.name)]
    files = []
    for root, _dirs, names in os.walk(source):
        for name in sorted(names):
            file = Path(root) / name
            relative = file.relative_to(source).as_posix()
            files.append((file, f"{base}/{relative}" if base else relative))
    if not files:
        raise InvalidInput(f"Cannot log artifacts: directory {str(source)!r} contains no files.")
    return files


def download_infos(
    infos: list[ArtifactInfo], path: str, dest: Path, copy: Callable[[ArtifactInfo, Path], object]
) -> Path:
    """Lay out ``infos`` (found at or below ``path``) under ``dest`` using ``copy`` for each file."""
    dest = Path(dest)
    path = path.strip("/")
    if len(infos) == 1 and infos[0].path == path:
        target = dest / Path(path).name
        copy(infos[0], target)
        return target
    root = dest / Path(path).name if path else dest
    for info in infos:
        relative = info.path[len(path) + 1 :] if path else info.path
        copy(info, root / relative)
    return root
