"""Request and response bodies of the decision endpoints (``/api/v1/decisions``).

Requests are validated here for shape; the store checks the rest (the versions and references a
decision names exist). Responses are derived from the record codec, as the routes send them.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StrictBool, StrictInt, StrictStr

from loopml.core.wire import DECISION
from loopml.server.schemas.common import MetricValue
from loopml.server.schemas.common import RequestBody as _Request
from loopml.server.schemas.records import list_model, response_model

HexId = Annotated[StrictStr, Field(pattern=r"^[0-9a-f]{32}$", description="32 lowercase hex characters.")]
Version = Annotated[StrictInt, Field(ge=1, le=2**31 - 1)]
Text = Annotated[StrictStr, Field(min_length=1, max_length=256, pattern=r"^[^\x00]*$")]
LongText = Annotated[StrictStr, Field(min_length=1, max_length=4096, pattern=r"^[^\x00]*$")]
Reason = Annotated[StrictStr, Field(min_length=1, max_length=10_000, pattern=r"^[^\x00]*$")]


class DecisionCreate(_Request):
    """``POST /decisions``: a gate's decision on a challenger (the caller is recorded as ``created_by``)."""

    id: HexId
    model: Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", description="A model name.")]
    challenger_version: Version
    champion_version: Version | None = None
    passed: StrictBool
    metric: Text
    champion_score: MetricValue | None = None
    challenger_score: MetricValue | None = None
    p_value: MetricValue | None = None
    reasons: Annotated[list[Reason], Field(max_length=1_000)] = Field(default_factory=list)
    evidence: dict[str, Any] = Field(default_factory=dict)
    trigger: LongText | None = None
    dataset_version: LongText | None = Field(default=None, description="datasets:/NAME/VERSION")
    pipeline_run_id: HexId | None = None
    policy: Text | None = None
    alias: Text | None = None
    alias_moved: StrictBool = False
    created_at: Annotated[StrictInt, Field(ge=0, le=2**63 - 1, description="Epoch milliseconds.")]


DecisionOut = response_model(DECISION, name="DecisionOut")
DecisionList = list_model("DecisionList", "decisions", DecisionOut, "Newest first.")
