"""Promotion decisions kept by a ``loopml server`` (``/api/v1/decisions``).

>>> transport = HttpTransport("http://127.0.0.1:5050", actor="ann")      # doctest: +SKIP
>>> HttpDecisionStore(transport).list_decisions("churn", passed=False)     # doctest: +SKIP
[]

:class:`HttpDecisionStore` implements :class:`~loopml.store.base.DecisionStore`, as
:class:`~loopml.store.sql.decisions.SqlDecisionStore` (which the server runs) does. Records are
checked by :mod:`loopml.store.decisions` before a request is sent and travel in the form of their
codec (:data:`~loopml.core.wire.DECISION`); the server stamps ``created_by`` with the caller.
"""

from __future__ import annotations

from typing import Any

from loopml.core.records import DecisionRecord
from loopml.core.wire import DECISION
from loopml.store.decisions import check_decision, check_passed
from loopml.store.http.transport import HttpTransport
from loopml.store.monitoring import check_id, check_limit, check_model


class HttpDecisionStore:
    """The decision store over ``/api/v1/decisions``."""

    def __init__(self, transport: HttpTransport) -> None:
        self.transport = transport

    def __repr__(self) -> str:
        return f"HttpDecisionStore({self.transport.base_url!r})"

    def add_decision(self, record: DecisionRecord, *, actor: str) -> DecisionRecord:
        """Store a decision with its audit event and lineage edges (one transaction on the server)."""
        body = DECISION.encode(check_decision(record))
        body.pop("created_by")
        return DECISION.decode(self.transport.request_json("POST", "/decisions", json=body, actor=actor))

    def list_decisions(self, model: str, *, limit: int = 50, passed: bool | None = None) -> list[DecisionRecord]:
        """Decisions on ``model``, newest first; ``passed`` keeps the passed or the refused ones."""
        params: dict[str, Any] = {"model": check_model(model), "limit": check_limit(limit)}
        if check_passed(passed) is not None:
            params["passed"] = "true" if passed else "false"
        return DECISION.decode_many(self.transport.request_json("GET", "/decisions", params=params)["decisions"])

    def get_decision(self, decision_id: str) -> DecisionRecord:
        """A decision by id."""
        path = f"/decisions/{check_id(decision_id, 'decision_id')}"
        return DECISION.decode(self.transport.request_json("GET", path))
