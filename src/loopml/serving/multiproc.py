"""Prometheus metrics that stay right across worker processes (prometheus-client's multiprocess mode).

With ``--workers N`` the launcher (:mod:`loopml.serving.workers`) gives every launch a private
directory in ``PROMETHEUS_MULTIPROC_DIR``; each worker's counters, histograms and gauges write
their samples to memory-mapped files there, and ``GET /metrics`` (:func:`render`), whichever worker
answers, adds every worker's files up. With one worker the variable is unset and nothing changes:
the process's own registry is rendered as it is.

Values kept outside prometheus-client (the prediction log's, the shadow scorer's and the canary
router's counts, read by custom collectors) are copied into multiprocess metrics by a
:class:`CollectorMirror`: counters grow by what changed since the last copy (so they add up over
workers, dead ones included), gauges are set (``livesum``: live workers only). Each worker copies
every :data:`MIRROR_INTERVAL` seconds, before it renders, and when it stops, so another worker's
figure is at most that old in a scrape.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
MIRROR_INTERVAL = 1.0


class Collector(Protocol):
    """What a custom collector offers: its metric families, read now."""

    def collect(self) -> Iterator[Metric]: ...


def multiprocess_dir() -> str | None:
    """The directory workers share their samples through, or ``None`` with one process."""
    return os.environ.get(MULTIPROC_ENV) or None


def render(registry: CollectorRegistry) -> bytes:
    """The text exposition of ``registry``, or of every worker's samples in multiprocess mode."""
    path = multiprocess_dir()
    if path is None:
        return generate_latest(registry)
    aggregate = CollectorRegistry()
    MultiProcessCollector(aggregate, path=path)  # type: ignore[no-untyped-call]
    return generate_latest(aggregate)


class CollectorMirror:
    """Copies custom collectors' samples into multiprocess counters and gauges (see the module docstring)."""

    def __init__(self, interval: float = MIRROR_INTERVAL) -> None:
        self.interval = interval
        self._collectors: list[Collector] = []
        self._metrics: dict[str, Any] = {}
        self._last: dict[tuple[str, tuple[str, ...]], float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, collector: Collector) -> None:
        """Mirror ``collector`` from now on."""
        with self._lock:
            self._collectors.append(collector)

    def publish(self) -> None:
        """Copy every collector's current samples (thread-safe)."""
        with self._lock:
            for collector in self._collectors:
                for family in collector.collect():
                    self._publish(family)

    def _publish(self, family: Metric) -> None:
        for sample in family.samples:
            labels = tuple(sample.labels)
            metric = self._metrics.get(family.name)
            if metric is None:
                metric = self._metrics[family.name] = _metric_for(family, labels)
            child: Any = metric.labels(*sample.labels.values()) if labels else metric
            if family.type == "counter":
                key = (family.name, tuple(sample.labels.values()))
                last = self._last.get(key, 0.0)
                grown = sample.value - last if sample.value >= last else sample.value  # a reset starts over
                if grown:
                    child.inc(grown)
                self._last[key] = sample.value
            else:
                child.set(sample.value)

    def start(self) -> None:
        """Copy every :attr:`interval` seconds in a daemon thread until :meth:`stop`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="loopml-metrics-mirror", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and copy once more (what the last moments counted is not lost)."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join(timeout=5)
        self.publish()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.publish()


def _metric_for(family: Metric, labels: tuple[str, ...]) -> Counter | Gauge:
    """A multiprocess metric in no registry (the aggregate reads the files), named as ``family``."""
    if family.type == "counter":
        return Counter(family.name, family.documentation, labels, registry=None)
    return Gauge(family.name, family.documentation, labels, registry=None, multiprocess_mode="livesum")
