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
    # The page renders once it has fetched the schema (generated per request: seconds on a
    # loaded 2-core machine).
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("BrandVX API", timeout=60_000)
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


def test_a_member_of_two_salons_chooses_the_tenant_with_the_x_tenant_id_field(page, live_server, shot):
    """Issue 23: Swagger UI offers `X-Tenant-ID` on tenant operations; a person in two salons
    gets 400 tenant_required without it, and their chosen salon's data with it."""
    from clients.models import Client
    from tenants.context import tenant_context
    from tenants.testing import add_member

    world = TenantWorld()
    add_member(tenant=world.tenant_b, role="viewer", user=world.staff_a)
    with tenant_context(world.tenant_b.id, role="system"):
        Client.objects.create(tenant=world.tenant_b, first_name="Bruno", email="bruno@example.test")
    token = token_for(world.staff_a, minutes=15)

    page.goto("/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("BrandVX API", timeout=60_000)
    page.get_by_role("button", name="Authorize").first.click()
    scheme = page.locator(".modal-ux .auth-container").filter(has_text="SupabaseJWT")
    scheme.locator("#auth-bearer-value").fill(token)
    scheme.locator("button.authorize").click()
    scheme.locator("button.btn-done").click()

    # The operations are grouped by area, each with a summary.
    expect(page.locator(".opblock-tag-section h3").filter(has_text="clients")).to_have_count(1)
    operation = page.locator("#operations-clients-v1_clients_list")
    expect(operation.locator(".opblock-summary-description")).to_have_text("List clients")
    operation.locator(".opblock-summary").first.click()
    operation.get_by_role("button", name="Try it out").click()
    header = operation.locator('tr[data-param-name="X-Tenant-ID"]')
    expect(header).to_contain_text("header")
    shot(page, "tenant-field")

    with page.expect_response(lambda r: "/api/v1/clients/" in r.url) as answer:
        operation.get_by_role("button", name="Execute").click()
    assert answer.value.status == 400
    assert answer.value.json()["code"] == "tenant_required"

    header.locator("input").fill(str(world.tenant_b.id))
    with page.expect_response(lambda r: "/api/v1/clients/" in r.url) as answer:
        operation.get_by_role("button", name="Execute").click()
    assert answer.value.status == 200
    assert answer.value.request.headers["x-tenant-id"] == str(world.tenant_b.id)
    assert [row["first_name"] for row in answer.value.json()["results"]] == ["Bruno"]
    shot(page, "chosen")
