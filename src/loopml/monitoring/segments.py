"""Prediction log segments from elsewhere: checked as untrusted input, then written atomically.

>>> path = write_segment(PredictionLayout(root), "churn", "2026-12-03T07", parquet_bytes)  # doctest: +SKIP

A remote ``loopml serve`` uploads its segments to the platform server
(``POST /api/v1/monitoring/models/{model}/segments?hour=...``); the server, and an embedded caller
of :func:`put_segment`, run :func:`write_segment`: the bytes must be a Parquet file with the
contract's meta columns (:data:`META_TYPES`) in their types, every ``model`` equal to the model of
the URL, every ``time`` inside the hour, every ``request_id`` a request id. The file is then written
as is to ``<partition>/<first request_id>-<pid>-<random>.parquet`` through a temp file in the same
directory, ``fsync`` and a rename, so readers never see half a segment.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from loopml.core.errors import InvalidInput, PayloadTooLarge, invalid
from loopml.monitoring.layout import HOUR_MS, SEGMENT_SUFFIX, PredictionLayout, check_model_name, hour_start
from loopml.tracking.session import Session, get_session

META_TYPES: dict[str, pa.DataType] = {
    "request_id": pa.string(),
    "row": pa.int32(),
    "time": pa.timestamp("ms", tz="UTC"),
    "model": pa.string(),
    "version": pa.int64(),
    "endpoint": pa.string(),
    "status": pa.int16(),
    "latency_ms": pa.float64(),
}
"""The columns every segment has, and their Arrow types (the prediction log's contract)."""
_REQUEST_ID = "^[0-9a-f]{32}$"


def check_hour(hour: object, field: str = "hour") -> str:
    """An hour partition key ``YYYY-MM-DDTHH`` (UTC)."""
    if isinstance(hour, str) and len(hour) == 13:
        try:
            hour_start(hour)
            return hour
        except InvalidInput:
            pass
    raise invalid(
        field,
        "not an hour YYYY-MM-DDTHH",
        f"Invalid {field} {str(hour)[:40]!r}: expected the UTC hour as YYYY-MM-DDTHH, e.g. 2026-12-03T07.",
    )


def read_segment(data: bytes, model: str, hour: str) -> pa.Table:
    """The table in ``data`` when it is a valid segment of ``model`` for ``hour``, else ``InvalidInput`` naming why."""
    check_model_name(model)
    start = hour_start(check_hour(hour))
    if not isinstance(data, bytes | bytearray | memoryview) or len(data) == 0:
        raise invalid("body", "empty", "The segment body is empty: send a Parquet file.")
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise invalid("body", "not a Parquet file", f"The segment body is not a readable Parquet file: {exc}") from exc
    missing = [name for name in META_TYPES if name not in table.column_names]
    if missing:
        raise invalid(
            f"body.{missing[0]}",
            "missing column",
            f"The segment lacks the column(s) {missing}; every segment has {list(META_TYPES)}.",
        )
    for name, expected in META_TYPES.items():
        actual = table.schema.field(name).type
        if actual != expected and not (expected == pa.string() and actual == pa.large_string()):
            raise invalid(
                f"body.{name}",
                f"type {actual}, expected {expected}",
                f"Segment column {name!r} is {actual}; the prediction log stores it as {expected}.",
            )
    if table.num_rows == 0:
        raise invalid("body", "no rows", "The segment has no rows.")
    _check_all(pc.equal(table["model"], model), "model", f"Every row's model must be {model!r} (the URL's model).")
    _check_all(
        pc.match_substring_regex(table["request_id"], _REQUEST_ID),
        "request_id",
        "Every request_id must be a request id (32 lowercase hex characters).",
    )
    millis = pc.cast(table["time"], pa.int64())
    low, high = pc.min_max(millis).values()
    if low.as_py() is None or pc.any(pc.is_null(millis)).as_py():
        raise invalid("body.time", "null", "Every row needs a time.")
    if low.as_py() < start or high.as_py() >= start + HOUR_MS:
        raise invalid(
            "body.time",
            f"outside the hour {hour}",
            f"Segment times must lie inside the hour {hour} "
            "(UTC): the serving process writes one segment per hour partition.",
        )
    return table


@dataclass(frozen=True, slots=True)
class StoredSegment:
    """A segment written into the prediction log."""

    path: Path
    rows: int


def write_segment(
    layout: PredictionLayout, model: str, hour: str, data: bytes, *, max_bytes: int | None = None
) -> StoredSegment:
    """Check ``data`` (:func:`read_segment`) and write it atomically into ``model``'s ``hour`` partition."""
    if max_bytes is not None and len(data) > max_bytes:
        raise PayloadTooLarge(
            f"The segment is {len(data)} bytes; the limit is {max_bytes} bytes (server setting "
            "LOOPML_SERVER_MAX_ARTIFACT_BYTES)."
        )
    table = read_segment(data, model, hour)
    first = table["request_id"][0].as_py()  # checked above: 32 hex characters, safe in a file name
    directory = layout.model_dir(model) / f"hour={hour}"
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{first}-{os.getpid()}-{secrets.token_hex(4)}{SEGMENT_SUFFIX}"
    target = directory / name
    temp = directory / f".{name}.tmp"  # not *.parquet: readers never list it
    try:
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    _fsync_dir(directory)
    return StoredSegment(target, table.num_rows)


def put_segment(model: str, hour: str, data: bytes, *, session: Session | None = None) -> str:
    """Store one segment where the session keeps the prediction log: the local artifact root, or the server.

    Returns the segment's path (local) or the name the server gave it (remote).
    """
    session = session or get_session()
    store: Any = session.monitoring
    if hasattr(store, "put_segment"):  # the HTTP store: the server checks and writes it
        return str(store.put_segment(model, hour, bytes(data)))
    layout = PredictionLayout(session.settings.prediction_root)
    return str(write_segment(layout, model, hour, bytes(data)).path)


def _check_all(mask: Any, column: str, message: str) -> None:
    if not pc.all(pc.fill_null(mask, False)).as_py():
        raise invalid(f"body.{column}", "unexpected value", message)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
