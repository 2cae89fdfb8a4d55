"""Request and response bodies of the materialisation endpoints (``/api/v1/features/materializations``).

Requests are validated here for shape; the store checks the rest (a finish needs a running
materialisation). Responses are derived from the record codec, as the routes send them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StrictInt, StrictStr

from loopml.core.wire import MATERIALIZATION
from loopml.server.schemas.common import RequestBody as _Request
from loopml.server.schemas.records import list_model, response_model

HexId = Annotated[StrictStr, Field(pattern=r"^[0-9a-f]{32}$", description="32 lowercase hex characters.")]
Millis = Annotated[StrictInt, Field(ge=0, le=2**63 - 1, description="Epoch milliseconds.")]
Count = Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]
ViewName = Annotated[StrictStr, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$", description="A feature view name.")]
OnlineStore = Annotated[
    StrictStr,
    Field(min_length=1, max_length=4096, pattern=r"^[^\x00]*$", description="The online store's URI, password masked."),
]


class MaterializationStart(_Request):
    """``POST /features/materializations``: a materialisation starts (the caller is recorded as ``created_by``)."""

    id: HexId
    view: ViewName
    view_version: Annotated[StrictInt, Field(ge=1, le=2**31 - 1)]
    online_store: OnlineStore
    start_ms: Millis
    end_ms: Millis
    status: Literal["running"] = "running"
    started_at: Millis
    rows_read: Count = 0
    entities_written: Count = 0
    newest_event_ms: Millis | None = None
    profile: dict[str, Any] = Field(default_factory=dict)
    error: StrictStr | None = None


class MaterializationFinish(_Request):
    """``POST /features/materializations/{id}/finish``: a running materialisation ends."""

    status: Literal["succeeded", "failed"]
    rows_read: Count = 0
    entities_written: Count = 0
    newest_event_ms: Millis | None = None
    profile: dict[str, Any] | None = Field(default=None, description="A mergeable profile per feature.")
    error: StrictStr | None = None
    ended_at: Millis | None = Field(default=None, description="Epoch milliseconds; the server's clock when left out.")


MaterializationOut = response_model(MATERIALIZATION, name="MaterializationOut")
MaterializationList = list_model("MaterializationList", "materializations", MaterializationOut, "Newest first.")
