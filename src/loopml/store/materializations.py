"""What the SQL and HTTP materialisation stores share: the checks of their arguments.

>>> check_view_name("driver_stats")
'driver_stats'
>>> check_materialization_status("done")
Traceback (most recent call last):
...
loopml.core.errors.InvalidInput: Invalid status 'done': use one of ['running', 'succeeded', 'failed'].

Both stores (:class:`~loopml.store.sql.materializations.SqlMaterializationStore`,
:class:`~loopml.store.http.materializations.HttpMaterializationStore`) call these before they
touch the database or the network, so a bad argument reads the same whichever store runs; the
server's routes call them for path and query parameters. What only the database knows (the run
exists and is still ``running``) is checked by the SQL store inside its write transaction.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, cast

from loopml.core.errors import invalid
from loopml.core.records import MATERIALIZATION_STATUSES, MaterializationRecord
from loopml.store.decisions import jsonable
from loopml.store.monitoring import check_count, check_evidence, check_id, check_millis, check_text, check_version

FINAL_STATUSES = ("succeeded", "failed")
"""The statuses a running materialisation can finish with."""
MATERIALIZATION_HINT = (
    "List a view's materialisations with GET /api/v1/features/materializations?view=VIEW "
    "(`loopml features stats VIEW` shows the last one)."
)
MAX_ONLINE_STORE = 4096
MAX_ERROR = 100_000

_VIEW = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")  # as loopml.features.definitions.NAME_PATTERN


def check_view_name(value: object, field: str = "view") -> str:
    """A feature view name: letters, digits and underscores, starting with a letter or underscore."""
    if isinstance(value, str) and _VIEW.fullmatch(value):
        return value
    raise invalid(
        field,
        "not a feature view name",
        f"Invalid {_name(field)} {_shown(value)!r}: a feature view name has letters, digits and underscores, "
        "starting with a letter or underscore (at most 128 characters).",
    )


def check_materialization_status(
    value: object, field: str = "status", allowed: tuple[str, ...] = MATERIALIZATION_STATUSES
) -> str:
    """A status among ``allowed`` (by default every one of :data:`MATERIALIZATION_STATUSES`)."""
    if isinstance(value, str) and value in allowed:
        return value
    names = list(allowed)
    raise invalid(field, f"not one of {names}", f"Invalid {_name(field)} {_shown(value)!r}: use one of {names}.")


def check_online_store(value: object, field: str = "online_store") -> str:
    """The online store's URI as recorded (1 to :data:`MAX_ONLINE_STORE` characters)."""
    return cast(str, check_text(value, field, max_length=MAX_ONLINE_STORE))  # not optional: never None


def check_profile(value: object, field: str = "profile") -> dict[str, Any]:
    """A profile as a JSON object (numpy values as Python ones, non-finite floats as ``"NaN"``)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise invalid(field, "not an object", f"Invalid {field}: expected a JSON object, got {type(value).__name__}.")
    return check_evidence(jsonable(value, field), field)


def check_error(value: object, field: str = "error") -> str | None:
    """An error message: ``None`` or a string (NUL becomes U+FFFD, at most :data:`MAX_ERROR` characters kept)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(field, "not a string", f"Invalid {field}: expected a string or null, got {type(value).__name__}.")
    return value.replace("\x00", "\ufffd")[:MAX_ERROR] or None


def check_window(start_ms: object, end_ms: object, prefix: str = "record.") -> tuple[int, int]:
    """A materialisation window ``[start_ms, end_ms]`` in epoch milliseconds, start at or before end."""
    start = cast(int, check_millis(start_ms, f"{prefix}start_ms"))  # not optional: never None
    end = cast(int, check_millis(end_ms, f"{prefix}end_ms"))
    if start > end:
        raise invalid(
            f"{prefix}end_ms",
            "before start_ms",
            f"Invalid {prefix}end_ms {end}: the window ends before it starts (start_ms {start}).",
        )
    return start, end


def check_materialization(record: MaterializationRecord) -> MaterializationRecord:
    """A materialisation about to start: every field of the right type and shape, ``status`` ``running``.

    Returns the record with ``profile`` made JSON-safe (what is stored and sent).
    """
    if not isinstance(record, MaterializationRecord):
        raise invalid(
            "record",
            "not a MaterializationRecord",
            f"Invalid record: expected a MaterializationRecord, got {type(record).__name__}.",
        )
    check_id(record.id, "record.id")
    check_view_name(record.view, "record.view")
    check_version(record.view_version, "record.view_version")
    check_online_store(record.online_store, "record.online_store")
    check_window(record.start_ms, record.end_ms)
    check_materialization_status(record.status, "record.status", ("running",))
    check_millis(record.started_at, "record.started_at")
    if record.ended_at is not None:
        raise invalid(
            "record.ended_at", "set on start", "Invalid record.ended_at: a materialisation that starts has not ended."
        )
    check_count(record.rows_read, "record.rows_read")
    check_count(record.entities_written, "record.entities_written")
    check_millis(record.newest_event_ms, "record.newest_event_ms", optional=True)
    profile = check_profile(record.profile, "record.profile")
    return replace(record, profile=profile, error=check_error(record.error, "record.error"))


def check_finish(
    *,
    status: object,
    rows_read: object,
    entities_written: object,
    newest_event_ms: object,
    profile: object,
    error: object,
    ended_at: object,
) -> dict[str, Any]:
    """The checked values of a finish (``status`` ``succeeded`` or ``failed``), as columns to store."""
    return {
        "status": check_materialization_status(status, "status", FINAL_STATUSES),
        "rows_read": check_count(rows_read, "rows_read"),
        "entities_written": check_count(entities_written, "entities_written"),
        "newest_event_ms": check_millis(newest_event_ms, "newest_event_ms", optional=True),
        "profile": check_profile(profile),
        "error": check_error(error),
        "ended_at": check_millis(ended_at, "ended_at", optional=True),
    }


def check_filters(view: object, online_store: object, status: object) -> tuple[str | None, str | None, str | None]:
    """The optional filters of a listing: a view name, an online store URI, a status."""
    return (
        None if view is None else check_view_name(view),
        None if online_store is None else check_online_store(online_store),
        None if status is None else check_materialization_status(status),
    )


def _name(field: str) -> str:
    return field.split(".", 1)[1] if field.startswith(("path.", "body.", "query.")) else field


def _shown(value: object) -> object:
    return value[:80] if isinstance(value, str) else value
