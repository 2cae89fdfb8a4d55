"""Response bodies of the retrain policy endpoints (``/api/v1/policies``, ``/api/v1/cycles``).

Read-only: policies are applied with ``loopml policy apply`` where the server's database is, and
cycles are written by the automation service. The models are derived from the record codecs.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, create_model

from loopml.core.wire import CYCLE, POLICY
from loopml.server.schemas.records import list_model, response_model

PolicyOut = response_model(POLICY, name="PolicyOut")
CycleOut = response_model(CYCLE, name="CycleOut")
PolicyList = list_model("PolicyList", "policies", PolicyOut, "By name.")
CycleList = list_model("CycleList", "cycles", CycleOut, "Newest first.")
_OptionalCycle: Any = CycleOut | None  # a runtime type: CycleOut is a model built at import
PolicyDetail = create_model(
    "PolicyDetail",
    policy=(PolicyOut, ...),
    running=(_OptionalCycle, Field(description="The cycle holding the model's retrain lock, if any.")),
    last_started=(int | None, Field(description="When its newest cycle started (epoch ms); null if it never ran.")),
)
