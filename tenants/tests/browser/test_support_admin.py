"""The support admin in chromium, end to end: log in, read (audited), enter a tenant with a
reason, change a client, leave; the tenant's owner then sees every access in the audit log."""

from __future__ import annotations

import uuid

import pytest
import requests
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from clients.models import Client
from clients.tests.factories import ClientFactory
from conftest import make_tenant
from tenants.context import tenant_context
from tenants.models import User
from tenants.testing import token_for, totp_token

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"


def _salon(label: str):
    tenant, owner = make_tenant(f"{label} {uuid.uuid4().hex[:6]}")
    with tenant_context(tenant.id, role="system"):
        clients = [ClientFactory(tenant=tenant, first_name=f"{label}{i}", last_name="Client") for i in range(2)]
    return tenant, owner, clients


def test_support_reads_enters_changes_and_leaves_and_the_owner_sees_it(page, live_server, shot):
    tenant, owner, clients = _salon("Aurora")
    other, other_owner, other_clients = _salon("Borealis")
    staff = User.objects.create(
        username=f"support-{uuid.uuid4().hex[:6]}",
        email="support-browser@brandvx.test",
        is_staff=True,
        is_superuser=True,
    )
    staff.set_password(PASSWORD)
    staff.save()
    device = TOTPDevice.objects.create(user=staff, name="Phone", confirmed=True)
    reason = "Ticket 1234: the owner asked us to correct a client's name"

    # Log in.
    page.goto("/admin/")
    expect(page).to_have_url(f"{live_server.url}/admin/login/?next=/admin/")
    page.get_by_label("Username").fill(staff.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    # Two-factor (DEBUG is off): the password checks out, then the form asks for the device
    # and its current code.
    expect(page.get_by_text("Please enter your OTP token.")).to_be_visible()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("OTP Device:").select_option(device.persistent_id)
    page.get_by_label("OTP Token:").fill(totp_token(device))
    shot(page, "login-two-factor")
    page.get_by_role("button", name="Log in").click()

    # The index.
    expect(page).to_have_url(f"{live_server.url}/admin/")
    expect(page.locator("#site-name")).to_have_text("BrandVX support")
    expect(page.get_by_text("Read-only support access across tenants")).to_be_visible()
    shot(page, "index")

    # The password session is the admin's only: the API refuses it, even for tenant reads.
    refused = page.request.get("/api/v1/clients/")
    assert refused.status == 403 and refused.json()["code"] == "password_session_refused"

    # The tenant list.
    page.locator("#content-main").get_by_role("link", name="Tenants", exact=True).click()
    expect(page.locator("#result_list")).to_contain_text(tenant.name)
    shot(page, "tenants")

    # The tenant's clients (a read across tenants: audited for this tenant).
    page.goto(f"/admin/clients/client/?tenant__id__exact={tenant.id}")
    results = page.locator("#result_list")
    for client in clients:
        expect(results).to_contain_text(client.first_name)
    expect(results).not_to_contain_text(other_clients[0].first_name)
    expect(page.locator("#content-main").get_by_role("link", name="Add client")).to_have_count(0)  # read-only
    shot(page, "clients-read-only")

    # Enter the tenant, with a reason.
    page.goto(f"/admin/tenants/tenant/{tenant.id}/change/")
    page.get_by_role("link", name="Enter this tenant").click()
    page.get_by_label("Reason").fill(reason)
    page.get_by_role("button", name=f"Enter {tenant.name}").click()
    expect(page).to_have_url(f"{live_server.url}/admin/")
    expect(page.get_by_text(f"Acting inside tenant “{tenant.name}”")).to_be_visible()
    shot(page, "entered")

    # Change a client.
    target = clients[0]
    page.goto(f"/admin/clients/client/?tenant__id__exact={tenant.id}")
    page.locator("#result_list").get_by_role("link", name=f"{target.first_name} Client").click()
    page.get_by_label("First name").fill("Renamed")
    shot(page, "change-form")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    shot(page, "changed")

    # Leave.
    page.get_by_role("link", name="Leave tenant").click()
    expect(page.get_by_text("Read-only support access across tenants")).to_be_visible()
    expect(page.get_by_text("Acting inside tenant")).to_have_count(0)
    shot(page, "left")

    with tenant_context(tenant.id, role="owner_admin"):
        assert Client.objects.get(id=target.id).first_name == "Renamed"
    with tenant_context(other.id, role="owner_admin"):
        assert Client.objects.get(id=other_clients[0].id).first_name == other_clients[0].first_name

    # The owner reads the accesses through the API, with a bearer token.
    answer = requests.get(
        f"{live_server.url}/api/v1/audit-log/", headers={"Authorization": f"Bearer {token_for(owner)}"}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    rows = answer.json()["results"]
    assert {row["staff_email"] for row in rows} == {staff.email}
    actions = {row["action"] for row in rows}
    assert {"view", "enter", "change"} <= actions
    assert any(
        row["action"] == "view" and row["path"] == f"/admin/clients/client/?tenant__id__exact={tenant.id}"
        for row in rows
    ), rows
    assert any(row["action"] == "enter" and row["reason"] == reason for row in rows)
    assert any(
        row["action"] == "change" and row["path"].startswith(f"/admin/clients/client/{target.id}/change/")
        for row in rows
    ), rows
    # The other tenant's owner sees nothing of it: its clients never appeared on a page.
    other_log = requests.get(
        f"{live_server.url}/api/v1/audit-log/",
        headers={"Authorization": f"Bearer {token_for(other_owner)}"},
        timeout=10,
    )
    assert other_log.status_code == 200 and other_log.json()["results"] == []
