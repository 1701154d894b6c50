"""The change log: append-only, tenant-scoped, readable by the owner only."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from tenants.changes import Actor, record_change, record_changes
from tenants.context import require_tenant, tenant_context
from tenants.errors import TenantContextError
from tenants.models import ChangeRecord, SupportAccess, User

pytestmark = pytest.mark.django_db


def test_the_owner_reads_who_changed_what_and_no_one_else_does(world):
    with tenant_context(world.tenant_a.id, role="owner_admin"):
        record_change(
            tenant=world.tenant_a,
            actor=Actor.of(world.staff_a),
            action="client.updated",
            object_type="client",
            object_id="c-1",
            fields=["last_name", "first_name", "first_name"],
        )
        record_changes(
            tenant=world.tenant_a,
            actor=Actor.provider("square"),
            action="client.created",
            object_type="client",
            object_ids=["c-2", "c-3"],
        )
    with tenant_context(world.tenant_b.id, role="owner_admin"):
        record_change(
            tenant=world.tenant_b,
            actor=Actor.system("birthday schedule"),
            action="draft.created",
            object_type="messagedraft",
            object_id="d-1",
        )

    rows = world.a.get("/api/v1/change-log/").json()["results"]
    assert sorted((r["object_id"], r["action"], r["actor_kind"], r["actor_label"]) for r in rows) == [
        ("c-1", "client.updated", "user", world.staff_a.email),
        ("c-2", "client.created", "provider", "square"),
        ("c-3", "client.created", "provider", "square"),
    ]
    updated = next(r for r in rows if r["object_id"] == "c-1")
    assert updated["fields"] == ["first_name", "last_name"]
    assert updated["actor_label"] == world.staff_a.email and updated["actor_user_id"] == str(world.staff_a.id)
    assert world.b.get("/api/v1/change-log/").json()["results"][0]["object_id"] == "d-1"
    assert world.client(world.staff_a, world.tenant_a).get("/api/v1/change-log/").status_code == 403
    assert world.a.get("/api/v1/change-log/?object_id=c-1").json()["results"][0]["action"] == "client.updated"


def test_rows_cannot_be_changed_or_deleted_by_the_application(world):
    staff = User.objects.create(username="support-x", is_staff=True)
    with tenant_context(world.tenant_a.id, role="owner_admin"):
        record = record_change(
            tenant=world.tenant_a, actor=Actor.system("test"), action="x", object_type="t", object_id="1"
        )
        access = SupportAccess.objects.create(tenant=world.tenant_a, staff_user=staff, action="view")
    for statement in (
        ChangeRecord.objects.filter(id=record.id).update,
        ChangeRecord.objects.filter(id=record.id).delete,
        SupportAccess.objects.filter(id=access.id).delete,
    ):
        with tenant_context(world.tenant_a.id, role="owner_admin"):
            with pytest.raises(DatabaseError, match="permission denied|append-only"), transaction.atomic():
                statement(action="y") if statement.__name__ == "update" else statement()
    with tenant_context(world.tenant_a.id, role="owner_admin"):
        assert ChangeRecord.objects.get(id=record.id).action == "x"
    assert connection.settings_dict["USER"] != "postgres"  # the runtime role was refused


def test_support_staff_are_recorded_as_support_and_a_missing_user_as_the_system():
    staff = User(username="s", email="s@brandvx.test", is_staff=True)
    assert Actor.of(staff).kind == "support"
    assert Actor.of(None, otherwise="csv import") == Actor(kind="system", label="csv import")


def test_require_tenant_refuses_a_service_called_for_another_tenant(world):
    with tenant_context(world.tenant_a.id, role="owner_admin"):
        require_tenant(world.tenant_a)
        with pytest.raises(TenantContextError):
            require_tenant(world.tenant_b)
        with pytest.raises(TenantContextError):
            record_change(tenant=world.tenant_b, actor=Actor.system("x"), action="x", object_type="t", object_id="1")


def test_changes_made_through_the_api_are_recorded_with_their_user(world):
    created = world.a.post(
        "/api/v1/services/", {"name": "Balayage", "price_amount": 18000, "currency": "USD"}, format="json"
    )
    assert created.status_code == 201, created.content
    service_id = created.json()["id"]
    assert world.a.patch(f"/api/v1/services/{service_id}/", {"price_amount": 19000}, format="json").status_code == 200
    assert world.a.delete(f"/api/v1/services/{service_id}/").status_code == 204
    assert world.a.patch("/api/v1/campaigns/settings/", {"birthday_run_hour": 10}, format="json").status_code == 200

    rows = world.a.get("/api/v1/change-log/?object_type=service").json()["results"]
    assert sorted((r["action"], tuple(r["fields"])) for r in rows) == [
        ("service.created", ()),
        ("service.deleted", ()),
        ("service.updated", ("price_amount",)),
    ]
    assert {r["actor_user_id"] for r in rows} == {str(world.owner_a.id)}
    assert {r["object_id"] for r in rows} == {service_id}
    settings_rows = world.a.get("/api/v1/change-log/?action=campaign_settings.updated").json()["results"]
    assert len(settings_rows) == 1 and settings_rows[0]["actor_kind"] == "user"
    assert settings_rows[0]["fields"] == ["birthday_run_hour"]
    assert world.b.get("/api/v1/change-log/?object_type=service").json()["results"] == []


def test_client_changes_name_the_user_or_the_provider(world):
    from clients.records import ContactRecord
    from clients.services import client_upsert

    created = world.a.post("/api/v1/clients/", {"first_name": "Ana", "email": "ana@example.com"}, format="json")
    assert created.status_code == 201, created.content
    client_id = created.json()["id"]
    assert world.a.patch(f"/api/v1/clients/{client_id}/", {"last_name": "Lopez"}, format="json").status_code == 200
    with tenant_context(world.tenant_a.id, role="system"):
        client_upsert(
            tenant=world.tenant_a,
            source="square",
            record=ContactRecord(
                external_id="SQ1", first_name="Ana", email="ana@example.com", notes="Prefers mornings"
            ),
        )

    rows = world.a.get(f"/api/v1/change-log/?object_id={client_id}").json()["results"]
    assert sorted((r["action"], r["actor_kind"], r["actor_label"]) for r in rows) == [
        ("client.created", "user", world.owner_a.email),
        ("client.updated", "provider", "square"),
        ("client.updated", "user", world.owner_a.email),
    ]
