"""The support admin: read across tenants (audited), change only after entering a tenant."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client as HttpClient
from django.test.utils import CaptureQueriesContext

from conftest import TenantWorld
from tenants.context import tenant_context
from tenants.models import BackgroundJob, Membership, SupportAccess, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def support():
    user = User.objects.create(username="support", email="support@brandvx.test", is_staff=True, is_superuser=True)
    client = HttpClient()
    client.force_login(user)
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
    urls = {
        model: f"/admin/{model._meta.app_label}/{model._meta.model_name}/" for model in admin.site._registry
    }
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
