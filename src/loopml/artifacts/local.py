"""Local file-system blob store: ``<root>/sha256/ab/<digest>``, written via temp file + fsync + rename."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

from loopml.artifacts.base import Blob
from loopml.core.errors import IntegrityError, InvalidInput, NotFound
from loopml.core.hashing import CHUNK_SIZE, is_sha256


class LocalBlobStore:
    """Content-addressed blobs in a local directory.

    >>> store = LocalBlobStore(tmp_path)            # doctest: +SKIP
    >>> store.read_bytes(store.put_bytes(b"hi").sha256)  # doctest: +SKIP
    b'hi'
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self._tmp = self.root / "tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)

    def path_of(self, sha256: str) -> Path:
        """Where the blob with this digest lives (it may not exist)."""
        if not is_sha256(sha256):
            raise InvalidInput(f"Invalid sha256 {sha256!r}: expected 64 lowercase hex characters.")
        return self.root / "sha256" / sha256[:2] / sha256

    def put_stream(self, stream: BinaryIO) -> Blob:
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp)
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
            if target.exists():
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

    def put_file(self, path: str | Path) -> Blob:
        try:
            with open(path, "rb") as stream:
                return self.put_stream(stream)
        except FileNotFoundError:
            raise NotFound(f"File {str(path)!r} does not exist.") from None
        except IsADirectoryError:
            raise InvalidInput(f"{str(path)!r} is a directory, expected a file.") from None

    def put_bytes(self, data: bytes) -> Blob:
        return self.put_stream(io.BytesIO(data))

    def exists(self, sha256: str) -> bool:
        return self.path_of(sha256).is_file()

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

    def delete(self, sha256: str) -> bool:
        """Remove a blob (garbage collection); returns whether it existed."""
        try:
            self.path_of(sha256).unlink()
            return True
        except FileNotFoundError:
            return False

    def clear_tmp(self) -> None:
        """Remove temp files left behind by a crashed writer."""
        shutil.rmtree(self._tmp, ignore_errors=True)
        self._tmp.mkdir(parents=True, exist_ok=True)

    def _open(self, sha256: str) -> Path:
        path = self.path_of(sha256)
        if not path.is_file():
            raise NotFound(f"Blob {sha256} is not in the artifact store at {self.root}.")
        return path


def _tampered(sha256: str) -> IntegrityError:
    return IntegrityError(f"Blob {sha256} does not match its SHA-256: the stored file was modified or corrupted.")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
