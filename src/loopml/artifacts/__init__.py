"""Content-addressed artifact storage: bytes in, SHA-256 out; reads verify the hash."""

from loopml.artifacts.base import Blob, BlobInfo, BlobStore, CollectableBlobStore
from loopml.artifacts.local import LocalBlobStore
from loopml.artifacts.paths import safe_relpath

__all__ = ["Blob", "BlobInfo", "BlobStore", "CollectableBlobStore", "LocalBlobStore", "open_blob_store", "safe_relpath"]


def open_blob_store(uri: str) -> BlobStore:
    """Open the blob store at ``uri`` (a local directory; ``file://`` prefix allowed)."""
    from loopml.core.errors import InvalidInput

    if uri.startswith("file://"):
        uri = uri[len("file://") :]
    if "://" in uri:
        scheme = uri.split("://", 1)[0]
        raise InvalidInput(
            f"Unsupported artifact URI scheme {scheme!r} in {uri!r}; "
            "this release supports local directories (e.g. /data/loopml/artifacts)."
        )
    return LocalBlobStore(uri)
