"""The support admin: read across tenants (audited), change only after entering a tenant."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client as HttpClient
from django.test.utils import CaptureQueriesContext

from conftest import TenantWorld
from tenants.context import tenant_context
from tenants.models import BackgroundJob, Membership, SupportAccess, User
from tenants.testing import admin_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def support():
    user = User.objects.create(username="support", email="support@brandvx.test", is_staff=True, is_superuser=True)
    client = HttpClient()
    assert admin_login(client, user).status_code == 302
    client.user = user
    return client


def jobs_for(tenant, n: int):
    with tenant_context(tenant.id, role="system"):
        return [BackgroundJob.objects.create(tenant=tenant, kind=f"kind-{tenant.name}-{i}") for i in range(n)]


def accesses(tenant) -> list[SupportAccess]:
    with tenant_context(tenant.id, role="owner_admin"):
        return list(SupportAccess.objects.order_by("occurred_at"))


def test_changelist_reads_across_tenants_and_audits_each_tenant(support):
    world = TenantWorld()
    jobs_for(world.tenant_a, 2)
    jobs_for(world.tenant_b, 1)
    response = support.get("/admin/tenants/backgroundjob/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "kind-Salon A-0" in page and "kind-Salon B-0" in page
    assert "Read-only support access" in page
    for tenant in (world.tenant_a, world.tenant_b):
        rows = accesses(tenant)
        assert [(r.action, r.staff_user_id) for r in rows] == [("view", support.user.id)]
        assert rows[0].path == "/admin/tenants/backgroundjob/"
    # The owner reads it through the API.
    body = world.a.get("/api/v1/audit-log/").json()
    assert [row["staff_email"] for row in body["results"]] == ["support@brandvx.test"]


def test_changelist_makes_no_query_per_row(support):
    world = TenantWorld()
    jobs_for(world.tenant_a, 3)
    with CaptureQueriesContext(connection) as few:
        assert support.get("/admin/tenants/backgroundjob/").status_code == 200
    jobs_for(world.tenant_a, 25)
    with CaptureQueriesContext(connection) as many:
        assert support.get("/admin/tenants/backgroundjob/").status_code == 200
    assert len(many) == len(few)


def test_reading_is_read_only_until_the_tenant_is_entered(support):
    world = TenantWorld()
    with tenant_context(world.tenant_a.id, role="system"):
        membership = Membership.objects.get(user=world.staff_a)
    url = f"/admin/tenants/membership/{membership.id}/change/"
    page = support.get(url)
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    response = support.post(url, {"role": "viewer", "is_active": "on", "user": str(world.staff_a.id)})
    assert response.status_code == 403
    with tenant_context(world.tenant_a.id, role="system"):
        assert Membership.objects.get(id=membership.id).role == "staff"


def test_entering_a_tenant_requires_a_reason_and_scopes_changes(support):
    world = TenantWorld()
    jobs_for(world.tenant_b, 1)
    with tenant_context(world.tenant_a.id, role="system"):
        membership = Membership.objects.get(user=world.staff_a)
    enter = f"/admin/support/enter/{world.tenant_a.id}/"
    assert support.post(enter, {"reason": "short"}).status_code == 200  # form error, not entered
    assert support.post(enter, {"reason": "Ticket 1234: owner asked to demote Sam"}).status_code == 302
    page = support.get("/admin/tenants/backgroundjob/").content.decode()
    assert "Acting inside tenant" in page and "kind-Salon B" not in page
    url = f"/admin/tenants/membership/{membership.id}/change/"
    response = support.post(url, {"role": "viewer", "is_active": "on", "user": str(world.staff_a.id)})
    assert response.status_code == 302, response.content.decode()[:2000]
    with tenant_context(world.tenant_a.id, role="system"):
        assert Membership.objects.get(id=membership.id).role == "viewer"
    actions = [(r.action, r.reason) for r in accesses(world.tenant_a)]
    assert ("enter", "Ticket 1234: owner asked to demote Sam") in actions
    assert ("change", "Ticket 1234: owner asked to demote Sam") in actions
    # Tenant B's objects are out of reach while inside A.
    with tenant_context(world.tenant_b.id, role="system"):
        b_membership = Membership.objects.get(user=world.staff_b)
    assert support.get(f"/admin/tenants/membership/{b_membership.id}/change/").status_code == 302  # "does not exist"
    support.get("/admin/support/leave/")
    assert "Read-only support access" in support.get("/admin/").content.decode()


def test_non_staff_cannot_use_the_admin():
    world = TenantWorld()
    client = HttpClient()
    client.force_login(world.owner_a)
    assert client.get("/admin/tenants/backgroundjob/").status_code == 302  # to the login page


def test_every_admin_changelist_works_and_makes_no_query_per_row(support):
    """Walks the admin registry: each changelist renders, and doubling the rows (a second
    two-tenant world) does not change the number of queries."""
    from django.contrib import admin

    from conftest import build_full_world

    build_full_world()
    urls = {model: f"/admin/{model._meta.app_label}/{model._meta.model_name}/" for model in admin.site._registry}
    counts = {}
    for model, url in urls.items():
        with CaptureQueriesContext(connection) as queries:
            response = support.get(url)
        assert response.status_code == 200, f"{url}: {response.status_code}"
        counts[model] = len(queries)
    build_full_world()
    problems = []
    for model, url in urls.items():
        with CaptureQueriesContext(connection) as queries:
            support.get(url)
        if len(queries) != counts[model]:
            problems.append(f"{url}: {counts[model]} queries, then {len(queries)} with twice the rows")
    assert not problems, "\n".join(problems)


def test_every_admin_search_works(support):
    from django.contrib import admin

    for model, model_admin in admin.site._registry.items():
        if model_admin.search_fields:
            url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/?q=salon"
            assert support.get(url).status_code == 200, url


def test_autocomplete_is_support_scoped_and_audited(support):
    from conftest import build_full_world

    world = build_full_world()
    url = "/admin/autocomplete/?app_label=analytics&model_name=appointment&field_name=client&term=Ada"
    names = {row["text"] for row in support.get(url).json()["results"]}
    assert {"AdaSalonA SecretSalonA", "AdaSalonB SecretSalonB"} <= names  # read mode: every tenant
    assert ("view", "/admin/autocomplete/") in {(r.action, r.path.split("?")[0]) for r in accesses(world.tenant_b)}
    support.post(f"/admin/support/enter/{world.tenant_a.id}/", {"reason": "Ticket 77: fix a booking"})
    names = {row["text"] for row in support.get(url).json()["results"]}
    assert "AdaSalonA SecretSalonA" in names and "AdaSalonB SecretSalonB" not in names


# --- the perimeter: support acts only inside an entered tenant (issue 12) -----------------

TAKEOVER_PASSWORD = "attacker-chosen-password-123"


def tenant_form(tenant, **changes) -> dict:
    data = {
        "name": tenant.name,
        "slug": tenant.slug,
        "timezone": tenant.timezone,
        "currency": tenant.currency,
        "country": tenant.country,
        "is_active": "on",
    }
    data.update(changes)
    return data


def user_form(user, **changes) -> dict:
    data = {
        "username": user.username,
        "email": user.email,
        "first_name": "",
        "last_name": "",
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }
    data.update(changes)
    return data


def test_takeover_replay_every_step_is_refused(support):
    """The attack from issue 12, step by step, by a support superuser."""
    world = TenantWorld()
    tenant_a, owner = world.tenant_a, world.owner_a
    # 1. Rename tenant A without entering it.
    response = support.post(f"/admin/tenants/tenant/{tenant_a.id}/change/", tenant_form(tenant_a, name="Owned"))
    assert response.status_code == 403
    tenant_a.refresh_from_db()
    assert tenant_a.name == "Salon A"
    # 2. Set a password and is_staff on A's owner through UserAdmin: refused outside the
    #    tenant and inside it (entered, with a reason) alike.
    for entered in (False, True):
        if entered:
            support.post(f"/admin/support/enter/{tenant_a.id}/", {"reason": "Ticket 9: owner cannot log in"})
        password = support.post(
            f"/admin/tenants/user/{owner.id}/password/",
            {"password1": TAKEOVER_PASSWORD, "password2": TAKEOVER_PASSWORD},
        )
        assert password.status_code == 403
        change = support.post(f"/admin/tenants/user/{owner.id}/change/", user_form(owner, is_staff="on"))
        assert change.status_code == 403
        assert (
            support.post(
                "/admin/tenants/user/add/",
                {"username": "x", "password1": TAKEOVER_PASSWORD, "password2": TAKEOVER_PASSWORD},
            ).status_code
            == 403
        )
    owner.refresh_from_db()
    assert not owner.is_staff and not owner.check_password(TAKEOVER_PASSWORD)
    # 3. Log in as the owner with that password: nothing to log in with.
    attacker = HttpClient()
    login = attacker.post("/admin/login/", {"username": owner.username, "password": TAKEOVER_PASSWORD})
    assert login.status_code == 200 and "_auth_user_id" not in attacker.session
    # A's owner reads the support visit (the entry, with its reason) in the audit log.
    reasons = {row["reason"] for row in world.a.get("/api/v1/audit-log/").json()["results"]}
    assert "Ticket 9: owner cannot log in" in reasons


def test_takeover_replay_step_4_a_django_session_cannot_change_tenant_data():
    world = TenantWorld()
    """4. Change A's campaign settings through the API with the owner's admin (password)
    session, as if steps 1-3 had worked: the API takes no Django admin session."""
    session = HttpClient()
    session.force_login(world.owner_a)
    response = session.patch("/api/v1/campaigns/settings/", {"birthday_days_ahead": 3}, content_type="application/json")
    assert response.status_code == 403 and response.json()["code"] == "password_session_refused", response.content
    assert world.a.get("/api/v1/campaigns/settings/").json()["birthday_days_ahead"] != 3


def test_a_tenant_changes_only_from_inside_it_audited(support):
    world = TenantWorld()
    support.post(f"/admin/support/enter/{world.tenant_a.id}/", {"reason": "Ticket 12: rename after rebrand"})
    response = support.post(
        f"/admin/tenants/tenant/{world.tenant_a.id}/change/", tenant_form(world.tenant_a, name="Salon A2")
    )
    assert response.status_code == 302
    world.tenant_a.refresh_from_db()
    assert world.tenant_a.name == "Salon A2"
    assert ("change", "Ticket 12: rename after rebrand") in {(r.action, r.reason) for r in accesses(world.tenant_a)}
    # Inside A, tenant B is out of reach; adding or deleting tenants is never an admin page.
    other = support.post(
        f"/admin/tenants/tenant/{world.tenant_b.id}/change/", tenant_form(world.tenant_b, name="Owned")
    )
    assert other.status_code == 403
    assert (
        support.post("/admin/tenants/tenant/add/", tenant_form(world.tenant_b, name="New", slug="new")).status_code
        == 403
    )
    assert support.post(f"/admin/tenants/tenant/{world.tenant_a.id}/delete/", {"post": "yes"}).status_code == 403


def test_viewing_a_tenant_or_its_users_is_audited_and_shows_no_password_hash(support):
    world = TenantWorld()
    page = support.get(f"/admin/tenants/user/{world.owner_a.id}/change/")
    assert page.status_code == 200 and world.owner_a.email in page.content.decode()
    # A staff account has a password: its page shows neither the hash nor its summary.
    support.user.refresh_from_db()
    staff_page = support.get(f"/admin/tenants/user/{support.user.id}/change/").content.decode()
    assert support.user.email in staff_page and support.user.password.split("$")[-1] not in staff_page
    assert "md5" not in staff_page
    assert support.get(f"/admin/tenants/tenant/{world.tenant_b.id}/change/").status_code == 200
    assert ("view", f"/admin/tenants/user/{world.owner_a.id}/change/") in {
        (r.action, r.path) for r in accesses(world.tenant_a)
    }
    assert ("view", f"/admin/tenants/tenant/{world.tenant_b.id}/change/") in {
        (r.action, r.path) for r in accesses(world.tenant_b)
    }
    assert not [r for r in accesses(world.tenant_b) if "/tenants/user/" in r.path]


def test_platform_pages_that_decide_access_are_read_only(support):
    """Groups (permissions), OTP devices, sign-in lockouts and webhook routes are shown, never
    changed, through the admin; beat schedules are never added or deleted."""
    from django.contrib import admin
    from django_celery_beat.models import PeriodicTask

    from integrations.models import ConnectionRoute

    read_only = [
        model
        for model in admin.site._registry
        if model._meta.app_label in {"auth", "django_celery_beat", "axes", "otp_totp"} or model is ConnectionRoute
    ]
    assert PeriodicTask in read_only and ConnectionRoute in read_only
    for model in read_only:
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        assert support.post(base + "add/", {}).status_code == 403, base
    task = PeriodicTask.objects.first()
    # Beat schedules: a superuser may change one (audited: test_admin_support_staff), never
    # delete one; support staff neither (no action either).
    assert support.post(f"/admin/django_celery_beat/periodictask/{task.id}/delete/", {"post": "yes"}).status_code == 403
    assert PeriodicTask.objects.filter(id=task.id, name=task.name).exists()
    for model in read_only:
        if model._meta.app_label != "django_celery_beat":
            obj = model.objects.first()
            if obj is not None:
                change = f"/admin/{model._meta.app_label}/{model._meta.model_name}/{obj.pk}/change/"
                assert support.post(change, {}).status_code == 403, change


def test_a_staff_user_without_the_support_permission_gets_no_tenant_data():
    from conftest import build_full_world

    build_full_world()
    staff = User.objects.create(username="plain-staff", email="plain@brandvx.test", is_staff=True)
    client = HttpClient()
    assert admin_login(client, staff).status_code == 302  # signed in (password and OTP), and yet:
    for url in (
        "/admin/",
        "/admin/clients/client/",
        "/admin/tenants/user/",
        "/admin/tenants/tenant/",
        "/admin/autocomplete/?app_label=analytics&model_name=appointment&field_name=client&term=Ada",
    ):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), url
    assert "SecretSalon" not in client.get("/admin/clients/client/", follow=True).content.decode()
