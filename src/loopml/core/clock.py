"""Time in one place: milliseconds since the epoch, as stored everywhere."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_ms() -> int:
    """Current time in integer milliseconds since the Unix epoch."""
    return time.time_ns() // 1_000_000


def iso(ms: int | None) -> str | None:
    """Render epoch milliseconds as an ISO-8601 UTC string (``None`` stays ``None``)."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")
