"""The datasets, pipelines and monitoring pages in a real Chromium, against a ``loopml server`` over a
store seeded through the real capabilities (tests/ui/seed_data.py): charts are checked on their
ECharts instances, not on pixels."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.server.conftest import LiveServer, settings_for, start_server
from tests.ui.seed_data import DataWorld, seed_data

pytestmark = pytest.mark.slow

OPTION = (
    "(selector) => { const c = echarts.getInstanceByDom(document.querySelector(selector));"
    " return c ? c.getOption() : null; }"
)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, DataWorld]]:
    home = tmp_path_factory.mktemp("ui-data")
    world = seed_data(settings_for(home), home)
    with start_server(home) as live:
        yield live, world


def _option(page: Any, selector: str) -> dict[str, Any]:
    page.wait_for_function(
        "(s) => { const el = document.querySelector(s); return el && echarts.getInstanceByDom(el); }", arg=selector
    )
    option: dict[str, Any] = page.evaluate(OPTION, selector)
    return option


def test_the_dataset_version_page_draws_a_histogram_per_column(
    seeded: tuple[LiveServer, DataWorld], browser_page: Any
) -> None:
    live, _ = seeded
    page = browser_page.page
    page.goto(live.url + "/datasets")
    page.click("#datasets a:text('customers')")
    page.click("#versions a:text('v2')")
    page.wait_for_url("**/datasets/customers/versions/2")
    page.locator(".histogram").nth(3).wait_for()
    assert page.title() == "customers v2 · Datasets · loopml"
    assert page.locator(".histogram").count() == 4
    age = _option(page, '.histogram[data-column="age"] .chart')
    assert age["series"][0]["type"] == "bar" and sum(age["series"][0]["data"]) == 450
    plan = _option(page, '.histogram[data-column="plan"] .chart')
    assert plan["xAxis"][0]["data"] == ["basic", "pro", "team"]


def test_the_diff_page_shows_the_changed_column(seeded: tuple[LiveServer, DataWorld], browser_page: Any) -> None:
    live, _ = seeded
    page = browser_page.page
    page.goto(live.url + "/datasets/customers")
    page.click("#diff-form button[type=submit]")  # v1 against v2, as preselected
    page.wait_for_url("**/datasets/customers/diff?a=1&b=2")
    changed = page.locator("#diff-columns tr.changed")
    assert changed.count() == 1 and changed.get_attribute("data-column") == "age"
    assert "mean moved" in changed.inner_text()
    assert "churned" in page.locator("#diff-summary").inner_text()


def test_the_pipeline_run_page_draws_the_dag_with_each_steps_status(
    seeded: tuple[LiveServer, DataWorld], browser_page: Any
) -> None:
    live, world = seeded
    page = browser_page.page
    page.goto(live.url + "/pipelines")
    page.click(f"#pipeline-runs a:text('{world.failed_run[:8]}')")
    page.wait_for_url(f"**/pipelines/runs/{world.failed_run}")
    graph = _option(page, "#dag")["series"][0]
    statuses = {node["name"]: node["status"] for node in graph["data"]}
    assert statuses == {"load": "SUCCEEDED", "features": "SUCCEEDED", "stats": "SUCCEEDED", "train": "FAILED"}
    assert {node["name"] for node in graph["data"] if node["cached"]} == {"load", "features", "stats"}
    assert len(graph["links"]) == 4
    traceback = page.locator('tr[data-detail="train"] .step-traceback')
    assert not traceback.is_visible()
    page.click('button.toggle-step[data-step="train"]')
    assert traceback.is_visible() and "RuntimeError: the training data is broken" in traceback.inner_text()


def test_the_monitoring_page_draws_drift_quality_and_latency_and_lists_alerts_and_cycles(
    seeded: tuple[LiveServer, DataWorld], browser_page: Any
) -> None:
    live, world = seeded
    page = browser_page.page
    page.goto(live.url + "/monitoring")
    page.click("#monitored a:text('cancer')")
    page.wait_for_url("**/monitoring/cancer")
    drift = _option(page, "#drift-history")
    names = [s["name"] for s in drift["series"]]
    assert "mean radius" in names and names[-1] == "drift share"
    histogram = _option(page, "#drift-histogram")
    assert [s["name"] for s in histogram["series"]] == ["reference", "current"]
    first = page.locator("#drift-column option").first.get_attribute("value")
    page.select_option("#drift-column", index=1)
    assert page.locator("#drift-column").input_value() != first
    quality = _option(page, "#quality-chart")
    series = [s["name"] for s in quality["series"]]
    assert "accuracy (realised)" in series and "accuracy (estimated)" in series
    latency = _option(page, "#latency-chart")
    assert [s["name"] for s in latency["series"]] == ["p50", "p95", "p99"]
    assert _option(page, "#traffic-chart")["series"][0]["name"] == "requests"
    assert page.locator("#chart-error").is_hidden()
    assert page.locator('#alerts tr[data-state="firing"]').count() == 1
    cycle = page.locator(f'#cycles tr[data-cycle="{world.cycle}"]')
    assert "passed" in cycle.inner_text()
    assert cycle.locator("a[href^='/pipelines/runs/']").get_attribute("href") == f"/pipelines/runs/{world.pipeline_run}"
    browser_page.screenshot("monitoring")
