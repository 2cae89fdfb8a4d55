"""What a fit trained on: the ``lm.data`` dataset versions behind X and y, else a digest of X.

A frame read with ``lm.data.load`` carries its version's URI in ``frame.attrs["loopml.dataset"]``
(pandas keeps ``attrs`` through column selection, ``drop``, slicing and copies). The URI is only a
key: the version is looked up in the store, and nothing in it decides what code runs.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import pandas as pd

from loopml.core.records import DatasetVersion
from loopml.core.validation import MAX_VALUE_LENGTH
from loopml.data.catalog import DATASET_ATTR, get_version

DIGEST_ROWS = 10_000
"""The digest covers the first rows only (as MLflow's does): cheap on any size."""
DATASET_TAG = "loopml.autolog.dataset"


def dataset_uris(*data: Any) -> list[str]:
    """The distinct ``datasets:/`` URIs that ``data`` (frames or series) were loaded from."""
    found: list[str] = []
    for item in data:
        attrs = getattr(item, "attrs", None)
        uri = attrs.get(DATASET_ATTR) if isinstance(attrs, dict) else None
        if isinstance(uri, str) and uri.startswith("datasets:/") and uri not in found:
            found.append(uri)
    return found


def resolve(uris: list[str]) -> list[DatasetVersion]:
    """The versions the URIs name (one store read each)."""
    return [get_version(uri) for uri in uris]


def digest_tag(X: Any) -> str | None:
    """JSON with the digest (SHA-256 of the first rows), shape and column types of ``X``; None if unknown."""
    if isinstance(X, pd.DataFrame):
        head = X.iloc[:DIGEST_ROWS]
        try:
            digest = hashlib.sha256(pd.util.hash_pandas_object(head, index=False).to_numpy().tobytes())
        except TypeError:  # cells pandas cannot hash (lists, dicts): their text instead
            digest = hashlib.sha256(head.astype(str).to_csv(index=False).encode())
        digest.update(json.dumps([str(c) for c in X.columns]).encode())
        schema: dict[str, str] | None = {str(c): str(t) for c, t in X.dtypes.items()}
        shape = [int(n) for n in X.shape]
    elif isinstance(X, np.ndarray):
        digest = hashlib.sha256(np.ascontiguousarray(X[:DIGEST_ROWS]).tobytes())
        digest.update(str(X.dtype).encode())
        schema, shape = {"dtype": str(X.dtype)}, [int(n) for n in X.shape]
    else:
        return None
    record: dict[str, Any] = {"digest": digest.hexdigest(), "digest_rows": min(shape[0], DIGEST_ROWS),
                              "shape": shape, "schema": schema}  # fmt: skip
    text = json.dumps(record)
    if len(text) > MAX_VALUE_LENGTH:  # thousands of columns: keep the digest and shape
        record["schema"] = None
        text = json.dumps(record)
    return text
