"""Retention of the prediction log: whole hour partitions older than the retention period are deleted.

The serving process's flusher calls :meth:`Retention.prune` when it starts logging a model and
then at most once a minute, so no other process is needed. An hour is deleted once its END is
older than ``now - period``, so a window of ``period`` always stays complete.

>>> Retention(PredictionLayout("/data/artifacts"), "30d").seconds   # doctest: +SKIP
2592000.0
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable

from loopml.core.durations import parse_duration
from loopml.monitoring.layout import HOUR_MS, PredictionLayout, hour_start

logger = logging.getLogger("loopml.monitoring")

CHECK_EVERY_SECONDS = 60.0
"""The flusher prunes at most this often (and whenever it sees a model for the first time)."""


class Retention:
    """Delete a model's hour partitions older than ``period`` (``"30d"``, ``"12h"``, ...)."""

    def __init__(self, layout: PredictionLayout, period: str) -> None:
        self.layout = layout
        self.period = period
        self.seconds = parse_duration(period, field="log_retention")

    def prune(self, models: Iterable[str], now_ms: int) -> int:
        """Delete the expired partitions of ``models``; the number deleted. Errors are logged, never raised."""
        cutoff = now_ms - int(self.seconds * 1000)
        deleted = 0
        for model in models:
            for partition in list(self.layout.partitions(model, until_ms=cutoff)):
                try:
                    expired = hour_start(partition.name.removeprefix("hour=")) + HOUR_MS <= cutoff
                except ValueError:  # InvalidInput: a directory that is not ours
                    continue
                if not expired:
                    continue
                try:
                    shutil.rmtree(partition)
                    deleted += 1
                except OSError as exc:
                    logger.warning("could not delete expired prediction log partition %s: %s", partition, exc)
        return deleted
