"""Output shared by the commands: JSON on stdout, Rich tables for people, one red line per error.

Every command prints either for people (Rich, to stdout) or, with ``--json``, exactly one JSON
document on stdout and nothing else. Errors go to stderr. Non-finite floats are written as the
strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` (as on the HTTP API), so the JSON stays strict.
"""

from __future__ import annotations

import json
import math
import sys
from datetime import datetime
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from loopml.core.errors import Conflict, InvalidInput, LoopmlError, NotFound

USAGE_ERRORS: tuple[type[LoopmlError], ...] = (InvalidInput, NotFound, Conflict)
"""Errors caused by what the user typed: exit code 2, like a usage error."""

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
MISSING = "—"

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout instead of tables.")]
"""The ``--json`` option every command takes."""


def stdout() -> Console:
    """A console on the current ``sys.stdout`` (for tables and reports)."""
    return Console(highlight=False)


def stderr() -> Console:
    """A console on the current ``sys.stderr`` (for progress bars, warnings and errors)."""
    return Console(stderr=True, highlight=False)


def new_table(title: str | None = None, *, caption: str | None = None) -> Table:
    """The compact table style every command uses."""
    return Table(
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


def fmt_duration(ms: int | None) -> str:
    """``850ms``, ``12.3s``, ``4m 05s``, ``2h 03m``; a dash when unknown."""
    if ms is None:
        return MISSING
    if ms < 1000:
        return f"{ms}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def fmt_number(value: float | None, digits: int = 4) -> str:
    """A metric for a table column: integers as such, others with ``digits`` decimals (``g`` when huge/tiny)."""
    if value is None:
        return MISSING
    if not math.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    if 1e-3 <= abs(value) < 1e6:
        return f"{value:.{digits}f}"
    return f"{value:.{digits}g}"


def fmt_precise(value: float | None) -> str:
    """A metric shown on its own: six significant digits, no padding zeros."""
    if value is None:
        return MISSING
    return f"{value:.6g}"


def fmt_size(size: int) -> str:
    """Bytes in a human unit."""
    amount = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if amount < 1024 or unit == "GB":
            return f"{int(amount)} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{size} B"  # pragma: no cover
