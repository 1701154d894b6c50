"""The unsubscribe page as a person sees it, in chromium against a live server: opening the
link only asks, the button unsubscribes, a broken link names nobody."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from campaigns import unsubscribe
from campaigns.tests.factories import make_client
from clients.models import Client
from conftest import TenantWorld
from tenants.context import tenant_context

pytestmark = pytest.mark.browser


def email_consent(tenant, client) -> bool:
    with tenant_context(tenant.id, role="system"):
        return Client.objects.get(id=client.id).email_consent


def test_the_link_asks_and_the_button_unsubscribes(page, live_server, shot):
    world = TenantWorld()
    ana = make_client(world.tenant_a, first_name="Ana")
    token = unsubscribe.token_make(tenant_id=world.tenant_a.id, client_id=ana.id, channel="email")

    response = page.goto(f"/u/{token}/")
    assert response.status == 200
    expect(page.locator("#question")).to_contain_text(f"Stop receiving emails from {world.tenant_a.name}?")
    shot(page, "asked")
    assert email_consent(world.tenant_a, ana) is True  # opening the link changed nothing

    page.locator("#unsubscribe-confirm").click()
    expect(page.locator("#done")).to_contain_text(f"You will receive no more emails from {world.tenant_a.name}.")
    shot(page, "done")
    assert email_consent(world.tenant_a, ana) is False

    # Reloading the confirmation asks again; nothing else is recorded twice.
    page.goto(f"/u/{token}/")
    expect(page.locator("#question")).to_be_visible()


def test_a_broken_link_is_a_page_that_names_nobody(page, live_server):
    world = TenantWorld()
    ana = make_client(world.tenant_a, first_name="Ana")
    token = unsubscribe.token_make(tenant_id=world.tenant_a.id, client_id=ana.id, channel="email")
    response = page.goto(f"/u/{token[:-4]}abcd/")
    assert response.status == 404
    expect(page.locator("#not-found")).to_contain_text("This unsubscribe link is not valid")
    assert world.tenant_a.name not in page.content() and "Ana" not in page.content()
    assert email_consent(world.tenant_a, ana) is True
