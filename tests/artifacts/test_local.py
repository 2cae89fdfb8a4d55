from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loopml.artifacts import LocalBlobStore, safe_relpath
from loopml.core.errors import IntegrityError, InvalidInput, NotFound
from loopml.core.hashing import CHUNK_SIZE, sha256_bytes


def test_put_read_round_trip_and_dedup(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "store")
    blob = store.put_bytes(b"hello")
    assert blob.sha256 == sha256_bytes(b"hello") and blob.size == 5
    assert store.put_bytes(b"hello") == blob
    assert store.read_bytes(blob.sha256) == b"hello"
    assert store.exists(blob.sha256)
    assert list((tmp_path / "store" / "tmp").iterdir()) == []


@settings(max_examples=25, deadline=None)
@given(data=st.binary(max_size=10_000))
def test_any_content_round_trips(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    store = LocalBlobStore(tmp_path_factory.mktemp("blobs"))
    blob = store.put_stream(io.BytesIO(data))
    assert store.read_bytes(blob.sha256) == data


def test_tampered_blob_is_refused(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    blob = store.put_bytes(b"model weights")
    store.path_of(blob.sha256).write_bytes(b"model weightz")
    with pytest.raises(IntegrityError, match="does not match"):
        store.read_bytes(blob.sha256)
    dest = tmp_path / "out" / "w.bin"
    with pytest.raises(IntegrityError):
        store.copy_to(blob.sha256, dest)
    assert not dest.exists()
    assert [p for p in dest.parent.iterdir()] == []


def test_copy_to_large_file(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "s")
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    blob = store.put_file(source)
    out = store.copy_to(blob.sha256, tmp_path / "copy.bin")
    assert out.read_bytes() == source.read_bytes()


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)

    class Exploding(io.RawIOBase):
        def __init__(self) -> None:
            self.calls = 0

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            self.calls += 1
            if self.calls > 2:
                raise OSError("disk vanished")
            return b"x" * 1024

    with pytest.raises(OSError, match="disk vanished"):
        store.put_stream(Exploding())  # type: ignore[arg-type]
    assert list((tmp_path / "tmp").iterdir()) == []
    assert not (tmp_path / "sha256").exists() or list((tmp_path / "sha256").rglob("*")) == []


def test_errors(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    with pytest.raises(NotFound):
        store.read_bytes("0" * 64)
    with pytest.raises(InvalidInput):
        store.read_bytes("../../etc/passwd")
    with pytest.raises(NotFound):
        store.put_file(tmp_path / "missing")
    with pytest.raises(InvalidInput):
        store.put_file(tmp_path)


@pytest.mark.parametrize("bad", ["../x", "a/../../x", "/etc/passwd", "", "  ", "a\\b", "a\x00b", ".", "C:/x"])
def test_safe_relpath_rejects_escapes(bad: str) -> None:
    with pytest.raises(InvalidInput):
        safe_relpath(bad)


def test_safe_relpath_normalises() -> None:
    assert safe_relpath("a//b/./c.txt") == "a/b/c.txt"
    assert safe_relpath("model/..model") == "model/..model"


CRASHING_WRITER = """
import os, sys
from loopml.artifacts import LocalBlobStore

class Crashing:
    def __init__(self):
        self.chunks = 0

    def read(self, size):
        self.chunks += 1
        if self.chunks > 40:  # 40 chunks written: die like a killed process, no cleanup
            os._exit(3)
        return b"x" * size

LocalBlobStore(sys.argv[1]).put_stream(Crashing())
"""


def test_partial_uploads_of_crashed_writers_are_removed_on_open(tmp_path: Path) -> None:
    root = tmp_path / "store"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    writer = subprocess.Popen([sys.executable, "-c", CRASHING_WRITER, str(root)], env=env, stderr=subprocess.PIPE)
    _, stderr = writer.communicate(timeout=60)
    assert writer.returncode == 3, stderr.decode()
    (orphan,) = (root / "tmp").iterdir()
    assert orphan.name.startswith(f"{writer.pid}@") and orphan.stat().st_size >= 40 * CHUNK_SIZE - CHUNK_SIZE
    tmp = root / "tmp"
    live = tmp / f"{os.getpid()}@{socket.gethostname()}.abc"  # this test's process: a live writer
    live.write_bytes(b"in progress")
    unknown_fresh = tmp / "tmpabc123"  # unknown writer, written just now: may still be running
    unknown_fresh.write_bytes(b"?")
    unknown_old = tmp / "tmpold456"  # unknown writer, untouched for two hours: stale
    unknown_old.write_bytes(b"old")
    two_hours_ago = time.time() - 7200
    os.utime(unknown_old, (two_hours_ago, two_hours_ago))
    live_but_idle = tmp / f"{os.getpid()}@{socket.gethostname()}.idle"  # alive on this host: kept whatever its age
    live_but_idle.write_bytes(b"waiting")
    os.utime(live_but_idle, (two_hours_ago, two_hours_ago))

    store = LocalBlobStore(root)

    assert sorted(p.name for p in tmp.iterdir()) == sorted([live.name, unknown_fresh.name, live_but_idle.name])
    assert store.clean_tmp(max_age=0) == [unknown_fresh.name]
    assert sorted(p.name for p in tmp.iterdir()) == sorted([live.name, live_but_idle.name])
    blob = store.put_bytes(b"still works")
    assert store.read_bytes(blob.sha256) == b"still works"


def test_a_dedup_hit_refreshes_the_blob_mtime(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "store")
    path = store.path_of(store.put_bytes(b"again").sha256)
    os.utime(path, (1_000_000.0, 1_000_000.0))
    store.put_bytes(b"again")
    assert path.stat().st_mtime > time.time() - 3600
    assert list((tmp_path / "store" / "tmp").iterdir()) == []


def test_delete_if_older_keeps_a_blob_refreshed_after_the_cutoff(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "store")
    old, young = store.put_bytes(b"old"), store.put_bytes(b"young")
    os.utime(store.path_of(old.sha256), (1_000_000.0, 1_000_000.0))
    cutoff = time.time() - 3600
    assert store.delete_if_older(old.sha256, cutoff) and not store.exists(old.sha256)
    assert not store.delete_if_older(young.sha256, cutoff) and store.read_bytes(young.sha256) == b"young"
    assert not store.delete_if_older(old.sha256, cutoff)  # already gone
    assert list((tmp_path / "store" / "tmp").iterdir()) == []
    assert [info.sha256 for info in store.iter_blobs()] == [young.sha256]
