"""Artifact path checks: logical paths stay relative and inside the store."""

from __future__ import annotations

import posixpath

from loopml.core.errors import InvalidInput

MAX_PATH_LENGTH = 1024


def safe_relpath(path: str, *, field: str = "path") -> str:
    """Normalise a logical artifact path, rejecting anything that could escape its root.

    >>> safe_relpath("plots//roc.png")
    'plots/roc.png'
    """
    problem = _problem(path)
    if problem:
        raise InvalidInput(
            f"Invalid artifact {field} {path!r}: {problem}.",
            details=[{"field": field, "problem": problem}],
        )
    return posixpath.normpath(path)


def _problem(path: object) -> str | None:
    if not isinstance(path, str) or not path.strip():
        return "must be a non-empty relative path"
    if len(path) > MAX_PATH_LENGTH:
        return f"longer than {MAX_PATH_LENGTH} characters"
    if "\x00" in path or "\\" in path:
        return "contains a NUL byte or a backslash"
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        return "must be relative, not absolute"
    parts = path.split("/")
    if any(part == ".." for part in parts):
        return "must not contain '..'"
    if posixpath.normpath(path) in (".", ""):
        return "must name a file below the run's root"
    return None
