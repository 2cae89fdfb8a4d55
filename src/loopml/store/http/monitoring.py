"""Feedback, alerts, report records and reference profiles kept by a ``loopml server`` (``/api/v1/monitoring``).

>>> transport = HttpTransport("http://127.0.0.1:5050", actor="ann")          # doctest: +SKIP
>>> HttpMonitoringStore(transport).list_alerts(state="firing")                # doctest: +SKIP
[]

:class:`HttpMonitoringStore` implements :class:`~loopml.store.base.MonitoringStore`, as
:class:`~loopml.store.sql.monitoring.SqlMonitoringStore` (which the server runs) does. Arguments are
checked by :mod:`loopml.store.monitoring` before a request is sent; records travel in the form of
their codecs. Two methods reach what only the server holds: :meth:`submit_feedback` (labels checked
against the server's prediction log, unknown ids reported) and :meth:`put_segment` (a prediction
log segment uploaded by a remote ``loopml serve``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from loopml.core.codec import encode_float
from loopml.core.errors import NotFound
from loopml.core.records import AlertRecord, FeedbackRecord, FeedbackResult, ReportRecord
from loopml.core.wire import ALERT, FEEDBACK_RESULT, REPORT
from loopml.store.base import MONITOR_ACTOR
from loopml.store.http.transport import HttpTransport, segment
from loopml.store.monitoring import (
    check_alert,
    check_count,
    check_evidence,
    check_feedback,
    check_float,
    check_id,
    check_limit,
    check_millis,
    check_model,
    check_report,
    check_sha256,
    check_state,
    check_text,
    check_version,
)

FEEDBACK_CHUNK = 50_000
"""Labels per request (about 4 MB of JSON, under the server's default 16 MiB body limit)."""
_MAX_SHOWN = 100


class HttpMonitoringStore:
    """The monitoring store over ``/api/v1/monitoring``."""

    def __init__(self, transport: HttpTransport) -> None:
        self.transport = transport

    def __repr__(self) -> str:
        return f"HttpMonitoringStore({self.transport.base_url!r})"

    # -- feedback ---------------------------------------------------------------------------------

    def add_feedback(self, model: str, items: Sequence[FeedbackRecord], *, actor: str = MONITOR_ACTOR) -> int:
        """Store labels (the server stamps ``received_at``); how many keys were written."""
        items = check_feedback(model, items)
        ids, rows, labels = [i.request_id for i in items], [i.row for i in items], [i.label for i in items]
        return self.submit_feedback(model, ids, rows, labels, actor=actor).accepted

    def submit_feedback(
        self,
        model: str,
        request_ids: Sequence[str],
        rows: Sequence[int],
        labels: Sequence[Any],
        *,
        actor: str | None = None,
    ) -> FeedbackResult:
        """Send checked labels (``loopml.monitoring.feedback.normalize_feedback``); the server reports unknown ids."""
        path = f"/monitoring/models/{segment(check_model(model))}/feedback"
        accepted, unknown_count = 0, 0
        unknown: list[str] = []
        for start in range(0, len(request_ids), FEEDBACK_CHUNK):
            stop = start + FEEDBACK_CHUNK
            body = {
                "feedback": [
                    {"request_id": rid, "row": row, "label": label}
                    for rid, row, label in zip(
                        request_ids[start:stop], rows[start:stop], labels[start:stop], strict=True
                    )
                ]
            }
            result = FEEDBACK_RESULT.decode(self.transport.request_json("POST", path, json=body, actor=actor))
            accepted += result.accepted
            unknown.extend(result.unknown[: _MAX_SHOWN - len(unknown)])
            unknown_count += result.unknown_count
        return FeedbackResult(accepted, unknown, unknown_count)

    def feedback_frame(
        self,
        model: str,
        *,
        since_ms: int | None = None,
        until_ms: int | None = None,
        request_ids: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Labels of ``model``, ``predicted_at`` in ``[since_ms, until_ms)`` (``request_ids``: filtered here)."""
        params = _params(
            since_ms=check_millis(since_ms, "since_ms", optional=True),
            until_ms=check_millis(until_ms, "until_ms", optional=True),
        )
        path = f"/monitoring/models/{segment(check_model(model))}/feedback"
        columns = self.transport.request_json("GET", path, params=params)
        frame = pd.DataFrame(
            {
                "request_id": pd.Series(columns["request_id"], dtype="str"),
                "row": pd.Series(columns["row"], dtype="int64"),
                "label": pd.Series(columns["label"], dtype=None if columns["label"] else object),
                "received_at": pd.Series(columns["received_at"], dtype="int64"),
                "predicted_at": pd.Series(columns["predicted_at"], dtype="Int64"),
            }
        )
        if request_ids is not None:
            frame = frame[frame["request_id"].isin(list(request_ids))].reset_index(drop=True)
        return frame

    # -- alerts -----------------------------------------------------------------------------------

    def open_alert(self, record: AlertRecord, *, actor: str = MONITOR_ACTOR) -> AlertRecord:
        """Record a firing alert; ``Conflict`` if one is already firing for its ``(rule, model)``."""
        body = ALERT.encode(check_alert(record))
        body.pop("resolved_at")
        return ALERT.decode(self.transport.request_json("POST", "/monitoring/alerts", json=body, actor=actor))

    def update_alert(
        self,
        alert_id: str,
        *,
        value: float | None,
        evidence: Mapping[str, Any],
        message: str,
        updated_at: int,
        report_uri: str | None = None,
    ) -> AlertRecord:
        """A firing alert seen again: new value, evidence and message, ``occurrences`` + 1."""
        body = {
            "value": _wire_float(check_float(value, "value", optional=True)),
            "evidence": check_evidence(evidence),
            "message": check_text(message, "message", max_length=100_000),
            "updated_at": check_millis(updated_at, "updated_at"),
            "report_uri": check_text(report_uri, "report_uri", max_length=4096, optional=True),
        }
        path = f"/monitoring/alerts/{check_id(alert_id, 'alert_id')}"
        return ALERT.decode(self.transport.request_json("PATCH", path, json=body))

    def resolve_alert(
        self, alert_id: str, *, resolved_at: int, value: float | None, actor: str = MONITOR_ACTOR
    ) -> AlertRecord:
        """Mark a firing alert ``resolved``."""
        body = {
            "resolved_at": check_millis(resolved_at, "resolved_at"),
            "value": _wire_float(check_float(value, "value", optional=True)),
        }
        path = f"/monitoring/alerts/{check_id(alert_id, 'alert_id')}/resolve"
        return ALERT.decode(self.transport.request_json("POST", path, json=body, actor=actor))

    def get_alert(self, alert_id: str) -> AlertRecord:
        """An alert by id."""
        return ALERT.decode(self.transport.request_json("GET", f"/monitoring/alerts/{check_id(alert_id, 'alert_id')}"))

    def list_alerts(
        self,
        *,
        model: str | None = None,
        state: str | None = None,
        rule: str | None = None,
        since_ms: int | None = None,
        limit: int = 100,
    ) -> list[AlertRecord]:
        """Alerts, newest ``started_at`` first; ``since_ms`` keeps those updated at or after it."""
        params = _params(
            model=None if model is None else check_model(model),
            state=None if state is None else check_state(state),
            rule=None if rule is None else check_text(rule, "rule"),
            since_ms=check_millis(since_ms, "since_ms", optional=True),
            limit=check_limit(limit),
        )
        return ALERT.decode_many(self.transport.request_json("GET", "/monitoring/alerts", params=params)["alerts"])

    # -- reports ----------------------------------------------------------------------------------

    def add_report(self, record: ReportRecord, *, actor: str = MONITOR_ACTOR) -> ReportRecord:
        """Record a report whose HTML is already a blob."""
        body = REPORT.encode(check_report(record))
        path = f"/monitoring/models/{segment(body.pop('model'))}/reports"
        return REPORT.decode(self.transport.request_json("POST", path, json=body, actor=actor))

    def list_reports(self, model: str, *, version: int | None = None, limit: int = 50) -> list[ReportRecord]:
        """Reports of ``model`` (of one version), newest first."""
        params = _params(version=check_version(version, optional=True), limit=check_limit(limit))
        path = f"/monitoring/models/{segment(check_model(model))}/reports"
        return REPORT.decode_many(self.transport.request_json("GET", path, params=params)["reports"])

    def get_report(self, report_id: str) -> ReportRecord:
        """A report record by id."""
        path = f"/monitoring/reports/{check_id(report_id, 'report_id')}"
        return REPORT.decode(self.transport.request_json("GET", path))

    # -- reference profiles -----------------------------------------------------------------------

    def set_reference_profile(
        self, model: str, version: int, sha256: str, n_rows: int, *, actor: str = MONITOR_ACTOR
    ) -> None:
        """Point a model version at its reference profile blob (upload the blob first)."""
        body = {"sha256": check_sha256(sha256), "n_rows": check_count(n_rows, "n_rows")}
        self.transport.request("PUT", _profile_path(model, version), json=body, actor=actor)

    def get_reference_profile(self, model: str, version: int) -> str | None:
        """The SHA-256 of the version's reference profile blob, ``None`` when it has none."""
        try:
            return str(self.transport.request_json("GET", _profile_path(model, version))["sha256"])
        except NotFound:
            return None

    # -- prediction log ---------------------------------------------------------------------------

    def put_segment(self, model: str, hour: str, data: bytes) -> str:
        """Upload one prediction log segment (Parquet) of ``hour`` (``YYYY-MM-DDTHH``); the server's file name."""
        path = f"/monitoring/models/{segment(check_model(model))}/segments"
        headers = {"Content-Type": "application/octet-stream"}  # a Parquet file
        answer = self.transport.request("POST", path, params={"hour": hour}, content=bytes(data), headers=headers)
        return str(answer.json()["name"])


def _profile_path(model: str, version: int) -> str:
    return f"/monitoring/models/{segment(check_model(model))}/versions/{check_version(version)}/profile"


def _params(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _wire_float(value: float | None) -> float | str | None:
    return None if value is None else encode_float(value)


def read_window(
    transport: HttpTransport, model: str, *, since_ms: int | None, until_ms: int | None, version: int | None
) -> bytes:
    """The server's prediction log of ``model`` in ``[since_ms, until_ms)`` as one Parquet file."""
    path = f"/monitoring/models/{segment(check_model(model))}/predictions.parquet"
    params = _params(since_ms=since_ms, until_ms=until_ms, version=version)
    return transport.request("GET", path, params=params).content
