"""The thin core: ids, hashing, URIs, errors, clock and records. Imports nothing else of ours."""

from loopml.core.errors import (
    Conflict,
    Forbidden,
    IntegrityError,
    InvalidInput,
    LoopmlError,
    NotFound,
    SecurityError,
    StoreError,
    Unauthorized,
)

__all__ = [
    "Conflict",
    "Forbidden",
    "IntegrityError",
    "InvalidInput",
    "LoopmlError",
    "NotFound",
    "SecurityError",
    "StoreError",
    "Unauthorized",
]
