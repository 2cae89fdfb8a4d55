"""The models and audit pages as HTML over a real server (httpx), the card endpoint, the audit filters
over HTTP (and through the HTTP store client), and who may move an alias."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing
from html import unescape
from pathlib import Path

import httpx
import pytest
from tests.server.conftest import LiveServer, settings_for, thread_server
from tests.ui.models_seed import MODEL, ModelsSeeded, seed_models

from loopml.core.records import Role
from loopml.registry.card import model_card
from loopml.store.http.tracking import HttpTrackingStore
from loopml.tracking.session import Session


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, ModelsSeeded]]:
    home = tmp_path_factory.mktemp("models-ui")
    settings = settings_for(home)
    made = seed_models(settings, home)
    with thread_server(settings) as live:
        yield live, made


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("models-ui-auth")
    settings = settings_for(home)
    seed_models(settings, home)
    with thread_server(settings, auth=True) as live:
        yield live


def _text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def _login(live: LiveServer, secret: str) -> httpx.Client:
    client = httpx.Client(base_url=live.url)
    try:
        form = client.get("/login").text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert csrf is not None
        assert client.post("/login", data={"token": secret, "csrf_token": csrf[1], "next": "/"}).status_code == 303
    except BaseException:
        client.close()
        raise
    return client


def test_models_page_and_model_page(seeded: tuple[LiveServer, ModelsSeeded]) -> None:
    live, made = seeded
    models = httpx.get(live.url + "/models")
    assert models.status_code == 200 and "script-src 'self'" in models.headers["content-security-policy"]
    assert "@production → v1" in _text(models.text)
    page = httpx.get(live.url + f"/models/{MODEL}").text
    text = _text(page)
    assert re.search(r'<tr data-version="2">.*?<tr data-version="1">', page, re.S)  # newest first
    assert f'href="/runs/{made.run_ids[0]}"' in page
    assert 'href="/datasets/transactions/versions/1"' in page
    assert "Move alias" in page and 'id="confirm-dialog"' in page  # anonymous on a server without auth: admin
    assert f'id="decision-{made.decision_id}"' in page
    assert "CI [0.86, 0.92]" in text and "CI [0.88, 0.94]" in text and "accuracy did not improve" in text
    assert "@production none v1 " in text  # the alias history: before none, after v1
    assert "<script>" not in page  # page data only as JSON
    assert '<script type="application/json" id="page-data">' in page


def test_version_page_embeds_the_card_and_the_graph_data(seeded: tuple[LiveServer, ModelsSeeded]) -> None:
    live, _ = seeded
    page = httpx.get(live.url + f"/models/{MODEL}/versions/1").text
    data = re.search(r'<script type="application/json" id="page-data">(.*?)</script>', page, re.S)
    assert data is not None
    graph = httpx.Response(200, content=data[1]).json()["graph"]
    types = {n["type"] for n in graph["nodes"]}
    assert {"dataset_version", "run", "model_version", "model_alias", "decision"} <= types
    assert 'id="model-card"' in page and "Fairness slices" in page
    assert "model.json" in page and "input_example.json" in page  # the package files
    assert f"/models/{MODEL}/versions/1/card.html" in page
    html = httpx.get(live.url + f"/models/{MODEL}/versions/1/card.html")
    assert html.headers["content-type"].startswith("text/html") and "<script" not in html.text
    md = httpx.get(live.url + f"/models/{MODEL}/versions/1/card.md")
    assert md.headers["content-type"].startswith("text/markdown") and md.text.startswith("# Model card: fraud v1")


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/models/nope", 404, "Model 'nope' does not exist. Registered models: fraud."),
        (f"/models/{MODEL}/versions/9", 404, "Model version models:/fraud/9 does not exist."),
        (f"/models/{MODEL}/versions/x", 400, "Invalid model version 'x': use a version number"),
        (f"/models/{MODEL}/versions/1/card.pdf", 404, "No card format 'pdf'"),
        ("/audit?limit=7", 400, "Invalid limit '7': use one of 25, 50, 100, 200."),
        ("/audit?before=abc", 400, "Invalid before 'abc'"),
    ],
)
def test_bad_ids_and_params_are_error_pages(
    seeded: tuple[LiveServer, ModelsSeeded], path: str, status: int, message: str
) -> None:
    live, _ = seeded
    response = httpx.get(live.url + path)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert message in _text(response.text) and "Traceback" not in response.text


def test_card_endpoint(seeded: tuple[LiveServer, ModelsSeeded]) -> None:
    live, made = seeded
    card = httpx.get(live.url + f"/api/v1/models/{MODEL}/versions/2/card").json()
    assert card["uri"] == f"models:/{MODEL}/2" and card["training_data"] == [made.dataset_uri]
    assert [d["id"] for d in card["decisions"]] == [made.decision_id]
    assert [s["value"] for s in card["fairness"]] == ["north", "south"]
    missing = httpx.get(live.url + f"/api/v1/models/{MODEL}/versions/7/card")
    assert missing.status_code == 404 and "does not exist" in missing.json()["error"]
    bad = httpx.get(live.url + f"/api/v1/models/{MODEL}/versions/x/card")
    assert bad.status_code == 422 and bad.json()["details"][0]["field"] == "path.version"


def test_remote_sdk_builds_the_same_card(seeded: tuple[LiveServer, ModelsSeeded], tmp_path: Path) -> None:
    live, _ = seeded
    session = Session(settings_for(tmp_path, live.url), actor="remote")
    try:
        remote = model_card(session, MODEL, 1)
    finally:
        session.close()
    local = httpx.get(live.url + f"/api/v1/models/{MODEL}/versions/1/card").json()
    assert remote.training_data == local["training_data"]
    assert [n.id for n in remote.lineage.nodes] == [n["id"] for n in local["lineage"]["nodes"]]


def test_audit_page_filters_and_pages(seeded: tuple[LiveServer, ModelsSeeded]) -> None:
    live, _ = seeded
    for _ in range(5):  # more events than one page holds
        assert httpx.put(live.url + f"/api/v1/models/{MODEL}/aliases/staging", json={"version": 2}).status_code == 200
    everything = httpx.get(live.url + "/audit", params={"limit": 25}).text
    rows = re.findall(r'<tr data-id="(\d+)" data-action="([a-z_.]+)"', everything)
    assert len(rows) == 25 and 'id="audit-older"' in everything
    older = re.search(r'id="audit-older"|href="(/audit\?[^"]+)" id="audit-older"', everything)
    assert older is not None and older[1] is not None
    second = httpx.get(live.url + unescape(older[1])).text
    second_rows = re.findall(r'<tr data-id="(\d+)"', second)
    assert second_rows and int(second_rows[0]) < int(rows[-1][0])
    assert 'id="audit-newest"' in second
    aliases = httpx.get(
        live.url + "/audit", params={"action": "model.alias.set", "object": f"models:/{MODEL}@production"}
    ).text
    assert [a for _, a in re.findall(r'<tr data-id="(\d+)" data-action="([a-z_.]+)"', aliases)] == ["model.alias.set"]
    assert "version: none → 1" in _text(aliases)
    assert f'href="/models/{MODEL}"' in aliases
    by_actor = httpx.get(live.url + "/audit", params={"actor": "gatekeeper"}).text
    assert {a for _, a in re.findall(r'data-id="(\d+)" data-action="([a-z_.]+)"', by_actor)} == {
        "model.decision.record"
    }
    by_type = httpx.get(live.url + "/audit", params={"object_type": "model_version", "object_id": f"{MODEL}/2"}).text
    assert set(re.findall(r'data-action="([a-z_.]+)"', by_type)) == {"model.version.create", "lineage.add"}
    future = httpx.get(live.url + "/audit", params={"since": "2999-01-01"}).text
    assert "No audit events match these filters." in future
    past = httpx.get(live.url + "/audit", params={"until": "2000-01-01 00:00"}).text
    assert "No audit events match these filters." in past
    recent = httpx.get(live.url + "/audit", params={"since": "7d", "action": "model.decision"}).text
    assert re.findall(r'data-action="([a-z_.]+)"', recent) == ["model.decision.record"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("action", "Model.Alias", "Invalid action 'Model.Alias': expected an action such as model.alias.set"),
        ("object", "models:/", "Invalid object 'models:/': expected models:/NAME[/VERSION|@ALIAS]"),
        ("since", "last tuesday", "Invalid since 'last tuesday': expected a duration before now (e.g. 90m"),
    ],
)
def test_a_bad_filter_is_shown_next_to_its_box(
    seeded: tuple[LiveServer, ModelsSeeded], field: str, value: str, message: str
) -> None:
    live, _ = seeded
    response = httpx.get(live.url + "/audit", params={field: value})
    assert response.status_code == 200
    shown = re.search(rf'<span class="field-error" id="e-{field}">(.*?)</span>', response.text)
    assert shown is not None and message in unescape(shown[1])
    assert 'id="audit-table"' not in response.text


def test_audit_api_time_range_and_paging(seeded: tuple[LiveServer, ModelsSeeded]) -> None:
    live, _ = seeded
    store = HttpTrackingStore(live.url, actor="t")
    try:
        every = store.list_audit_events(limit=1000)
        first = store.list_audit_events(limit=3)
        following = store.list_audit_events(limit=3, before_id=first[-1].id)
        assert [e.id for e in first + following] == [e.id for e in every[:6]]
        assert store.list_audit_events(until_ms=every[-1].time) == []
        assert len(store.list_audit_events(since_ms=every[-1].time, until_ms=every[0].time + 1, limit=1000)) == len(
            every
        )
    finally:
        store.close()
    bad = httpx.get(live.url + "/api/v1/audit", params={"before_id": 0})
    assert bad.status_code == 422 and bad.json()["details"][0]["field"] == "query.before_id"


def test_reader_sees_no_alias_controls_and_the_api_refuses(auth_server: LiveServer) -> None:
    with closing(_login(auth_server, auth_server.create_token("rita", Role.READER))) as reader:
        page = reader.get(f"/models/{MODEL}").text
        assert "rita" in page and "Move alias" not in page and 'class="rollback"' not in page
        csrf = re.search(r'<meta name="csrf-token" content="([^"]+)">', page)
        assert csrf is not None
        refused = reader.put(
            f"/api/v1/models/{MODEL}/aliases/production", json={"version": 2}, headers={"X-CSRF-Token": csrf[1]}
        )
        assert refused.status_code == 403
    with closing(_login(auth_server, auth_server.create_token("walt", Role.WRITER))) as writer:
        page = writer.get(f"/models/{MODEL}").text
        assert "Move alias" in page
        csrf = re.search(r'<meta name="csrf-token" content="([^"]+)">', page)
        assert csrf is not None
        no_csrf = writer.put(f"/api/v1/models/{MODEL}/aliases/production", json={"version": 2})
        assert no_csrf.status_code == 403
        moved = writer.put(
            f"/api/v1/models/{MODEL}/aliases/production", json={"version": 2}, headers={"X-CSRF-Token": csrf[1]}
        )
        assert moved.status_code == 200
        audit = writer.get("/audit", params={"action": "model.alias.set", "actor": "walt"}).text
        assert "version: 1 → 2" in _text(audit)


def test_a_decision_link_lands_on_its_row_of_the_model_page(seeded: tuple[LiveServer, ModelsSeeded]) -> None:
    live, made = seeded
    found = httpx.get(live.url + f"/models/{MODEL}/decisions/{made.decision_id}")
    assert found.status_code == 303
    assert found.headers["location"] == f"/models/{MODEL}#decision-{made.decision_id}"
    assert httpx.get(live.url + f"/models/{MODEL}/decisions/{'0' * 32}").status_code == 404
    other = httpx.get(live.url + f"/models/someone-else/decisions/{made.decision_id}")
    assert other.status_code == 404 and "is not a decision of model 'someone-else'" in _text(other.text)
