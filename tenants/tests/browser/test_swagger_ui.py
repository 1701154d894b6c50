"""Swagger UI at /api/docs/, in chromium: served by the project itself, Authorize, Try it out."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from conftest import TenantWorld
from tenants.testing import token_for

pytestmark = pytest.mark.browser


def test_swagger_ui_renders_from_local_assets_and_tries_me_with_a_bearer_token(page, live_server, shot):
    world = TenantWorld()
    token = token_for(world.owner_a, minutes=15)
    assets: list[str] = []
    page.on("requestfinished", lambda req: assets.append(req.url))

    page.goto("/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("BrandVX API")
    assert any("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in url for url in assets)
    assert page.foreign_requests == []
    shot(page, "rendered")

    # Authorize with the bearer token.
    page.get_by_role("button", name="Authorize").first.click()
    dialog = page.locator(".modal-ux")
    scheme = dialog.locator(".auth-container").filter(has_text="SupabaseJWT")
    scheme.locator("#auth-bearer-value").fill(token)
    scheme.locator("button.authorize").click()  # labelled "Apply credentials"
    expect(scheme.locator("button", has_text="Logout")).to_be_visible()
    shot(page, "authorized")
    scheme.locator("button.btn-done").click()

    # Try it out on GET /api/v1/me/.
    operation = page.locator(".opblock-get").filter(has=page.locator('.opblock-summary-path[data-path="/api/v1/me/"]'))
    expect(operation).to_have_count(1)
    operation.locator(".opblock-summary").first.click()
    operation.get_by_role("button", name="Try it out").click()
    with page.expect_response(lambda r: r.url.endswith("/api/v1/me/")) as answer:
        operation.get_by_role("button", name="Execute").click()
    assert answer.value.status == 200
    assert answer.value.request.headers["authorization"] == f"Bearer {token}"
    live = operation.locator(".live-responses-table .response .response-col_status").first
    expect(live).to_have_text("200")
    body = json.loads(
        operation.locator(".live-responses-table .response-col_description pre.microlight").first.inner_text()
    )
    assert body["id"] == str(world.owner_a.id) and body["tenant"]["id"] == str(world.tenant_a.id)
    shot(page, "tried")
