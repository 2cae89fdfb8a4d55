"""Shadow scoring: a challenger predicts every champion batch off the request path, and both are logged.

The champion's :class:`~loopml.serving.batching.MicroBatcher` hands each batch it has answered to
:meth:`ShadowScorer.offer` (on the event loop, after the callers' futures are resolved). ``offer``
only puts the batch on a bounded queue; when the queue is full the batch is skipped and counted, so
the caller never waits for the shadow. One daemon thread takes batches off the queue, predicts them
with the shadow model (:func:`~loopml.serving.batching.predict_batch`, the champion's path) and
records each request in the prediction log with the champion's request id and rows,
``role="shadow"``, ``served_by="challenger"`` and the shadow's own model name and version.

A shadow version whose input columns differ from the champion's (the alias moved to an incompatible
version) is not scored: its batches are skipped as ``incompatible``.

>>> scorer = ShadowScorer(shadow_slot, log, max_batches=64)   # doctest: +SKIP
>>> batcher = MicroBatcher(slot, listener=scorer.offer)        # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
import time
from typing import Protocol, runtime_checkable

from loopml.monitoring.prediction_log import PredictionLog
from loopml.serving.batching import Prediction, ProbaPlan, predict_batch, proba_plan
from loopml.serving.decode import Columns
from loopml.serving.model import ModelSlot, ServedModel

logger = logging.getLogger("loopml.serving")

SKIP_REASONS = ("queue_full", "not_loaded", "incompatible")
MAX_SHADOW_ROWS = 1024
"""Most rows the shadow scores in one predict call when batches have queued up."""
SHADOW_NICE = 10
"""Niceness of the shadow thread (Linux): the CPU goes to the request path first."""
SWITCH_INTERVAL = 0.0005
"""Seconds a thread holding the GIL may run before another gets it, in a process with a shadow."""


@runtime_checkable
class ShadowTag(Protocol):
    """What the shadow needs to know of a served request (``app.Call`` has it)."""

    request_id: str
    time_ms: int
    endpoint: str
    sampled: bool


_Batch = list[tuple[Columns, Prediction, object]]


class ShadowScorer:
    """A bounded queue of answered champion batches and the thread that scores them with the shadow model."""

    def __init__(
        self, slot: ModelSlot, log: PredictionLog | None, *, max_batches: int = 64, with_proba: bool = False
    ) -> None:
        self.slot = slot
        self.log = log
        self.with_proba = with_proba
        self.scored_requests = 0
        self.scored_rows = 0
        self.errors = 0
        self.skipped = dict.fromkeys(SKIP_REASONS, 0)
        """Requests not scored, by reason."""
        self._queue: queue.Queue[_Batch | None] = queue.Queue(maxsize=max_batches)
        self._plan: tuple[ServedModel | None, ProbaPlan | None] = (None, None)
        self._thread: threading.Thread | None = None

    @property
    def queued(self) -> int:
        """Batches waiting for the shadow model."""
        return self._queue.qsize()

    def start(self) -> None:
        """Start the scoring thread.

        The interpreter's thread switch interval is lowered to :data:`SWITCH_INTERVAL` (from 5 ms):
        while the shadow predicts holding the GIL, the event loop gets it back within that time
        instead of waiting up to 5 ms, which is what the caller would otherwise pay.
        """
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
        self._thread = threading.Thread(target=self._loop, name="loopml-shadow", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Score what is queued (up to ``timeout`` seconds), then stop the thread."""
        if self._thread is None:
            return
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            logger.warning("shadow: queue still full at shutdown; its batches are not scored")
        self._thread.join(timeout)
        self._thread = None

    def offer(self, answered: _Batch) -> None:
        """Queue one answered batch for the shadow; skip and count it when the queue is full (never blocks)."""
        if self.slot.peek() is None:
            self.skipped["not_loaded"] += len(answered)
            return
        try:
            self._queue.put_nowait(answered)
        except queue.Full:
            self.skipped["queue_full"] += len(answered)

    def _loop(self) -> None:
        _lower_priority()
        while True:
            batch = self._queue.get()
            if batch is None:
                return
            stop = self._coalesce(batch)
            try:
                self.score(batch)
            except Exception:  # never let the shadow thread die
                self.errors += len(batch)
                logger.exception("shadow scoring failed")
            if stop:
                return

    def _coalesce(self, batch: _Batch) -> bool:
        """Add the batches already waiting to ``batch`` (up to :data:`MAX_SHADOW_ROWS` rows), so a backlog
        is scored in one predict call: under load the shadow costs less per request. Whether stop was asked."""
        rows = sum(columns.n_rows for columns, _, _ in batch)
        while rows < MAX_SHADOW_ROWS:
            try:
                more = self._queue.get_nowait()
            except queue.Empty:
                return False
            if more is None:
                return True
            batch.extend(more)
            rows += sum(columns.n_rows for columns, _, _ in more)
        return False

    def score(self, batch: _Batch) -> None:
        """Predict ``batch`` with the shadow model and log each request as ``role=shadow`` (on this thread)."""
        model = self.slot.peek()
        if model is None:
            self.skipped["not_loaded"] += len(batch)
            return
        champion = batch[0][1].model
        if not compatible(champion, model):
            self.skipped["incompatible"] += len(batch)
            return
        started = time.perf_counter()
        outcomes = predict_batch(model, [columns for columns, _, _ in batch], self._plan_of(model))
        latency_ms = (time.perf_counter() - started) * 1000
        log = self.log
        for (columns, _, tag), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                self.errors += 1
                continue
            self.scored_requests += 1
            self.scored_rows += columns.n_rows
            if log is None or not isinstance(tag, ShadowTag):
                continue
            log.record(
                request_id=tag.request_id,
                time_ms=tag.time_ms,
                model=model.name,
                version=model.version,
                endpoint=tag.endpoint,
                status=200,
                latency_ms=latency_ms,
                inputs=columns.data,
                n_rows=columns.n_rows,
                prediction=outcome.values,
                proba=outcome.proba,
                classes=outcome.classes,
                role="shadow",
                served_by="challenger",
                sampled=tag.sampled,
            )

    def _plan_of(self, model: ServedModel) -> ProbaPlan | None:
        if not self.with_proba:
            return None
        cached, plan = self._plan
        if cached is not model:
            plan = proba_plan(model)
            self._plan = (model, plan)
        return plan


def _lower_priority() -> None:
    """Make this thread the first to wait when the CPUs are busy (Linux: per-thread nice), so the shadow
    takes idle CPU time rather than the caller's; a no-op where threads have no priority of their own."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), SHADOW_NICE)
    except (AttributeError, OSError) as exc:
        logger.debug("shadow: cannot lower the thread's priority: %s", exc)


def compatible(champion: ServedModel, other: ServedModel) -> bool:
    """Whether ``other`` takes the champion's input columns (either without a signature: assumed so)."""
    mine, theirs = champion.input_names, other.input_names
    return mine is None or theirs is None or sorted(mine) == sorted(theirs)
