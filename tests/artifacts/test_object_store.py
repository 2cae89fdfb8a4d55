"""What only an object store does: multipart uploads, server-side refresh, retries, the start-up check."""

from __future__ import annotations

import os
import socket
import threading
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import urlparse

import pytest

from loopml.artifacts import open_blob_store
from loopml.artifacts.object_store import ObjectBlobStore
from loopml.core.errors import IntegrityError, InvalidInput, StoreError
from tests.artifacts.conftest import s3_store
from tests.conftest import S3Server, free_port

MiB = 1 << 20


def _head(server: S3Server, store: ObjectBlobStore, sha256: str) -> dict[str, object]:
    key = store.key_of(sha256).split("/", 1)[1]
    return dict(server.client().head_object(Bucket=store.bucket, Key=key))


def test_large_files_go_up_in_parts(s3_env: S3Server, tmp_path: Path) -> None:
    store = s3_store(s3_env, part_size=5 * MiB)
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(11 * MiB))
    blob = store.put_file(source)
    assert str(_head(s3_env, store, blob.sha256)["ETag"]).strip('"').endswith("-3")  # 5 + 5 + 1 MiB
    assert store.read_bytes(blob.sha256) == source.read_bytes()
    small = store.put_bytes(b"x" * MiB)
    assert "-" not in str(_head(s3_env, store, small.sha256)["ETag"])  # one PUT below two parts


def test_a_known_digest_is_refreshed_in_place_not_uploaded_again(s3_env: S3Server) -> None:
    store = s3_store(s3_env)
    blob = store.put_bytes(b"weights")
    assert _head(s3_env, store, blob.sha256)["Metadata"] == {}
    store.put_bytes(b"weights")
    # a server-side copy stamped the object; an upload would have replaced it without the stamp
    assert "loopml-referenced" in _head(s3_env, store, blob.sha256)["Metadata"]  # type: ignore[operator]


def test_part_size_below_the_s3_minimum_is_refused() -> None:
    with pytest.raises(InvalidInput, match="at least 5242880"):
        ObjectBlobStore("s3://bucket/prefix", part_size=MiB)


def test_a_50_mb_file_streams_through_without_being_held_in_memory(s3_env: S3Server, tmp_path: Path) -> None:
    store = s3_store(s3_env, part_size=5 * MiB, concurrency=1, read_chunk_size=2 * MiB)
    source = tmp_path / "big.bin"
    with open(source, "wb") as out:
        for _ in range(50):
            out.write(os.urandom(MiB))
    tracemalloc.start()
    try:
        blob = store.put_file(source)
        _, put_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        copy = store.copy_to(blob.sha256, tmp_path / "copy.bin")
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert copy.stat().st_size == 50 * MiB
    assert put_peak < 25 * MiB, put_peak  # a part or two, never the 50 MiB file
    assert read_peak < 15 * MiB, read_peak


def test_a_tampered_object_is_refused_and_nothing_is_left_behind(s3_env: S3Server, tmp_path: Path) -> None:
    store = s3_store(s3_env)
    data = os.urandom(9 * MiB)  # two read chunks
    blob = store.put_bytes(data)
    key = store.key_of(blob.sha256).split("/", 1)[1]
    s3_env.client().put_object(Bucket=store.bucket, Key=key, Body=data[:-1] + b"\x00")
    with pytest.raises(IntegrityError, match="does not match its SHA-256"):
        store.read_bytes(blob.sha256)
    with pytest.raises(IntegrityError):
        store.copy_to(blob.sha256, tmp_path / "out" / "model.bin")
    assert list((tmp_path / "out").iterdir()) == []
    received = []
    with pytest.raises(IntegrityError):
        for chunk in store.open_chunks(blob.sha256):
            received.append(chunk)
    assert sum(map(len, received)) < len(data)  # the last chunk was held back


@contextmanager
def _proxy_opening_after(delay: float, target: str) -> Iterator[str]:
    """A TCP proxy to ``target`` refusing connections for ``delay`` seconds (an endpoint down, then up)."""
    port = free_port()
    upstream = urlparse(target)
    stop = threading.Event()

    def pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    def relay(client: socket.socket) -> None:
        with client, socket.create_connection((upstream.hostname or "127.0.0.1", upstream.port or 80)) as server:
            back = threading.Thread(target=pump, args=(server, client), daemon=True)
            back.start()
            pump(client, server)
            back.join(timeout=30)

    def serve() -> None:
        time.sleep(delay)
        with socket.create_server(("127.0.0.1", port)) as listener:
            listener.settimeout(0.2)
            while not stop.is_set():
                try:
                    client, _ = listener.accept()
                except TimeoutError:
                    continue
                threading.Thread(target=relay, args=(client,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        thread.join(timeout=10)


def test_transient_connection_errors_are_retried_with_backoff(
    s3_env: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = s3_env.new_bucket()
    with _proxy_opening_after(1.0, s3_env.endpoint) as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        store = ObjectBlobStore(f"s3://{bucket}/artifacts", retries=8, backoff=0.2)  # waits up to ~51 s
        blob = store.put_bytes(b"survives an outage")
        assert store.read_bytes(blob.sha256) == b"survives an outage"


def test_retries_are_bounded_then_one_clear_error(s3_env: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    store = ObjectBlobStore("s3://bucket-down/artifacts", retries=3, backoff=0.05)
    with pytest.raises(StoreError, match="after 3 attempts") as caught:
        store.put_bytes(b"lost")
    assert "Could not connect" in str(caught.value)


def test_start_up_check_names_the_variables(s3_env: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(StoreError, match="LOOPML_ARTIFACT_URI") as missing:
        open_blob_store("s3://loopml-no-such-bucket/artifacts")
    assert "'loopml-no-such-bucket' does not exist" in str(missing.value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(StoreError, match="AWS_ENDPOINT_URL") as down:
        open_blob_store(f"s3://{s3_env.new_bucket()}/artifacts")
    assert "Could not connect" in str(down.value)


def test_the_check_runs_once_per_process(s3_env: S3Server) -> None:
    bucket = s3_env.new_bucket()
    uri = f"s3://{bucket}/artifacts"
    open_blob_store(uri)
    s3_env.client().delete_bucket(Bucket=bucket)
    store = open_blob_store(uri)  # not checked again: the next write fails instead
    with pytest.raises(StoreError, match=r"cannot upload .*NoSuchBucket \(HTTP 404\)"):
        store.put_bytes(b"late")


def test_other_fsspec_schemes() -> None:
    store = open_blob_store("memory://loopml-tests/artifacts")
    blob = store.put_bytes(b"in memory")
    assert store.read_bytes(blob.sha256) == b"in memory"
    with pytest.raises(InvalidInput, match=r"Unsupported artifact URI scheme 'ftp'.*s3://"):
        open_blob_store("ftp://host/artifacts")
    with pytest.raises(InvalidInput, match="names no bucket"):
        open_blob_store("s3://")


def test_a_missing_fsspec_implementation_names_its_package() -> None:
    import importlib.util

    if importlib.util.find_spec("gcsfs") is not None:
        pytest.skip("gcsfs is installed here, so gs:// opens")
    with pytest.raises(InvalidInput, match=r"gs://, which needs the gcsfs package: pip install gcsfs"):
        open_blob_store("gs://bucket/artifacts")
