"""What the SQL and HTTP monitoring stores share: the checks of their arguments.

>>> check_state("open")
Traceback (most recent call last):
...
loopml.core.errors.InvalidInput: Invalid state 'open': use one of ['firing', 'resolved'].

Both stores (:class:`~loopml.store.sql.monitoring.SqlMonitoringStore`,
:class:`~loopml.store.http.monitoring.HttpMonitoringStore`) call these before they touch the
database or the network, so a bad argument reads the same whichever store runs; the server's
routes call them for path and query parameters.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from loopml.core.errors import invalid
from loopml.core.records import AlertRecord, FeedbackRecord, ReportRecord

ALERT_STATES = ("firing", "resolved")
MAX_LIMIT = 10_000
MAX_REQUEST_ID = 64
"""Longest request id stored with a label (ours are 32 hex characters; others are kept but unknown)."""
ALERT_HINT = "List alerts with `loopml monitor alerts` (GET /api/v1/monitoring/alerts)."
REPORT_HINT = "List a model's reports with GET /api/v1/monitoring/models/{model}/reports."

_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # as loopml.monitoring.layout.check_model_name
_ID = re.compile(r"[0-9a-f]{32}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_INT32 = 2**31 - 1
_INT64 = 2**63 - 1


def check_model(value: object, field: str = "model") -> str:
    """A model name that can name a prediction-log partition (a registered model's name always can)."""
    if isinstance(value, str) and _MODEL.fullmatch(value):
        return value
    raise invalid(
        field,
        "not a model name",
        f"Invalid {_name(field)} {_shown(value)!r}: expected letters, "
        "digits, '.', '_' or '-' (at most 128, starting with a letter or digit).",
    )


def check_id(value: object, field: str) -> str:
    """A full id (32 lowercase hex characters)."""
    if isinstance(value, str) and _ID.fullmatch(value):
        return value
    raise invalid(
        field,
        "not a 32-character hex id",
        f"Invalid {_name(field)} {_shown(value)!r}: expected 32 lowercase hex characters.",
    )


def check_state(value: object, field: str = "state") -> str:
    """An alert state: ``firing`` or ``resolved``."""
    if isinstance(value, str) and value in ALERT_STATES:
        return value
    names = list(ALERT_STATES)
    raise invalid(field, f"not one of {names}", f"Invalid {_name(field)} {_shown(value)!r}: use one of {names}.")


def check_limit(limit: object) -> int:
    """A listing limit: an integer from 1 to :data:`MAX_LIMIT`."""
    if isinstance(limit, int) and not isinstance(limit, bool) and 1 <= limit <= MAX_LIMIT:
        return limit
    raise invalid("limit", f"not an integer from 1 to {MAX_LIMIT}", f"Invalid limit={limit!r}: use 1 to {MAX_LIMIT}.")


def check_millis(value: object, field: str, *, optional: bool = False) -> int | None:
    """Epoch milliseconds (an integer >= 0); ``None`` when ``optional``."""
    if value is None and optional:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _INT64:
        return value
    raise invalid(
        field,
        "not epoch milliseconds (an integer >= 0)",
        f"Invalid {_name(field)} {_shown(value)!r}: expected epoch milliseconds, an integer >= 0.",
    )


def check_version(value: object, field: str = "version", *, optional: bool = False) -> int | None:
    """A model version number (an integer >= 1); ``None`` when ``optional``."""
    if value is None and optional:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= _INT32:
        return value
    raise invalid(
        field,
        "not a version number (an integer >= 1)",
        f"Invalid {_name(field)} {_shown(value)!r}: expected a version number, an integer >= 1.",
    )


def check_sha256(value: object, field: str = "sha256") -> str:
    """64 lowercase hex characters."""
    if isinstance(value, str) and _SHA256.fullmatch(value):
        return value
    raise invalid(
        field,
        "not a lowercase hex SHA-256",
        f"Invalid {_name(field)} {_shown(value)!r}: expected 64 lowercase hex characters.",
    )


def check_count(value: object, field: str) -> int:
    """A count (an integer >= 0)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _INT64:
        return value
    raise invalid(field, "not an integer >= 0", f"Invalid {_name(field)} {_shown(value)!r}: expected an integer >= 0.")


def check_text(value: object, field: str, *, max_length: int = 256, optional: bool = False) -> str | None:
    """A string of 1 to ``max_length`` characters without NUL (``None`` when ``optional``)."""
    if value is None and optional:
        return None
    if isinstance(value, str) and 1 <= len(value) <= max_length and "\x00" not in value:
        return value
    raise invalid(
        field,
        f"not a string of 1 to {max_length} characters without NUL",
        f"Invalid {_name(field)} {_shown(value)!r}: use 1 to {max_length} characters, no NUL.",
    )


def check_float(value: object, field: str, *, optional: bool = False) -> float | None:
    """A number (NaN and infinities allowed, as the codecs carry them); ``None`` when ``optional``."""
    if value is None and optional:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise invalid(field, "not a number", f"Invalid {_name(field)} {_shown(value)!r}: expected a number.")


def check_evidence(value: object, field: str = "evidence") -> dict[str, Any]:
    """A JSON object (what JSON lacks is converted by ``str()``)."""
    if not isinstance(value, Mapping):
        raise invalid(field, "not an object", f"Invalid {field}: expected a JSON object, got {type(value).__name__}.")
    try:
        return dict(json.loads(json.dumps(dict(value), default=str, allow_nan=False)))
    except ValueError as exc:  # a circular reference, NaN
        raise invalid(field, f"not JSON: {exc}", f"Cannot store {field} as JSON: {exc}.") from exc


def check_label(value: object, field: str = "label") -> Any:
    """A label: a string, integer, finite float or boolean."""
    if isinstance(value, str | bool | int) or (isinstance(value, float) and math.isfinite(value)):
        return value
    raise invalid(
        field,
        "not a string, number or boolean",
        f"Invalid {_name(field)} {_shown(value)!r}: a label is a string, a number (finite) or a boolean.",
    )


def label_kind(value: object) -> str:
    """The family of a label for the mixed-types check: ``str``, ``bool`` or ``number``."""
    if isinstance(value, str):
        return "str"
    if isinstance(value, bool):
        return "bool"
    return "number"


def check_feedback(model: str, items: Sequence[FeedbackRecord]) -> list[FeedbackRecord]:
    """Labels about to be stored: each a :class:`FeedbackRecord` of ``model`` with a valid key and label."""
    check_model(model)
    if isinstance(items, str | bytes) or not isinstance(items, Sequence):
        raise invalid("items", "not a list of FeedbackRecord", "Invalid items: expected a list of FeedbackRecord.")
    for i, item in enumerate(items):
        if not isinstance(item, FeedbackRecord):
            raise invalid(
                f"items.{i}",
                "not a FeedbackRecord",
                f"Invalid items.{i}: expected a FeedbackRecord, got {type(item).__name__}.",
            )
        if item.model != model:
            raise invalid(
                f"items.{i}.model",
                f"not {model!r}",
                f"Invalid items.{i}.model {_shown(item.model)!r}: every label must be for {model!r}.",
            )
        check_text(item.request_id, f"items.{i}.request_id", max_length=MAX_REQUEST_ID)
        if isinstance(item.row, bool) or not isinstance(item.row, int) or not 0 <= item.row <= _INT32:
            raise invalid(
                f"items.{i}.row",
                "not an integer >= 0",
                f"Invalid items.{i}.row {item.row!r}: expected a row index, an integer >= 0.",
            )
        check_label(item.label, f"items.{i}.label")
        check_millis(item.received_at, f"items.{i}.received_at")
        check_millis(item.predicted_at, f"items.{i}.predicted_at", optional=True)
    return list(items)


def check_alert(record: AlertRecord) -> AlertRecord:
    """A firing alert about to be opened."""
    if not isinstance(record, AlertRecord):
        raise invalid(
            "record", "not an AlertRecord", f"Invalid record: expected an AlertRecord, got {type(record).__name__}."
        )
    check_id(record.id, "record.id")
    check_text(record.rule, "record.rule")
    check_model(record.model, "record.model")
    check_text(record.kind, "record.kind", max_length=64)
    check_text(record.severity, "record.severity", max_length=32)
    if record.state != "firing":
        raise invalid(
            "record.state",
            "not 'firing'",
            f"Invalid record.state {_shown(record.state)!r}: an alert is "
            "opened 'firing' (resolve it with resolve_alert).",
        )
    check_float(record.value, "record.value", optional=True)
    check_float(record.threshold, "record.threshold")
    check_text(record.message, "record.message", max_length=100_000)
    check_text(record.window, "record.window", max_length=64)
    check_evidence(record.evidence, "record.evidence")
    check_text(record.report_uri, "record.report_uri", max_length=4096, optional=True)
    check_millis(record.started_at, "record.started_at")
    check_millis(record.updated_at, "record.updated_at")
    if record.resolved_at is not None:
        raise invalid(
            "record.resolved_at", "must be null", "Invalid record.resolved_at: a firing alert is not resolved."
        )
    check_count(record.occurrences, "record.occurrences")
    return record


def check_report(record: ReportRecord) -> ReportRecord:
    """A report record about to be stored."""
    if not isinstance(record, ReportRecord):
        raise invalid(
            "record", "not a ReportRecord", f"Invalid record: expected a ReportRecord, got {type(record).__name__}."
        )
    check_id(record.id, "record.id")
    check_model(record.model, "record.model")
    check_version(record.version, "record.version", optional=True)
    check_text(record.kind, "record.kind", max_length=64)
    check_millis(record.created_at, "record.created_at")
    check_sha256(record.sha256, "record.sha256")
    check_count(record.size, "record.size")
    check_evidence(record.summary, "record.summary")
    return record


def _name(field: str) -> str:
    return field.split(".", 1)[1] if field.startswith(("path.", "body.", "query.")) else field


def _shown(value: object) -> object:
    return value[:80] if isinstance(value, str) else value
