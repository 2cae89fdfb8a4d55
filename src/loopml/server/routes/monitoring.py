"""``/monitoring``: feedback labels, alerts, report records, reference profiles and prediction log uploads.

Handlers call :class:`~loopml.store.sql.monitoring.SqlMonitoringStore` (``backend.stores["monitoring"]``)
and the monitoring capability for what needs the server's prediction log: posted labels are checked
against it (:func:`~loopml.monitoring.feedback.record_feedback`, unknown request ids counted and
reported), and uploaded segments are checked as untrusted Parquet and written atomically into it
(:func:`~loopml.monitoring.segments.write_segment`). Readers read, writers write. A malformed path
parameter is a 422 naming ``path.<name>``; an unknown alert or report a 404; a second firing alert
for a rule and model a 409.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from loopml.core.errors import NotFound
from loopml.core.records import AlertRecord, ReportRecord
from loopml.core.wire import ALERT, FEEDBACK_RESULT, REPORT
from loopml.monitoring.api import (
    drift_by_window,
    frame_records,
    labelled,
    page_of,
    page_start,
    predictions,
    quality_of,
    window_drift,
    window_parquet,
)
from loopml.monitoring.feedback import normalize_feedback, record_feedback
from loopml.monitoring.layout import HOUR_MS, PredictionLayout, hour_start
from loopml.monitoring.prediction_log import PredictionWindow
from loopml.monitoring.segments import check_hour, write_segment
from loopml.monitoring.traffic import operations
from loopml.monitoring.windows import _window_seconds
from loopml.server.auth import Reader, Writer
from loopml.server.backend import Backend, BackendDep
from loopml.server.encoding import AnyJSONResponse, JSONResponse
from loopml.server.schemas import (
    AlertCreate,
    AlertList,
    AlertOut,
    AlertResolve,
    AlertUpdate,
    DriftHistoryOut,
    DriftOut,
    FeedbackBatch,
    FeedbackColumns,
    FeedbackResultOut,
    LoggedModelsOut,
    OperationsOut,
    PredictionPageOut,
    ProfileOut,
    ProfileSet,
    QualityOut,
    ReportCreate,
    ReportList,
    ReportOut,
    SegmentOut,
)
from loopml.store.monitoring import MAX_LIMIT, check_id, check_model, check_version
from loopml.store.sql.monitoring import SqlMonitoringStore

router = APIRouter(prefix="/monitoring", tags=["monitoring"])
_PARQUET = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}  # a Parquet file
SinceMs = Annotated[int | None, Query(ge=0, le=2**63 - 1, description="Epoch ms, inclusive.")]


def _store(backend: Backend) -> SqlMonitoringStore:
    store: SqlMonitoringStore = backend.stores["monitoring"]
    return store


def _layout(backend: Backend) -> PredictionLayout:
    return PredictionLayout(backend.settings.prediction_root)


# -- feedback ---------------------------------------------------------------------------------------


@router.post(
    "/models/{model}/feedback",
    response_model=FeedbackResultOut,
    summary="Record labels for a model's predictions; unknown request ids are stored, counted and listed",
)
def post_feedback(model: str, body: FeedbackBatch, caller: Writer, backend: BackendDep) -> Response:
    check_model(model, "path.model")
    items = body.feedback
    rows = None if all(item.row is None for item in items) else [item.row or 0 for item in items]
    ids, row_index, labels = normalize_feedback(
        model, [item.request_id for item in items], [item.label for item in items], rows
    )
    result = record_feedback(_store(backend), _layout(backend), model, ids, row_index, labels, actor=caller.actor)
    return JSONResponse(FEEDBACK_RESULT.encode(result))


@router.get(
    "/models/{model}/feedback",
    response_model=FeedbackColumns,
    summary="A model's labels as columns, predicted_at in [since_ms, until_ms)",
)
def get_feedback(
    model: str,
    caller: Reader,
    backend: BackendDep,
    since_ms: SinceMs = None,
    until_ms: Annotated[int | None, Query(ge=0, le=2**63 - 1, description="Epoch ms, exclusive.")] = None,
) -> Response:
    frame = _store(backend).feedback_frame(check_model(model, "path.model"), since_ms=since_ms, until_ms=until_ms)
    predicted = frame["predicted_at"].astype(object).where(frame["predicted_at"].notna(), None)
    body = {
        "request_id": frame["request_id"].astype(object).tolist(),
        "row": frame["row"].tolist(),
        "label": frame["label"].tolist(),
        "received_at": frame["received_at"].tolist(),
        "predicted_at": predicted.tolist(),
    }
    return AnyJSONResponse(body)


# -- alerts -----------------------------------------------------------------------------------------


@router.post("/alerts", status_code=201, response_model=AlertOut, summary="Open a firing alert (409 if one fires)")
def open_alert(body: AlertCreate, caller: Writer, backend: BackendDep) -> Response:
    record = AlertRecord(**body.model_dump(), resolved_at=None)
    return JSONResponse(ALERT.encode(_store(backend).open_alert(record, actor=caller.actor)), status_code=201)


@router.get("/alerts", response_model=AlertList, summary="Alerts, newest first, optionally filtered")
def list_alerts(
    caller: Reader,
    backend: BackendDep,
    model: Annotated[str | None, Query(max_length=128)] = None,
    state: Annotated[str | None, Query(max_length=16, description="'firing' or 'resolved'.")] = None,
    rule: Annotated[str | None, Query(max_length=256)] = None,
    since_ms: SinceMs = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> Response:
    alerts = _store(backend).list_alerts(model=model, state=state, rule=rule, since_ms=since_ms, limit=limit)
    return JSONResponse({"alerts": ALERT.encode_many(alerts)})


@router.get("/alerts/{alert_id}", response_model=AlertOut, summary="An alert by id")
def get_alert(alert_id: str, caller: Reader, backend: BackendDep) -> Response:
    return JSONResponse(ALERT.encode(_store(backend).get_alert(check_id(alert_id, "path.alert_id"))))


@router.patch(
    "/alerts/{alert_id}", response_model=AlertOut, summary="A firing alert seen again: value, evidence, occurrences+1"
)
def update_alert(alert_id: str, body: AlertUpdate, caller: Writer, backend: BackendDep) -> Response:
    alert = _store(backend).update_alert(
        check_id(alert_id, "path.alert_id"),
        value=body.value,
        evidence=body.evidence,
        message=body.message,
        updated_at=body.updated_at,
        report_uri=body.report_uri,
    )
    return JSONResponse(ALERT.encode(alert))


@router.post("/alerts/{alert_id}/resolve", response_model=AlertOut, summary="Resolve a firing alert")
def resolve_alert(alert_id: str, body: AlertResolve, caller: Writer, backend: BackendDep) -> Response:
    alert = _store(backend).resolve_alert(
        check_id(alert_id, "path.alert_id"), resolved_at=body.resolved_at, value=body.value, actor=caller.actor
    )
    return JSONResponse(ALERT.encode(alert))


# -- reports ----------------------------------------------------------------------------------------


@router.post("/models/{model}/reports", status_code=201, response_model=ReportOut, summary="Record a report")
def add_report(model: str, body: ReportCreate, caller: Writer, backend: BackendDep) -> Response:
    record = ReportRecord(model=check_model(model, "path.model"), **body.model_dump())
    return JSONResponse(REPORT.encode(_store(backend).add_report(record, actor=caller.actor)), status_code=201)


@router.get("/models/{model}/reports", response_model=ReportList, summary="A model's reports, newest first")
def list_reports(
    model: str,
    caller: Reader,
    backend: BackendDep,
    version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> Response:
    reports = _store(backend).list_reports(check_model(model, "path.model"), version=version, limit=limit)
    return JSONResponse({"reports": REPORT.encode_many(reports)})


@router.get("/reports/{report_id}", response_model=ReportOut, summary="A report record by id")
def get_report(report_id: str, caller: Reader, backend: BackendDep) -> Response:
    return JSONResponse(REPORT.encode(_store(backend).get_report(check_id(report_id, "path.report_id"))))


# -- reference profiles -----------------------------------------------------------------------------


@router.put(
    "/models/{model}/versions/{version}/profile",
    response_model=ProfileOut,
    summary="Set a model version's reference profile (a JSON blob uploaded with PUT /blobs/{sha256})",
)
def set_profile(model: str, version: int, body: ProfileSet, caller: Writer, backend: BackendDep) -> Response:
    check_model(model, "path.model")
    check_version(version, "path.version")
    _store(backend).set_reference_profile(model, version, body.sha256, body.n_rows, actor=caller.actor)
    return JSONResponse({"model": model, "version": version, "sha256": body.sha256})


@router.get(
    "/models/{model}/versions/{version}/profile",
    response_model=ProfileOut,
    summary="A model version's reference profile (404 when it has none)",
)
def get_profile(model: str, version: int, caller: Reader, backend: BackendDep) -> Response:
    check_model(model, "path.model")
    check_version(version, "path.version")
    sha256 = _store(backend).get_reference_profile(model, version)
    if sha256 is None:
        raise NotFound(f"Model {model!r} version {version} has no reference profile.")
    return JSONResponse({"model": model, "version": version, "sha256": sha256})


# -- prediction log ---------------------------------------------------------------------------------


@router.post(
    "/models/{model}/segments",
    status_code=201,
    response_model=SegmentOut,
    summary="Upload a prediction log segment (Parquet) of one hour; checked, then written atomically",
    openapi_extra={"requestBody": {"required": True, "content": _PARQUET}},
)
async def upload_segment(
    model: str,
    request: Request,
    caller: Writer,
    backend: BackendDep,
    hour: Annotated[str, Query(description="The UTC hour partition, YYYY-MM-DDTHH.")],
) -> Response:
    check_model(model, "path.model")
    check_hour(hour, "query.hour")
    data = await request.body()
    limit = request.app.state.limits.max_artifact_bytes
    stored = await run_in_threadpool(write_segment, _layout(backend), model, hour, data, max_bytes=limit)
    return JSONResponse({"model": model, "hour": hour, "name": stored.path.name, "rows": stored.rows}, status_code=201)


# -- views of the prediction log (computed on the server, over its log) ------------------------------
UntilMs = Annotated[int | None, Query(ge=0, le=2**63 - 1, description="Epoch ms, exclusive.")]
VersionQuery = Annotated[int | None, Query(ge=1, le=2**63 - 1, description="Only this model version.")]
WindowQuery = Annotated[str, Query(description="Width of each time bucket: 15m, 1h, 1d.")]


@dataclass(frozen=True, slots=True)
class LogSpan:
    """The stretch of one model's prediction log a view reads (path ``model``, query ``since_ms``,
    ``until_ms``, ``version``), checked once for every view."""

    model: str
    since_ms: int | None
    until_ms: int | None
    version: int | None

    def read(self, backend: Backend, *, since_ms: int | None = None) -> PredictionWindow:
        """The window, over the server's own log (``since_ms`` narrows its start)."""
        start = self.since_ms if since_ms is None else max(since_ms, self.since_ms or 0)
        return predictions(
            self.model, since=start, until=self.until_ms, version=self.version, session=backend.session()
        )


def log_span(model: str, since_ms: SinceMs = None, until_ms: UntilMs = None, version: VersionQuery = None) -> LogSpan:
    """FastAPI dependency: the :class:`LogSpan` of a view's path and query."""
    check_model(model, "path.model")
    return LogSpan(model, since_ms, until_ms, version)


SpanDep = Annotated[LogSpan, Depends(log_span)]


@router.get("/models", response_model=LoggedModelsOut, summary="Models with a prediction log on this server")
def logged_models(caller: Reader, backend: BackendDep) -> Response:
    return JSONResponse({"models": _layout(backend).models()})


@router.get(
    "/models/{model}/predictions",
    response_model=PredictionPageOut,
    summary="Logged predictions of a model in request order, a page at a time",
)
def list_predictions(
    span: SpanDep,
    caller: Reader,
    backend: BackendDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="Rows per page.")] = 100,
    after: Annotated[str | None, Query(description="The next_page token of the previous page.")] = None,
) -> Response:
    start = page_start(after)  # a page after a token starts near its request's time: fewer hours read
    return JSONResponse(page_of(span.read(backend, since_ms=start), after=after, limit=limit))


@router.get(
    "/models/{model}/predictions.parquet",
    response_class=Response,
    summary="A window of a model's prediction log as one Parquet file (what a remote SDK reads)",
    responses={200: {"content": _PARQUET}},
)
def predictions_parquet(span: SpanDep, caller: Reader, backend: BackendDep) -> Response:
    return Response(window_parquet(span.read(backend)), media_type="application/octet-stream")


@router.get(
    "/models/{model}/drift",
    response_model=DriftOut,
    summary="Drift of a window of the prediction log against the served version's reference",
)
def drift_view(span: SpanDep, caller: Reader, backend: BackendDep) -> Response:
    return AnyJSONResponse(window_drift(span.read(backend), session=backend.session()).to_dict())


@router.get(
    "/models/{model}/quality",
    response_model=QualityOut,
    summary="Realised (labels) and estimated (CBPE) quality per version and window",
)
def quality_view(span: SpanDep, caller: Reader, backend: BackendDep, window: WindowQuery = "1h") -> Response:
    joined = labelled(span.read(backend).served(), session=backend.session())
    return AnyJSONResponse(quality_of(span.model, joined, window=window, session=backend.session()).to_dict())


@router.get(
    "/models/{model}/operations",
    response_model=OperationsOut,
    summary="Requests, errors and latency percentiles per version and window",
)
def operations_view(span: SpanDep, caller: Reader, backend: BackendDep, window: WindowQuery = "1h") -> Response:
    frame = operations(span.read(backend).served_frame, window=window)
    return AnyJSONResponse({"model": span.model, "operations": frame_records(frame)})


MAX_DRIFT_WINDOWS = 48


@router.get(
    "/models/{model}/drift/history",
    response_model=DriftHistoryOut,
    summary="Drift per column in each of the last windows of the prediction log (one bounded read)",
)
def drift_history(
    model: str,
    caller: Reader,
    backend: BackendDep,
    window: WindowQuery = "1h",
    windows: Annotated[int, Query(ge=1, le=MAX_DRIFT_WINDOWS, description="How many windows, newest last.")] = 12,
    until_ms: UntilMs = None,
    version: VersionQuery = None,
) -> Response:
    """The log is read once, over ``windows`` windows ending at ``until_ms`` (default: the end of the
    newest logged hour); each window is compared with the reference of the version that served most of
    the span, as ``GET .../drift`` does for one window."""
    check_model(model, "path.model")
    width = _window_seconds(window) * 1000
    if until_ms is None:
        hours = list(_layout(backend).partitions(model))
        if not hours:
            return AnyJSONResponse({"model": model, "window": window, "windows": []})
        until_ms = hour_start(hours[-1].name.removeprefix("hour=")) + HOUR_MS
    since_ms = max(0, until_ms - windows * width)
    span = predictions(model, since=since_ms, until=until_ms, version=version, session=backend.session())
    return AnyJSONResponse(
        {"model": model, "window": window, "windows": drift_by_window(span, since_ms, width, session=backend.session())}
    )
