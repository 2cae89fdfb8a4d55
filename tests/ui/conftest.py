"""Browser tests of the web UI: a real headless Chromium (Debian's, driven by Playwright) against a
real ``loopml server`` on a socket.

Chromium is looked for at ``/usr/bin/chromium`` (``LOOPML_TEST_CHROMIUM`` overrides). When it is
missing the browser tests skip with the reason, except under ``LOOPML_REQUIRE_SERVICES=1`` (CI,
where ``.ci/run`` installs it) where that is a failure. Every page a test opens records its console
errors and uncaught exceptions; ``browser_page`` fails the test if any were seen, and saves a
screenshot of the last page as a test artifact in ``test-artifacts/ui/``.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import REQUIRE_SERVICES

CHROMIUM = os.environ.get("LOOPML_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"
# the flags of a headless browser on a machine with no outside network (no update, sync or phoning home)
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def _require_chromium() -> None:
    if Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK):
        return
    message = f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message} and LOOPML_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium per test worker."""
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class PageErrors:
    """Console errors and uncaught exceptions seen by one page."""

    console: list[str] = field(default_factory=list)
    uncaught: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)

    def all(self) -> list[str]:
        return [*self.console, *self.uncaught, *self.failed_requests]


@dataclass
class BrowserPage:
    """A Playwright page plus what went wrong on it, and where its screenshot goes."""

    page: Any
    errors: PageErrors
    name: str
    expected_errors: list[str] = field(default_factory=list)
    """Substrings of console errors the test provokes on purpose (e.g. a 403 it asks for)."""

    def screenshot(self, label: str = "", *, full_page: bool = True) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name}{'-' + label if label else ''}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def unexpected_errors(self) -> list[str]:
        return [e for e in self.errors.all() if not any(x in e for x in self.expected_errors)]


def _failed(errors: PageErrors, request: Any) -> None:
    """A request that failed; one the browser cancelled because the page navigated away is not an error."""
    if "ERR_ABORTED" in str(request.failure):
        return
    errors.failed_requests.append(f"{request.method} {request.url}: {request.failure}")


@pytest.fixture
def browser_page(browser: Any, request: pytest.FixtureRequest) -> Iterator[BrowserPage]:
    """A fresh browser context and page; fails the test on console errors and saves a screenshot."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors = PageErrors()
    page.on("console", lambda m: errors.console.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.uncaught.append(str(exc)))
    page.on("requestfailed", lambda r: _failed(errors, r))
    page.on("response", lambda r: errors.failed_requests.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)[:120]
    wrapped = BrowserPage(page, errors, name)
    try:
        yield wrapped
        if page.url.startswith("http"):
            wrapped.screenshot()
        unexpected = wrapped.unexpected_errors()
        assert not unexpected, f"the page logged errors: {unexpected}"
    finally:
        context.close()
