"""The blob store protocol: a handful of byte-level methods keyed by SHA-256."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from loopml.core.hashing import ByteStream
from loopml.core.records import Blob

__all__ = ["Blob", "BlobStore", "ByteStream"]


class BlobStore(Protocol):
    """Stores immutable bytes under their SHA-256. Writes are atomic; reads verify the hash."""

    def put_stream(self, stream: ByteStream) -> Blob:
        """Store everything left in ``stream``."""
        ...

    def put_file(self, path: str | Path) -> Blob:
        """Store the file at ``path``."""
        ...

    def put_bytes(self, data: bytes) -> Blob:
        """Store ``data``."""
        ...

    def read_bytes(self, sha256: str) -> bytes:
        """Return the blob's bytes, raising ``IntegrityError`` if they do not match the hash."""
        ...

    def copy_to(self, sha256: str, dest: str | Path) -> Path:
        """Write the blob to ``dest`` atomically, verifying the hash on the way."""
        ...

    def exists(self, sha256: str) -> bool:
        """Whether the blob is stored."""
        ...
