"""How values read to people: numbers as written, durations in units, a dash for what is missing.

One place for the CLI's tables and the web UI's pages, so both print the same value the same way.
"""

from __future__ import annotations

import math
from typing import Any

MISSING = "—"


def fmt_number(value: Any) -> str:
    """A number as the user wrote it: the shortest text that reads back as the same value.

    ``154.14`` (never ``154.14000000000001`` nor a rounded ``154.1``), whole floats without ``.0``,
    numpy scalars at their own precision (``float32(154.14)`` prints ``154.14``), a dash for ``None``.
    Every table and summary of the CLI and every page of the UI prints numbers through this function.
    """
    if value is None:
        return MISSING
    if isinstance(value, int):  # bools too
        return str(value)
    if not isinstance(value, float) and hasattr(value, "dtype") and hasattr(value, "item"):  # a numpy scalar
        if value.dtype.kind == "f" and value.dtype.itemsize < 8:
            return str(value)  # numpy prints the shortest round trip at the value's own precision
        value = value.item()
        if not isinstance(value, float):
            return str(value)
    number = float(value)
    if not math.isfinite(number):
        return str(number)
    if number == int(number) and abs(number) < 1e15:
        return str(int(number))
    return repr(number)


def fmt_duration(ms: int | None) -> str:
    """``850ms``, ``12.3s``, ``4m 05s``, ``2h 03m``; a dash when unknown."""
    if ms is None:
        return MISSING
    if ms < 1000:
        return f"{ms:.0f}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"
