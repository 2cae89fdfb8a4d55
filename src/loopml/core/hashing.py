"""SHA-256 hashing of bytes, streams and files (the content address of everything)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

CHUNK_SIZE = 1 << 20


class ByteStream(Protocol):
    """Anything ``put_stream`` reads from: a binary file, ``io.BytesIO``, a request body reader."""

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes (all that is left when negative); ``b""`` at the end."""
        ...


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_chunks(chunks: Iterable[bytes]) -> str:
    """Hex SHA-256 of the concatenation of ``chunks``."""
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def sha256_stream(stream: ByteStream) -> str:
    """Hex SHA-256 of everything left in ``stream``."""
    return sha256_chunks(iter(lambda: stream.read(CHUNK_SIZE), b""))


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of the file at ``path``."""
    with open(path, "rb") as stream:
        return sha256_stream(stream)


def is_sha256(value: str) -> bool:
    """Whether ``value`` is a lowercase hex SHA-256 digest."""
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)
