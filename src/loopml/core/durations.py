"""Durations and points in time as users write them: ``"30d"``, ``"12h"``, ``"90m"``, ISO datetimes, Unix ms.

>>> parse_duration("12h")
43200.0
>>> parse_since("1h", now_ms=7_200_000)
3600000
>>> parse_since("1970-01-01T02:00:00Z", now_ms=0)
7200000
"""

from __future__ import annotations

import datetime as dt
import re

from loopml.core.errors import InvalidInput

UNITS: dict[str, float] = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
"""Suffixes :func:`parse_duration` accepts, in seconds."""

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_EXAMPLES = "e.g. 90m, 12h, 30d (units: " + ", ".join(UNITS) + ")"


def parse_duration(text: object, *, field: str = "duration") -> float:
    """Seconds in ``text`` (``"30d"``, ``"12h"``, ``"90m"``, ``"45s"``, ``"250ms"``, ``"2w"``); > 0.

    ``InvalidInput`` naming ``field`` for anything else (no unit, a negative or zero amount, an unknown unit).
    """
    match = _DURATION.match(text) if isinstance(text, str) else None
    seconds = float(match.group(1)) * UNITS[match.group(2)] if match else 0.0
    if seconds <= 0:
        raise InvalidInput(
            f"Invalid {field} {str(text)[:40]!r}: expected a positive amount and a unit, {_EXAMPLES}.",
            details=[{"field": field, "problem": f"not a duration; {_EXAMPLES}"}],
        )
    return seconds


def parse_since(value: object, now_ms: int | None = None, *, field: str = "since") -> int:
    """Unix milliseconds for a point in time given as a duration before ``now_ms`` (``"24h"``), an ISO
    datetime (``"2026-12-03T07:00"``, naive means UTC), a :class:`datetime.datetime`, or Unix milliseconds.
    """
    if isinstance(value, bool):
        raise _bad_time(field, value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value == value:
        return int(value)
    if isinstance(value, dt.datetime):
        return _datetime_ms(value)
    if isinstance(value, str):
        if _DURATION.match(value):
            now = int(dt.datetime.now(dt.UTC).timestamp() * 1000) if now_ms is None else now_ms
            return now - int(parse_duration(value, field=field) * 1000)
        try:
            parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise _bad_time(field, value) from None
        return _datetime_ms(parsed)
    raise _bad_time(field, value)


def _datetime_ms(value: dt.datetime) -> int:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    return int(aware.timestamp() * 1000)


def _bad_time(field: str, value: object) -> InvalidInput:
    problem = f"expected a duration before now ({_EXAMPLES}), an ISO datetime or Unix milliseconds"
    details = [{"field": field, "problem": problem}]
    return InvalidInput(f"Invalid {field} {str(value)[:40]!r}: {problem}.", details=details)
