"""Real-browser tests: Playwright for Python driving Debian's chromium against a live server.

- The browser is the system's `/usr/bin/chromium` (`.ci/run` installs it with apt-get);
  Playwright's own browser downloads are never used (no `playwright install`). Set
  BRANDVX_CHROMIUM to use another binary. Without one, these tests skip, saying why, except
  under BRANDVX_REQUIRE_CHROMIUM=1 (CI), where they fail.
- pytest-django's `live_server` runs the application in a thread, with its own database
  connections, outside any test transaction: every request commits, and the ATOMIC_REQUESTS
  transaction, the tenant context and page rendering happen exactly as in production.
- pytest-django's `transactional_db` (which `live_server` requests) would flush the tables
  after each test, and the runtime role may not TRUNCATE: here it is the `committed` fixture
  instead. Rows stay behind; each test builds its own tenants and users, and the test
  database is dropped at the end of the session.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("BRANDVX_CHROMIUM") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = os.environ.get("BRANDVX_SCREENSHOTS")  # a folder: save a screenshot of each step there


@pytest.fixture
def transactional_db(committed):
    """What `live_server` asks for: a database with no wrapping transaction and no flush."""


@pytest.fixture(scope="module")
def browser():
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        message = f"no chromium at {CHROMIUM} (apt-get install chromium, or set BRANDVX_CHROMIUM)"
        if os.environ.get("BRANDVX_REQUIRE_CHROMIUM") == "1":  # CI (.ci/run): never skip
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop on this thread; Django would then refuse the
    # test's own (synchronous) ORM calls. Allowed only while a browser is open.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, live_server, request):
    """A fresh browser context (no cookies) and page; failed requests to other hosts fail
    the test, so nothing is loaded from a CDN."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    foreign: list[str] = []

    def only_local(route):
        if route.request.url.startswith(live_server.url):
            route.continue_()
        else:
            foreign.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    page = context.new_page()
    page.foreign_requests = foreign
    yield page
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{request.node.name}-last.png"))
    context.close()
    assert not foreign, f"the page tried to load from other hosts: {foreign}"


@pytest.fixture
def shot(request):
    """shot(page, "step"): a full-page screenshot into BRANDVX_SCREENSHOTS, when set."""

    def take(page, step: str) -> None:
        if SCREENSHOTS:
            Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(SCREENSHOTS) / f"{request.node.name}-{step}.png"))

    return take
