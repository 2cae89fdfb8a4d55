"""``/audit``: the audit log, newest first, filtered by actor, object, action and time, paged by id.

The filters are a GET form, so a filtered view is a link. A filter the store refuses (an action or
object that does not parse, a bad time) is shown next to its box, with no events, not as an error page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from loopml.core.durations import parse_since
from loopml.core.errors import InvalidInput
from loopml.core.records import AuditEvent
from loopml.server.pages.context import Page, PageContext
from loopml.store.audit import OBJECT_FORMS, check_actions, check_audit_object

router = APIRouter(include_in_schema=False)
PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_SIZE = 50
FIELDS = ("actor", "object", "object_type", "object_id", "action", "since", "until")
MAX_TEXT = 256
_SHOWN = 120
"""Longest value a diff cell shows before cutting it."""


def _filters(query: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The store's filters from the form's fields, and an error message per field that does not parse."""
    errors: dict[str, str] = {}
    args: dict[str, Any] = {}
    for name in FIELDS:
        value = query.get(name, "").strip()
        if not value:
            continue
        if len(value) > MAX_TEXT:
            errors[name] = f"At most {MAX_TEXT} characters."
            continue
        try:
            if name == "object":
                check_audit_object(value, "object")
                args["object_uri"] = value
            elif name == "action":
                args["actions"] = check_actions([a.strip() for a in value.split(",") if a.strip()], "action")
            elif name in ("since", "until"):
                args[f"{name}_ms"] = parse_since(value, field=name)  # 24h, 7d or a UTC date/time
            else:
                args[name] = value
        except InvalidInput as exc:
            errors[name] = str(exc)
    return args, errors


def _page_args(query: dict[str, str]) -> tuple[int, int | None]:
    """``(limit, before_id)`` from the query (``InvalidInput`` naming the parameter: a 400 page)."""
    limit, before = DEFAULT_SIZE, None
    if query.get("limit"):
        text = query["limit"]
        if not text.isdigit() or int(text) not in PAGE_SIZES:
            raise InvalidInput(f"Invalid limit {text[:20]!r}: use one of {', '.join(map(str, PAGE_SIZES))}.")
        limit = int(text)
    if query.get("before"):
        text = query["before"]
        if not text.isdigit() or not 1 <= int(text) < 2**63:
            raise InvalidInput(f"Invalid before {text[:20]!r}: use an audit event id (a positive number).")
        before = int(text)
    return limit, before


def object_link(event: AuditEvent) -> str | None:
    """The page of what an event changed, when the UI has one."""
    kind, ident = event.object_type, event.object_id
    if kind == "run":
        return f"/runs/{ident}"
    if kind == "model_version" and "/" in ident:
        name, _, number = ident.rpartition("/")
        return f"/models/{name}/versions/{number}"
    if kind == "model_alias" and "@" in ident:
        return f"/models/{ident.rpartition('@')[0]}"
    if kind in ("registered_model", "model"):
        return f"/models/{ident}"
    if kind == "pipeline_run":
        return f"/pipelines/runs/{ident}"
    if kind == "experiment":
        return f"/experiments/{ident}"
    return None


def payload_diff(details: dict[str, Any]) -> list[dict[str, Any]]:
    """A compact diff of an event's payload: ``key: before -> after`` for what it records a previous
    value of (``previous`` as a mapping, or as the previous ``version`` of an alias), the rest as values."""
    previous = details.get("previous")
    rows: list[dict[str, Any]] = []
    if isinstance(previous, dict):
        for key, before in previous.items():
            after = details.get(key)
            rows.append({"key": key, "before": _short(before), "after": _short(after), "changed": True})
        rest = {k: v for k, v in details.items() if k != "previous" and k not in previous}
    elif "previous" in details:
        after = details.get("version")
        rows.append({"key": "version", "before": _short(previous), "after": _short(after), "changed": True})
        rest = {k: v for k, v in details.items() if k not in ("previous", "version")}
    else:
        rest = details
    rows.extend({"key": k, "before": None, "after": _short(v), "changed": False} for k, v in rest.items())
    return rows


def _short(value: Any) -> str:
    if value is None:
        return "none"
    text = value if isinstance(value, str) else _json(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def _json(value: Any) -> str:
    import json

    return json.dumps(value, default=str, sort_keys=True)


def audit_view(page: PageContext, query: dict[str, str]) -> dict[str, Any]:
    """The events of one page of the audit log and what the form shows."""
    limit, before = _page_args(query)
    args, errors = _filters(query)
    events: list[AuditEvent] = []
    more = False
    if not errors:
        found = page.backend.store.list_audit_events(**args, before_id=before, limit=limit + 1)
        more = len(found) > limit
        events = found[:limit]
    kept = {k: query[k].strip() for k in FIELDS if query.get(k, "").strip()}
    if limit != DEFAULT_SIZE:
        kept["limit"] = str(limit)
    older = f"/audit?{urlencode({**kept, 'before': events[-1].id})}" if more and events else None
    newest = f"/audit?{urlencode(kept)}" if before is not None else None
    return {
        "rows": [{"event": e, "link": object_link(e), "diff": payload_diff(e.details)} for e in events],
        "form": {k: query.get(k, "") for k in FIELDS},
        "errors": errors,
        "limit": limit,
        "page_sizes": PAGE_SIZES,
        "older": older,
        "newest": newest,
        "object_forms": OBJECT_FORMS,
        "filtered": bool(kept),
    }


@router.get("/audit")
async def audit_page(page: Page) -> Response:
    query = dict(page.request.query_params)
    data = await run_in_threadpool(audit_view, page, query)
    return page.render("audit.html.j2", section="/audit", **data)
