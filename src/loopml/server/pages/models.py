"""``/models``: registered models, a model's versions, aliases, gate decisions and alias history, and
a version's signature, metrics, package, lineage graph and model card.

Alias moves and rollbacks are drawn for writers and admins only; the browser sends them to
``PUT /api/v1/models/{name}/aliases/{alias}`` (which checks the role again).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from loopml.core.errors import InvalidInput, NotFound
from loopml.core.records import AuditEvent, DecisionRecord
from loopml.registry.card import SLICE_PREFIX, Y_GAP, ModelCard, model_card
from loopml.server.pages.context import SECURITY_HEADERS, Page, PageContext, redirect, renderer
from loopml.ui.card import card_context, install_filters, render_card

router = APIRouter(include_in_schema=False)
install_filters(renderer.env)
KEY_METRICS = 4
"""How many metric columns the versions table shows."""
HISTORY = 200
"""How many alias moves the alias history shows."""
DECISIONS = 50
GRAPH_MIN_HEIGHT = 240
_SHOWN_EVIDENCE = {"champion_ci", "challenger_ci", "difference", "difference_ci", "test", "n_rows", "slices",
                   "guardrails", "reasons", "passed", "metric", "champion_score", "challenger_score", "p_value",
                   "evaluated_at"}  # fmt: skip
"""Evidence fields the decision view lays out itself; the others are listed as they are."""


@router.get("/models")
async def models_page(page: Page) -> Response:
    models = await run_in_threadpool(lambda: sorted(page.backend.models.list_models(), key=lambda m: m.name))
    return page.render("models.html.j2", section="/models", models=models)


def model_view(page: PageContext, name: str) -> dict[str, Any]:
    """A model's page: versions (metrics recorded with each, no per-version query), decisions, alias history."""
    backend = page.backend
    versions = backend.models.list_versions(name)  # NotFound naming the models for an unknown name
    model = next(m for m in backend.models.list_models() if m.name == name)
    keys = sorted({k for v in versions for k in v.metrics if not k.startswith(SLICE_PREFIX)})[:KEY_METRICS]
    decisions = backend.stores["decisions"].list_decisions(name, limit=DECISIONS)
    history = backend.store.list_audit_events(object_uri=f"models:/{name}", actions=["model.alias"], limit=HISTORY)
    ready = [v.version for v in versions if v.status == "READY"]
    return {
        "model": model,
        "versions": list(reversed(versions)),
        "metric_keys": keys,
        "decisions": [decision_view(d) for d in decisions],
        "history": [alias_move(e) for e in history],
        "rollbacks": rollbacks(model.aliases, history, set(ready)),
        "ready": ready,
        "page_data": {"model": name, "aliases": model.aliases, "ready": ready},
    }


@router.get("/models/{name}")
async def model_page(page: Page, name: str) -> Response:
    data = await run_in_threadpool(model_view, page, name)
    return page.render("model.html.j2", section="/models", **data)


@router.get("/models/{name}/decisions/{decision_id}")
async def decision_link(page: Page, name: str, decision_id: str) -> Response:
    """A decision's address (monitoring and retrain history link here): its row on the model's page."""
    decision = await run_in_threadpool(page.backend.stores["decisions"].get_decision, decision_id)
    if decision.model != name:
        raise NotFound(f"Decision {decision_id!r} is not a decision of model {name!r}; it judged {decision.model!r}.")
    return redirect(f"/models/{quote(name, safe='')}#decision-{decision.id}")


def version_view(page: PageContext, name: str, version: str) -> dict[str, Any]:
    """A version's page: the model card (signature, metrics, params, lineage, decisions) and its package."""
    number = parse_number(version)
    card: ModelCard = model_card(page.backend, name, number)
    layers = Counter(n.layer for n in card.lineage.nodes)
    rows = max(layers.values(), default=1)
    return {
        "graph_height": max(GRAPH_MIN_HEIGHT, rows * Y_GAP + 80),
        "card": card,
        **card_context(card),
        "decisions": [decision_view(d) for d in card.decisions],
        "page_data": {"graph": card.lineage.to_dict(), "model": name, "version": number},
    }


@router.get("/models/{name}/versions/{version}")
async def version_page(page: Page, name: str, version: str) -> Response:
    data = await run_in_threadpool(version_view, page, name, version)
    return page.render("model_version.html.j2", section="/models", **data)


@router.get("/models/{name}/versions/{version}/card.{fmt}")
async def card_file(page: Page, name: str, version: str, fmt: str) -> Response:
    """The model card as a standalone HTML page or a Markdown file (what ``loopml models card`` writes)."""
    if fmt not in ("html", "md"):
        raise NotFound(f"No card format {fmt!r}: use card.html or card.md.")
    card = await run_in_threadpool(model_card, page.backend, name, parse_number(version))
    media = "text/html" if fmt == "html" else "text/markdown"
    headers = {**SECURITY_HEADERS}
    if fmt == "md":
        headers["Content-Disposition"] = f'inline; filename="{name}-v{card.version}-card.md"'
    return Response(render_card(card, fmt), media_type=f"{media}; charset=utf-8", headers=headers)  # type: ignore[arg-type]


def decision_view(d: DecisionRecord) -> dict[str, Any]:
    """What a decision row and its expanded evidence show."""
    evidence = d.evidence or {}
    return {
        "record": d,
        "champion_ci": evidence.get("champion_ci"),
        "challenger_ci": evidence.get("challenger_ci"),
        "difference": evidence.get("difference"),
        "difference_ci": evidence.get("difference_ci"),
        "test": evidence.get("test"),
        "n_rows": evidence.get("n_rows"),
        "slices": [s for s in evidence.get("slices") or [] if isinstance(s, dict)],
        "guardrails": [g for g in evidence.get("guardrails") or [] if isinstance(g, dict)],
        "other": {k: v for k, v in sorted(evidence.items()) if k not in _SHOWN_EVIDENCE},
    }


def alias_move(event: AuditEvent) -> dict[str, Any]:
    """An alias event as ``alias: before -> after`` (``after`` is ``None`` for a removal)."""
    alias = event.object_id.rpartition("@")[2]
    details = event.details
    after = details.get("version") if event.action == "model.alias.set" else None
    return {"event": event, "alias": alias, "before": details.get("previous"), "after": after}


def rollbacks(aliases: dict[str, int], history: list[AuditEvent], ready: set[int]) -> dict[str, int]:
    """Each alias's rollback target: the version it pointed at before its latest move (when still READY)."""
    found: dict[str, int] = {}
    for event in history:  # newest first: the first move of each alias is its latest
        alias = event.object_id.rpartition("@")[2]
        if alias in found or alias not in aliases or event.action != "model.alias.set":
            continue
        if event.details.get("version") != aliases[alias]:
            continue  # the alias moved again outside this window
        previous = event.details.get("previous")
        if isinstance(previous, int) and previous in ready and previous != aliases[alias]:
            found[alias] = previous
    return found


_NUMBER = re.compile(r"[0-9]{1,18}")


def parse_number(version: str) -> int:
    """A version path segment as a number (``InvalidInput``, a 400 page, otherwise)."""
    if _NUMBER.fullmatch(version) and int(version) >= 1:
        return int(version)
    raise InvalidInput(f"Invalid model version {version[:80]!r}: use a version number (1, 2, ...).")
