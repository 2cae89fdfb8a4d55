"""Identifiers for stored objects."""

from __future__ import annotations

import re
import uuid

_HEX_ID = re.compile(r"^[0-9a-f]{32}$")


def new_id() -> str:
    """A new random 32-character hex identifier (UUID4)."""
    return uuid.uuid4().hex


def is_id(value: str) -> bool:
    """Whether ``value`` has the shape of an id made by :func:`new_id`."""
    return bool(_HEX_ID.match(value))
