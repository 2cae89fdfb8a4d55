"""``/monitoring``: every monitored model at a glance, and one model's drift, quality, latency, alerts
and retrain history.

What a request reads, bounded whatever the log's size:

- the index: per model, the newest hour of its prediction log (latency, realised quality), its
  newest stored report (drift share) and the firing alerts (one query for every model);
- a model's page: its alerts, reports, retrain policies and cycles from the stores (a bounded
  number of each); its charts fetch ``/api/v1/monitoring/models/{model}/...`` over the 24 hours
  before the newest logged hour (drift per column over 12 windows, quality, operations, drift
  histograms of the last window).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from loopml.core.errors import NotFound
from loopml.monitoring.api import labelled, main_version, predictions, quality_of
from loopml.monitoring.layout import HOUR_MS, PredictionLayout, hour_start
from loopml.monitoring.traffic import latency_summary
from loopml.server.pages.context import Page, PageContext

router = APIRouter(include_in_schema=False)
SPAN_MS = 24 * HOUR_MS
"""How far back a model page's charts look from the newest logged hour."""
LISTED = 50


def _layout(page: PageContext) -> PredictionLayout:
    return PredictionLayout(page.backend.settings.prediction_root)


def newest_hour_end(layout: PredictionLayout, model: str) -> int | None:
    """The end (epoch ms) of the newest hour partition of ``model``'s log (``None``: nothing logged)."""
    hours = list(layout.partitions(model))
    return hour_start(hours[-1].name.removeprefix("hour=")) + HOUR_MS if hours else None


def last_window(page: PageContext, model: str, until: int) -> dict[str, Any]:
    """Version, latency and realised quality of the newest logged hour of ``model``."""
    session = page.backend.session()
    window = predictions(model, since=until - HOUR_MS, until=until, session=session).served()
    frame = window.frame
    out: dict[str, Any] = {"version": None, "latency": None, "quality": {}, "requests": 0}
    if frame.empty:
        return out
    ok = frame[(frame["status"] == 200).to_numpy()]
    out["version"] = main_version(ok) if not ok.empty else None
    summary = latency_summary(frame)
    out.update(latency=summary.get("p99_ms"), requests=summary["requests"], error_rate=summary.get("error_rate"))
    result = quality_of(model, labelled(window, session=session), window="1h", session=session)
    if not result.realised.empty:
        row = result.realised.iloc[-1].to_dict()
        out["quality"] = {k: v for k, v in row.items() if k in ("accuracy", "f1", "roc_auc", "rmse", "mae") and v == v}
    return out


def overview(page: PageContext) -> list[dict[str, Any]]:
    """One row per monitored model (a prediction log, an alert or a retrain policy)."""
    stores = page.backend.stores
    layout = _layout(page)
    firing: dict[str, list[Any]] = {}
    for alert in stores["monitoring"].list_alerts(state="firing", limit=1000):
        firing.setdefault(alert.model, []).append(alert)
    policies: dict[str, int] = {}
    for policy in stores["policies"].list_policies():
        policies[policy.model] = policies.get(policy.model, 0) + 1
    logged = layout.models()
    rows = []
    for model in sorted({*logged, *firing, *policies}):
        row: dict[str, Any] = {"model": model, "alerts": firing.get(model, []), "policies": policies.get(model, 0)}
        until = newest_hour_end(layout, model) if model in logged else None
        row["last_hour"] = until
        row.update(last_window(page, model, until) if until is not None else {"version": None, "quality": {}})
        reports = stores["monitoring"].list_reports(model, limit=1)
        row["report"] = reports[0] if reports else None
        rows.append(row)
    return rows


def model_view(page: PageContext, model: str) -> dict[str, Any]:
    """Alerts, reports, policies and cycles of ``model``, and the span its charts read."""
    stores = page.backend.stores
    layout = _layout(page)
    until = newest_hour_end(layout, model)
    alerts = stores["monitoring"].list_alerts(model=model, limit=LISTED)
    policies = stores["policies"].list_policies(model=model)
    if (
        until is None
        and not alerts
        and not policies
        and model not in {m.name for m in page.backend.models.list_models()}
    ):
        raise NotFound(f"Model {model!r} has no prediction log, alerts or retrain policies on this server.")
    cycles = stores["policies"].list_cycles(model=model, limit=LISTED)
    reports = stores["monitoring"].list_reports(model, limit=10)
    latest = last_window(page, model, until) if until is not None else {"version": None, "quality": {}}
    return {
        "alerts": alerts,
        "firing": [a for a in alerts if a.state == "firing"],
        "policies": policies,
        "cycles": cycles,
        "reports": reports,
        "latest": latest,
        "span": None if until is None else {"since_ms": until - SPAN_MS, "until_ms": until},
    }


@router.get("/monitoring")
async def monitoring(page: Page) -> Response:
    rows = await run_in_threadpool(overview, page)
    return page.render("monitoring.html.j2", section="/monitoring", models=rows)


@router.get("/monitoring/{model}")
async def monitoring_model(
    page: Page, model: Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", description="A model name.")]
) -> Response:
    data = await run_in_threadpool(model_view, page, model)
    page_data = {"model": model, "span": data["span"]}
    return page.render("monitoring_model.html.j2", section="/monitoring", model=model, page_data=page_data, **data)
