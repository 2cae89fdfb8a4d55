"""Step outputs as bytes in the content-addressed blob store, and back.

=================================  ========  =====================================================
value                              format    how
=================================  ========  =====================================================
``pandas.DataFrame``               parquet   ``DataFrame.to_parquet`` (pyarrow); index kept
``numpy.ndarray`` (not object)     npy       ``numpy.save(allow_pickle=False)``
scikit-learn estimator             skops     ``skops.io.dumps`` made canonical; the types it needs
                                             are recorded (for the cache's reuse decision only)
``None``/bool/int/float/str,       json      canonical JSON (sorted keys); tuples, NaN and non-str
lists and str-keyed dicts of them            keys are not JSON-safe and go to cloudpickle
anything else                      pickle    ``cloudpickle.dumps``
=================================  ========  =====================================================

Every format is byte-stable: the same value gives the same bytes, in any process, so its hash
is a cache key downstream. skops names objects by ``id()`` and stamps the zip entries with the
time, so its archive is rewritten canonically (ids renumbered in order of appearance, entries
sorted, a fixed timestamp); that loads back exactly like the original.

A frame or array that its format cannot hold (mixed-type columns, object arrays) falls back to
cloudpickle.

Loading trusts nothing the store says. Parquet, npy (``allow_pickle=False``) and JSON run no code.
A skops output may construct only the types of :mod:`loopml.core.trust`'s allow-list, and a pickle
is refused (:class:`~loopml.core.errors.SecurityError`), unless the caller passes ``trust=True``:
the runner does so only for outputs its own attempts just produced, or when whoever runs the
pipeline says ``run(trust=True)``. See :func:`needs_trust` for how the cache uses this.
"""

from __future__ import annotations

import io
import json
import math
import re
import sys
import zipfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from loopml.core.errors import InvalidInput, SecurityError
from loopml.core.trust import load_skops, refused_types

if TYPE_CHECKING:
    from loopml.artifacts.base import BlobStore


@dataclass(frozen=True)
class Artifact:
    """A stored output: its blob's SHA-256, size, format and what loading it needs."""

    sha256: str
    size: int
    format: str
    type: str
    trusted: list[str] = field(default_factory=list)
    """The skops types the output needed when it was saved (as recorded: never used to load it)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Artifact:
        return cls(data["sha256"], data["size"], data["format"], data.get("type", ""), list(data.get("trusted") or []))


class Unserializable(InvalidInput):
    """A value that no format (not even cloudpickle) can store."""


def dumps(value: Any) -> tuple[bytes, str, list[str]]:
    """``(data, format, trusted_types)`` for ``value``; ``Unserializable`` when nothing can hold it."""
    module = type(value).__module__.split(".")[0]
    if module == "pandas":
        import pandas as pd

        if isinstance(value, pd.DataFrame):
            try:
                buffer = io.BytesIO()
                value.to_parquet(buffer)
                return buffer.getvalue(), "parquet", []
            except Exception:  # mixed-type object columns, non-string column names: pickle instead
                pass
    elif module == "numpy":
        import numpy as np

        if isinstance(value, np.ndarray) and not value.dtype.hasobject:
            buffer = io.BytesIO()
            np.save(buffer, value, allow_pickle=False)
            return buffer.getvalue(), "npy", []
    elif _is_sklearn(value):
        import skops.io as sio

        try:
            data = canonical_skops(sio.dumps(value))
            return data, "skops", sorted(sio.get_untrusted_types(data=data))
        except Exception:  # an estimator holding something skops cannot persist: pickle instead
            pass
    if _json_safe(value):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False).encode(), "json", []
    import cloudpickle

    try:
        return cloudpickle.dumps(value), "pickle", []
    except Exception as exc:
        raise Unserializable(
            f"cannot store a {type(value).__module__}.{type(value).__qualname__}: {type(exc).__name__}: {exc}. "
            "Return a DataFrame, an ndarray, a scikit-learn estimator, JSON data or a picklable object."
        ) from exc


def needs_trust(artifact: Artifact, trusted_types: Iterable[str] = ()) -> bool:
    """Whether loading ``artifact`` needs ``trust=True``: a pickle, or skops types outside the allow-list
    (extended by ``trusted_types``).

    Decided from the record, so the runner can choose to re-run a step instead of reusing such
    outputs from another run; the load itself checks the bytes (a record that lies only makes the
    load fail, never run code).
    """
    if artifact.format == "pickle":
        return True
    return artifact.format == "skops" and bool(refused_types(artifact.trusted, extra=trusted_types))


def loads(data: bytes, artifact: Artifact, *, trust: bool = False, trusted_types: Iterable[str] = ()) -> Any:
    """The value stored as ``data`` in ``artifact.format``.

    ``trust=True`` is the caller's decision that the bytes are its own (or that it accepts what
    they run): needed for pickles and for skops types outside the allow-list. ``trusted_types``
    extends the allow-list for skops only.
    """
    if artifact.format == "parquet":
        import pandas as pd

        return pd.read_parquet(io.BytesIO(data))
    if artifact.format == "npy":
        import numpy as np

        return np.load(io.BytesIO(data), allow_pickle=False)
    if artifact.format == "skops":
        where = f"Step output {artifact.sha256[:12]} ({artifact.type})"
        return load_skops(data, trusted_types=trusted_types, trust=trust, where=where)
    if artifact.format == "json":
        return json.loads(data)
    if artifact.format == "pickle":
        if not trust:
            raise SecurityError(
                f"Step output {artifact.sha256[:12]} ({artifact.type}) is a pickle stored by an earlier run; "
                "unpickling runs code from whoever wrote it. Load it with trust=True (run(trust=True), "
                "`loopml pipeline run --trust`, output(..., trust=True)) only if you trust that run's author.",
                details=[{"field": "trust", "problem": "pickled step output needs trust=True"}],
            )
        import cloudpickle

        return cloudpickle.loads(data)
    raise InvalidInput(
        f"Unknown step output format {artifact.format!r}. Known formats: ['json', 'npy', 'parquet', 'pickle', 'skops']."
    )


def save(value: Any, blobs: BlobStore) -> Artifact:
    """Store ``value`` and describe it."""
    data, fmt, trusted = dumps(value)
    blob = blobs.put_bytes(data)
    kind = f"{type(value).__module__}.{type(value).__qualname__}"
    return Artifact(blob.sha256, blob.size, fmt, kind, trusted)


def save_outputs(names: tuple[str, ...], value: Any, blobs: BlobStore) -> dict[str, Artifact]:
    """Store a step's return value as its declared outputs: one value, or a tuple of ``len(names)``."""
    if len(names) == 1:
        values = [value]
    elif isinstance(value, tuple | list) and len(value) == len(names):
        values = list(value)
    else:
        raise Unserializable(
            f"does not match its declared outputs {list(names)}: return a tuple of {len(names)} values, "
            f"got {type(value).__name__}"
        )
    return {name: save(v, blobs) for name, v in zip(names, values, strict=True)}


def load(artifact: Artifact, blobs: BlobStore, *, trust: bool = False, trusted_types: Iterable[str] = ()) -> Any:
    """Read an artifact back (its hash is verified by the blob store); ``trust`` as in :func:`loads`."""
    return loads(blobs.read_bytes(artifact.sha256), artifact, trust=trust, trusted_types=trusted_types)


def canonical_skops(data: bytes) -> bytes:
    """The skops archive ``data`` with ``id()``-based object ids and entry timestamps made stable."""
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        schema = json.loads(source.read("schema.json"))
        renumbered: dict[int, int] = {}

        def number(old: int) -> int:
            return renumbered.setdefault(old, len(renumbered) + 1)  # 0 would read as "no id" in skops

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                if "__loader__" in node:
                    if type(node.get("__id__")) is int:
                        node["__id__"] = number(node["__id__"])
                    file = node.get("file")
                    if isinstance(file, str) and _SKOPS_FILE.fullmatch(file):
                        node["file"] = f"{number(int(file[:-4]))}.npy"
                for child in node.values():
                    walk(child)
            elif isinstance(node, list):
                for child in node:
                    walk(child)

        walk(schema)
        entries = {"schema.json": json.dumps(schema, separators=(",", ":")).encode()}
        for info in source.infolist():
            if info.filename == "schema.json":
                continue
            if not _SKOPS_FILE.fullmatch(info.filename):
                raise Unserializable(f"has an unexpected entry {info.filename!r} in its skops archive")
            entries[f"{number(int(info.filename[:-4]))}.npy"] = source.read(info)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as target:
        for name in sorted(entries):
            target.writestr(zipfile.ZipInfo(name, date_time=_ZIP_EPOCH), entries[name])
    return buffer.getvalue()


_SKOPS_FILE = re.compile(r"\d+\.npy")
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def _json_safe(value: Any, depth: int = 0) -> bool:
    if depth > 50:
        return False
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return True
    if kind is float:
        return math.isfinite(value)
    if kind is list:
        return all(_json_safe(v, depth + 1) for v in value)
    if kind is dict:
        return all(type(k) is str and _json_safe(v, depth + 1) for k, v in value.items())
    return False


def _is_sklearn(value: Any) -> bool:
    base = sys.modules.get("sklearn.base")  # not imported: the value cannot be an estimator
    return base is not None and isinstance(value, base.BaseEstimator)
