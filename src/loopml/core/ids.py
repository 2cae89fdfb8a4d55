"""Identifiers for stored objects."""

from __future__ import annotations

import re
import secrets
import time
import uuid

from loopml.core.errors import InvalidInput

MIN_ID_PREFIX = 4
"""The shortest run id prefix accepted wherever a run id is (``loopml runs show 71cc``, ``runs:/71cc0d2b/model``)."""

_HEX_ID = re.compile(r"^[0-9a-f]{32}$")
_HEX_PREFIX = re.compile(rf"[0-9a-f]{{{MIN_ID_PREFIX},32}}")


def new_id() -> str:
    """A new random 32-character hex identifier (UUID4)."""
    return uuid.uuid4().hex


def is_id(value: str) -> bool:
    """Whether ``value`` has the shape of an id made by :func:`new_id`."""
    return bool(_HEX_ID.match(value))


def is_id_prefix(value: object) -> bool:
    """Whether ``value`` is a (lowercase) hex prefix of an id, ``MIN_ID_PREFIX`` to 32 characters long."""
    return isinstance(value, str) and _HEX_PREFIX.fullmatch(value) is not None


def check_run_ref(ref: object) -> str:
    """``ref`` lowercased when it is a run id or a prefix of one; ``InvalidInput`` naming the shape otherwise."""
    value = ref.strip().lower() if isinstance(ref, str) else ""
    if not is_id_prefix(value):
        raise InvalidInput(
            f"Invalid run id {str(ref)[:80]!r}: expected a 32-character hex id or a unique prefix of at least "
            f"{MIN_ID_PREFIX} of its characters.",
            details=[{"field": "run_id", "problem": f"expected 32 hex characters or a prefix of {MIN_ID_PREFIX}+"}],
        )
    return value


_REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")


def request_id(now_ms: int | None = None) -> str:
    """A new time-ordered request id: 12 hex digits of Unix milliseconds, then 20 random hex digits.

    Ids sort by the time they were made, and :func:`request_time` reads that time back, so a label
    that arrives later finds its prediction's hour partition without scanning the log.

    >>> rid = request_id(1_764_745_200_000)
    >>> len(rid), request_time(rid)
    (32, 1764745200000)
    """
    millis = int(time.time() * 1000) if now_ms is None else now_ms
    return f"{millis:012x}{secrets.token_hex(10)}"


def request_time(value: object) -> int | None:
    """The Unix milliseconds a :func:`request_id` was made at; ``None`` for any other string."""
    if not isinstance(value, str) or not _REQUEST_ID.match(value):
        return None
    return int(value[:12], 16)
