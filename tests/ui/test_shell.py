"""The UI's shell in a real Chromium: the overview, error pages, static files, login and CSRF."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.server.conftest import LiveServer, settings_for, thread_server
from tests.ui.seed import Seeded, seed_store

from loopml.core.records import Role

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Seeded]]:
    settings = settings_for(tmp_path_factory.mktemp("ui-shell"))
    made = seed_store(settings, runs=3, points=20)
    with thread_server(settings) as live:
        yield live, made


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = settings_for(tmp_path_factory.mktemp("ui-auth"))
    seed_store(settings, runs=1, points=5)
    with thread_server(settings, auth=True) as live:
        yield live


def test_overview_links_every_recent_item(seeded: tuple[LiveServer, Seeded], browser_page: Any) -> None:
    live, _made = seeded
    page = browser_page.page
    page.goto(live.url + "/")
    assert page.title() == "Overview · loopml"
    runs = page.locator("#recent-runs tbody tr")
    assert runs.count() == 5  # 3 trials + 2 training runs
    assert page.locator("#models a", has_text="churn").first.get_attribute("href") == "/models/churn"
    assert page.locator("#models .badge.alias").inner_text() == "@production → v2"
    assert page.locator("#experiments a", has_text="churn-baseline").count() == 1
    assert page.locator("#alerts").inner_text().endswith("No open alerts.")
    assert "anonymous" in page.locator(".who").inner_text()


def test_unknown_page_is_a_404_page_without_traceback(seeded: tuple[LiveServer, Seeded], browser_page: Any) -> None:
    live, _ = seeded
    browser_page.expected_errors.append("404")
    response = browser_page.page.goto(live.url + "/no/such/page")
    assert response.status == 404
    text = browser_page.page.locator("main").inner_text()
    assert "There is no page at /no/such/page." in text
    assert "Traceback" not in browser_page.page.content()


def test_static_files_are_gzipped_and_cached(seeded: tuple[LiveServer, Seeded]) -> None:
    live, _ = seeded
    page = httpx.get(live.url + "/")
    assert "echarts" not in page.text.split("<footer")[0]  # the overview loads no chart library
    script = httpx.get(live.url + "/static/loopml.js?v=1", headers={"Accept-Encoding": "gzip"})
    assert script.headers["content-encoding"] == "gzip"
    assert script.headers["cache-control"] == "public, max-age=31536000, immutable"
    again = httpx.get(live.url + "/static/loopml.js", headers={"If-None-Match": script.headers["etag"]})
    assert again.status_code == 304
    assert httpx.get(live.url + "/static/../../config.py").status_code == 404
    assert httpx.get(live.url + "/static/%2e%2e/render.py").status_code == 404


def test_pages_send_security_headers(seeded: tuple[LiveServer, Seeded]) -> None:
    live, _ = seeded
    response = httpx.get(live.url + "/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie


def test_a_state_change_with_the_cookie_needs_the_csrf_token(seeded: tuple[LiveServer, Seeded]) -> None:
    live, _ = seeded
    with httpx.Client(base_url=live.url) as browser_like:
        page = browser_like.get("/")
        token = page.text.split('name="csrf-token" content="')[1].split('"')[0]
        refused = browser_like.post("/api/v1/experiments", json={"name": "from-the-ui"})
        assert refused.status_code == 403
        assert "CSRF" in refused.json()["error"]
        wrong = browser_like.post(
            "/api/v1/experiments", json={"name": "from-the-ui"}, headers={"X-CSRF-Token": "0" * 64}
        )
        assert wrong.status_code == 403
        made = browser_like.post("/api/v1/experiments", json={"name": "from-the-ui"}, headers={"X-CSRF-Token": token})
        assert made.status_code == 201, made.text
    # the SDK's way (no cookie) is unchanged
    assert httpx.post(live.api + "/experiments", json={"name": "from-the-sdk"}).status_code == 201


def test_login_with_a_token_and_back_to_the_page(auth_server: LiveServer, browser_page: Any) -> None:
    page = browser_page.page
    browser_page.expected_errors.append("401")
    page.goto(auth_server.url + "/?view=all")
    assert page.url.startswith(auth_server.url + "/login?next=")
    page.fill("#token", "not-a-token")
    page.click("button[type=submit]")
    assert page.locator("#login-error").inner_text() == "Unknown, revoked or expired token."
    secret = auth_server.create_token("ann", Role.READER)
    page.fill("#token", secret)
    page.click("button[type=submit]")
    page.wait_for_url(auth_server.url + "/?view=all")
    page.goto(auth_server.url + "/")
    assert "ann" in page.locator(".who").inner_text()
    assert page.locator(".who .badge").inner_text() == "reader"
    cookies = page.context.cookies()
    session = next(c for c in cookies if c["name"] == "loopml_session")
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    page.click("text=Log out")
    page.wait_for_url(auth_server.url + "/login")
    page.goto(auth_server.url + "/")
    assert "/login" in page.url


def test_login_form_refuses_a_post_without_its_csrf_token(auth_server: LiveServer) -> None:
    secret = auth_server.create_token("bob", Role.ADMIN)
    response = httpx.post(auth_server.url + "/login", data={"token": secret, "next": "/"})
    assert response.status_code == 403
    assert "CSRF" in response.text
    assert "loopml_session=t." not in response.headers.get("set-cookie", "")


def test_login_never_redirects_off_the_server(auth_server: LiveServer) -> None:
    secret = auth_server.create_token("carol", Role.READER)
    with httpx.Client(base_url=auth_server.url) as client:
        form = client.get("/login", params={"next": "//evil.example/x"})
        token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
        assert 'name="next" value="/"' in form.text
        done = client.post("/login", data={"token": secret, "csrf_token": token, "next": "https://evil.example"})
        assert done.status_code == 303
        assert done.headers["location"] == "/"


def test_a_reader_session_cannot_change_anything(auth_server: LiveServer) -> None:
    secret = auth_server.create_token("dave", Role.READER)
    with httpx.Client(base_url=auth_server.url) as client:
        form = client.get("/login")
        token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
        client.post("/login", data={"token": secret, "csrf_token": token, "next": "/"})
        page = client.get("/")
        assert page.status_code == 200
        csrf = page.text.split('name="csrf-token" content="')[1].split('"')[0]
        refused = client.put(
            "/api/v1/models/churn/aliases/production", json={"version": 1}, headers={"X-CSRF-Token": csrf}
        )
        assert refused.status_code == 403
        assert "reader" in refused.json()["error"]


def test_a_revoked_token_sends_the_browser_back_to_login(auth_server: LiveServer) -> None:
    admin = auth_server.create_token("root", Role.ADMIN)
    secret = auth_server.create_token("erin", Role.READER)
    with httpx.Client(base_url=auth_server.url) as browser_like:
        form = browser_like.get("/login")
        token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
        browser_like.post("/login", data={"token": secret, "csrf_token": token, "next": "/"})
        assert browser_like.get("/").status_code == 200
        with auth_server.client(admin) as api:
            assert api.delete("/tokens/erin").status_code == 204
        back = browser_like.get("/")
        assert back.status_code == 303
        assert back.headers["location"] == "/login?next=/"
        assert browser_like.get("/api/v1/experiments").status_code == 401
