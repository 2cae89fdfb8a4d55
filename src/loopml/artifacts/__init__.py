"""Content-addressed artifact storage: bytes in, SHA-256 out; reads verify the hash."""

from loopml.artifacts.base import Blob, BlobInfo, BlobStore, CollectableBlobStore
from loopml.artifacts.local import LocalBlobStore
from loopml.artifacts.paths import safe_relpath

__all__ = ["Blob", "BlobInfo", "BlobStore", "CollectableBlobStore", "LocalBlobStore", "open_blob_store", "safe_relpath"]


def open_blob_store(uri: str) -> CollectableBlobStore:
    """Open the blob store at ``uri``: a local directory (``file://`` prefix allowed) or an object store
    (``s3://bucket/prefix``; ``gs://``, ``az://``, ``memory://`` when their fsspec package is installed).

    An object store is checked once per process (bucket reachable, credentials accepted): a
    :class:`~loopml.core.errors.StoreError` naming ``LOOPML_ARTIFACT_URI`` when it is not usable.
    """
    if uri.startswith("file://"):
        uri = uri[len("file://") :]
    if "://" not in uri:
        return LocalBlobStore(uri)
    from loopml.core.errors import InvalidInput

    scheme = uri.split("://", 1)[0].lower()
    try:
        from loopml.artifacts.object_store import PACKAGES, open_object_store
    except ImportError:
        raise InvalidInput(
            f"LOOPML_ARTIFACT_URI {uri!r} names an object store, which needs fsspec: pip install 'loopml[s3]'."
        ) from None
    if scheme not in PACKAGES:
        raise InvalidInput(
            f"Unsupported artifact URI scheme {scheme!r} in LOOPML_ARTIFACT_URI {uri!r}; use a local directory "
            f"or one of {', '.join(f'{name}://' for name in sorted(PACKAGES))}."
        )
    return open_object_store(uri)
