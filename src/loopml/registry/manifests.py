"""The blobs a model package's manifest (``model.json``) lists, read as data (garbage collection follows them).

>>> sorted(manifest_blobs(b'{"files": {"model.skops": "' + b"ab" * 32 + b'"}}'))[0][:8]
'abababab'
"""

from __future__ import annotations

import json

from loopml.core.errors import InvalidInput
from loopml.core.hashing import is_sha256


def manifest_blobs(raw: bytes) -> set[str]:
    """SHA-256 digests of the files ``raw`` (a manifest's bytes) lists under ``files``.

    The manifest is parsed with ``json`` and only its ``files`` values that are digests are kept:
    nothing in it is imported or run. ``InvalidInput`` when it is not a manifest.
    """
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"Not a model manifest: the bytes are not JSON ({exc}).") from None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        raise InvalidInput("Not a model manifest: it has no 'files' object mapping file names to SHA-256 digests.")
    return {value for value in files.values() if isinstance(value, str) and is_sha256(value)}
