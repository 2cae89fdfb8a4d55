"""Artifact folders an MLflow store points at on this machine (``/abs/path`` or ``file:///...``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager
from functools import partial
from pathlib import Path
from typing import IO
from urllib.parse import unquote, urlparse

from loopml.importers.records import MlflowFile

__all__ = ["local_path", "walk_files"]


def local_path(uri: str, *, base: Path | None = None) -> Path | None:
    """The local folder of an artifact URI, or ``None`` when it is remote (``s3://``, ``mlflow-artifacts:``).

    A relative path (older MLflow wrote ``./mlruns/...``) is taken from ``base`` when it exists there.
    """
    if not uri:
        return None
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme and len(parsed.scheme) > 1:  # not a Windows drive letter
        return None
    path = Path(uri)
    if not path.is_absolute() and base is not None and (base / path).exists():
        return base / path
    return path


def _open(path: Path) -> AbstractContextManager[IO[bytes]]:
    return open(path, "rb")


def walk_files(root: Path | None) -> list[MlflowFile] | None:
    """Every regular file below ``root`` (links not followed), by relative POSIX path; ``None`` when
    ``root`` is ``None``, ``[]`` when the folder does not exist (a run that logged no artifact)."""
    if root is None:
        return None
    if not root.is_dir():
        return []
    return sorted(_files(root), key=lambda f: f.path)


def _files(root: Path) -> Iterator[MlflowFile]:
    for directory, _dirs, names in os.walk(root):
        here = Path(directory)
        for name in names:
            file = here / name
            if file.is_symlink() or not file.is_file():
                continue
            yield MlflowFile(file.relative_to(root).as_posix(), file.stat().st_size, partial(_open, file))
