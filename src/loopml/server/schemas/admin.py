"""Bodies of ``/api/v1/admin``: garbage collection of the artifact store."""

from __future__ import annotations

from pydantic import BaseModel, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from loopml.server.schemas.common import RequestBody


class GcRequest(RequestBody):
    """``POST /admin/gc``: what ``loopml gc`` sends."""

    dry_run: StrictBool = Field(False, description="Report what would be freed; delete nothing.")
    older_than: StrictStr | StrictInt | StrictFloat = Field(
        "7d", description="Grace period: a duration (7d, 12h) or seconds; at least 1h unless force."
    )
    force: StrictBool = Field(False, description="Allow a grace period under 1h (only when nothing writes).")


class GcOut(BaseModel):
    """What one collection found and freed (with dry_run: would free). Sizes in bytes, times in epoch seconds."""

    dry_run: bool
    older_than_s: float
    cutoff: float
    scanned: int
    scanned_bytes: int
    live: int
    live_bytes: int
    young: int
    young_bytes: int
    freed: int
    freed_bytes: int
    spared: int
    references: dict[str, int]
    missing: int
    tmp_removed: int
    warnings: list[str]
    seconds: float
