"""The prediction log: every served prediction, buffered in memory and flushed to Parquet segments.

Writing (a serving process)::

    log = PredictionLog(LocalSegmentSink(PredictionLayout(root)), flush_interval=1.0)
    log.start()
    log.record(request_id=rid, time_ms=t, model="churn", version=3, endpoint="predict", status=200,
               latency_ms=4.2, inputs=columns.data, n_rows=columns.n_rows, prediction=values)
    log.close()   # flushes what is left

:meth:`PredictionLog.record` appends ONE tuple of references (the request's decoded columns and
its prediction array) under a lock: no copy, no conversion, no per-row work. A daemon thread
flushes when ``flush_rows`` rows are buffered or ``flush_interval`` seconds have passed: it
turns the buffer into one Arrow table per (model, hour) with vectorised numpy/pyarrow calls and
hands each to a :class:`SegmentSink` (by default a Parquet file per partition of
:class:`~loopml.monitoring.layout.PredictionLayout`, written to a temp file, fsynced, renamed).
A failing sink is retried with backoff while the buffer keeps the records; beyond ``max_rows``
the oldest records are dropped and counted. Nothing here ever raises into the request path.

What a crash can lose: the records not yet flushed, at most ``flush_interval`` seconds or
``flush_rows`` rows (plus the flush in progress).

Reading::

    window = read_predictions("churn", since="24h")
    window.frame, window.inputs, window.n_rows
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any, Final, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from loopml.core.durations import parse_since
from loopml.core.errors import InvalidInput, LoopmlError
from loopml.monitoring.layout import SEGMENT_SUFFIX, PredictionLayout, check_model_name, hour_key
from loopml.monitoring.retention import CHECK_EVERY_SECONDS, Retention

logger = logging.getLogger("loopml.monitoring")

INPUT_PREFIX = "inputs."
PROBA_PREFIX = "proba."
META_COLUMNS = ("request_id", "row", "time", "model", "version", "endpoint", "status", "latency_ms")
ROLE_COLUMNS = ("role", "served_by")
"""``role``: ``served`` (the answer the caller got) or ``shadow`` (scored beside it, never returned);
``served_by``: ``champion``, ``challenger`` (a shadow) or ``canary``. Segments written before these
columns existed read them as null, which counts as served."""
ROLES = ("served", "shadow")
SERVED_BY = ("champion", "challenger", "canary")
ENDPOINTS = ("predict", "invocations", "v2")
MAX_BACKOFF_SECONDS = 30.0
CLOSE_ATTEMPTS = 3

# one buffered request: (request_id, time_ms, model, version, endpoint, status, latency_ms,
#                        inputs, n_rows, prediction, proba, classes, role, served_by)
_Entry = tuple[
    str, int, str, "int | None", str, int, float, "Mapping[str, Sequence[Any]] | None", int,
    "np.ndarray | None", "np.ndarray | None", "tuple[str, ...] | None", str, str,
]  # fmt: skip
_N_ROWS: Final = 8


class SegmentSink(Protocol):
    """Where flushed segments go: one Arrow table per (model, hour partition key)."""

    def write(self, model: str, hour: str, table: pa.Table) -> None:
        """Store ``table`` as a new segment of ``model``'s ``hour`` partition, atomically, or raise."""
        ...


class LocalSegmentSink:
    """Segments as Parquet files under a :class:`PredictionLayout` (temp file, fsync, rename)."""

    def __init__(self, layout: PredictionLayout) -> None:
        self.layout = layout

    def write(self, model: str, hour: str, table: pa.Table) -> None:
        directory = self.layout.model_dir(model) / f"hour={hour}"
        directory.mkdir(parents=True, exist_ok=True)
        first = pc.min(table["request_id"]).as_py() or "0" * 32
        name = f"{first}-{os.getpid()}-{secrets.token_hex(4)}{SEGMENT_SUFFIX}"
        temp = directory / f".{name}.tmp"
        try:
            with open(temp, "wb") as out:
                pq.write_table(table, out, compression="zstd")
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, directory / name)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        _fsync_dir(directory)


class StoreSegmentSink:
    """Segments sent as Parquet bytes to a store with ``put_segment(model, hour, data)`` (remote tracking)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def write(self, model: str, hour: str, table: pa.Table) -> None:
        out = pa.BufferOutputStream()
        pq.write_table(table, out, compression="zstd")
        self.store.put_segment(model, hour, out.getvalue().to_pybytes())


class PredictionLog:
    """An in-memory buffer of served predictions and the thread that flushes it to a :class:`SegmentSink`.

    ``sample`` keeps about that share of requests (decided per request); ``max_rows`` bounds the
    buffer (the oldest records are dropped and counted in :attr:`dropped_rows` beyond it);
    ``retention`` deletes old partitions of the models this log writes.
    """

    def __init__(
        self,
        sink: SegmentSink,
        *,
        flush_rows: int = 10_000,
        flush_interval: float = 1.0,
        max_rows: int = 1_000_000,
        sample: float = 1.0,
        retention: Retention | None = None,
    ) -> None:
        self.sink = sink
        self.flush_rows = flush_rows
        self.flush_interval = flush_interval
        self.max_rows = max_rows
        self.sample = sample
        self.retention = retention
        self.written_rows = 0
        self.written_segments = 0
        self.dropped_rows = 0
        self.sampled_out = 0
        self.flush_errors = 0
        self.last_error: str | None = None
        self._buffer: deque[_Entry] = deque()
        self._rows = 0
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._inflight_since: int | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._random = random.Random().random
        self._models: set[str] = set()
        self._pruned: set[str] = set()
        self._pruned_at = 0.0

    @property
    def buffered_rows(self) -> int:
        """Rows waiting for the next flush."""
        return self._rows

    def start(self) -> None:
        """Start the flusher thread (idempotent)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="loopml-prediction-log", daemon=True)
            self._thread.start()

    def record(
        self,
        *,
        request_id: str,
        time_ms: int,
        model: str,
        version: int | None,
        endpoint: str,
        status: int,
        latency_ms: float,
        inputs: Mapping[str, Sequence[Any]] | None = None,
        n_rows: int = 1,
        prediction: np.ndarray | None = None,
        proba: np.ndarray | None = None,
        classes: tuple[str, ...] | None = None,
        role: str = "served",
        served_by: str = "champion",
        sampled: bool | None = None,
    ) -> bool:
        """Buffer one request (its columns and predictions by reference); whether it was kept (sampling).

        A failed request is one row with its ``status`` and no inputs or prediction. ``role`` is
        ``served`` or ``shadow`` and ``served_by`` names the model's part (see :data:`ROLE_COLUMNS`).
        ``sampled`` overrides the sampling draw (a shadow row follows its served row's draw).
        """
        if not (self.draw() if sampled is None else sampled):
            self.sampled_out += 1
            return False
        if prediction is None:
            n_rows, inputs, proba = 1, None, None
        entry: _Entry = (request_id, time_ms, model, version, endpoint, status, latency_ms, inputs, n_rows,
                         prediction, proba, classes, role, served_by)  # fmt: skip
        with self._lock:
            self._buffer.append(entry)
            before = self._rows
            self._rows = before + n_rows
            if self._rows > self.max_rows:
                self._drop_oldest()
        if before < self.flush_rows <= before + n_rows:
            self._wake.set()
        return True

    def draw(self) -> bool:
        """One sampling draw (``True``: log this request); pass it as ``sampled`` to log a request's roles alike."""
        return self.sample >= 1.0 or self._random() < self.sample

    def holds_since(self) -> int | None:
        """The time (Unix ms) of the oldest record not yet written, or ``None`` when everything is on disk."""
        with self._lock:
            head = self._buffer[0][1] if self._buffer else None
            inflight = self._inflight_since
        if head is None or inflight is None:
            return head if inflight is None else inflight
        return min(head, inflight)

    def flush(self) -> bool:
        """Write everything buffered now (blocks; never call it on the event loop). ``False`` if a write failed."""
        with self._flush_lock:
            with self._lock:
                entries = list(self._buffer)
                self._buffer.clear()
                self._rows = 0
                self._inflight_since = min(e[1] for e in entries) if entries else None
            try:
                return self._write(entries)
            finally:
                with self._lock:
                    self._inflight_since = None

    def close(self) -> None:
        """Stop the flusher and write what is left (a few attempts); called at server shutdown."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        for attempt in range(CLOSE_ATTEMPTS):
            if self.flush():
                break
            time.sleep(0.2 * (attempt + 1))
        if self._rows:
            logger.error("prediction log: %d rows could not be written at shutdown: %s", self._rows, self.last_error)

    def _drop_oldest(self) -> None:
        while self._rows > self.max_rows and len(self._buffer) > 1:
            dropped = self._buffer.popleft()[_N_ROWS]
            self._rows -= dropped
            self.dropped_rows += dropped

    def _loop(self) -> None:
        backoff = 0.0
        while not self._stop.is_set():
            if backoff:
                self._stop.wait(backoff)
            else:
                self._wake.wait(self.flush_interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            ok = self.flush()
            backoff = 0.0 if ok else min(max(backoff * 2, self.flush_interval, 0.1), MAX_BACKOFF_SECONDS)
            self._maybe_prune()
            if ok and self._rows >= self.flush_rows:
                self._wake.set()

    def _maybe_prune(self) -> None:
        if self.retention is None:
            return
        now = time.monotonic()
        if self._models <= self._pruned and now - self._pruned_at < CHECK_EVERY_SECONDS:
            return
        models = set(self._models)
        try:
            deleted = self.retention.prune(models, int(time.time() * 1000))
        except Exception as exc:  # never let retention kill the flusher
            logger.warning("prediction log retention failed: %s", exc)
            deleted = 0
        if deleted:
            logger.info("prediction log: deleted %d partitions older than %s", deleted, self.retention.period)
        self._pruned, self._pruned_at = models, now

    def _write(self, entries: list[_Entry]) -> bool:
        """Group by (model, hour), build and write one table each; requeue the groups a write failed for."""
        partitions: dict[tuple[str, str], list[_Entry]] = {}
        for entry in entries:
            partitions.setdefault((entry[2], hour_key(entry[1])), []).append(entry)
        failed: list[_Entry] = []
        for (model, hour), group in partitions.items():
            self._models.add(model)
            try:
                check_model_name(model)
                table = build_table(group)
            except Exception as exc:  # a name no partition can have, data no table can hold: never retried
                rows = sum(e[_N_ROWS] for e in group)
                with self._lock:  # record() counts drops too
                    self.dropped_rows += rows
                self.flush_errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                logger.error("prediction log: dropped %d rows of %s that could not be converted: %s", rows, model, exc)
                continue
            try:
                self.sink.write(model, hour, table)
            except Exception as exc:
                self.flush_errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                logger.warning("prediction log: writing %d rows of %s failed (will retry): %s", table.num_rows,
                               model, exc)  # fmt: skip
                failed.extend(group)
                continue
            self.written_rows += table.num_rows
            self.written_segments += 1
        if failed:
            with self._lock:
                self._buffer.extendleft(reversed(failed))
                self._rows += sum(e[_N_ROWS] for e in failed)
                if self._rows > self.max_rows:
                    self._drop_oldest()
        return not failed


def build_table(entries: Sequence[_Entry]) -> pa.Table:
    """One segment's table (the contract's schema) from buffered requests, block by block of like requests."""
    blocks: dict[tuple[Any, ...], list[_Entry]] = {}
    for entry in entries:
        inputs = entry[7]
        key = (entry[9] is not None, None if inputs is None else tuple(inputs), entry[11])
        blocks.setdefault(key, []).append(entry)
    tables = [_block_table(block) for block in blocks.values()]
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables, promote_options="permissive")


def _block_table(entries: list[_Entry]) -> pa.Table:
    """Requests with the same input columns and classes (or all failed): meta columns repeated per row."""
    counts = np.fromiter((e[_N_ROWS] for e in entries), dtype=np.int64, count=len(entries))
    total = int(counts.sum())
    take = np.repeat(np.arange(len(entries)), counts)
    starts = np.cumsum(counts) - counts
    meta = pa.table(
        {
            "request_id": pa.array([e[0] for e in entries], pa.string()),
            "time": pa.array([e[1] for e in entries], pa.timestamp("ms", tz="UTC")),
            "model": pa.array([e[2] for e in entries], pa.string()),
            "version": pa.array([e[3] for e in entries], pa.int64()),
            "endpoint": pa.array([e[4] for e in entries], pa.string()),
            "status": pa.array([e[5] for e in entries], pa.int16()),
            "latency_ms": pa.array([e[6] for e in entries], pa.float64()),
            "role": pa.array([e[12] for e in entries], pa.string()),
            "served_by": pa.array([e[13] for e in entries], pa.string()),
        }
    ).take(pa.array(take))
    columns: dict[str, pa.Array] = {
        "request_id": meta["request_id"],
        "row": pa.array((np.arange(total) - np.repeat(starts, counts)).astype(np.int32)),
    }
    for name in (*META_COLUMNS[2:], *ROLE_COLUMNS):
        columns[name] = meta[name]
    first = entries[0]
    if first[7] is not None:
        for name in first[7]:
            columns[INPUT_PREFIX + name] = _inputs_to_arrow([e[7][name] for e in entries])  # type: ignore[index]
    if first[9] is not None:
        values = np.concatenate([e[9] for e in entries])
        columns["prediction"] = _numpy_to_arrow(values)
        if first[10] is not None and first[11] is not None:
            proba = np.concatenate([e[10] for e in entries]).astype(np.float64, copy=False)
            for index, label in enumerate(first[11]):
                columns[PROBA_PREFIX + label] = pa.array(proba[:, index])
    return pa.table(columns)


def _inputs_to_arrow(parts: list[Sequence[Any]]) -> pa.Array:
    """One input column of a block: numpy arrays (binary tensors) joined in C, value lists chained."""
    if all(isinstance(part, np.ndarray) for part in parts):
        return _numpy_to_arrow(np.concatenate(parts))
    lists = (part.tolist() if isinstance(part, np.ndarray) else part for part in parts)
    return _to_arrow(list(chain.from_iterable(lists)))


def _to_arrow(values: list[Any]) -> pa.Array:
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):  # mixed types: keep them readable as text
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def _numpy_to_arrow(values: np.ndarray) -> pa.Array:
    if values.ndim > 1:
        return _to_arrow(values.tolist())
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return _to_arrow(values.tolist())


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


@dataclass(frozen=True)
class PredictionWindow:
    """The logged predictions of one model in ``[since_ms, until_ms)``."""

    model: str
    since_ms: int | None
    until_ms: int | None
    frame: pd.DataFrame
    """Every logged column: ``request_id``, ``row``, ``time``, ... ``role``, ``served_by``, ``inputs.<name>``,
    ``prediction``, ``proba.<c>``; rows of both roles (``frame[frame.role == "served"]``: what callers got)."""

    @property
    def n_rows(self) -> int:
        return len(self.frame)

    @property
    def served_frame(self) -> pd.DataFrame:
        """The rows callers were answered with (``role`` ``served`` or null): shadow rows left out."""
        return served_rows(self.frame)

    def served(self) -> PredictionWindow:
        """This window without its shadow rows (what drift, quality and traffic should measure)."""
        frame = self.served_frame
        return self if frame is self.frame else PredictionWindow(self.model, self.since_ms, self.until_ms, frame)

    @property
    def inputs(self) -> pd.DataFrame:
        """The model's input columns of the served, predicted rows, named without the ``inputs.`` prefix
        (failed requests, logged with null inputs, and shadow rows are left out)."""
        rows = self.served_frame
        names = [c for c in rows.columns if c.startswith(INPUT_PREFIX)]
        if "status" in rows.columns and not rows.empty:
            rows = rows[(rows["status"] == 200).to_numpy()]
        return rows[names].rename(columns=lambda c: c[len(INPUT_PREFIX) :])

    @property
    def predictions(self) -> pd.Series:
        """The ``prediction`` column of the served rows (empty when the window has none)."""
        rows = self.served_frame
        if "prediction" in rows:
            return rows["prediction"]
        return pd.Series([], dtype=object, name="prediction")


def served_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` without shadow rows; ``frame`` itself when it has no ``role`` column or no shadow row."""
    if "role" not in frame.columns or frame.empty:
        return frame
    shadow = (frame["role"] == "shadow").to_numpy(dtype=bool, na_value=False)
    return frame if not shadow.any() else frame[~shadow].reset_index(drop=True)


def read_predictions(
    model: str,
    since: object = None,
    until: object = None,
    version: int | None = None,
    *,
    columns: Sequence[str] | None = None,
    layout: PredictionLayout | None = None,
    now_ms: int | None = None,
) -> PredictionWindow:
    """The logged predictions of ``model`` with ``since <= time < until`` (and of ``version`` when given).

    ``since``/``until``: a duration before now (``"24h"``), an ISO datetime, a datetime or Unix ms;
    ``None`` is open. Only the hour partitions of the window are read; segments written with other
    input columns (another model version) unify by name, missing values as null. ``columns``
    limits what is read (input columns may be named with or without ``inputs.``).

    >>> window = read_predictions("churn", since="24h")   # doctest: +SKIP
    >>> window.inputs.describe()                           # doctest: +SKIP
    """
    check_model_name(model)
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise InvalidInput(f"Invalid version {version!r}: expected an integer.", details=[_field("version", "int")])
    if layout is None:
        layout = default_layout()
    now = int(time.time() * 1000) if now_ms is None else now_ms
    since_ms = None if since is None else parse_since(since, now, field="since")
    until_ms = None if until is None else parse_since(until, now, field="until")
    if since_ms is not None and until_ms is not None and until_ms <= since_ms:
        raise InvalidInput(
            f"Empty window: until ({until_ms}) is not after since ({since_ms}).",
            details=[{"field": "until", "problem": "not after since"}],
        )
    files = [str(path) for path in layout.segments(model, since_ms, until_ms)]
    schema = _unified_schema(files)
    wanted = None if columns is None else _wanted_columns(columns, schema)
    if schema is None:
        frame = pd.DataFrame({name: pd.Series(dtype=object) for name in (wanted or (*META_COLUMNS, *ROLE_COLUMNS))})
        return PredictionWindow(model, since_ms, until_ms, frame)
    dataset = ds.dataset(files, schema=schema, format="parquet")
    condition = None
    moment = pa.timestamp("ms", tz="UTC")
    if since_ms is not None:
        condition = ds.field("time") >= pa.scalar(since_ms, moment)
    if until_ms is not None:
        bound = ds.field("time") < pa.scalar(until_ms, moment)
        condition = bound if condition is None else condition & bound
    if version is not None:
        same = ds.field("version") == version
        condition = same if condition is None else condition & same
    table = dataset.to_table(columns=wanted, filter=condition)
    frame = table.to_pandas()
    if "time" in frame and "request_id" in frame:
        frame = frame.sort_values(["time", "request_id", "row"] if "row" in frame else ["time"], kind="stable")
        frame = frame.reset_index(drop=True)
    return PredictionWindow(model, since_ms, until_ms, frame)


def default_layout() -> PredictionLayout:
    """The prediction log under the configured artifact root (``LOOPML_ARTIFACT_URI``)."""
    from loopml.config import load_settings

    return PredictionLayout(load_settings().prediction_root)


def _unified_schema(files: Iterable[str]) -> pa.Schema | None:
    schemas = [pq.read_schema(path) for path in files]
    if not schemas:
        return None
    try:
        return pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise LoopmlError(f"Prediction log segments have incompatible column types: {exc}") from exc


def _wanted_columns(columns: Sequence[str], schema: pa.Schema | None) -> list[str]:
    if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
        raise InvalidInput("Invalid columns: expected a list of column names.", details=[_field("columns", "names")])
    names = set(schema.names) if schema is not None else set()
    out = []
    for column in columns:
        if column not in names and INPUT_PREFIX + column in names:
            column = INPUT_PREFIX + column
        if schema is not None and column not in names:
            raise InvalidInput(
                f"Unknown prediction log column {column!r}; valid: {', '.join(sorted(names))}.",
                details=[{"field": "columns", "problem": f"unknown column {column!r}"}],
            )
        out.append(column)
    return out


def _field(field: str, expected: str) -> dict[str, str]:
    return {"field": field, "problem": f"expected {expected}"}
