"""The project's real-browser fixtures (tenants/tests/browser/conftest.py: chromium, a live
server outside any test transaction)."""

from tenants.tests.browser.conftest import browser, page, shot, transactional_db  # noqa: F401
