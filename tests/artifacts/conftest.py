"""The blob stores the conformance suite runs against: the local directory and S3 (moto's server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from loopml.artifacts import CollectableBlobStore, LocalBlobStore
from loopml.artifacts.object_store import ObjectBlobStore
from tests.conftest import S3Server


@pytest.fixture(params=["local", "s3"])
def blob_store(request: pytest.FixtureRequest, tmp_path: Path) -> CollectableBlobStore:
    """Each implementation of :class:`CollectableBlobStore`, empty."""
    if request.param == "local":
        return LocalBlobStore(tmp_path / "artifacts")
    return s3_store(request.getfixturevalue("s3_env"))


def s3_store(server: S3Server, **options: int | float) -> ObjectBlobStore:
    """An S3 store in a fresh bucket of ``server`` (the AWS variables must point at it)."""
    store = ObjectBlobStore(f"s3://{server.new_bucket()}/artifacts", **options)  # type: ignore[arg-type]
    store.check()
    return store
