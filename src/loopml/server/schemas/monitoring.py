"""Request and response bodies of the monitoring endpoints (``/api/v1/monitoring``).

Requests are validated here for shape; the store checks the rest. Responses are derived from the
record codecs (:func:`~loopml.server.schemas.records.response_model`), as the routes send them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from loopml.core.wire import ALERT, FEEDBACK, FEEDBACK_RESULT, REPORT
from loopml.server.schemas.common import MetricValue
from loopml.server.schemas.common import RequestBody as _Request
from loopml.server.schemas.records import list_model, response_model
from loopml.store.monitoring import MAX_REQUEST_ID

HexId = Annotated[StrictStr, Field(pattern=r"^[0-9a-f]{32}$", description="32 lowercase hex characters.")]
Sha256 = Annotated[StrictStr, Field(pattern=r"^[0-9a-f]{64}$", description="64 lowercase hex characters.")]
Millis = Annotated[StrictInt, Field(ge=0, le=2**63 - 1, description="Epoch milliseconds.")]
Name = Annotated[StrictStr, Field(min_length=1, max_length=256, pattern=r"^[^\x00]*$")]
ModelName = Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", description="A model name.")]
Label = StrictStr | StrictBool | Annotated[StrictInt, Field(ge=-(2**63), le=2**63 - 1)] | StrictFloat
Message = Annotated[StrictStr, Field(min_length=1, max_length=100_000, pattern=r"^[^\x00]*$")]
Uri = Annotated[StrictStr, Field(min_length=1, max_length=4096, pattern=r"^[^\x00]*$")]


class FeedbackItem(_Request):
    """One label: for row ``row`` (default 0) of request ``request_id``, or a list for its rows 0..n-1."""

    request_id: Annotated[StrictStr, Field(min_length=1, max_length=MAX_REQUEST_ID)]
    label: Label | Annotated[list[Label], Field(min_length=1, max_length=1_000_000)] = Field(
        description="A string, number or boolean; a list labels rows 0..n-1 (then give no row)."
    )
    row: Annotated[StrictInt, Field(ge=0, le=2**31 - 1)] | None = None


class FeedbackBatch(_Request):
    """``POST /monitoring/models/{model}/feedback``: labels (all of one type) for the model's predictions."""

    feedback: Annotated[list[FeedbackItem], Field(max_length=1_000_000)]


class FeedbackColumns(BaseModel):
    """A model's labels, one list per column (row i of every list is one label)."""

    request_id: list[str]
    row: list[int]
    label: list[Any] = Field(description="Strings, numbers or booleans.")
    received_at: list[int]
    predicted_at: list[int | None] = Field(description="From the request id; null when it is not one.")


class AlertCreate(_Request):
    """``POST /monitoring/alerts``: open a firing alert (409 while one fires for its rule and model)."""

    id: HexId
    rule: Name
    model: ModelName
    kind: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    severity: Annotated[StrictStr, Field(min_length=1, max_length=32)] = "warning"
    state: Literal["firing"] = "firing"
    value: MetricValue | None = None
    threshold: MetricValue
    message: Message
    window: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    evidence: dict[str, Any] = Field(default_factory=dict)
    report_uri: Uri | None = None
    started_at: Millis
    updated_at: Millis
    occurrences: Annotated[StrictInt, Field(ge=0, le=2**31 - 1)] = 1


class AlertUpdate(_Request):
    """``PATCH /monitoring/alerts/{alert_id}``: the firing alert seen again (occurrences + 1)."""

    value: MetricValue | None
    evidence: dict[str, Any] = Field(default_factory=dict)
    message: Message
    updated_at: Millis
    report_uri: Uri | None = None


class AlertResolve(_Request):
    """``POST /monitoring/alerts/{alert_id}/resolve``: the condition cleared."""

    resolved_at: Millis
    value: MetricValue | None = None


class ReportCreate(_Request):
    """``POST /monitoring/models/{model}/reports``: a report whose HTML is already a blob (PUT /blobs/{sha256})."""

    id: HexId
    version: Annotated[StrictInt, Field(ge=1, le=2**31 - 1)] | None = None
    kind: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    created_at: Millis
    sha256: Sha256
    size: Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]
    summary: dict[str, Any] = Field(default_factory=dict)


class ProfileSet(_Request):
    """``PUT /monitoring/models/{model}/versions/{version}/profile``: the version's reference profile blob."""

    sha256: Sha256
    n_rows: Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]


class ProfileOut(BaseModel):
    """A model version's reference profile: the SHA-256 of its JSON blob (GET /blobs/{sha256})."""

    model: str
    version: int
    sha256: str


class SegmentOut(BaseModel):
    """Where an uploaded prediction log segment was stored."""

    model: str
    hour: str
    name: str = Field(description="The segment's file name in the hour partition.")
    rows: int


FeedbackOut = response_model(FEEDBACK, name="FeedbackOut")
FeedbackResultOut = response_model(FEEDBACK_RESULT, name="FeedbackResultOut")
AlertOut = response_model(ALERT, overrides={"state": Literal["firing", "resolved"]}, name="AlertOut")
AlertList = list_model("AlertList", "alerts", AlertOut, "Newest first.")
ReportOut = response_model(REPORT, name="ReportOut")
ReportList = list_model("ReportList", "reports", ReportOut, "Newest first.")


# -- views of the prediction log (computed on the server) ------------------------------------------


class LoggedModelsOut(BaseModel):
    """``GET /monitoring/models``: the models with a prediction log."""

    models: list[str]


class PredictionPageOut(BaseModel):
    """``GET /monitoring/models/{model}/predictions``: rows in (request id, row) order and the next page's token.

    A row has the log's columns (``request_id``, ``row``, ``time`` in epoch ms, ``version``,
    ``endpoint``, ``status``, ``latency_ms``, ``inputs.<name>``, ``prediction``, ``proba.<class>``, ``role``
    (``served`` or ``shadow``) and ``served_by`` (``champion``, ``challenger`` or ``canary``)).
    """

    model: str
    rows: list[dict[str, Any]]
    next_page: str | None = Field(description="Pass as `after` for the next page; null on the last one.")


class DriftOut(BaseModel):
    """``GET /monitoring/models/{model}/drift``: a drift report (``DriftReport.to_dict()``)."""

    drifted: bool
    share: float
    share_threshold: float
    n_reference: int
    n_current: int
    drifted_columns: list[str]
    columns: list[dict[str, Any]] = Field(description="One row per column: column, kind, method, statistic, ...")
    histograms: dict[str, Any]
    meta: dict[str, Any]


class DriftWindowOut(BaseModel):
    """One window of ``GET /monitoring/models/{model}/drift/history``."""

    start_ms: int
    end_ms: int
    n_rows: int
    share: float
    drifted: bool
    columns: dict[str, dict[str, Any]] = Field(description="Per column: method, statistic (null: no verdict), drifted.")


class DriftHistoryOut(BaseModel):
    """``GET /monitoring/models/{model}/drift/history``: drift per column in each window, oldest first."""

    model: str
    window: str
    windows: list[DriftWindowOut]


class QualityOut(BaseModel):
    """``GET /monitoring/models/{model}/quality``: realised quality per version and window, and the estimate."""

    model: str
    task: str | None
    n_labelled: int
    realised: list[dict[str, Any]]
    estimated: list[dict[str, Any]] | None


class OperationsOut(BaseModel):
    """``GET /monitoring/models/{model}/operations``: requests, errors and latency per version and window."""

    model: str
    operations: list[dict[str, Any]]
