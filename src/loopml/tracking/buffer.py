"""The metric buffer: ``log_metric`` appends in memory; a background thread writes batches.

A flush takes everything pending, groups it by run and writes each run's points with one
``log_batch`` call (one transaction; over HTTP, requests under the server's body limit).

Guarantees (see docs/tracking.md, "Durability"):

- **Bounded.** At most ``capacity`` points wait in memory. The capacity starts at ``flush_size``
  and then follows the measured write rate (what a quarter of a flush interval writes), between
  ``flush_size`` and ``max_points``. A full buffer makes ``log_metric`` wait for the flusher
  (back-pressure).
- **Prompt.** The flusher wakes every ``flush_interval`` (sooner when ``flush_size`` points
  wait) and takes the whole backlog, so on a healthy store a point is stored about one flush
  interval plus one write after it was logged, even if the process is then SIGKILLed.
- **Never silent.** A failed write is retried ``retries`` times with exponential backoff;
  errors that retrying cannot fix (bad input, unknown run, refused credentials) are not.
  Points still unwritten then count as lost: the next ``flush()`` raises
  :class:`~loopml.core.errors.MetricsLost`, and the run ends ``FAILED``.

The same thread sends a heartbeat for every live run every ``heartbeat_interval`` seconds.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from loopml.core.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    MetricsLost,
    NotFound,
    PartialWrite,
    Unauthorized,
)
from loopml.store.base import MetricPoint, TrackingStore

logger = logging.getLogger("loopml.tracking")

Pending = tuple[str, str, float, int, int]
"""``(run_id, key, value, step, timestamp_ms)``."""

FINAL = (InvalidInput, NotFound, Conflict, Unauthorized, Forbidden)
"""Errors a retry cannot fix: the points are reported lost at once."""
WRITE_SHARE = 0.25
"""Fraction of a flush interval the backlog may take to write (sizes the capacity)."""
BACKOFF_FIRST_S = 0.2
BACKOFF_MAX_S = 5.0


class MetricBuffer:
    """Buffered, batched metric writes through a :class:`~loopml.store.TrackingStore`."""

    def __init__(
        self,
        store: TrackingStore,
        *,
        actor: str,
        flush_interval: float = 1.0,
        flush_size: int = 5000,
        max_points: int = 100_000,
        retries: int = 5,
        heartbeat_interval: float = 10.0,
        on_flush: Callable[[int], None] | None = None,
    ) -> None:
        self.store = store
        self.actor = actor
        self.flush_interval = flush_interval
        self.flush_size = min(flush_size, max_points)
        self.max_points = max_points
        self.retries = retries
        self.heartbeat_interval = heartbeat_interval
        self.on_flush = on_flush
        self.flushed_points = 0
        self.capacity = self.flush_size
        """Current bound on pending points: ``flush_size`` until a write is measured, then adapted to the write rate."""
        self.waits = 0
        """How many times ``add`` waited for room (back-pressure)."""
        self._init_state()
        os.register_at_fork(after_in_child=self._init_state)

    def _init_state(self) -> None:
        self._pending: list[Pending] = []
        self._in_flight = 0
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._live_runs: dict[str, None] = {}
        self._lost: dict[str, tuple[int, str]] = {}
        self._unreported: dict[str, tuple[int, str]] = {}
        self._last_heartbeat = 0.0

    def add(self, run_id: str, key: str, value: float, step: int, timestamp: int) -> None:
        """Queue one point (the caller has validated it). Cheap: a lock and an append; waits when full."""
        with self._lock:
            self._pending.append((run_id, key, value, step, timestamp))
            size = len(self._pending)
            if size >= self.capacity:
                self._wait_for_room()
            elif self._thread is None:
                self._start()
        if size == self.flush_size:
            self._wake.set()

    def _wait_for_room(self) -> None:
        """With the lock held: wake the flusher and wait until it takes the backlog.

        After :meth:`close` there is no flusher to wait for: the points queue until the next ``flush()``.
        """
        self.waits += 1
        while len(self._pending) >= self.capacity and not self._stop.is_set():
            if self._thread is None or not self._thread.is_alive():
                self._start()
            self._wake.set()
            self._room.wait(self.flush_interval)

    def pending(self) -> int:
        """Number of points not yet written (queued or being written)."""
        with self._lock:
            return len(self._pending) + self._in_flight

    # -- runs -------------------------------------------------------------------------------------

    def track_run(self, run_id: str) -> None:
        """Send heartbeats for ``run_id`` until :meth:`untrack_run`."""
        with self._lock:
            self._live_runs[run_id] = None
            if self._thread is None:
                self._start()

    def untrack_run(self, run_id: str) -> None:
        """Stop the heartbeats of ``run_id``."""
        with self._lock:
            self._live_runs.pop(run_id, None)

    def lost_points(self, run_id: str) -> int:
        """Points of ``run_id`` this buffer could not store, in total."""
        with self._lock:
            return self._lost.get(run_id, (0, ""))[0]

    def take_lost(self, run_id: str | None = None) -> MetricsLost | None:
        """The loss not yet reported (of one run, or of all), marked as reported; ``None`` if none."""
        with self._lock:
            if run_id is None:
                lost, self._unreported = self._unreported, {}
            elif run_id in self._unreported:
                lost = {run_id: self._unreported.pop(run_id)}
            else:
                lost = {}
        return MetricsLost(lost) if lost else None

    # -- writing ----------------------------------------------------------------------------------

    def flush(self, *, raise_errors: bool = True) -> int:
        """Write everything pending now; returns the number of points written.

        With ``raise_errors``, raises :class:`MetricsLost` if points were lost since the last report.
        """
        written = self._drain()
        if raise_errors:
            error = self.take_lost()
            if error is not None:
                raise error
        return written

    def _drain(self) -> int:
        with self._flush_lock:
            with self._lock:
                batch, self._pending = self._pending, []
                self._in_flight = len(batch)
                self._room.notify_all()
            if not batch:
                return 0
            started = time.perf_counter()
            by_run: dict[str, list[MetricPoint]] = {}
            for run_id, key, value, step, timestamp in batch:
                points = by_run.get(run_id)
                if points is None:
                    points = by_run[run_id] = []
                points.append((key, value, step, timestamp))
            written = 0
            for run_id, points in by_run.items():
                written += self._write_run(run_id, points)
            self._adapt(written, time.perf_counter() - started)
            with self._lock:
                self._in_flight = 0
            self.flushed_points += written
            if self.on_flush is not None and written:
                self.on_flush(written)
            return written

    def _write_run(self, run_id: str, points: list[MetricPoint]) -> int:
        """Write one run's points, retrying with backoff; unwritten points are recorded as lost."""
        written = 0
        delay = BACKOFF_FIRST_S
        for attempt in range(self.retries + 1):
            remaining = points[written:] if written else points
            try:
                self.store.log_batch(run_id, metrics=remaining, actor=self.actor)
                return len(points)
            except FINAL as exc:
                reason = f"{type(exc).__name__}: {exc}"
                break
            except Exception as exc:  # a store failure (database, network, server): retry
                if isinstance(exc, PartialWrite):
                    written += exc.written
                reason = f"{type(exc).__name__}: {exc}"
                if attempt == self.retries:
                    break
                logger.warning(
                    "Metric write for run %s failed (attempt %d of %d), retrying in %.1f s: %s",
                    run_id,
                    attempt + 1,
                    self.retries + 1,
                    delay,
                    exc,
                )
                time.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
        self._record_loss(run_id, len(points) - written, reason)
        return written

    def _record_loss(self, run_id: str, count: int, reason: str) -> None:
        with self._lock:
            total = self._lost.get(run_id, (0, ""))[0] + count
            self._lost[run_id] = (total, reason)
            unreported = self._unreported.get(run_id, (0, ""))[0] + count
            self._unreported[run_id] = (unreported, reason)
        logger.error("LOST %d metric points of run %s (%d in total): %s", count, run_id, total, reason)
        try:  # say so on the run itself too, if the store still answers
            self.store.log_batch(run_id, tags={"loopml.lost_metric_points": str(total)}, actor=self.actor)
        except Exception as exc:  # the loss is already recorded and will be raised
            logger.warning("Could not tag run %s with its lost metric points: %s", run_id, exc)

    def _adapt(self, points: int, seconds: float) -> None:
        """Size the capacity so that a full backlog writes in ``WRITE_SHARE`` of a flush interval."""
        if points < 1000 or seconds <= 0:
            return
        target = int(points / seconds * self.flush_interval * WRITE_SHARE)
        self.capacity = max(self.flush_size, min(self.max_points, target))

    # -- the background thread --------------------------------------------------------------------

    def close(self) -> None:
        """Stop the background thread after a final flush."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
        self.flush(raise_errors=False)

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="loopml-metric-flusher", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        due = time.monotonic() + self.flush_interval
        while not self._stop.is_set():
            self._wake.wait(max(0.0, due - time.monotonic()))
            self._wake.clear()
            due = time.monotonic() + self.flush_interval
            self._drain()
            self._heartbeat()

    def _heartbeat(self) -> None:
        now = time.monotonic()
        if now - self._last_heartbeat < self.heartbeat_interval:
            return
        with self._lock:
            run_ids = list(self._live_runs)
        if not run_ids:
            return
        self._last_heartbeat = now
        try:
            self.store.heartbeat(run_ids, actor=self.actor)
        except Exception as exc:  # a missed heartbeat only makes the run look stale for a while
            logger.warning("Heartbeat for runs %s failed: %s", ", ".join(run_ids), exc)
