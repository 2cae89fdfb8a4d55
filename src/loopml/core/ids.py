"""Identifiers for stored objects."""

from __future__ import annotations

import re
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
