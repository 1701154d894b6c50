"""Support staff as they are made (`enroll_support_staff`, not superusers) and what they may
do; superusers inside a tenant; every admin write a ChangeRecord for the owner (issues 23,
24). Outside any test transaction: each request commits, as in production."""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client as HttpClient

from campaigns.models import MessageDraft
from clients.models import Client, ClientTag, Tag
from clients.normalize import contact_hash
from conftest import make_tenant
from tenants.context import tenant_context
from tenants.models import Membership, Role, SupportAccess, User
from tenants.testing import add_member, admin_login, api_client, enroll_support_engineer, support_login

pytestmark = pytest.mark.usefixtures("committed")

REASON = "Ticket 4711: the owner asked us to fix a client's e-mail"


def _unique(label: str) -> str:
    return f"{label} {uuid.uuid4().hex[:8]}"


def salon(label: str = "Salon"):
    tenant, owner = make_tenant(_unique(label))
    with tenant_context(tenant.id, role="system"):
        client = Client.objects.create(
            tenant=tenant,
            first_name="Ada",
            last_name="Lovelace",
            email="ada@example.test",
            email_hash=contact_hash("ada@example.test"),
            birthday_month=12,
            birthday_day=10,
        )
        draft = MessageDraft.objects.create(
            tenant=tenant,
            client=client,
            channel="sms",
            occasion_date=datetime.date(2026, 12, 10),
            body="Happy birthday, Ada!",
        )
        tag = Tag.objects.create(tenant=tenant, name=_unique("VIP"))
    return tenant, owner, client, draft, tag


def engineer_client():
    engineer = enroll_support_engineer(f"support-{uuid.uuid4().hex[:8]}@brandvx.example")
    http = HttpClient()
    assert support_login(http, engineer).status_code == 302
    http.user = engineer.user
    return http


def superuser_client():
    user = User.objects.create(
        username=f"root-{uuid.uuid4().hex[:8]}", email="root@brandvx.test", is_staff=True, is_superuser=True
    )
    http = HttpClient()
    assert admin_login(http, user).status_code == 302
    http.user = user
    return http


def enter(http, tenant, reason: str = REASON) -> None:
    assert http.post(f"/admin/support/enter/{tenant.id}/", {"reason": reason}).status_code == 302


def accesses(tenant) -> list[SupportAccess]:
    with tenant_context(tenant.id, role="owner_admin"):
        return list(SupportAccess.objects.order_by("occurred_at"))


def change_log(tenant, owner) -> list[dict]:
    answer = api_client(owner, tenant=tenant).get("/api/v1/change-log/")
    assert answer.status_code == 200, answer.content
    return answer.json()["results"]


def client_form(client: Client, **changes) -> dict:
    data = {
        "first_name": client.first_name,
        "last_name": client.last_name,
        "email": client.email,
        "phone": client.phone,
        "phone_extension": client.phone_extension,
        "notes": client.notes,
        "client_tags-TOTAL_FORMS": "0",
        "client_tags-INITIAL_FORMS": "0",
        "external_ids-TOTAL_FORMS": "0",
        "external_ids-INITIAL_FORMS": "0",
        "_save": "Save",
    }
    data.update(changes)
    return data


# --- what support may change --------------------------------------------------------------


def test_enroll_support_staff_grants_the_support_group_exactly_and_idempotently():
    from django.contrib.auth.models import Group

    from tenants.support.site import SUPPORT_GROUP, SUPPORT_GROUP_PERMISSIONS

    engineer = enroll_support_engineer(f"support-{uuid.uuid4().hex[:8]}@brandvx.example")
    group = Group.objects.get(name=SUPPORT_GROUP)
    extra = group.permissions.model.objects.get(codename="change_membership")
    group.permissions.add(extra)  # drift: someone widened the group
    enroll_support_engineer(f"support-{uuid.uuid4().hex[:8]}@brandvx.example")
    granted = {
        f"{p.content_type.app_label}.{p.codename}" for p in Group.objects.get(name=SUPPORT_GROUP).permissions.all()
    }
    assert granted == set(SUPPORT_GROUP_PERMISSIONS)
    user = User.objects.get(id=engineer.user.id)
    assert user.is_staff and not user.is_superuser
    assert user.has_perm("clients.change_client") and not user.has_perm("tenants.change_membership")
    assert not user.has_perm("clients.change_consentevent") and not user.has_perm("clients.delete_client")


def test_support_changes_a_clients_contact_fields_never_its_consent_and_the_owner_sees_it():
    tenant, owner, client, draft, tag = salon()
    http = engineer_client()
    url = f"/admin/clients/client/{client.id}/change/"
    # Across tenants: read-only.
    assert 'name="_save"' not in http.get(url).content.decode()
    assert http.post(url, client_form(client, first_name="Nope")).status_code == 403
    enter(http, tenant)
    page = http.get(url).content.decode()
    for editable in ("first_name", "last_name", "email", "phone", "notes"):
        assert f'name="{editable}"' in page, editable
    for read_only in ("email_consent", "sms_consent", "birthday_month", "source", "tenant"):
        assert f'name="{read_only}"' not in page, read_only
    assert contact_hash("ada@example.test") not in page  # no hashes on the client page
    response = http.post(
        url,
        client_form(
            client,
            email=" Ada.King@Example.TEST ",
            notes="Prefers mornings",
            email_consent="on",  # not a field for support: ignored
            sms_consent="on",
            birthday_month="1",
            **{"client_tags-TOTAL_FORMS": "1", "client_tags-0-tag": str(tag.id)},
        ),
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    with tenant_context(tenant.id, role="owner_admin"):
        saved = Client.objects.get(id=client.id)
        assert ClientTag.objects.filter(client=saved, tag=tag).exists()
    # Through the service: normalized and hashed, consent and birthday untouched.
    assert saved.email == "ada.king@example.test" and saved.email_hash == contact_hash("ada.king@example.test")
    assert saved.notes == "Prefers mornings"
    assert (saved.email_consent, saved.sms_consent, saved.birthday_month) == (False, False, 12)
    rows = change_log(tenant, owner)
    mine = [row for row in rows if row["actor_user_id"] == str(http.user.id)]
    assert {(row["action"], tuple(row["fields"])) for row in mine} == {
        ("client.updated", ("email", "email_hash", "notes")),  # as the API records it
        ("client.tag_added", ("tags",)),
    }
    assert all(
        row["actor_kind"] == "support" and row["actor_label"] == http.user.email and row["reason"] == REASON
        for row in mine
    )
    assert ("change", url, REASON) in {(r.action, r.path, r.reason) for r in accesses(tenant)}


def test_support_changes_a_drafts_text_and_nothing_else():
    tenant, owner, client, draft, tag = salon()
    http = engineer_client()
    enter(http, tenant)
    url = f"/admin/campaigns/messagedraft/{draft.id}/change/"
    page = http.get(url).content.decode()
    assert 'name="body"' in page and 'name="status"' not in page and 'name="channel"' not in page
    response = http.post(url, {"body": "Happy birthday, Ada! 10% off this week.", "status": "approved"})
    assert response.status_code == 302, response.content.decode()[:3000]
    with tenant_context(tenant.id, role="owner_admin"):
        saved = MessageDraft.objects.get(id=draft.id)
    assert saved.body == "Happy birthday, Ada! 10% off this week." and saved.status == "draft"
    edited = [row for row in change_log(tenant, owner) if row["action"] == "draft.edited"]
    assert [(row["actor_label"], row["object_id"], row["reason"]) for row in edited] == [
        (http.user.email, str(draft.id), REASON)
    ]


def test_support_cannot_change_anything_else_inside_the_tenant():
    tenant, owner, client, draft, tag = salon()
    http = engineer_client()
    enter(http, tenant)
    with tenant_context(tenant.id, role="system"):
        membership = Membership.objects.get(user=owner)
    refused = {
        f"/admin/tenants/tenant/{tenant.id}/change/": {"name": "Owned"},
        f"/admin/tenants/membership/{membership.id}/change/": {"role": "viewer"},
        "/admin/tenants/membership/add/": {"user": str(http.user.id), "role": "owner_admin"},
        "/admin/clients/client/add/": {"first_name": "New"},
        f"/admin/clients/client/{client.id}/delete/": {"post": "yes"},
        f"/admin/clients/tag/{tag.id}/change/": {"name": "Renamed"},
    }
    for url, data in refused.items():
        assert http.post(url, data).status_code == 403, url
    with tenant_context(tenant.id, role="owner_admin"):
        assert Membership.objects.get(id=membership.id).role == "owner_admin"
        assert not Membership.objects.filter(user=http.user).exists()
        assert Client.objects.filter(id=client.id).exists()
    assert [row for row in change_log(tenant, owner) if row["actor_kind"] == "support"] == []


def test_entering_and_leaving_are_audited():
    tenant, owner, *_ = salon()
    http = engineer_client()
    enter(http, tenant)
    assert http.get("/admin/support/leave/").status_code == 302
    rows = [(r.action, r.reason, r.staff_user_id) for r in accesses(tenant)]
    assert ("enter", REASON, http.user.id) in rows and ("leave", REASON, http.user.id) in rows
    answer = api_client(owner, tenant=tenant).get("/api/v1/audit-log/").json()["results"]
    assert {"enter", "leave"} <= {row["action"] for row in answer}


# --- memberships: no silent grants (issue 24) ---------------------------------------------


def test_membership_grants_are_refused_for_staff_and_other_tenants_users():
    tenant, owner, *_ = salon()
    other, other_owner, *_ = salon("Other")
    root = superuser_client()
    engineer = engineer_client()
    for http in (root, engineer):
        enter(http, tenant)
        for user in (engineer.user, root.user, other_owner):
            # The red team's request: make someone the owner from the admin.
            response = http.post("/admin/tenants/membership/add/", {"user": str(user.id), "role": "owner_admin"})
            assert response.status_code == 403
    with tenant_context(tenant.id, role="owner_admin"):
        assert set(Membership.objects.values_list("user_id", flat=True)) == {owner.id}


def test_a_superuser_changes_only_the_role_of_a_member_and_the_owner_reads_who_why_which_role():
    tenant, owner, *_ = salon()
    member = add_member(tenant=tenant, role=Role.STAFF)
    other_user = User.objects.create(username=f"other-{uuid.uuid4().hex[:6]}", email="other@example.test")
    root = superuser_client()
    enter(root, tenant, "Ticket 9: the owner asked to make Sam a viewer")
    with tenant_context(tenant.id, role="system"):
        membership = Membership.objects.get(user=member)
        # A staff account as a member (written straight to the database, as no page can).
        staff_membership = Membership.objects.create(tenant=tenant, user=root.user, role=Role.VIEWER)
    url = f"/admin/tenants/membership/{membership.id}/change/"
    # The user field is read-only: a posted user is ignored.
    response = root.post(url, {"role": "viewer", "user": str(other_user.id), "is_active": "on"})
    assert response.status_code == 302, response.content.decode()[:2000]
    with tenant_context(tenant.id, role="system"):
        changed = Membership.objects.get(id=membership.id)
        assert (changed.user_id, changed.role) == (member.id, "viewer")
        staff_url = f"/admin/tenants/membership/{staff_membership.id}/change/"
    assert root.post(staff_url, {"role": "owner_admin"}).status_code == 403
    with tenant_context(tenant.id, role="system"):
        assert Membership.objects.get(id=staff_membership.id).role == Role.VIEWER
    rows = [row for row in change_log(tenant, owner) if row["object_type"] == "membership"]
    assert len(rows) == 1
    row = rows[0]
    assert (row["action"], row["fields"], row["actor_label"], row["object_id"]) == (
        "membership.updated",
        ["role"],
        root.user.email,
        str(membership.id),
    )
    assert row["reason"] == "Ticket 9: the owner asked to make Sam a viewer"
    assert member.email in row["detail"] and str(member.id) in row["detail"] and "staff → viewer" in row["detail"]
    audit = [r for r in accesses(tenant) if r.action == "change" and r.path == url]
    assert len(audit) == 1 and audit[0].detail == row["detail"] and audit[0].staff_user_id == root.user.id


# --- beat schedules (issue 24) --------------------------------------------------------------


def test_beat_schedules_have_no_actions_for_support_and_superusers_actions_are_logged():
    from django.contrib import admin
    from django.test import RequestFactory
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.filter(enabled=True).order_by("id").first()
    assert task is not None
    engineer = engineer_client()
    request = RequestFactory().get("/admin/django_celery_beat/periodictask/")
    request.user = engineer.user
    assert admin.site._registry[PeriodicTask].get_actions(request) == {}
    url = "/admin/django_celery_beat/periodictask/"
    action = {"action": "disable_tasks", "_selected_action": [str(task.id)], "index": "0"}
    assert engineer.post(url, action).status_code in (302, 403)
    assert PeriodicTask.objects.get(id=task.id).enabled
    root = superuser_client()
    try:
        assert root.post(url, action).status_code == 302
        assert not PeriodicTask.objects.get(id=task.id).enabled
        logged = LogEntry.objects.filter(user_id=root.user.id, object_id=str(task.id))
        assert [entry.change_message for entry in logged] == ["Bulk action “disable_tasks”."]
        # A superuser cannot delete or add schedules here either.
        assert root.post(f"{url}{task.id}/delete/", {"post": "yes"}).status_code == 403
        assert root.post(f"{url}add/", {"name": "x"}).status_code == 403
    finally:
        PeriodicTask.objects.filter(id=task.id).update(enabled=True)


# --- no 500 at the edges, readable pages ----------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/admin/integrations/integrationconnection/?credentials__isnull=false",
        "/admin/campaigns/campaignsettings/?sender_credentials__isnull=false",
        "/admin/tenants/user/?password__startswith=pbkdf2",
        "/admin/tenants/supportaccess/?staff_user__password__startswith=pbkdf2",
    ],
)
def test_filters_on_secret_columns_are_refused_not_500(url):
    tenant, *_ = salon()
    http = superuser_client()
    assert http.get(url).status_code == 400
    enter(http, tenant)
    assert http.get(url).status_code == 400


def test_the_client_list_across_tenants_has_a_tenant_filter():
    tenant, _, client, *_ = salon("Filtered")
    other, _, other_client, *_ = salon("Unfiltered")
    http = engineer_client()
    page = http.get("/admin/clients/client/").content.decode()
    assert "By tenant" in page and tenant.name in page
    filtered = http.get(f"/admin/clients/client/?tenant__id__exact={tenant.id}").content.decode()
    assert f"/admin/clients/client/{client.id}/change/" in filtered
    assert f"/admin/clients/client/{other_client.id}/change/" not in filtered


def test_index_links_view_site_to_the_api_and_spells_support_accesses():
    http = engineer_client()
    page = http.get("/admin/").content.decode()
    assert 'href="/api/v1/"' in page and "Support accesses" in page and "accesss" not in page.lower()


def test_a_locked_out_sign_in_gets_a_readable_page_with_the_time_left(settings):
    engineer = enroll_support_engineer(f"support-{uuid.uuid4().hex[:8]}@brandvx.example")
    http = HttpClient(REMOTE_ADDR=f"10.9.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        http.post("/admin/login/", {"username": engineer.user.username, "password": "wrong", "otp_token": "000000"})
    locked = http.post(
        "/admin/login/", {"username": engineer.user.username, "password": engineer.password, "otp_token": "000000"}
    )
    assert locked.status_code == 429
    text = locked.content.decode()
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    assert "Sign-in locked" in text and f"Try again in {minutes} minutes" in text, text


# --- superusers inside a tenant: every write recorded ---------------------------------------


def test_a_superusers_admin_writes_are_in_the_owners_change_log_with_the_reason():
    tenant, owner, client, draft, tag = salon()
    root = superuser_client()
    enter(root, tenant, "Ticket 31: rebrand and tidy the tags")
    form = client_form(client, birthday_month="2", birthday_day="31", birth_year="", source="manual")
    invalid = root.post(f"/admin/clients/client/{client.id}/change/", form)
    assert invalid.status_code == 200 and "is not a date" in invalid.content.decode()  # the service's check
    tenant_page = {
        "name": "Rebranded",
        "slug": tenant.slug,
        "timezone": tenant.timezone,
        "currency": tenant.currency,
        "country": tenant.country,
        "is_active": "on",
    }
    assert root.post(f"/admin/tenants/tenant/{tenant.id}/change/", tenant_page).status_code == 302
    bulk_delete = {"action": "delete_selected", "_selected_action": [str(tag.id)], "post": "yes"}
    assert root.post("/admin/clients/tag/", bulk_delete).status_code == 302
    with tenant_context(tenant.id, role="owner_admin"):
        assert not Tag.objects.filter(id=tag.id).exists()
        assert Client.objects.get(id=client.id).birthday_month == 12
    rows = {(row["action"], row["object_id"]): row for row in change_log(tenant, owner)}
    assert set(rows) == {("tenant.updated", str(tenant.id)), ("tag.deleted", str(tag.id))}
    assert rows[("tenant.updated", str(tenant.id))]["fields"] == ["name"]
    for row in rows.values():
        assert (row["actor_kind"], row["actor_label"], row["reason"]) == (
            "support",
            root.user.email,
            "Ticket 31: rebrand and tidy the tags",
        )


def test_no_admin_list_filter_names_a_secret_column():
    from django.contrib import admin

    from tenants.support.site import _secret_lookup

    for model, model_admin in admin.site._registry.items():
        for entry in model_admin.list_filter:
            name = entry[0] if isinstance(entry, tuple) else entry
            if isinstance(name, str):
                assert not _secret_lookup(model, name), f"{model.__name__}: {name}"
