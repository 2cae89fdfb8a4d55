"""Dataset versions, lineage and blobs kept by a ``loopml server``, over its REST API.

>>> transport = HttpTransport("http://127.0.0.1:5050", actor="ann")    # doctest: +SKIP
>>> HttpDatasetStore(transport).get_version("customers").uri               # doctest: +SKIP
'datasets:/customers/3'

Each class wraps an :class:`~loopml.store.http.transport.HttpTransport`, sharing its connection
pool, token, retries and error mapping, so a server error arrives as the same loopml exception
the SQL stores raise. Blobs are content-addressed: uploads are hashed on the client first and
skipped when the server already holds the digest (``HEAD /blobs/{sha256}``); downloads are hashed
again on arrival and refused with :class:`~loopml.IntegrityError` unless they match.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Literal

import orjson

from loopml.core.errors import IntegrityError, InvalidInput, NotFound
from loopml.core.hashing import CHUNK_SIZE, ByteStream, is_sha256, sha256_bytes
from loopml.core.records import Blob, DatasetSummary, DatasetVersion, LineageEdge
from loopml.core.uris import check_name
from loopml.core.wire import DATASET, DATASET_VERSION, LINEAGE_EDGE
from loopml.store.http.transport import HttpTransport, segment
from loopml.store.http.wire import SHA256_HEADER


class HttpDatasetStore:
    """:class:`~loopml.store.base.DatasetStore` over ``/api/v1/datasets``."""

    def __init__(self, transport: HttpTransport) -> None:
        self.transport = transport

    def __repr__(self) -> str:
        return f"HttpDatasetStore({self.transport.base_url!r})"

    def create_version(
        self,
        name: str,
        *,
        sha256: str,
        blob_sha256: str,
        n_rows: int,
        n_columns: int,
        size_bytes: int,
        schema: dict[str, Any],
        profile: dict[str, Any],
        source: dict[str, Any],
        description: str = "",
        actor: str,
    ) -> tuple[DatasetVersion, bool]:
        """Record a version whose blob the server holds; ``(existing, False)`` for known content."""
        check_name(name, field="dataset name")
        body = {
            "sha256": sha256,
            "blob_sha256": blob_sha256,
            "n_rows": n_rows,
            "n_columns": n_columns,
            "size_bytes": size_bytes,
            "schema": schema,
            "profile": profile,
            "source": source,
            "description": description,
        }
        response = self.transport.request(
            "POST",
            f"/datasets/{segment(name)}/versions",
            content=_dumps(body),
            headers={"Content-Type": "application/json"},
            actor=actor,
        )
        data = orjson.loads(response.content)
        return DATASET_VERSION.decode(data["version"]), bool(data["created"])

    def find_by_content(self, name: str, sha256: str) -> DatasetVersion | None:
        """The version of ``name`` with this content hash, or ``None``."""
        if not isinstance(sha256, str) or not is_sha256(sha256):
            return None  # no stored version can have it
        try:
            return DATASET_VERSION.decode(
                self.transport.request_json("GET", f"/datasets/{segment(name)}/by-content/{sha256}")
            )
        except NotFound:
            return None

    def get_version(self, name: str, version: int | str = "latest") -> DatasetVersion:
        """A version by number or ``"latest"``; ``NotFound`` if missing."""
        if version != "latest" and (not isinstance(version, int) or isinstance(version, bool)):
            raise InvalidInput(
                f"Invalid dataset version {version!r}: use a version number or 'latest'.",
                details=[{"field": "version", "problem": "not a number or 'latest'"}],
            )
        if isinstance(version, int) and version < 0:
            raise NotFound(f"Dataset version datasets:/{name}/{version} does not exist.")
        return DATASET_VERSION.decode(
            self.transport.request_json("GET", f"/datasets/{segment(name)}/versions/{version}")
        )

    def list_versions(self, name: str) -> list[DatasetVersion]:
        """Every version of ``name``, oldest first (``NotFound`` for an unknown dataset)."""
        data = self.transport.request_json("GET", f"/datasets/{segment(name)}/versions")
        return DATASET_VERSION.decode_many(data["versions"])

    def list_datasets(self) -> list[DatasetSummary]:
        """Every dataset, sorted by name."""
        return DATASET.decode_many(self.transport.request_json("GET", "/datasets")["datasets"])


class HttpLineageStore:
    """:class:`~loopml.store.base.LineageStore` over ``/api/v1/lineage``."""

    def __init__(self, transport: HttpTransport) -> None:
        self.transport = transport

    def __repr__(self) -> str:
        return f"HttpLineageStore({self.transport.base_url!r})"

    def add_edge(self, source: tuple[str, str], target: tuple[str, str], *, relation: str, actor: str) -> LineageEdge:
        """Record ``source -> target``, each ``(object_type, object_id)``; a known edge is a no-op."""
        body = {
            "source_type": source[0],
            "source_id": source[1],
            "target_type": target[0],
            "target_id": target[1],
            "relation": relation,
        }
        return LINEAGE_EDGE.decode(self.transport.request_json("POST", "/lineage", json=body, actor=actor))

    def edges(
        self, object_type: str, object_id: str, *, direction: Literal["in", "out", "both"] = "both"
    ) -> list[LineageEdge]:
        """Edges into (``in``), out of (``out``) or touching (``both``) one object."""
        params = {"object_type": object_type, "object_id": object_id, "direction": direction}
        return LINEAGE_EDGE.decode_many(self.transport.request_json("GET", "/lineage", params=params)["edges"])


class HttpBlobStore:
    """:class:`~loopml.artifacts.base.BlobStore` over ``/api/v1/blobs/{sha256}``."""

    def __init__(self, transport: HttpTransport) -> None:
        self.transport = transport

    def __repr__(self) -> str:
        return f"HttpBlobStore({self.transport.base_url!r})"

    def put_stream(self, stream: ByteStream) -> Blob:
        """Store everything left in ``stream`` (spooled to a temporary file while it is hashed)."""
        with tempfile.TemporaryFile(prefix="loopml-blob-") as spool:
            digest = hashlib.sha256()
            size = 0
            while chunk := stream.read(CHUNK_SIZE):
                digest.update(chunk)
                spool.write(chunk)
                size += len(chunk)
            spool.seek(0)
            return self._upload(spool, digest.hexdigest(), size)

    def put_file(self, path: str | Path) -> Blob:
        """Store the file at ``path`` (read twice: once to hash, once to upload)."""
        try:
            with open(path, "rb") as stream:
                digest = hashlib.sha256()
                while chunk := stream.read(CHUNK_SIZE):
                    digest.update(chunk)
                size = stream.tell()
                stream.seek(0)
                return self._upload(stream, digest.hexdigest(), size)
        except FileNotFoundError:
            raise NotFound(f"File {str(path)!r} does not exist.") from None
        except IsADirectoryError:
            raise InvalidInput(f"{str(path)!r} is a directory, expected a file.") from None

    def put_bytes(self, data: bytes) -> Blob:
        """Store ``data``."""
        return self._upload(data, sha256_bytes(data), len(data))

    def exists(self, sha256: str) -> bool:
        """Whether the server holds the blob."""
        try:
            self.transport.request("HEAD", _blob_url(sha256))
        except NotFound:
            return False
        return True

    def read_bytes(self, sha256: str) -> bytes:
        """The blob's bytes, raising ``IntegrityError`` unless they hash to ``sha256``."""
        response = self.transport.request("GET", _blob_url(sha256))
        data = response.content
        if sha256_bytes(data) != sha256 or response.headers.get(SHA256_HEADER) != sha256:
            raise self._corrupt(sha256)
        return data

    def copy_to(self, sha256: str, dest: str | Path) -> Path:
        """Stream the blob into ``dest`` atomically, verifying its hash on the way."""
        url = _blob_url(sha256)
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as out, self.transport.stream("GET", url) as response:
                for chunk in response.iter_bytes(CHUNK_SIZE):
                    digest.update(chunk)
                    out.write(chunk)
                header = response.headers.get(SHA256_HEADER)
            if digest.hexdigest() != sha256 or header != sha256:
                raise self._corrupt(sha256)
            os.replace(tmp_name, dest)
            return dest
        except BaseException:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
            raise

    def _upload(self, content: bytes | BinaryIO, sha256: str, size: int) -> Blob:
        """PUT one blob unless the server already has it; a file object is streamed."""
        if self.exists(sha256):
            return Blob(sha256, size)
        headers = {"Content-Type": "application/octet-stream"}
        with self.transport.stream("PUT", _blob_url(sha256), content=content, headers=headers) as response:
            data = response.read()
        info = orjson.loads(data) if data else {}
        if info.get("sha256") != sha256 or info.get("size") != size:
            raise IntegrityError(
                f"Server at {self.transport.base_url} stored blob {info.get('sha256')} ({info.get('size')} bytes), "
                f"expected {sha256} ({size} bytes)."
            )
        return Blob(sha256, size)

    def _corrupt(self, sha256: str) -> IntegrityError:
        return IntegrityError(
            f"Blob {sha256} from {self.transport.base_url} does not match its SHA-256: "
            "the transfer was corrupted or the stored file was modified."
        )


def _blob_url(sha256: str) -> str:
    if not isinstance(sha256, str) or not is_sha256(sha256):
        raise InvalidInput(f"Invalid sha256 {sha256!r}: expected 64 lowercase hex characters.")
    return f"/blobs/{sha256}"


def _dumps(body: dict[str, Any]) -> bytes:
    """JSON for a version record: profiles and sources may hold values JSON lacks (dates, big ints)."""
    try:
        return orjson.dumps(body, default=str)
    except TypeError:
        return json.dumps(body, default=str).encode()
