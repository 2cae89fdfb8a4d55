"""Output shared by the commands: JSON on stdout, Rich tables for people, one red line per error.

Every command prints either for people (Rich, to stdout) or, with ``--json``, exactly one JSON
document on stdout and nothing else. Errors go to stderr. Non-finite floats are written as the
strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` (as on the HTTP API), so the JSON stays strict.
"""

from __future__ import annotations

import copy
import json
import math
import sys
from datetime import datetime
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from loopml.core.display import MISSING as MISSING  # re-exported: the CLI's modules print through output
from loopml.core.display import fmt_duration as fmt_duration
from loopml.core.display import fmt_number as fmt_number
from loopml.core.errors import Conflict, InvalidInput, LoopmlError, NotFound

USAGE_ERRORS: tuple[type[LoopmlError], ...] = (InvalidInput, NotFound, Conflict)
"""Errors caused by what the user typed: exit code 2, like a usage error."""

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout instead of tables.")]
"""The ``--json`` option every command takes."""


def stdout() -> Console:
    """A console on the current ``sys.stdout`` (for tables and reports)."""
    return Console(highlight=False)


def stderr() -> Console:
    """A console on the current ``sys.stderr`` (for progress bars, warnings and errors)."""
    return Console(stderr=True, highlight=False)


class FitTable(Table):
    """A table that fits the console by dropping columns, never by cutting values.

    Each column has a ``priority``: ``0`` (the default) is always shown; when the table does not fit
    the width it is printed at, columns with the highest priority number go first (the rightmost of
    equals first) and the caption names them. Columns marked ``whole`` (ids, versions, statuses,
    URIs) are never wrapped; the others wrap, and fold a word that is longer than the column.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.priorities: list[int] = []
        self.whole: list[bool] = []

    def add_column(
        self, header: RenderableType = "", *args: Any, priority: int = 0, whole: bool = False, **kwargs: Any
    ) -> None:
        """Rich's ``add_column`` plus ``priority`` (0 = always shown) and ``whole`` (never wrapped nor cut)."""
        kwargs.setdefault("overflow", "fold")
        if whole:
            kwargs["no_wrap"] = True
        super().add_column(header, *args, **kwargs)
        self.priorities.append(priority)
        self.whole.append(whole)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if not self.columns:
            yield from super().__rich_console__(console, options)
            return
        shown = list(range(len(self.columns)))
        fitted = self._keep(shown, console, options)
        while self._minimum(fitted, console, options) > options.max_width:
            droppable = [i for i in shown if self.priorities[i] > 0]
            if not droppable:
                break
            shown.remove(max(droppable, key=lambda i: (self.priorities[i], i)))
            fitted = self._keep(shown, console, options)
        yield from Table.__rich_console__(fitted, console, options)
        hidden = [self._name(i) for i in range(len(self.columns)) if i not in shown]
        if hidden:
            note = f"{', '.join(hidden)} hidden to fit {options.max_width} columns (widen the terminal or use --json)"
            yield Text(note, style="table.caption")

    def _keep(self, shown: list[int], console: Console, options: ConsoleOptions) -> Table:
        """A copy of this table with only the columns ``shown``, whole columns as wide as their widest cell."""
        table = copy.copy(self)
        table.columns = []
        wide = options.update_width(10**4)
        for position, index in enumerate(shown):
            column = copy.copy(self.columns[index])
            column._index = position
            if self.whole[index]:
                cells = [column.header, *column.cells] if self.show_header else list(column.cells)
                column.min_width = max(Measurement.get(console, wide, cell).maximum for cell in cells)
            table.columns.append(column)
        return table

    @staticmethod
    def _minimum(table: Table, console: Console, options: ConsoleOptions) -> int:
        wide = options.update_width(10**4)
        return (
            sum(table._measure_column(console, wide, column).minimum for column in table.columns) + table._extra_width
        )

    def _name(self, index: int) -> str:
        header = self.columns[index].header
        return header.plain if isinstance(header, Text) else Text.from_markup(str(header)).plain


def new_table(title: str | None = None, *, caption: str | None = None) -> FitTable:
    """The compact table style every command uses; it drops low-priority columns to fit (see :class:`FitTable`)."""
    return FitTable(
        title=title,
        caption=caption,
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        title_justify="left",
        caption_justify="left",
        title_style="bold",
    )


def exit_code(exc: LoopmlError) -> int:
    """2 for errors in what was asked (bad input, unknown object, conflict), 1 for failures."""
    return EXIT_USAGE if isinstance(exc, USAGE_ERRORS) else EXIT_FAILED


def print_error(message: str) -> None:
    """One red line on stderr, never wrapped."""
    stderr().print(Text(f"Error: {' '.join(message.split())}", style="red"), soft_wrap=True)


def print_json(data: Any) -> None:
    """Write ``data`` as strict JSON to stdout (plain ``json.dumps``, no colour, no wrapping)."""
    sys.stdout.write(json.dumps(jsonable(data), indent=2, allow_nan=False) + "\n")
    sys.stdout.flush()


def jsonable(value: Any) -> Any:
    """``value`` with non-finite floats spelled as strings, tuples as lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def short_id(run_id: str) -> str:
    """The first 8 characters of an id: enough to pass back as a unique prefix."""
    return run_id[:8]


def fmt_time(ms: int | None, *, seconds: bool = True) -> str:
    """Epoch milliseconds as local ``YYYY-MM-DD HH:MM:SS`` (or without seconds)."""
    if ms is None:
        return MISSING
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def duration_ms(start: int | None, end: int | None) -> int | None:
    """Milliseconds between ``start`` and ``end`` (``None`` while a run is still going)."""
    if start is None or end is None:
        return None
    return max(0, end - start)


def fmt_delta(delta: float | None, *operands: float | None) -> str:
    """A difference with its sign, to the decimals of its operands.

    ``0.93 - 0.81`` prints ``+0.12``, not ``+0.12000000000000011``.
    """
    if delta is None:
        return MISSING
    if not math.isfinite(delta):
        return str(delta)
    texts = [fmt_number(x) for x in operands if x is not None and math.isfinite(x)]
    if texts and not any("e" in t for t in texts):
        delta = round(delta, max(len(t.partition(".")[2]) for t in texts))
    return ("+" if delta >= 0 else "") + fmt_number(delta)


def fmt_size(size: int) -> str:
    """Bytes in a human unit."""
    amount = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if amount < 1024 or unit == "GB":
            return f"{int(amount)} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{size} B"  # pragma: no cover


STATUS_STYLES = {
    "FINISHED": "green",  # runs
    "SUCCEEDED": "green",  # pipeline runs and steps
    "READY": "green",  # model versions
    "RUNNING": "cyan",
    "RUNNING (stale)": "magenta",
    "FAILED": "red",
    "KILLED": "yellow",
    "SKIPPED": "dim",
    "ARCHIVED": "dim",
}
"""The colour of every status the CLI shows (runs, pipeline runs and steps, model versions)."""


def status(value: str) -> str:
    """``value`` as Rich markup in its status colour (unknown statuses uncoloured, always escaped)."""
    style = STATUS_STYLES.get(value)
    return f"[{style}]{escape(value)}[/]" if style else escape(value)


def print_pairs(console: Console, title: str, pairs: dict[str, Any]) -> None:
    """A two-column Key/Value table (``No <first word of title>.`` when empty); keys and values are user
    text, printed as they are (brackets are data, not Rich markup)."""
    if not pairs:
        console.print(f"[dim]No {title.split()[0].lower()}.[/dim]")
        return
    table = new_table(title)
    table.add_column("Key", style="bold")
    table.add_column("Value", overflow="fold")
    for key, value in pairs.items():
        table.add_row(Text(str(key)), Text(str(value)))
    console.print(table)
