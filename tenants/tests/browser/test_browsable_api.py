"""The browsable API in chromium: a salon user signs in with a pasted Supabase token, works
with their own tenant's data, and signs out."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from clients.models import Client
from conftest import TenantWorld
from tenants.context import tenant_context
from tenants.testing import add_member, token_for

pytestmark = pytest.mark.browser


def _client(tenant, first_name: str, last_name: str) -> Client:
    with tenant_context(tenant.id, role="system"):
        return Client.objects.create(
            tenant=tenant, first_name=first_name, last_name=last_name, email=f"{first_name.lower()}@example.test"
        )


def test_a_salon_user_signs_in_with_a_token_uses_the_api_and_signs_out(page, live_server, shot):
    world = TenantWorld()
    _client(world.tenant_a, "Alma", "Ours")
    _client(world.tenant_b, "Bruno", "Theirs")

    # Not signed in: 401, with DRF's "Log in" link to our sign-in page.
    response = page.goto("/api/v1/clients/")
    assert response.status == 401
    page.get_by_role("link", name="Log in").click()
    expect(page).to_have_url(f"{live_server.url}/api-auth/login/?next=/api/v1/clients/")
    shot(page, "sign-in")

    # A bad token: the form says why, and nothing is signed in.
    page.get_by_label("Supabase access token").fill("not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signin-error")).to_have_attribute("data-code", "malformed_token")
    shot(page, "bad-token")

    page.get_by_label("Supabase access token").fill(token_for(world.owner_a, minutes=15))
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/api/v1/clients/")
    expect(page.locator("#current-tenant")).to_have_text("Salon A (owner_admin)")
    content = page.locator(".response-info")
    expect(content).to_contain_text("Alma")
    expect(content).not_to_contain_text("Bruno")
    shot(page, "clients")

    # An unsafe method from the browsable API's own form (CSRF token included by the page).
    page.locator("#post-object-form input[name=first_name]").fill("Carla")
    page.locator("#post-object-form input[name=last_name]").fill("Nova")
    page.locator("#post-object-form button", has_text="POST").click()
    expect(page.locator(".response-info")).to_contain_text("HTTP 201 Created")
    shot(page, "created")
    with tenant_context(world.tenant_a.id, role="system"):
        assert Client.objects.filter(first_name="Carla", last_name="Nova").exists()

    # Sign out from the navigation bar's menu.
    page.goto("/api/v1/clients/")
    page.locator(".navbar .dropdown-toggle").click()
    page.get_by_role("link", name="Log out").click()
    expect(page.locator("#signed-out")).to_be_visible()
    shot(page, "signed-out")
    assert page.goto("/api/v1/clients/").status == 401


def test_a_member_of_several_salons_picks_one_after_signing_in(page, live_server, shot):
    world = TenantWorld()
    add_member(tenant=world.tenant_b, role="viewer", user=world.staff_a)
    _client(world.tenant_a, "Alma", "Ours")
    _client(world.tenant_b, "Bruno", "Theirs")

    page.goto("/api-auth/login/?next=/api/v1/clients/")
    page.get_by_label("Supabase access token").fill(token_for(world.staff_a, minutes=15))
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/api-auth/tenant/?next=%2Fapi%2Fv1%2Fclients%2F")
    shot(page, "picker")
    page.get_by_role("button", name="Salon B viewer").click()
    expect(page).to_have_url(f"{live_server.url}/api/v1/clients/")
    expect(page.locator("#current-tenant")).to_have_text("Salon B (viewer)")
    expect(page.locator(".response-info")).to_contain_text("Bruno")
    expect(page.locator(".response-info")).not_to_contain_text("Alma")
    expect(page.locator("#post-object-form")).to_have_count(0)  # a viewer gets no create form

    # Switch from the navigation bar.
    page.locator("#current-tenant").click()
    page.get_by_role("button", name="Salon A staff").click()
    expect(page.locator("#current-tenant")).to_have_text("Salon A (staff)")
    expect(page.locator(".response-info")).to_contain_text("Alma")
    expect(page.locator(".response-info")).not_to_contain_text("Bruno")
    shot(page, "switched")
