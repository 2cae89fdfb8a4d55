"""The blob store protocol: a handful of byte-level methods keyed by SHA-256."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol


@dataclass(frozen=True, slots=True)
class Blob:
    """A stored blob: its content hash and size in bytes."""

    sha256: str
    size: int


class BlobStore(Protocol):
    """Stores immutable bytes under their SHA-256. Writes are atomic; reads verify the hash."""

    def put_stream(self, stream: BinaryIO) -> Blob:
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
