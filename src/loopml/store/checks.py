"""Argument checks every implementation of a store protocol makes, SQL and HTTP alike.

>>> string_dict({"lr": 0.1}, "param")
{'lr': '0.1'}
>>> model_version_number(0)
Traceback (most recent call last):
...
loopml.core.errors.InvalidInput: Invalid model version 0: expected a version number (1, 2, ...).

The HTTP client runs them before sending, so a bad argument raises the same error, with the same
message, whether the store is a local database or a server (which runs the SQL store's checks).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from loopml.core.errors import InvalidInput
from loopml.core.records import RunStatus
from loopml.core.validation import check_key, stringify


def string_dict(values: Mapping[str, Any] | None, field: str) -> dict[str, str]:
    """Params or tags as stores keep them: checked keys, values converted to strings."""
    if not values:
        return {}
    if not isinstance(values, Mapping):
        raise InvalidInput(f"{field}s must be a mapping of key to value, got {type(values).__name__}.")
    return {check_key(k, field=field): stringify(v, field=field, key=k) for k, v in values.items()}


def run_status(status: str) -> RunStatus:
    """``status`` as a :class:`RunStatus`, naming the valid ones otherwise."""
    try:
        return RunStatus(status)
    except ValueError:
        valid = ", ".join(s.value for s in RunStatus)
        raise InvalidInput(f"Invalid run status {status!r}; valid statuses are {valid}.") from None


def run_ids(ids: Sequence[str]) -> list[str]:
    """A list of run ids (not one string, no empty ids)."""
    if isinstance(ids, str) or not all(isinstance(i, str) and i for i in ids):
        raise InvalidInput(f"run_ids must be a list of run id strings, got {ids!r}.")
    return list(ids)


def model_version_number(version: object) -> int:
    """A model version number (1, 2, ...); ``True`` and ``"2"`` are not."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidInput(
            f"Invalid model version {version!r}: expected a version number (1, 2, ...).",
            details=[{"field": "version", "problem": "not a positive integer"}],
        )
    return version
