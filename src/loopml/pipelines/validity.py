"""Is a cached step still valid? Re-resolve what it read; any difference is a miss, with the reason.

A cache key (:mod:`loopml.pipelines.cache`) finds a candidate: a succeeded step run with the same
code, inputs and parameters. Its recorded reads (:mod:`loopml.core.reads`) are then checked
against now: each distinct dataset ``@latest`` and model alias is resolved again (one query each;
a dataset pinned by a trigger resolves to its pin without one), and each file or folder is
stat-ed, its content re-hashed only when its size or mtime changed. Parameters that name an
existing file or folder are reads too, known before the step runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from loopml.core import reads
from loopml.core.errors import NotFound
from loopml.pipelines.step import StepOutput
from loopml.tracking.session import Session

_MAX_DEPTH = 4
STALE_UNKNOWN = "the cached step run was recorded before loopml recorded what steps read (run once to record it)"


def parameter_paths(arguments: Mapping[str, Any]) -> list[Path]:
    """Absolute paths of the existing files and folders a step's arguments name (``str`` or ``Path`` values)."""
    found: dict[str, Path] = {}
    pending: list[tuple[Any, int]] = [(value, 0) for value in arguments.values()]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, StepOutput) or value is None or type(value) in (bool, int, float):
            continue
        if isinstance(value, list | tuple | set | frozenset):
            if depth < _MAX_DEPTH:
                pending.extend((v, depth + 1) for v in value)
            continue
        if isinstance(value, dict):
            if depth < _MAX_DEPTH:
                pending.extend((v, depth + 1) for v in value.values())
            continue
        path = reads.existing_path(value)
        if path is not None:
            found.setdefault(str(path), path)
    return [found[key] for key in sorted(found)]


def check(
    recorded: list[dict[str, Any]] | None, paths: Iterable[Path], session: Session, pins: Mapping[str, int]
) -> tuple[list[str], list[dict[str, Any]]]:
    """``(reasons, current)``: why ``recorded`` no longer holds (empty: still valid) and the reads as
    they are now (file fingerprints refreshed, so an unchanged file is not hashed again next time).

    ``recorded`` is ``None`` for a step run stored before reads were recorded: unknown, so a miss.
    """
    if recorded is None:
        return [STALE_UNKNOWN], []
    reasons: list[str] = []
    current: list[dict[str, Any]] = []
    datasets = _datasets({r["ref"] for r in recorded if r.get("kind") == "dataset"}, session, pins)
    models = _models({r["ref"] for r in recorded if r.get("kind") == "model"}, session)
    for read in recorded:
        kind, ref, cached = read.get("kind"), read.get("ref", ""), read.get("resolved")
        if kind == "dataset":
            now = datasets[ref]
            if now != cached:
                reasons.append(_moved("datasets", ref, cached, now))
            current.append(read)
        elif kind == "model":
            now = models[ref]
            if now != cached:
                reasons.append(_moved("models", ref, cached, now))
            current.append(read)
        elif kind == "file":
            fresh = refresh_file(read)
            if fresh is None:
                gone = not Path(ref).exists()
                reasons.append(
                    f"{ref} no longer exists" if gone else f"{ref} has over {reads.MAX_FOLDER_FILES:,} files now"
                )
            elif fresh["resolved"] != cached:
                reasons.append(f"the content of {ref} changed")
            current.append(fresh or read)
        else:
            reasons.append(f"a read of unknown kind {kind!r} was recorded (by a newer loopml?)")
    known = {r["ref"] for r in recorded if r.get("kind") == "file"}
    for path in paths:
        if str(path) not in known:
            reasons.append(f"parameter {path} names an existing path now (not hashed when cached)")
    return reasons, current


def refresh_file(read: Mapping[str, Any]) -> dict[str, Any] | None:
    """A ``file`` read as the path is now: the recorded hash when size and mtime match, else re-hashed."""
    path = Path(read["ref"])
    stamp = reads.fingerprint(path) if path.exists() else None
    if stamp is None:
        return None
    same = stamp["size"] == read.get("size") and stamp["mtime_ns"] == read.get("mtime_ns")
    if same and stamp.get("files") == read.get("files"):
        return dict(read)
    fresh = reads.path_read(path)
    return None if fresh is None else fresh


def merge(*groups: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The reads of ``groups`` in order, the first of each ``(kind, ref)`` kept."""
    seen: set[tuple[str, str]] = set()
    merged = []
    for group in groups:
        for read in group:
            key = (read["kind"], read["ref"])
            if key not in seen:
                seen.add(key)
                merged.append(read)
    return merged


def _datasets(refs: set[str], session: Session, pins: Mapping[str, int]) -> dict[str, str | None]:
    resolved: dict[str, str | None] = {}
    for ref in refs:
        name = ref.split("@", 1)[0]
        if name in pins:
            resolved[ref] = f"{name}/{pins[name]}"
            continue
        try:
            version = session.datasets.get_version(name, "latest")
            resolved[ref] = f"{version.name}/{version.version}"
        except NotFound:
            resolved[ref] = None
    return resolved


def _models(refs: set[str], session: Session) -> dict[str, str | None]:
    resolved: dict[str, str | None] = {}
    for ref in refs:
        name, alias = ref.split("@", 1)
        try:
            version = session.models.get_version(name, alias=alias)
            resolved[ref] = f"{version.name}/{version.version}"
        except NotFound:
            resolved[ref] = None
    return resolved


def _moved(scheme: str, ref: str, cached: str | None, now: str | None) -> str:
    was = _number(cached)
    if now is None:
        return f"{scheme}:/{ref} no longer resolves (cached: version {was})"
    return f"{scheme}:/{ref} now resolves to version {_number(now)} (cached: {was})"


def _number(resolved: str | None) -> str:
    return "?" if resolved is None else resolved.rsplit("/", 1)[-1]
