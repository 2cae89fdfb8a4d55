"""The metric buffer: ``log_metric`` appends in memory; a background thread writes batches.

A flush takes everything pending, groups it by run and writes each run's points with one
``log_batch`` call (one transaction, or one HTTP request). ``flush()`` drains synchronously
and is called at run end and at interpreter exit, so nothing is lost on a normal exit.
A failed write keeps the points queued for the next flush and re-raises on an explicit one.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from loopml.core.errors import InvalidInput, NotFound
from loopml.store.base import MetricPoint, TrackingStore

logger = logging.getLogger("loopml.tracking")

Pending = tuple[str, str, float, int, int]
"""``(run_id, key, value, step, timestamp_ms)``."""


class MetricBuffer:
    """Buffered, batched metric writes through a :class:`~loopml.store.TrackingStore`."""

    def __init__(
        self,
        store: TrackingStore,
        *,
        actor: str,
        flush_interval: float = 1.0,
        flush_size: int = 5000,
        on_flush: Callable[[int], None] | None = None,
    ) -> None:
        self.store = store
        self.actor = actor
        self.flush_interval = flush_interval
        self.flush_size = flush_size
        self.on_flush = on_flush
        self.flushed_points = 0
        self._pending: list[Pending] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_error: Exception | None = None
        os.register_at_fork(after_in_child=self._after_fork)

    def add(self, run_id: str, key: str, value: float, step: int, timestamp: int) -> None:
        """Queue one point (the caller has validated it). Cheap: a lock and an append."""
        with self._lock:
            self._pending.append((run_id, key, value, step, timestamp))
            size = len(self._pending)
            if self._thread is None:
                self._start()
        if size >= self.flush_size:
            self._wake.set()

    def pending(self) -> int:
        """Number of points not yet written."""
        with self._lock:
            return len(self._pending)

    def flush(self, *, raise_errors: bool = True) -> int:
        """Write everything pending now; returns the number of points written."""
        with self._flush_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return 0
            by_run: dict[str, list[MetricPoint]] = {}
            for run_id, key, value, step, timestamp in batch:
                by_run.setdefault(run_id, []).append((key, value, step, timestamp))
            written = 0
            for run_id, points in by_run.items():
                try:
                    self.store.log_batch(run_id, metrics=points, actor=self.actor)
                except (InvalidInput, NotFound) as exc:
                    # Retrying cannot help: report and drop this run's points.
                    logger.error("Dropping %d metric points for run %s: %s", len(points), run_id, exc)
                    if raise_errors:
                        raise
                except Exception as exc:
                    self._requeue(run_id, points)
                    self._last_error = exc
                    logger.warning("Metric flush failed, %d points kept for retry: %s", len(points), exc)
                    if raise_errors:
                        raise
                else:
                    written += len(points)
            self.flushed_points += written
            if self.on_flush is not None and written:
                self.on_flush(written)
            return written

    def close(self) -> None:
        """Stop the background thread after a final flush."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
        self.flush(raise_errors=False)

    def _requeue(self, run_id: str, points: list[MetricPoint]) -> None:
        with self._lock:
            self._pending[:0] = [(run_id, *point) for point in points]

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="loopml-metric-flusher", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            self.flush(raise_errors=False)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._pending = []
        self._thread = None
