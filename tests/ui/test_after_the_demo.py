"""What ``make demo`` did, seen in the browser: every main page over the store the quickstart and
its closed loop filled, in a real Chromium. The screenshots it saves are the README's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.server.conftest import LiveServer, settings_for, thread_server

pytestmark = pytest.mark.slow
MODEL = "breast_cancer_classifier"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, Any]]]:
    """``loopml quickstart --loop`` in a fresh home (as ``make demo`` runs it), then the UI on that home."""
    work = tmp_path_factory.mktemp("demo")
    home = work / ".loopml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")} | {"LOOPML_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-m", "loopml.cli.main", "quickstart", "--loop", "--json", "--n-trials", "3"],
        cwd=work, env=env, capture_output=True, text=True, timeout=280, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    story = json.loads(done.stdout)
    with thread_server(settings_for(home)) as live:
        yield live, story


def _open(browser_page: Any, url: str, label: str) -> Any:
    page = browser_page.page
    response = page.goto(url)
    assert response.status == 200, f"{url}: {response.status}"
    page.wait_for_load_state("networkidle")
    browser_page.screenshot(label, full_page=False)  # what a reader sees first: the README's pictures
    return page


def _chart_option(page: Any, selector: str) -> Any:
    return page.evaluate(
        "(s) => { const el = document.querySelector(s); const c = el && echarts.getInstanceByDom(el);"
        " return c ? c.getOption() : null; }",
        selector,
    )


def test_the_ui_shows_everything_the_demo_did(demo: tuple[LiveServer, dict[str, Any]], browser_page: Any) -> None:
    live, story = demo
    promoted = story["loop"]["promotion"]["challenger_version"]
    home = _open(browser_page, live.url + "/", "readme-overview")
    assert home.locator("#models .badge.alias", has_text=f"@production → v{promoted}").count() == 1
    assert home.locator("#experiments").get_by_role("link", name="quickstart", exact=True).count() == 1
    assert "0.7722 / 0.9" in home.locator("#alerts").inner_text()  # measured values to 4 significant digits
    assert home.locator("#pipeline-runs tbody tr").count() >= 1

    runs = _open(browser_page, live.url + "/experiments/quickstart", "readme-runs")
    assert "tune" in runs.locator("main").inner_text()

    model = _open(browser_page, live.url + f"/models/{MODEL}", "readme-model")
    decisions = model.locator("#decisions tbody.decision")
    assert decisions.count() >= 2  # the promotion and the refused weak challenger
    verdicts = model.locator("#decisions .badge").all_inner_texts()
    assert "passed" in verdicts and "refused" in verdicts

    version = _open(browser_page, live.url + f"/models/{MODEL}/versions/{promoted}", "readme-lineage")
    graph = _chart_option(version, "#lineage-graph")
    assert graph is not None
    nodes = json.dumps(graph["series"][0]["data"])
    assert "breast_cancer_fresh" in nodes and "@production" in nodes and "retrain" in nodes

    monitoring = _open(browser_page, live.url + f"/monitoring/{MODEL}", "readme-monitoring")
    text = monitoring.locator("main").inner_text()
    assert "promoted" in text and "refused" in text  # the retrain history

    pipelines = _open(browser_page, live.url + "/pipelines", "readme-pipelines")
    first = pipelines.locator("a[href^='/pipelines/runs/']").first.get_attribute("href")
    dag = _open(browser_page, live.url + first, "readme-pipeline-run")
    assert _chart_option(dag, "#dag") is not None or dag.locator("canvas").count() >= 1

    datasets = _open(browser_page, live.url + "/datasets", "readme-datasets")
    assert "breast_cancer" in datasets.locator("main").inner_text()

    audit = _open(browser_page, live.url + "/audit", "readme-audit")
    assert "model.alias" in audit.locator("main").inner_text()
    shots = sorted(Path(browser_page.screenshot()).parent.glob(f"{browser_page.name}-readme-*.png"))
    assert len(shots) == 9 and all(shot.stat().st_size > 10_000 for shot in shots)
