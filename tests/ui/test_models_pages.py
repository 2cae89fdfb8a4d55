"""The models pages in a real Chromium: the list, the lineage graph from data to deployment, an admin's
alias move and rollback (and the audit page showing both), a reader who cannot move an alias, the
audit page's filters."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.server.conftest import LiveServer, settings_for, thread_server
from tests.ui.models_seed import MODEL, ModelsSeeded, seed_models

from loopml.core.records import Role

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, ModelsSeeded]]:
    home = tmp_path_factory.mktemp("ui-models")
    settings = settings_for(home)
    made = seed_models(settings, home)
    with thread_server(settings) as live:
        yield live, made


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("ui-models-auth")
    settings = settings_for(home)
    seed_models(settings, home)
    with thread_server(settings, auth=True) as live:
        yield live


def test_models_page_lists_every_model(seeded: tuple[LiveServer, ModelsSeeded], browser_page: Any) -> None:
    live, _ = seeded
    page = browser_page.page
    page.goto(live.url + "/models")
    assert page.title() == "Models · loopml"
    row = page.locator("#models-table tbody tr", has_text=MODEL)
    assert row.locator("td").nth(1).inner_text() == "2"
    assert row.locator(".badge.alias").inner_text() == "@production → v1"
    row.locator(f"a[href='/models/{MODEL}']").click()
    page.wait_for_url(live.url + f"/models/{MODEL}")
    assert page.locator("#versions-table tbody tr").count() == 2


def test_version_page_draws_the_lineage_from_data_to_deployment(
    seeded: tuple[LiveServer, ModelsSeeded], browser_page: Any
) -> None:
    live, made = seeded
    page = browser_page.page
    page.goto(live.url + f"/models/{MODEL}/versions/1")
    page.wait_for_function("() => echarts.getInstanceByDom(document.getElementById('lineage-graph')) !== undefined")
    option = page.evaluate(
        """() => {
            const series = echarts.getInstanceByDom(document.getElementById('lineage-graph')).getOption().series[0];
            const nodes = series.data.map(n => ({id: n.name, label: n.text, link: n.link, x: n.value[0]}));
            return {type: series.type, nodes,
                    links: series.links.map(l => [l.source, l.target, l.relation])};
        }"""
    )
    assert option["type"] == "graph"
    by_label = {n["label"]: n for n in option["nodes"]}
    dataset, run, model, alias = (
        by_label["transactions v1"],
        by_label["train-fraud-1"],
        by_label["fraud v1"],
        by_label["@production"],
    )
    assert dataset["link"] == "/datasets/transactions/versions/1"
    assert run["link"] == f"/runs/{made.run_ids[0]}"
    assert model["link"] == f"/models/{MODEL}/versions/1"
    assert dataset["x"] < run["x"] < model["x"] < alias["x"]  # laid out left to right
    links = {(s, t, r) for s, t, r in option["links"]}
    assert (dataset["id"], run["id"], "input") in links
    assert (run["id"], model["id"], "registered") in links
    assert (model["id"], alias["id"], "alias") in links
    assert page.locator("#card #card-fairness tbody tr").count() == 2
    assert "Flag card transactions" in page.locator("#card-intended-use").inner_text()
    page.locator("#decisions details.evidence summary").click()
    evidence = page.locator("#decisions details.evidence").inner_text()
    assert "[0.86, 0.92]" in evidence and "0.420" in evidence


def test_admin_moves_an_alias_and_rolls_it_back(seeded: tuple[LiveServer, ModelsSeeded], browser_page: Any) -> None:
    live, _ = seeded
    page = browser_page.page
    page.goto(live.url + f"/models/{MODEL}")
    page.fill("#move-alias-name", "production")
    page.select_option("#move-alias-version", "2")
    page.click("#move-alias-button")
    assert page.locator("#confirm-text").inner_text() == "Move @production from v1 to v2?"
    page.click("#confirm-ok")
    page.wait_for_selector("#aliases-table tr[data-alias=production] a[href$='/versions/2']")
    rollback = page.locator("#aliases-table button.rollback[data-alias=production]")
    assert rollback.inner_text() == "Roll back to v1"
    rollback.click()
    assert page.locator("#confirm-text").inner_text() == "Roll back @production from v2 to v1?"
    page.click("#confirm-ok")
    page.wait_for_selector("#aliases-table tr[data-alias=production] a[href$='/versions/1']")
    browser_page.screenshot("model-page")
    history = page.locator("#alias-history-table tbody tr").all_inner_texts()
    assert [h.split("\t")[1:4] for h in history[:2]] == [["@production", "v2", "v1"], ["@production", "v1", "v2"]]
    page.select_option("#move-alias-version", "1")
    page.fill("#move-alias-name", "bad alias!")  # the browser's pattern check stops it; the API refuses too
    page.evaluate("() => document.getElementById('move-alias-name').removeAttribute('pattern')")
    browser_page.expected_errors.append("422")
    page.click("#move-alias-button")
    page.click("#confirm-ok")
    error = page.wait_for_selector("#alias-error:not([hidden])")
    assert "alias" in error.inner_text().lower()
    assert page.locator("#aliases-table tr[data-alias=production] a[href$='/versions/1']").count() == 1
    page.goto(live.url + "/audit?action=model.alias.set&object=models:/" + MODEL)
    rows = page.locator("#audit-table tbody tr")
    assert rows.count() == 3  # the seed's move to v1, then v1 -> v2 and back
    newest = rows.nth(0).locator(".diff").inner_text()
    assert "version: 2 → 1" in newest.replace("\n", " ")
    assert "version: 1 → 2" in rows.nth(1).locator(".diff").inner_text().replace("\n", " ")
    assert rows.nth(0).locator("td").nth(1).inner_text() == "anonymous"


def test_reader_sees_no_move_button_and_the_api_refuses(auth_server: LiveServer, browser_page: Any) -> None:
    page = browser_page.page
    browser_page.expected_errors += ["401", "403"]
    secret = auth_server.create_token("rita", Role.READER)
    page.goto(auth_server.url + f"/models/{MODEL}")
    assert "/login" in page.url
    page.fill("#token", secret)
    page.click("button[type=submit]")
    page.wait_for_url(auth_server.url + f"/models/{MODEL}")
    assert page.locator("#versions-table tbody tr").count() == 2
    assert page.locator("#move-alias").count() == 0
    assert page.locator("button.rollback").count() == 0
    status = page.evaluate(
        """async (model) => {
            const body = {method: "PUT", body: {version: 2}};
            try { await lm.api(`/models/${model}/aliases/production`, body); return 200; }
            catch (e) { return e.status; }
        }""",
        MODEL,
    )
    assert status == 403
    page.goto(auth_server.url + f"/models/{MODEL}/versions/1")
    assert page.locator("#aliases-table").count() == 0 or page.locator("button.rollback").count() == 0


def test_audit_page_filters_by_action(seeded: tuple[LiveServer, ModelsSeeded], browser_page: Any) -> None:
    live, _ = seeded
    page = browser_page.page
    page.goto(live.url + "/audit")
    actions = set(page.locator("#audit-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.action)"))
    assert {"model.version.create", "dataset.version.create"} <= actions or len(actions) > 2
    page.fill("#f-action", "model.version")
    page.click("#audit-apply")
    page.wait_for_url("**/audit?*action=model.version*")
    filtered = page.locator("#audit-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.action)")
    assert filtered and all(a.startswith("model.version.") for a in filtered)
    page.fill("#f-action", "Not An Action")
    page.click("#audit-apply")
    assert "expected an action" in page.locator("#e-action").inner_text()
    assert page.locator("#audit-table").count() == 0
