"""The blob store protocol: a handful of byte-level methods keyed by SHA-256."""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from loopml.core.errors import InvalidInput, NotFound
from loopml.core.hashing import ByteStream
from loopml.core.records import Blob

__all__ = ["Blob", "BlobInfo", "BlobStore", "ByteStream", "CollectableBlobStore", "GuardedDelete"]


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """A stored blob as a listing sees it: digest, size in bytes, and when it was written (epoch seconds)."""

    sha256: str
    size: int
    modified: float


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


class CollectableBlobStore(BlobStore, Protocol):
    """A blob store garbage collection can walk and prune: the stores a process opens directly (local
    directory, object storage), not the HTTP client of a remote server. The server streams from it."""

    def size(self, sha256: str) -> int | None:
        """The stored blob's size in bytes, or ``None`` when it is not stored (no hashing)."""
        ...

    def open_chunks(self, sha256: str) -> Iterator[bytes]:
        """The blob's bytes in chunks; ``NotFound`` at once when missing, ``IntegrityError`` before the
        last chunk when the bytes do not match their hash."""
        ...

    def iter_blobs(self) -> Iterator[BlobInfo]:
        """Every stored blob, in no particular order (garbage collection walks this)."""
        ...

    def delete(self, sha256: str) -> bool:
        """Remove a blob; whether it existed. Only garbage collection calls this."""
        ...


@runtime_checkable
class GuardedDelete(Protocol):
    """A store that can delete a blob only if nobody wrote or refreshed it since ``cutoff``, atomically with
    respect to a writer's dedup hit (garbage collection prefers it to :meth:`CollectableBlobStore.delete`)."""

    def delete_if_older(self, sha256: str, cutoff: float) -> bool:
        """Remove the blob if it was last modified before ``cutoff`` (epoch seconds); whether it was removed."""
        ...


class PutsFromStream(ABC):
    """``put_file`` and ``put_bytes`` of a store, in terms of its ``put_stream``."""

    @abstractmethod
    def put_stream(self, stream: ByteStream) -> Blob:
        """Store everything left in ``stream``."""

    def put_file(self, path: str | Path) -> Blob:
        """Store the file at ``path`` (``NotFound`` if it does not exist, ``InvalidInput`` for a folder)."""
        try:
            with open(path, "rb") as stream:
                return self.put_stream(stream)
        except FileNotFoundError:
            raise NotFound(f"File {str(path)!r} does not exist.") from None
        except IsADirectoryError:
            raise InvalidInput(f"{str(path)!r} is a directory, expected a file.") from None

    def put_bytes(self, data: bytes) -> Blob:
        """Store ``data``."""
        return self.put_stream(io.BytesIO(data))
