"""The experiments, runs, run and compare pages in a real Chromium against a seeded server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import expect
from tests.server.conftest import LiveServer, settings_for, thread_server
from tests.ui.seed import Seeded, seed_store

import loopml as lm
from loopml.tracking import session as sessions

pytestmark = pytest.mark.slow

HTML_REPORT = (
    "<html><body><h1 id='title'>Report</h1>"
    "<script>document.title = 'pwned'; parent.document.body.innerHTML = 'pwned';</script></body></html>"
)


@dataclass
class World:
    live: LiveServer
    seeded: Seeded
    report_run: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    settings = settings_for(tmp_path_factory.mktemp("ui-runs"))
    seeded = seed_store(settings, runs=6, points=60)
    sessions.reset()
    lm.configure(tracking_uri=settings.tracking_uri, artifact_uri=settings.artifact_uri)
    try:
        lm.set_experiment("churn-baseline")
        with lm.start_run(name="sweep") as parent:
            lm.log_text("line one\nline two\n", "logs/train.log")
            lm.log_text(HTML_REPORT, "report.html")
            for step in range(30):
                lm.log_metric("loss", 1.0 / (step + 1), step=step)
            for index in range(2):
                with lm.start_run(name=f"sweep-trial-{index}", nested=True):
                    lm.log_metric("loss", 0.5 + index)
    finally:
        sessions.reset()
    with thread_server(settings) as live:
        yield World(live, seeded, parent.id)


def rows(page: Any) -> Any:
    return page.locator("#runs-table tbody tr[data-run]")


def wait_until(page: Any, expression: str, expected: object, timeout_s: float = 15.0) -> None:
    """Poll ``expression`` with ``page.evaluate`` until it equals ``expected`` (``wait_for_function``
    evaluates strings with ``eval``, which the pages' CSP refuses)."""
    deadline = time.monotonic() + timeout_s
    value = None
    while time.monotonic() < deadline:
        value = page.evaluate(expression)
        if value == expected:
            return
        time.sleep(0.05)
    raise AssertionError(f"{expression} is {value!r}, expected {expected!r}")


def test_experiments_page_lists_the_experiment(world: World, browser_page: Any) -> None:
    page = browser_page.page
    page.goto(world.live.url + "/experiments")
    link = page.locator("#experiments a", has_text="churn-baseline")
    assert link.count() == 1
    row = page.locator("#experiments tbody tr").filter(has_text="churn-baseline")
    assert row.locator("td.num").inner_text() == "11"  # 6 trials, 2 training runs, the sweep and its 2 trials
    link.click()
    page.wait_for_selector("#runs-table tbody tr[data-run]")
    assert rows(page).count() == 11
    assert page.locator("#runs-table tr.child").count() == 2


def test_filter_sort_columns_and_compare(world: World, browser_page: Any) -> None:
    page = browser_page.page
    browser_page.expected_errors.append("422")  # the bad filter's answer
    page.goto(f"{world.live.url}/experiments/{world.seeded.experiment_id}")
    page.wait_for_selector("#runs-table tbody tr[data-run]")
    page.fill("#filter", "params.lr = '0.1'")
    page.press("#filter", "Enter")
    expect(rows(page)).to_have_count(1)
    assert "trial-2" in rows(page).first.inner_text()
    assert "filter=params.lr" in page.url

    page.fill("#filter", "metrics.f1 >> 0.8")
    page.press("#filter", "Enter")
    error = page.locator("#filter-error")
    error.wait_for(state="visible")
    assert "Invalid filter at position" in error.inner_text()
    assert rows(page).count() == 1  # the table keeps the last good page

    page.fill("#filter", "metrics.f1 > 0")
    page.press("#filter", "Enter")
    expect(rows(page)).to_have_count(6)
    page.locator("#runs-table th[data-order='metrics.f1']").click()
    wait_until(page, "location.search.includes('order=metrics.f1')", True)
    page.wait_for_selector("#runs-table th.sorted-desc")
    names = [n.strip() for n in page.locator("#runs-table tbody td.name").all_inner_texts()]
    assert names == [f"trial-{i}" for i in (5, 4, 3, 2, 1, 0)]

    page.locator("#column-chooser summary").click()
    page.check("#column-list input[value='tags.team']")
    assert page.locator("#runs-table th[title='tags.team']").count() == 1
    assert "tags.team" in page.url

    for box in page.locator("#runs-table tbody input[type=checkbox]").all()[:3]:
        box.check()
    assert page.locator("#compare").inner_text() == "Compare (3)"
    browser_page.screenshot("runs")
    page.click("#compare")
    page.wait_for_url("**/compare?runs=*")
    series = "(() => { const c = echarts.getInstanceByDom(document.getElementById('curve-chart'));"
    wait_until(page, series + " return c ? c.getOption().series.length : 0; })()", 3)
    assert page.locator("#curve-chart canvas").count() >= 1
    series = page.evaluate("echarts.getInstanceByDom(document.getElementById('curve-chart')).getOption().series.length")
    assert series == 3
    parallel = page.evaluate("echarts.getInstanceByDom(document.getElementById('parallel-chart')).getOption()")
    assert [a["name"] for a in parallel["parallelAxis"]][-1] == "accuracy"
    assert page.locator("#compare-table tr.changed[data-key='lr']").count() == 1
    assert page.locator("#compare-table tr.changed[data-key='solver']").count() == 0
    page.check("#only-changed")
    assert not page.locator("#compare-table tr[data-key='solver']").is_visible()
    assert page.locator("#compare-table tr.changed[data-key='lr']").is_visible()


def test_run_page_curves_log_scale_and_previews(world: World, browser_page: Any) -> None:
    page = browser_page.page
    browser_page.expected_errors.append("Blocked script execution")  # the HTML artifact's script, refused
    page.goto(f"{world.live.url}/runs/{world.report_run[:8]}")
    chart = "document.querySelector('.chart[data-key=\"loss\"]')"
    drawn = (
        f"(() => {{ const c = echarts.getInstanceByDom({chart}); return c && c.getOption().series[0].data.length; }})()"
    )
    wait_until(page, drawn, 30)
    page.check("#log-scale")
    assert page.evaluate(f"echarts.getInstanceByDom({chart}).getOption().yAxis[0].type") == "log"
    page.fill("#smoothing", "0.6")
    page.dispatch_event("#smoothing", "input")
    assert page.evaluate(f"echarts.getInstanceByDom({chart}).getOption().series.length") == 2
    assert page.locator("#children tbody tr").count() == 2
    assert page.locator("#lineage").inner_text().endswith("No lineage edges touch this run.")

    page.click(".preview-button[data-path='logs/train.log']")
    assert page.locator("#preview-body pre").inner_text() == "line one\nline two\n"
    page.click(".preview-button[data-path='report.html']")
    frame_el = page.locator("#preview-body iframe")
    assert frame_el.get_attribute("sandbox") == ""
    frame = page.frame_locator("#preview-body iframe")
    assert frame.locator("#title").inner_text() == "Report"
    assert page.title() != "pwned" and "pwned" not in page.locator("main").inner_text()
    page.evaluate("window.scrollTo(0, 0)")  # sticky table headers follow the scroll into a full-page shot
    browser_page.screenshot("run")


def test_compare_over_the_limit_is_a_400_page(world: World, browser_page: Any) -> None:
    browser_page.expected_errors.append("400")
    ids = ",".join(f"{i:032x}" for i in range(201))
    response = browser_page.page.goto(f"{world.live.url}/compare?runs={ids}")
    assert response.status == 400
    assert "Compare takes up to 200 runs" in browser_page.page.locator("main").inner_text()
