"""One suite for every blob store garbage collection and the server work with (local, S3)."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest

from loopml.artifacts import CollectableBlobStore
from loopml.core.errors import InvalidInput, NotFound
from loopml.core.hashing import sha256_bytes


def test_round_trip_by_bytes_stream_and_file(blob_store: CollectableBlobStore, tmp_path: Path) -> None:
    data = os.urandom(3 * (1 << 20) + 17)  # several read chunks and a ragged end
    source = tmp_path / "model.bin"
    source.write_bytes(data)
    blob = blob_store.put_file(source)
    assert blob.sha256 == sha256_bytes(data) and blob.size == len(data)
    assert blob_store.put_stream(io.BytesIO(data)) == blob
    assert blob_store.put_bytes(b"") == blob_store.put_bytes(b"")
    assert blob_store.read_bytes(blob.sha256) == data
    assert b"".join(blob_store.open_chunks(blob.sha256)) == data
    assert blob_store.exists(blob.sha256) and blob_store.size(blob.sha256) == len(data)
    copy = blob_store.copy_to(blob.sha256, tmp_path / "out" / "copy.bin")
    assert copy.read_bytes() == data
    assert [p.name for p in copy.parent.iterdir()] == ["copy.bin"]  # no temp file left behind
    assert blob_store.read_bytes(blob_store.put_bytes(b"").sha256) == b""


def test_missing_blobs_and_bad_digests(blob_store: CollectableBlobStore, tmp_path: Path) -> None:
    absent = sha256_bytes(b"never stored")
    assert not blob_store.exists(absent) and blob_store.size(absent) is None
    with pytest.raises(NotFound):
        blob_store.read_bytes(absent)
    with pytest.raises(NotFound):
        blob_store.open_chunks(absent)  # at once, before the first chunk is asked for
    with pytest.raises(NotFound):
        blob_store.copy_to(absent, tmp_path / "x")
    assert not (tmp_path / "x").exists()
    with pytest.raises(InvalidInput, match="sha256"):
        blob_store.exists("../../etc/passwd")
    with pytest.raises(NotFound, match="does not exist"):
        blob_store.put_file(tmp_path / "nope.bin")


def test_dedup_refreshes_the_modified_time(blob_store: CollectableBlobStore) -> None:
    blob = blob_store.put_bytes(b"shared weights")
    [before] = [info for info in blob_store.iter_blobs() if info.sha256 == blob.sha256]
    time.sleep(1.1)  # S3 keeps whole seconds
    assert blob_store.put_bytes(b"shared weights") == blob
    [after] = [info for info in blob_store.iter_blobs() if info.sha256 == blob.sha256]
    assert after.modified > before.modified and after.size == len(b"shared weights")


def test_iter_blobs_and_delete(blob_store: CollectableBlobStore) -> None:
    assert list(blob_store.iter_blobs()) == []
    blobs = [blob_store.put_bytes(f"blob {i}".encode()) for i in range(5)]
    listed = {info.sha256: info for info in blob_store.iter_blobs()}
    assert set(listed) == {b.sha256 for b in blobs}
    assert all(listed[b.sha256].size == b.size for b in blobs)
    assert all(abs(info.modified - time.time()) < 3600 for info in listed.values())
    assert blob_store.delete(blobs[0].sha256) is True
    assert blob_store.delete(blobs[0].sha256) is False
    assert not blob_store.exists(blobs[0].sha256)
    assert {info.sha256 for info in blob_store.iter_blobs()} == {b.sha256 for b in blobs[1:]}
