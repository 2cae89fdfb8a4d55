"""A live view of a pipeline run on stderr: a Rich bar of finished steps and the ones running.

>>> run = train_churn.run(progress=True)                      # doctest: +SKIP
  ⠋ train_churn  ━━━━━━━━━━━━━━━━━━╸━━━━━━━  3/5  0:00:04  running: fit, evaluate (2 cached)

``loopml pipeline run`` shows it unless ``--json``. It draws only on a terminal and is removed
when the run ends (the CLI then prints the run's table).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


class RunListener(Protocol):
    """What the runner reports while it executes a graph (called from its worker threads)."""

    def started(self, step: str) -> None: ...

    def finished(self, step: str, *, ok: bool, cache_hit: bool) -> None: ...


class _Bar:
    def __init__(self, progress: Progress, task: TaskID) -> None:
        self.progress = progress
        self.task = task
        self.running: list[str] = []
        self.cached = 0
        self.failed = 0
        self.lock = threading.Lock()

    def started(self, step: str) -> None:
        with self.lock:
            self.running.append(step)
            self._show()

    def finished(self, step: str, *, ok: bool, cache_hit: bool) -> None:
        with self.lock:
            if step in self.running:
                self.running.remove(step)
            self.cached += cache_hit
            self.failed += not ok
            self.progress.advance(self.task)
            self._show()

    def _show(self) -> None:
        parts = [f"running: {', '.join(self.running)}" if self.running else ""]
        if self.cached:
            parts.append(f"{self.cached} cached")
        if self.failed:
            parts.append(f"[red]{self.failed} failed[/red]")
        self.progress.update(self.task, status="  ".join(p for p in parts if p))


@contextmanager
def step_progress(pipeline: str, total: int) -> Iterator[RunListener]:
    """A transient Rich progress bar of ``total`` steps on stderr; yields the listener that moves it."""
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (
        SpinnerColumn(),
        TextColumn(f"[bold]{escape(pipeline)}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(pipeline, total=total, status="")
        yield _Bar(progress, task)
