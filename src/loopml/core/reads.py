"""What a pipeline step read that can change behind the same code and parameters, recorded while it runs.

While a step attempt runs, :func:`recording` holds a list in a context variable; dataset and
model alias resolution and loopml's file reads call :func:`record` (a no-op outside a step), so
the attempt returns ``[{"kind", "ref", "resolved", ...}]`` with its outcome. Kinds:

- ``dataset``: ``ref`` ``customers@latest``, ``resolved`` ``customers/5``;
- ``model``: ``ref`` ``churn@production``, ``resolved`` ``churn/3``;
- ``file``: ``ref`` an absolute path (a file or a folder), ``resolved`` the SHA-256 of its content
  (a folder: of its relative paths and file hashes), with ``size`` and ``mtime_ns`` as a fast
  pre-check (a folder: total bytes and newest mtime of its files and subfolders, and ``files``).

:func:`pinned` makes ``datasets:/NAME@latest`` resolve to a given version in its context (a
dataset-triggered pipeline run reads the version that fired it).

>>> with recording() as found:
...     record("dataset", "customers@latest", "customers/5")
>>> found
[{'kind': 'dataset', 'ref': 'customers@latest', 'resolved': 'customers/5'}]
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from loopml.core.hashing import sha256_file

_RECORDER: ContextVar[list[dict[str, Any]] | None] = ContextVar("loopml_step_reads", default=None)
_PINS: ContextVar[Mapping[str, int] | None] = ContextVar("loopml_dataset_pins", default=None)

MAX_PATH_TEXT = 4096
MAX_FOLDER_FILES = 10_000
"""A folder with more files is not a read (a parameter such as ``"/"`` must not hash a whole disk)."""


@contextmanager
def recording(pins: Mapping[str, int] | None = None) -> Iterator[list[dict[str, Any]]]:
    """Collect the reads made in this context (a step attempt) into the yielded list; apply ``pins``."""
    found: list[dict[str, Any]] = []
    token = _RECORDER.set(found)
    pin_token = _PINS.set(pins) if pins is not None else None
    try:
        yield found
    finally:
        _RECORDER.reset(token)
        if pin_token is not None:
            _PINS.reset(pin_token)


def active() -> bool:
    """Whether reads are being recorded here (inside a step attempt)."""
    return _RECORDER.get() is not None


def record(kind: str, ref: str, resolved: str, **extra: Any) -> None:
    """Note one resolution (once per distinct ``kind``/``ref``); nothing happens outside a step."""
    found = _RECORDER.get()
    if found is None:
        return
    for item in found:
        if item["kind"] == kind and item["ref"] == ref:
            return
    found.append({"kind": kind, "ref": ref, "resolved": resolved, **extra})


def record_model(name: str, alias: str | None, version: int) -> None:
    """Note that ``models:/NAME@ALIAS`` resolved to ``version`` (a numbered version cannot move: not noted)."""
    if alias is not None:
        record("model", f"{name}@{alias}", f"{name}/{version}")


def record_path(path: Any) -> None:
    """Record a local file or folder a step read through loopml (anything else, or outside a step: no-op)."""
    if _RECORDER.get() is None:
        return
    read = path_read(path)
    if read is not None:
        record(read["kind"], read["ref"], read["resolved"], **{k: read[k] for k in ("size", "mtime_ns", "files")})


@contextmanager
def pinned(pins: Mapping[str, int]) -> Iterator[None]:
    """Resolve ``datasets:/NAME@latest`` to ``pins[NAME]`` in this context (a triggered run)."""
    token = _PINS.set(dict(pins))
    try:
        yield
    finally:
        _PINS.reset(token)


def pins() -> Mapping[str, int]:
    """The dataset pins of this context (empty outside :func:`pinned`)."""
    return _PINS.get() or {}


def describe_pins(pins: Mapping[str, int]) -> str | None:
    """What a pinned run read, e.g. ``datasets:/customers/5`` (``None`` when nothing is pinned)."""
    if not pins:
        return None
    return ", ".join(f"datasets:/{name}/{version}" for name, version in sorted(pins.items()))


def existing_path(value: Any) -> Path | None:
    """``value`` as an absolute path when it is a ``str`` / ``Path`` naming an existing file or folder."""
    if isinstance(value, str):
        if not value or len(value) > MAX_PATH_TEXT or "\0" in value or "://" in value:
            return None
    elif not isinstance(value, os.PathLike):
        return None
    try:
        path = Path(value)
        if not path.exists():
            return None
        path = path.absolute()
        return path if len(str(path)) <= MAX_PATH_TEXT else None
    except (OSError, ValueError):
        return None


def fingerprint(path: Path) -> dict[str, int] | None:
    """``{"size", "mtime_ns"}`` of a file, or ``{"size", "mtime_ns", "files"}`` of a folder (None if gone,
    or a folder of more than ``MAX_FOLDER_FILES`` files)."""
    try:
        stat = path.stat()
        if not path.is_dir():
            return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
        size, newest, files = 0, stat.st_mtime_ns, 0
        for root, dirs, names in os.walk(path):
            for name in dirs:
                newest = max(newest, os.stat(os.path.join(root, name)).st_mtime_ns)
            for name in names:
                info = os.stat(os.path.join(root, name))
                size, newest, files = size + info.st_size, max(newest, info.st_mtime_ns), files + 1
            if files > MAX_FOLDER_FILES:
                return None
        return {"size": size, "mtime_ns": newest, "files": files}
    except OSError:
        return None


def content_hash(path: Path) -> str:
    """SHA-256 of a file, or of a folder's sorted relative paths and file hashes."""
    if not path.is_dir():
        return sha256_file(path)
    digest = hashlib.sha256()
    entries = sorted(p for p in path.rglob("*") if p.is_file())
    for entry in entries:
        digest.update(entry.relative_to(path).as_posix().encode() + b"\0" + sha256_file(entry).encode() + b"\0")
    return digest.hexdigest()


def path_read(value: Any) -> dict[str, Any] | None:
    """The ``file`` read of an existing path (content hash and fingerprint), or ``None``."""
    path = existing_path(value)
    if path is None:
        return None
    stamp = fingerprint(path)
    if stamp is None:
        return None
    try:
        digest = content_hash(path)
    except OSError:
        return None
    return {"kind": "file", "ref": str(path), "resolved": digest, "size": stamp["size"],
            "mtime_ns": stamp["mtime_ns"], "files": stamp.get("files")}  # fmt: skip
