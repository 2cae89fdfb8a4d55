"""Run artifacts kept by a ``loopml server``: streamed uploads and hash-verified downloads.

Uploads send the file's SHA-256 in ``X-Loopml-Sha256`` and the server refuses bytes that do not
match it; downloads hash what arrives and refuse it unless it matches both the server's header
and the hash recorded for the artifact.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

import orjson

from loopml.artifacts.paths import safe_relpath
from loopml.core.errors import IntegrityError, InvalidInput, NotFound
from loopml.core.hashing import CHUNK_SIZE, sha256_bytes, sha256_file
from loopml.core.records import ArtifactInfo
from loopml.core.wire import ARTIFACT
from loopml.store.http.tracking import HttpTrackingStore
from loopml.store.http.transport import HttpTransport
from loopml.store.http.wire import ACTOR_HEADER, SHA256_HEADER
from loopml.tracking.artifacts import download_infos


class HttpRunArtifacts:
    """:class:`~loopml.tracking.artifacts.RunArtifacts` over HTTP, sharing the store's connection pool."""

    def __init__(self, store: HttpTrackingStore) -> None:
        self.store = store
        self.transport = store.transport

    def log_files(self, run_id: str, files: list[tuple[Path, str]], *, actor: str) -> list[ArtifactInfo]:
        infos = []
        for local, path in files:
            relpath = safe_relpath(path)
            try:
                sha256 = sha256_file(local)
                with open(local, "rb") as stream:
                    infos.append(self._upload(run_id, relpath, stream, sha256, actor=actor))
            except FileNotFoundError:
                raise NotFound(f"File {str(local)!r} does not exist.") from None
            except IsADirectoryError:
                raise InvalidInput(f"{str(local)!r} is a directory, expected a file.") from None
        return infos

    def log_bytes(self, run_id: str, data: bytes, path: str, *, actor: str) -> ArtifactInfo:
        return self._upload(run_id, safe_relpath(path), data, sha256_bytes(data), actor=actor)

    def list(self, run_id: str, prefix: str = "") -> list[ArtifactInfo]:
        return self.store.list_artifacts(run_id, safe_relpath(prefix) if prefix else "")

    def read_bytes(self, run_id: str, path: str) -> bytes:
        response = self.transport.request("GET", _artifact_url(run_id, safe_relpath(path)))
        data = response.content
        expected = response.headers.get(SHA256_HEADER)
        if expected is None or sha256_bytes(data) != expected:
            raise _corrupt(self.transport, run_id, path)
        return data

    def download(self, run_id: str, path: str, dest: Path) -> Path:
        path = safe_relpath(path) if path else ""
        infos = self.list(run_id, path)
        if not infos:
            raise NotFound(f"Run {run_id} has no artifact at {path or '/'!r}.")
        return download_infos(infos, path, dest, lambda info, target: self._fetch(run_id, info, target))

    def _upload(self, run_id: str, path: str, content: bytes | BinaryIO, sha256: str, *, actor: str) -> ArtifactInfo:
        """PUT one file; a file object is streamed with its Content-Length."""
        headers = {
            SHA256_HEADER: sha256,
            "Content-Type": "application/octet-stream",
            ACTOR_HEADER: quote(actor, safe=""),
        }
        with self.transport.stream("PUT", _artifact_url(run_id, path), content=content, headers=headers) as response:
            data = response.read()
        info = orjson.loads(data) if data else {}
        if info.get("sha256") != sha256:
            raise IntegrityError(
                f"Server stored {path!r} of run {run_id} with SHA-256 {info.get('sha256')}, expected {sha256}."
            )
        return ARTIFACT.decode(info)

    def _fetch(self, run_id: str, info: ArtifactInfo, target: Path) -> Path:
        """Stream one artifact into ``target`` atomically, verifying its hash on the way."""
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as out, self.transport.stream("GET", _artifact_url(run_id, info.path)) as response:
                for chunk in response.iter_bytes(CHUNK_SIZE):
                    digest.update(chunk)
                    out.write(chunk)
                header = response.headers.get(SHA256_HEADER)
            if digest.hexdigest() != info.sha256 or header != info.sha256:
                raise _corrupt(self.transport, run_id, info.path)
            os.replace(tmp_name, target)
            return target
        except BaseException:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
            raise


def _artifact_url(run_id: str, path: str) -> str:
    return f"/runs/{quote(run_id, safe='')}/artifacts/{quote(path, safe='/')}"


def _corrupt(transport: HttpTransport, run_id: str, path: str) -> IntegrityError:
    return IntegrityError(
        f"Artifact {path!r} of run {run_id} from {transport.base_url} does not match its SHA-256: "
        "the transfer was corrupted or the stored blob was modified."
    )
