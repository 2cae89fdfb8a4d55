"""The scheduler as a background thread, for hosts such as ``loopml server --scheduler``.

>>> scheduler = BackgroundScheduler(interval=30).start()      # doctest: +SKIP
>>> scheduler.stop()                                           # doctest: +SKIP

Each pass is :func:`loopml.pipelines.schedule.run_due`; outcomes and errors go to the
``loopml.scheduler`` logger, and an error in one pass (the database briefly unreachable)
never stops the thread. Several hosts on one database are safe: schedules are claimed with a
compare-and-set, so each due run starts once.
"""

from __future__ import annotations

import logging
import threading

from loopml.core.errors import InvalidInput
from loopml.core.records import PipelineStatus
from loopml.pipelines.schedule import ScheduleResult, run_due

logger = logging.getLogger("loopml.scheduler")


class BackgroundScheduler:
    """Run due schedules every ``interval`` seconds in a daemon thread until :meth:`stop`."""

    def __init__(self, interval: float = 30.0) -> None:
        if isinstance(interval, bool) or not isinstance(interval, int | float) or interval < 0.1:
            raise InvalidInput(f"Invalid scheduler interval {interval!r}: use seconds >= 0.1.")
        self.interval = float(interval)
        self.passes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="loopml-scheduler", daemon=True)

    def start(self) -> BackgroundScheduler:
        """Start the thread (first pass at once); returns ``self``."""
        logger.info("scheduler started: checking for due schedules every %gs", self.interval)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 30.0) -> None:
        """Ask the thread to stop and wait for the pass in progress (at most ``timeout`` seconds)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                for result in run_due():
                    _log(result)
            except Exception:  # one bad pass must not end the host's scheduler
                logger.exception("scheduler pass failed; retrying in %gs", self.interval)
            self.passes += 1
            self._stop.wait(self.interval)


def _log(result: ScheduleResult) -> None:
    reasons = "+".join(result.reasons) + (f" {result.trigger}" if result.trigger else "")
    if result.status is PipelineStatus.SUCCEEDED:
        logger.info("schedule %s (%s, %s): run %s succeeded", result.schedule_id[:8], result.target, reasons,
                    result.run_id)  # fmt: skip
    else:
        logger.error("schedule %s (%s, %s): %s", result.schedule_id[:8], result.target, reasons, result.error)
