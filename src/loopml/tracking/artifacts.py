"""Run artifacts: logical paths inside a run mapped to content-addressed blobs."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class SkippedFile:
    """A file system entry ``log_artifact`` did not upload, and why."""

    path: str
    reason: str


class LoggedArtifacts(list[ArtifactInfo]):
    """The artifacts ``log_artifact`` stored, plus ``skipped``: the entries it left out (links, special files)."""

    def __init__(self, infos: list[ArtifactInfo], skipped: list[SkippedFile]) -> None:
        super().__init__(infos)
        self.skipped = skipped


def collect_files(
    local_path: str | os.PathLike[str], artifact_path: str | None
) -> tuple[list[tuple[Path, str]], list[SkippedFile]]:
    """Pair each file under ``local_path`` with its run-relative artifact path; the entries left out.

    A file named explicitly is logged even when it is a symlink (naming it is the caller's decision).
    Inside a directory, links are never followed out of it: a file link whose target lies inside the
    directory is logged with the target's content; links to anything outside, dangling links,
    symlinked folders and special files (FIFOs, sockets, devices) are skipped, named in the second
    list and in one :class:`UserWarning`.
    """
    source = Path(local_path)
    if not source.exists():
        raise NotFound(f"Cannot log artifact: {str(source)!r} does not exist (or is a dangling symlink).")
    base = artifact_path.strip("/") if artifact_path else ""
    if not source.is_dir():
        if not source.is_file():
            raise InvalidInput(f"Cannot log artifact: {str(source)!r} is not a regular file (FIFO, socket or device).")
        return [(source, f"{base}/{source.name}" if base else source.name)], []
    root = source.resolve()
    files: list[tuple[Path, str]] = []
    skipped: list[SkippedFile] = []
    for directory, dirs, names in os.walk(source):
        here = Path(directory)
        for name in sorted(dirs):
            if (here / name).is_symlink():
                skipped.append(SkippedFile((here / name).relative_to(source).as_posix(), "symlinked folder"))
        for name in sorted(names):
            file = here / name
            relative = file.relative_to(source).as_posix()
            reason = _skip_reason(file, root)
            if reason:
                skipped.append(SkippedFile(relative, reason))
            else:
                local = file.resolve() if file.is_symlink() else file
                files.append((local, f"{base}/{relative}" if base else relative))
    if skipped:
        listing = "; ".join(f"{s.path} ({s.reason})" for s in skipped[:20])
        more = f" and {len(skipped) - 20} more" if len(skipped) > 20 else ""
        warnings.warn(
            f"log_artifact({str(source)!r}) skipped {len(skipped)} entr{'y' if len(skipped) == 1 else 'ies'} that "
            f"are not regular files inside the directory: {listing}{more}. Copy their content into the directory "
            "to log it.",
            UserWarning,
            stacklevel=4,
        )
    if not files:
        raise InvalidInput(f"Cannot log artifacts: directory {str(source)!r} contains no regular files.")
    return files, skipped


def _skip_reason(file: Path, root: Path) -> str | None:
    """Why ``file`` (found below ``root``, not followed) must not be uploaded, or ``None``."""
    if file.is_symlink():
        target = file.resolve()
        if not target.exists():
            return "dangling symlink"
        if not target.is_relative_to(root):
            return f"symlink to {target}, outside the logged directory"
    if not file.is_file():
        return "not a regular file" if not file.is_dir() else "symlink to a folder"
    return None


def download_targets(infos: list[ArtifactInfo], path: str, dest: Path) -> tuple[Path, list[tuple[ArtifactInfo, Path]]]:
    """Where downloading ``infos`` (found at or below ``path``) under ``dest`` puts each file, and the root written."""
    dest = Path(dest)
    path = path.strip("/")
    if len(infos) == 1 and infos[0].path == path:
        target = dest / Path(path).name
        return target, [(infos[0], target)]
    root = dest / Path(path).name if path else dest
    return root, [(info, root / (info.path[len(path) + 1 :] if path else info.path)) for info in infos]


def download_infos(
    infos: list[ArtifactInfo], path: str, dest: Path, copy: Callable[[ArtifactInfo, Path], object]
) -> Path:
    """Lay out ``infos`` (found at or below ``path``) under ``dest`` using ``copy`` for each file."""
    root, targets = download_targets(infos, path, dest)
    for info, target in targets:
        copy(info, target)
    return root
