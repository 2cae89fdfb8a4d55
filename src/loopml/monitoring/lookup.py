"""Which request ids the prediction log holds, without scanning the whole log.

>>> known_request_ids(PredictionLayout("/data/artifacts"), "churn", ["0193...", "not-an-id"])  # doctest: +SKIP
{'0193...'}

A request id starts with the Unix milliseconds it was made at (:func:`loopml.core.ids.request_id`),
so the hour partition of its prediction is known without reading anything. The ids are grouped by
hour, and only the ``request_id`` column of only those hours' segments is read (plus the
neighbouring hour for ids made within a minute of an hour boundary, in case the logged time and the
id's time straddle it); membership is one vectorised ``is_in`` over all of them. Strings that are not
request ids (another shape) are never known.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from loopml.monitoring.layout import HOUR_MS, PredictionLayout

_log = logging.getLogger(__name__)
_REQUEST_ID = "^[0-9a-f]{32}$"
_EDGE_MS = 60_000
"""Ids made this close to an hour boundary are also looked for in the neighbouring hour."""
_WEIGHTS = 16 ** np.arange(11, -1, -1, dtype=np.int64)


def request_times(request_ids: pa.Array) -> np.ndarray:
    """The Unix milliseconds each request id was made at, ``-1`` for strings that are not request ids.

    Vectorised: the 12 leading hex digits are decoded as one ``uint8`` matrix.
    """
    ids = pa.array(request_ids, pa.string()) if not isinstance(request_ids, pa.Array) else request_ids
    valid = pc.fill_null(pc.match_substring_regex(ids, _REQUEST_ID), False).to_numpy(zero_copy_only=False)
    times = np.full(len(ids), -1, dtype=np.int64)
    if valid.any():
        good = ids.filter(pa.array(valid))
        prefixes = pc.utf8_slice_codeunits(good, 0, 12)  # 12 ASCII bytes each, back to back in the data buffer
        _, offsets, data = prefixes.buffers()
        start = int(np.frombuffer(offsets, dtype=np.int32)[prefixes.offset])
        raw = np.frombuffer(data, dtype=np.uint8)[start : start + 12 * len(prefixes)].reshape(-1, 12)
        digits = np.where(raw >= 97, raw - 87, raw - 48).astype(np.int64)
        times[valid] = digits @ _WEIGHTS
    return times


def known_request_ids(layout: PredictionLayout, model: str, request_ids: Iterable[str]) -> set[str]:
    """The ids among ``request_ids`` that the prediction log of ``model`` holds."""
    ids = pa.array(list(dict.fromkeys(request_ids)), pa.string())
    if len(ids) == 0:
        return set()
    times = request_times(ids)
    usable = times >= 0
    if not usable.any():
        return set()
    times = times[usable]
    hours = times // HOUR_MS
    offset = times % HOUR_MS
    wanted = np.unique(np.concatenate([hours, hours[offset < _EDGE_MS] - 1, hours[offset >= HOUR_MS - _EDGE_MS] + 1]))
    logged = _logged_ids(layout, model, wanted)
    if logged is None:
        return set()
    candidates = ids.filter(pa.array(usable))
    found = candidates.filter(pc.is_in(candidates, value_set=logged))
    return set(found.to_pylist())


def _logged_ids(layout: PredictionLayout, model: str, hours: np.ndarray) -> pa.Array | None:
    """The ``request_id`` column of every segment in ``hours`` (hour numbers since the epoch), or ``None``."""
    files: list[Path] = []
    for hour in hours.tolist():
        partition = layout.partition(model, hour * HOUR_MS)
        if partition.is_dir():
            files.extend(sorted(partition.glob("*.parquet")))
    if not files:
        return None
    columns = []
    for path in files:
        try:
            columns.append(pq.read_table(path, columns=["request_id"])["request_id"])
        except (OSError, pa.ArrowException, KeyError) as exc:  # a damaged or foreign file: its ids stay unknown
            _log.warning("Skipping unreadable prediction log segment %s: %s", path, exc)
    chunks = [chunk.cast(pa.string()) for column in columns for chunk in column.chunks]
    return pa.concat_arrays(chunks) if chunks else None
