"""The support admin in chromium, end to end, with a support engineer made as the README
says (`enroll_support_staff`, then `changepassword`; not a superuser): log in with the TOTP
code from the printed provisioning URI, read (audited), enter a tenant with a reason, change
a client's contact field and a draft's text, leave; the tenant's owner then reads every
access in the audit log and every change, with who made it and why, in the change log."""

from __future__ import annotations

import datetime
import uuid
from typing import cast

import pytest
import requests
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from campaigns.models import MessageDraft
from clients.models import Client
from clients.tests.factories import ClientFactory
from conftest import make_tenant
from tenants.context import tenant_context
from tenants.testing import enroll_support_engineer, token_for

pytestmark = pytest.mark.browser


def _salon(label: str):
    tenant, owner = make_tenant(f"{label} {uuid.uuid4().hex[:6]}")
    with tenant_context(tenant.id, role="system"):
        clients = [
            cast(Client, ClientFactory(tenant=tenant, first_name=f"{label}{i}", last_name="Client")) for i in range(2)
        ]
        draft = MessageDraft.objects.create(
            tenant=tenant,
            client=clients[0],
            channel="sms",
            occasion_date=datetime.date(2026, 12, 24),
            body=f"Happy birthday, {clients[0].first_name}!",
        )
    return tenant, owner, clients, draft


def test_support_reads_enters_changes_and_leaves_and_the_owner_sees_it(page, live_server, shot):
    tenant, owner, clients, draft = _salon("Aurora")
    other, other_owner, other_clients, _ = _salon("Borealis")
    engineer = enroll_support_engineer(f"support-{uuid.uuid4().hex[:6]}@brandvx.example")
    staff = engineer.user
    assert staff.is_staff and not staff.is_superuser
    device = TOTPDevice.objects.get(user=staff)
    reason = "Ticket 1234: the owner asked us to correct a client's e-mail"

    # Log in.
    page.goto("/admin/")
    expect(page).to_have_url(f"{live_server.url}/admin/login/?next=/admin/")
    page.get_by_label("Username").fill(staff.username)
    page.get_by_label("Password").fill(engineer.password)
    page.get_by_role("button", name="Log in").click()
    # Two-factor (DEBUG is off): the password checks out, then the form asks for the device
    # and its current code (what the authenticator app shows for the printed URI).
    expect(page.get_by_text("Please enter your OTP token.")).to_be_visible()
    page.get_by_label("Password").fill(engineer.password)
    page.get_by_label("OTP Device:").select_option(device.persistent_id)
    page.get_by_label("OTP Token:").fill(engineer.totp_code())
    shot(page, "login-two-factor")
    page.get_by_role("button", name="Log in").click()

    # The index.
    expect(page).to_have_url(f"{live_server.url}/admin/")
    expect(page.locator("#site-name")).to_have_text("BrandVX support")
    expect(page.get_by_text("Read-only support access across tenants")).to_be_visible()
    expect(page.get_by_role("link", name="View site")).to_have_attribute("href", "/api/v1/")
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
    shot(page, "clients")
    results.get_by_role("link", name=f"{clients[0].first_name} Client").click()
    expect(page.locator("#id_email")).to_have_count(0)  # read-only until the tenant is entered
    expect(page.get_by_role("button", name="Save", exact=True)).to_have_count(0)
    shot(page, "client-read-only")

    # Enter the tenant, with a reason.
    page.goto(f"/admin/tenants/tenant/{tenant.id}/change/")
    page.get_by_role("link", name="Enter this tenant").click()
    page.get_by_label("Reason").fill(reason)
    page.get_by_role("button", name=f"Enter {tenant.name}").click()
    expect(page).to_have_url(f"{live_server.url}/admin/")
    expect(page.get_by_text(f"Acting inside tenant “{tenant.name}”")).to_be_visible()
    shot(page, "entered")

    # Change a client's e-mail (a contact field; consent and birthday are not fields here).
    target = clients[0]
    page.goto(f"/admin/clients/client/?tenant__id__exact={tenant.id}")
    page.locator("#result_list").get_by_role("link", name=f"{target.first_name} Client").click()
    expect(page.locator("#id_email_consent")).to_have_count(0)
    expect(page.locator("#id_birthday_month")).to_have_count(0)
    page.locator("#id_email").fill(" Renamed.Client@Example.COM ")
    shot(page, "change-form")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    shot(page, "changed")

    # Change the draft's text.
    page.goto("/admin/")
    page.locator("#content-main").get_by_role("link", name="Message drafts").click()
    page.locator("#result_list tbody").get_by_role("link", name="Dec. 24, 2026").click()
    expect(page.locator("#id_status")).to_have_count(0)  # only the text is a field
    page.locator("#id_body").fill("Happy birthday! 10% off any colour this week.")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    shot(page, "draft-changed")

    # Leave.
    page.get_by_role("link", name="Leave tenant").click()
    expect(page.get_by_text("Read-only support access across tenants")).to_be_visible()
    expect(page.get_by_text("Acting inside tenant")).to_have_count(0)
    shot(page, "left")

    with tenant_context(tenant.id, role="owner_admin"):
        saved = Client.objects.get(id=target.id)
        assert saved.email == "renamed.client@example.com"  # normalized, as the API stores it
        assert MessageDraft.objects.get(id=draft.id).body == "Happy birthday! 10% off any colour this week."
    with tenant_context(other.id, role="owner_admin"):
        assert Client.objects.get(id=other_clients[0].id).email == other_clients[0].email

    # The owner finds both changes, who made them and why, in the change log.
    changes = requests.get(
        f"{live_server.url}/api/v1/change-log/", headers={"Authorization": f"Bearer {token_for(owner)}"}, timeout=10
    )
    assert changes.status_code == 200, changes.text
    by_support = [row for row in changes.json()["results"] if row["actor_kind"] == "support"]
    assert {(row["action"], row["object_id"]) for row in by_support} == {
        ("client.updated", str(target.id)),
        ("draft.edited", str(draft.id)),
    }, by_support
    for row in by_support:
        assert (row["actor_label"], row["actor_user_id"], row["reason"]) == (staff.email, str(staff.id), reason)
    assert "email" in next(row["fields"] for row in by_support if row["action"] == "client.updated")

    # The owner reads the accesses through the API, with a bearer token.
    answer = requests.get(
        f"{live_server.url}/api/v1/audit-log/", headers={"Authorization": f"Bearer {token_for(owner)}"}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    rows = answer.json()["results"]
    assert {row["staff_email"] for row in rows} == {staff.email}
    actions = {row["action"] for row in rows}
    assert {"view", "enter", "change", "leave"} <= actions
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


def test_a_locked_out_sign_in_reads_why_and_how_long(page, live_server, shot, settings):
    """After ADMIN_LOGIN_FAILURE_LIMIT wrong passwords, the sign-in page answers 429 with a
    page that says what happened and the minutes left (django-axes' bare text before)."""
    from axes.models import AccessAttempt

    engineer = enroll_support_engineer(f"support-{uuid.uuid4().hex[:6]}@brandvx.example")
    try:
        page.goto("/admin/login/")
        for _ in range(settings.AXES_FAILURE_LIMIT):
            page.get_by_label("Username").fill(engineer.user.username)
            page.get_by_label("Password").fill("not the password")
            page.get_by_role("button", name="Log in").click()
            if page.get_by_text("Sign-in locked").count():
                break
        expect(page.get_by_role("heading", name="Sign-in locked")).to_be_visible()
        minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
        expect(page.get_by_text(f"Try again in {minutes} minutes")).to_be_visible()
        shot(page, "locked")
        # Even the right password is refused now, with the same page.
        page.goto("/admin/login/")
        page.get_by_label("Username").fill(engineer.user.username)
        page.get_by_label("Password").fill(engineer.password)
        with page.expect_response(lambda r: r.url.endswith("/admin/login/") and r.request.method == "POST") as sent:
            page.get_by_role("button", name="Log in").click()
        assert sent.value.status == 429
        expect(page.get_by_role("heading", name="Sign-in locked")).to_be_visible()
    finally:
        # The lock covers this address (the live server's callers): lift it for later tests.
        AccessAttempt.objects.filter(username=engineer.user.username).delete()
        AccessAttempt.objects.filter(ip_address="127.0.0.1").delete()
