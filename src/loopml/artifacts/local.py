"""Local file-system blob store: ``<root>/sha256/ab/<digest>``, written via temp file + fsync + rename.

Temp files live in ``<root>/tmp`` and are named ``<pid>@<host>.<random>``. Opening the store removes
the ones a crashed writer left behind: those of a process of this host that no longer runs, and
any not written to for :data:`STALE_TMP_SECONDS` (writers on other hosts sharing the directory, or
names from older releases). A live writer's file is never removed: its process exists, and a
writer on another host touches its file with every chunk.

A write that finds its blob already stored (a dedup hit) refreshes the blob's mtime, and
:meth:`LocalBlobStore.delete_if_older` removes a blob only if it is still old at that instant:
garbage collection never takes a blob a writer has just stored or re-used (see :mod:`loopml.gc`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from loopml.artifacts.base import Blob, BlobInfo, ByteStream, PutsFromStream
from loopml.core.errors import IntegrityError, InvalidInput, NotFound
from loopml.core.hashing import CHUNK_SIZE, is_sha256

STALE_TMP_SECONDS = 3600.0
logger = logging.getLogger(__name__)


class LocalBlobStore(PutsFromStream):
    """Content-addressed blobs in a local directory.

    >>> store = LocalBlobStore(tmp_path)            # doctest: +SKIP
    >>> store.read_bytes(store.put_bytes(b"hi").sha256)  # doctest: +SKIP
    b'hi'
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self._tmp = self.root / "tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)
        self._host = socket.gethostname().replace("/", "_")
        self.clean_tmp()

    def path_of(self, sha256: str) -> Path:
        """Where the blob with this digest lives (it may not exist)."""
        if not is_sha256(sha256):
            raise InvalidInput(f"Invalid sha256 {sha256!r}: expected 64 lowercase hex characters.")
        return self.root / "sha256" / sha256[:2] / sha256

    def put_stream(self, stream: ByteStream) -> Blob:
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix=f"{os.getpid()}@{self._host}.")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK_SIZE):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha = digest.hexdigest()
            target = self.path_of(sha)
            if _refresh(target):  # a dedup hit: the new mtime takes the blob out of a running gc's reach
                os.unlink(tmp_name)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp_name, target)
                _fsync_dir(target.parent)
            return Blob(sha, size)
        except BaseException:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
            raise

    def exists(self, sha256: str) -> bool:
        return self.path_of(sha256).is_file()

    def size(self, sha256: str) -> int | None:
        """The stored blob's size in bytes, or ``None`` when it is not stored."""
        try:
            return self.path_of(sha256).stat().st_size
        except FileNotFoundError:
            return None

    def open_chunks(self, sha256: str) -> Iterator[bytes]:
        """The blob's bytes in chunks; the last one comes only once the SHA-256 matched."""
        return self._chunks(self._open(sha256), sha256)

    def _chunks(self, path: Path, sha256: str) -> Iterator[bytes]:
        digest = hashlib.sha256()
        held: bytes | None = None
        with open(path, "rb") as stream:
            while chunk := stream.read(CHUNK_SIZE):
                digest.update(chunk)
                if held is not None:
                    yield held
                held = chunk
        if digest.hexdigest() != sha256:
            raise _tampered(sha256)
        if held is not None:
            yield held

    def read_bytes(self, sha256: str) -> bytes:
        data = self._open(sha256).read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise _tampered(sha256)
        return data

    def copy_to(self, sha256: str, dest: str | Path) -> Path:
        source = self._open(sha256)
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as out, open(source, "rb") as stream:
                while chunk := stream.read(CHUNK_SIZE):
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != sha256:
                raise _tampered(sha256)
            os.replace(tmp_name, dest)
            return dest
        except BaseException:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
            raise

    def iter_blobs(self) -> Iterator[BlobInfo]:
        """Every stored blob (``<root>/sha256/ab/<digest>``); names that are not digests are skipped."""
        base = self.root / "sha256"
        if not base.is_dir():
            return
        for shard in os.scandir(base):
            if not shard.is_dir(follow_symlinks=False):
                continue
            for entry in os.scandir(shard.path):
                if not is_sha256(entry.name) or entry.name[:2] != shard.name:
                    continue
                try:
                    stat = entry.stat(follow_symlinks=False)
                except FileNotFoundError:  # deleted meanwhile
                    continue
                yield BlobInfo(entry.name, stat.st_size, stat.st_mtime)

    def delete(self, sha256: str) -> bool:
        """Remove a blob (garbage collection); returns whether it existed."""
        try:
            self.path_of(sha256).unlink()
            return True
        except FileNotFoundError:
            return False

    def delete_if_older(self, sha256: str, cutoff: float) -> bool:
        """Remove a blob only if it was last modified before ``cutoff`` (garbage collection).

        The blob is first renamed into ``tmp/`` (atomic), then its mtime is read: a writer whose dedup
        hit refreshed it before the rename made it young, and it goes back; a writer that comes after
        the rename finds no blob and installs its own copy. Either way its bytes stay.
        """
        path = self.path_of(sha256)
        held = self._tmp / f"{os.getpid()}@{self._host}.gc{sha256}"
        try:
            os.rename(path, held)
        except FileNotFoundError:
            return False
        try:
            if held.stat().st_mtime >= cutoff:
                os.replace(held, path)  # a writer's copy that landed meanwhile has the same bytes
                return False
            held.unlink()
            return True
        except BaseException:
            if held.exists():
                os.replace(held, path)
            raise

    def clean_tmp(self, max_age: float = STALE_TMP_SECONDS) -> list[str]:
        """Remove partial uploads left by crashed writers (see the module docstring); their names."""
        removed = []
        cutoff = time.time() - max_age
        for entry in os.scandir(self._tmp):
            try:
                if self._is_orphan(entry, cutoff):
                    os.unlink(entry.path)
                    removed.append(entry.name)
            except FileNotFoundError:  # its writer renamed or removed it meanwhile
                continue
            except OSError as exc:  # a folder or a file we may not delete: leave it, say so
                logger.warning("Cannot remove %s from the artifact store's tmp dir: %s", entry.path, exc)
        if removed:
            logger.info("Removed %d partial upload(s) left in %s by crashed writers.", len(removed), self._tmp)
        return removed

    def _is_orphan(self, entry: os.DirEntry[str], cutoff: float) -> bool:
        """A temp file of a dead process of this host, or (any other name) one untouched since ``cutoff``."""
        pid, sep, rest = entry.name.partition("@")
        if sep and pid.isdigit() and rest.rpartition(".")[0] == self._host:
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                return True
            except PermissionError:  # alive, another user's
                return False
            return False
        return entry.stat(follow_symlinks=False).st_mtime < cutoff

    def _open(self, sha256: str) -> Path:
        path = self.path_of(sha256)
        if not path.is_file():
            raise NotFound(f"Blob {sha256} is not in the artifact store at {self.root}.")
        return path


def _tampered(sha256: str) -> IntegrityError:
    return IntegrityError(f"Blob {sha256} does not match its SHA-256: the stored file was modified or corrupted.")


def _refresh(path: Path) -> bool:
    """Touch an existing blob (a dedup hit); whether it exists."""
    try:
        os.utime(path)
    except FileNotFoundError:
        return False
    except PermissionError:  # another user's file: it exists; garbage collection's grace period still covers it
        logger.debug("Cannot refresh the mtime of %s (permission denied).", path)
    return True


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
