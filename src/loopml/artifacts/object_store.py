"""Object-storage blob store through fsspec: ``s3://`` (s3fs), ``gs://`` (gcsfs), ``az://`` (adlfs), ``memory://``.

Keys follow the local layout, ``<prefix>/sha256/ab/<digest>``. A write hashes while it spools the
bytes to a local temp file (never the whole file in memory), asks the store whether the digest is
already there (dedup: no upload), and otherwise uploads the temp file, in parts of ``part_size``
bytes on S3 once it is at least two parts long. An object appears only when its upload completes,
so readers never see a partial blob.

A dedup hit refreshes the object's modification time (on S3 a server-side copy of the object onto
itself; elsewhere, or above 5 GiB, a re-upload of the spooled file). Garbage collection deletes
unreferenced blobs older than a grace period judged by :meth:`ObjectBlobStore.iter_blobs`'s
modified times, so a blob a writer has just re-referenced always looks new to it.

Reads hash as they stream and raise :class:`~loopml.core.errors.IntegrityError` on a mismatch;
:meth:`ObjectBlobStore.open_chunks` holds back the last chunk until the digest matched. Every call
to the store is retried on transient errors (connection errors, 5xx, throttling) with exponential
backoff, ``retries`` times, then fails with a :class:`~loopml.core.errors.StoreError` naming the URI.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import fsspec

from loopml.artifacts.base import Blob, BlobInfo, ByteStream, PutsFromStream
from loopml.core.errors import IntegrityError, InvalidInput, LoopmlError, NotFound, StoreError
from loopml.core.hashing import CHUNK_SIZE, is_sha256, sha256_file

try:  # the S3 client's own error classes, when the s3 extra is installed
    from botocore.exceptions import ConnectionError as _BotoConnectionError
    from botocore.exceptions import HTTPClientError as _BotoHTTPError

    _TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
        ConnectionError,
        TimeoutError,
        _BotoConnectionError,
        _BotoHTTPError,
    )
except ImportError:  # pragma: no cover - gs:// or az:// without botocore
    _TRANSPORT_ERRORS = (ConnectionError, TimeoutError)

DEFAULT_PART_SIZE = 16 << 20
MIN_S3_PART_SIZE = 5 << 20
READ_CHUNK_SIZE = 8 << 20
MAX_COPY_BYTES = 5 << 30
"""S3's limit for a single server-side copy; larger objects are refreshed by re-uploading."""
PACKAGES = {
    "s3": "s3fs",
    "s3a": "s3fs",
    "gs": "gcsfs",
    "gcs": "gcsfs",
    "az": "adlfs",
    "abfs": "adlfs",
    "memory": "fsspec",
}
"""Schemes loopml opens through fsspec, and the package that implements each."""
_RETRYABLE_CODES = {
    "SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests", "RequestTimeout",
    "InternalError", "ServiceUnavailable",
    "NoSuchUpload",  # a multipart upload aborted under us (one of its parts timed out): start it again
}  # fmt: skip
_T = TypeVar("_T")


class ObjectBlobStore(PutsFromStream):
    """Content-addressed blobs in an object store, keyed ``<prefix>/sha256/ab/<digest>``.

    >>> store = ObjectBlobStore("memory://loopml-doc/artifacts")
    >>> store.read_bytes(store.put_bytes(b"hi").sha256)
    b'hi'
    """

    def __init__(
        self,
        uri: str,
        *,
        part_size: int = DEFAULT_PART_SIZE,
        concurrency: int = 4,
        read_chunk_size: int = READ_CHUNK_SIZE,
        retries: int = 5,
        backoff: float = 0.2,
        spool_dir: str | Path | None = None,
    ) -> None:
        scheme, _, rest = uri.partition("://")
        self.scheme = scheme.lower()
        self.uri = f"{self.scheme}://{rest.strip('/')}"
        if self.scheme not in PACKAGES:
            raise InvalidInput(f"Unsupported object store scheme {self.scheme!r}; valid ones: {sorted(PACKAGES)}.")
        if not rest.strip("/"):
            raise InvalidInput(f"Artifact URI {uri!r} names no bucket; expected {self.scheme}://bucket[/prefix].")
        self._s3 = PACKAGES[self.scheme] == "s3fs"
        if self._s3 and part_size < MIN_S3_PART_SIZE:
            raise InvalidInput(f"part_size must be at least {MIN_S3_PART_SIZE} bytes (5 MiB) on S3, got {part_size}.")
        if retries < 1 or concurrency < 1 or read_chunk_size < 1 or backoff < 0:
            raise InvalidInput("retries, concurrency and read_chunk_size must be positive, backoff not negative.")
        self.part_size = part_size
        self.concurrency = concurrency
        self.read_chunk_size = read_chunk_size
        self.retries = retries
        self.backoff = backoff
        self._spool = None if spool_dir is None else str(spool_dir)
        self.fs = _filesystem(self.scheme)
        self.root = self.fs._strip_protocol(self.uri).rstrip("/")
        self.bucket = self.root.split("/", 1)[0]

    def key_of(self, sha256: str) -> str:
        """The object key of the blob with this digest (it may not exist)."""
        if not is_sha256(sha256):
            raise InvalidInput(f"Invalid sha256 {sha256!r}: expected 64 lowercase hex characters.")
        return f"{self.root}/sha256/{sha256[:2]}/{sha256}"

    def check(self) -> None:
        """Fail now, with one clear error, when the bucket is unreachable, missing or not ours to read."""
        try:
            if self._s3:
                self._call("reach the bucket", self.fs.call_s3, "head_bucket", Bucket=self.bucket, lookup=True)
            else:
                self._call("reach the bucket", self.fs.exists, self.root, lookup=True)
        except (StoreError, OSError) as exc:
            cause = exc.__cause__ if isinstance(exc, StoreError) and exc.__cause__ else exc
            hint = " and AWS_ENDPOINT_URL" if self._s3 else ""
            reason = _reason(cause)
            if isinstance(cause, FileNotFoundError) or reason.startswith(("404 ", "NoSuchBucket")):
                reason = f"the bucket {self.bucket!r} does not exist"
            elif isinstance(cause, PermissionError) or reason.startswith("403 "):
                reason = f"access to the bucket {self.bucket!r} was denied ({reason})"
            raise StoreError(
                f"The artifact store {self.uri} is not usable: {reason}. "
                f"Check LOOPML_ARTIFACT_URI{hint}, that the bucket {self.bucket!r} exists, and the credentials "
                f"({_credential_hint(self.scheme)})."
            ) from cause

    # writes
    def put_stream(self, stream: ByteStream) -> Blob:
        digest = hashlib.sha256()
        size = 0
        fd, spooled = tempfile.mkstemp(dir=self._spool, prefix="loopml-upload.")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK_SIZE):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            sha = digest.hexdigest()
            key = self.key_of(sha)
            if self.size(sha) is None:
                self._upload(spooled, key)
            else:
                self._touch(spooled, key, size)
            return Blob(sha, size)
        finally:
            os.unlink(spooled)

    # reads
    def size(self, sha256: str) -> int | None:
        """The stored blob's size in bytes, or ``None`` when it is not stored (one HEAD request)."""
        key = self.key_of(sha256)
        try:
            if self._s3:  # HEAD only (s3fs's info() lists the prefix after a 404, a second request)
                head = self._call(
                    f"look up blob {sha256}", self.fs.call_s3, "head_object", Bucket=self.bucket,
                    Key=key[len(self.bucket) + 1 :], lookup=True,
                )  # fmt: skip
                return int(head["ContentLength"])
            info = self._call(f"look up blob {sha256}", self.fs.info, key, lookup=True)
        except FileNotFoundError:
            return None
        return int(info["size"])

    def exists(self, sha256: str) -> bool:
        return self.size(sha256) is not None

    def open_chunks(self, sha256: str) -> Iterator[bytes]:
        """The blob's bytes in chunks, read in ranges; the last chunk comes only once the SHA-256 matched.

        Raises :class:`NotFound` at once when the blob is missing, :class:`IntegrityError` at the end
        when the bytes do not match (a consumer never receives all the bytes of a tampered blob).
        """
        size = self.size(sha256)
        if size is None:
            raise NotFound(f"Blob {sha256} is not in the artifact store at {self.uri}.")
        return self._chunks(sha256, size)

    def read_bytes(self, sha256: str) -> bytes:
        return b"".join(self.open_chunks(sha256))

    def copy_to(self, sha256: str, dest: str | Path) -> Path:
        """Download the blob to a temp file beside ``dest`` (in parts, ``concurrency`` at a time), check
        its SHA-256, then rename it into place; nothing is left behind on a mismatch."""
        key = self.key_of(sha256)
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
        os.close(fd)
        try:
            try:
                if self._s3:
                    self._call(
                        f"download {key}", self.fs.get_file, key, tmp_name, lookup=True,
                        chunksize=self.part_size, max_concurrency=self.concurrency,
                    )  # fmt: skip
                else:
                    self._call(f"download {key}", self.fs.get_file, key, tmp_name, lookup=True)
            except FileNotFoundError:
                raise NotFound(f"Blob {sha256} is not in the artifact store at {self.uri}.") from None
            if sha256_file(tmp_name) != sha256:
                raise _tampered(sha256, self.uri)
            os.replace(tmp_name, dest)
            return dest
        except BaseException:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
            raise

    # garbage collection
    def iter_blobs(self) -> Iterator[BlobInfo]:
        """Every stored blob (keys that are not ``sha256/ab/<digest>`` are skipped)."""
        base = f"{self.root}/sha256"
        try:
            found = self._call("list blobs", self.fs.find, base, detail=True, lookup=True)
        except FileNotFoundError:
            return
        for path, info in found.items():
            shard, _, name = path.rpartition("/")
            if is_sha256(name) and shard.endswith(f"/sha256/{name[:2]}"):
                yield BlobInfo(name, int(info["size"]), _modified(info))

    def delete_if_older(self, sha256: str, cutoff: float) -> bool:
        """Remove the blob only if it was last modified before ``cutoff`` (epoch seconds): a writer's dedup
        hit refreshes the modification time first, so a re-used blob is spared. Object storage has no
        atomic compare-and-delete, so a refresh landing between this HEAD and the DELETE (milliseconds)
        is not seen; docs/gc.md says so."""
        key = self.key_of(sha256)
        try:
            info = self._call(f"look up blob {sha256}", self.fs.info, key, lookup=True, refresh=True)
        except FileNotFoundError:
            return False
        if _modified(info) >= cutoff:
            return False
        try:
            self._call(f"delete blob {sha256}", self.fs.rm_file, key, lookup=True)
        except FileNotFoundError:
            return False
        return True

    def delete(self, sha256: str) -> bool:
        """Remove a blob (garbage collection); returns whether it existed."""
        if self.size(sha256) is None:
            return False
        key = self.key_of(sha256)
        try:
            self._call(f"delete blob {sha256}", self.fs.rm_file, key, lookup=True)
        except FileNotFoundError:
            return False
        return True

    # internals
    def _upload(self, spooled: str, key: str) -> None:
        if self._s3:
            self._call(
                f"upload {key}", self.fs.put_file, spooled, key,
                chunksize=self.part_size, max_concurrency=self.concurrency,
            )  # fmt: skip
        else:
            self._call(f"upload {key}", self.fs.put_file, spooled, key)

    def _touch(self, spooled: str, key: str, size: int) -> None:
        """Refresh a re-referenced blob's modification time (see the module docstring)."""
        if self._s3 and size <= MAX_COPY_BYTES:
            stamp = {"loopml-referenced": str(time.time())}
            source = {"Bucket": self.bucket, "Key": key[len(self.bucket) + 1 :]}
            try:
                self._call(
                    f"refresh {key}", self.fs.call_s3, "copy_object", Bucket=source["Bucket"], Key=source["Key"],
                    CopySource=source, MetadataDirective="REPLACE", Metadata=stamp, lookup=True,
                )  # fmt: skip
            except FileNotFoundError:  # garbage collection removed it since the HEAD: store it again
                self._upload(spooled, key)
        else:
            self._upload(spooled, key)

    def _chunks(self, sha256: str, size: int) -> Iterator[bytes]:
        key = self.key_of(sha256)
        digest = hashlib.sha256()
        held: bytes | None = None
        offset = 0
        while offset < size:
            end = min(offset + self.read_chunk_size, size)
            chunk = self._call(f"read {key}", self.fs.cat_file, key, start=offset, end=end)
            if not chunk:
                break
            digest.update(chunk)
            offset += len(chunk)
            if held is not None:
                yield held
            held = chunk
        if offset != size or digest.hexdigest() != sha256:
            raise _tampered(sha256, self.uri)
        if held is not None:
            yield held

    def _call(self, what: str, action: Callable[..., _T], *args: Any, lookup: bool = False, **kwargs: Any) -> _T:
        """Run one store call, retrying transient errors with exponential backoff. A ``lookup`` lets
        ``FileNotFoundError`` (no such object) through; elsewhere it means the bucket is gone."""
        for attempt in range(self.retries):
            try:
                return action(*args, **kwargs)
            except LoopmlError:
                raise
            except Exception as exc:
                if lookup and isinstance(exc, FileNotFoundError):
                    raise
                if not _transient(exc):
                    raise StoreError(f"Artifact store {self.uri}: cannot {what}: {_reason(exc)}.") from exc
                if attempt + 1 == self.retries:
                    raise StoreError(
                        f"Artifact store {self.uri}: cannot {what} after {self.retries} attempts: {_reason(exc)}."
                    ) from exc
                time.sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover


_CHECKED: set[str] = set()
_CHECKED_LOCK = threading.Lock()


def open_object_store(uri: str) -> ObjectBlobStore:
    """The store at ``uri``, checked (bucket reachable) the first time this process opens that URI."""
    store = ObjectBlobStore(uri)
    with _CHECKED_LOCK:
        if uri not in _CHECKED:
            store.check()
            _CHECKED.add(uri)
    return store


def _tampered(sha256: str, uri: str) -> IntegrityError:
    return IntegrityError(
        f"Blob {sha256} in {uri} does not match its SHA-256: the stored object was modified or corrupted."
    )


def _filesystem(scheme: str) -> Any:
    package = PACKAGES[scheme]
    try:
        fsspec.get_filesystem_class(scheme)
    except ImportError:
        extra = "pip install 'loopml[s3]'" if package == "s3fs" else f"pip install {package}"
        raise InvalidInput(
            f"LOOPML_ARTIFACT_URI uses {scheme}://, which needs the {package} package: {extra}."
        ) from None
    options: dict[str, Any] = {"skip_instance_cache": True}
    if package == "s3fs":
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        options |= {
            "use_listings_cache": False,
            # loopml retries, once; a 16 MiB part to a busy server may take longer than s3fs's 15 s
            "config_kwargs": {"retries": {"total_max_attempts": 1}, "read_timeout": 60},
            "endpoint_url": endpoint or None,
        }
    elif package != "fsspec":
        options["use_listings_cache"] = False
    fs = fsspec.filesystem(scheme, **options)
    if package == "s3fs":
        fs.retries = 1
    return fs


def _transient(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it wraps) is a connection error, a 5xx or throttling."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, _TRANSPORT_ERRORS):
            return True
        response = getattr(seen, "response", None)
        if isinstance(response, dict):
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            code = response.get("Error", {}).get("Code", "")
            return int(status) >= 500 or code in _RETRYABLE_CODES
        seen = seen.__cause__ or seen.__context__
    return False


def _reason(exc: BaseException) -> str:
    """A one-line reason, preferring the store's own error code over a wrapper's text."""
    seen: BaseException | None = exc
    while seen is not None:
        response = getattr(seen, "response", None)
        if isinstance(response, dict) and response.get("Error"):
            error = response["Error"]
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
            return f"{error.get('Code') or 'error'} (HTTP {status}) {error.get('Message') or ''}".strip()
        seen = seen.__cause__
    return f"{type(exc).__name__}: {exc}"


def _credential_hint(scheme: str) -> str:
    if PACKAGES[scheme] == "s3fs":
        return "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION"
    if PACKAGES[scheme] == "gcsfs":
        return "GOOGLE_APPLICATION_CREDENTIALS"
    if PACKAGES[scheme] == "adlfs":
        return "AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY or AZURE_STORAGE_CONNECTION_STRING"
    return "none needed"


def _modified(info: dict[str, Any]) -> float:
    """Epoch seconds of an fsspec info dict's modification time (each backend names it differently)."""
    for field in ("LastModified", "mtime", "last_modified", "updated", "created"):
        value = info.get(field)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str) and value:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return 0.0
