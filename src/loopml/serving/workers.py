"""Several uvicorn worker processes on one port, with metrics that add up across them.

:func:`run_workers` is what :func:`~loopml.serving.run.run_uvicorn` does for ``--workers N``
(N > 1): it makes a private ``PROMETHEUS_MULTIPROC_DIR`` for this launch (see
:mod:`loopml.serving.multiproc`), runs uvicorn's supervisor, and removes the directory when the
supervisor exits. When uvicorn replaces a worker (it died, or SIGHUP restarted them all), the old
worker's live gauges are dropped (``mark_process_dead``); its counters and histograms stay in the
totals.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

import uvicorn
from prometheus_client.multiprocess import mark_process_dead
from uvicorn.supervisors import Multiprocess

from loopml.serving.multiproc import MULTIPROC_ENV


class MetricsSupervisor(Multiprocess):
    """uvicorn's supervisor, marking every worker it replaces as dead in the metrics directory."""

    def __init__(self, config: uvicorn.Config, sockets: list[Any], *, metrics_dir: str) -> None:
        super().__init__(config, sockets)
        self.metrics_dir = metrics_dir

    def keep_subprocess_alive(self) -> None:
        before = self._pids()
        super().keep_subprocess_alive()
        self._mark_gone(before)

    def restart_all(self) -> None:
        before = self._pids()
        super().restart_all()
        self._mark_gone(before)

    def _pids(self) -> set[int]:
        return {process.pid for process in self.processes if process.pid is not None}

    def _mark_gone(self, before: set[int]) -> None:
        for pid in before - self._pids():
            mark_process_dead(pid, self.metrics_dir)  # type: ignore[no-untyped-call]


def run_workers(target: str, *, workers: int, options: dict[str, Any]) -> None:
    """Run the ``module:factory`` ``target`` in ``workers`` processes until interrupted (blocks)."""
    metrics_dir = tempfile.mkdtemp(prefix="loopml-metrics-")
    previous = os.environ.get(MULTIPROC_ENV)
    os.environ[MULTIPROC_ENV] = metrics_dir  # the workers inherit it and write their samples there
    try:
        config = uvicorn.Config(target, factory=True, workers=workers, **options)
        socket = config.bind_socket()
        try:
            MetricsSupervisor(config, [socket], metrics_dir=metrics_dir).run()
        except KeyboardInterrupt:
            pass
        finally:
            socket.close()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
        if previous is None:
            os.environ.pop(MULTIPROC_ENV, None)
        else:
            os.environ[MULTIPROC_ENV] = previous
