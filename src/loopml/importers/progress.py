"""Progress of an import: a callback the importer calls, and a Rich bar that draws it on stderr."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

__all__ = ["Progress", "rich_progress"]


class Progress(Protocol):
    """Told how far a phase (``runs``, ``metric points``, ``artifacts``) has got."""

    def __call__(self, *, phase: str, advance: int, total: int | None = None) -> None:
        """``advance`` more items of ``phase`` done; ``total`` when it becomes known."""
        ...


def _silent(*, phase: str, advance: int, total: int | None = None) -> None:
    """Progress nobody watches."""


@contextmanager
def rich_progress(enabled: bool) -> Iterator[Progress]:
    """A Rich progress bar on stderr while the import runs (a silent callback when not ``enabled``)."""
    if not enabled:
        yield _silent
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Bar(*columns, console=Console(stderr=True), transient=True) as bar:
        tasks: dict[str, Any] = {}

        def tell(*, phase: str, advance: int, total: int | None = None) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            elif total is not None:
                bar.update(tasks[phase], total=total)
            bar.advance(tasks[phase], advance)

        yield tell
