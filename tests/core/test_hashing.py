from __future__ import annotations

import hashlib
import io

from hypothesis import given
from hypothesis import strategies as st

from loopml.core.hashing import is_sha256, sha256_bytes, sha256_chunks, sha256_file, sha256_stream


@given(st.binary(max_size=4096), st.integers(min_value=1, max_value=64))
def test_chunking_does_not_change_the_hash(data: bytes, size: int) -> None:
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    assert sha256_chunks(chunks) == sha256_bytes(data) == hashlib.sha256(data).hexdigest()
    assert sha256_stream(io.BytesIO(data)) == sha256_bytes(data)


@given(st.binary(min_size=1, max_size=256), st.data())
def test_any_byte_change_changes_the_hash(data: bytes, draw: st.DataObject) -> None:
    index = draw.draw(st.integers(min_value=0, max_value=len(data) - 1))
    flipped = bytearray(data)
    flipped[index] ^= 0xFF
    assert sha256_bytes(bytes(flipped)) != sha256_bytes(data)


def test_file_hash_matches_bytes(tmp_path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 3_000_000)
    assert sha256_file(path) == sha256_bytes(b"x" * 3_000_000)
    assert is_sha256(sha256_file(path))
    assert not is_sha256("ABC")
