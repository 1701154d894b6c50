"""A business leaving: scheduled deletion (read-only meanwhile, cancelable), the purge of every
row (proven by counting every tenant_id table, and by comparing every row of the other
tenant before and after), the support command, and the tombstone (issue 27)."""

from __future__ import annotations

import datetime
import hashlib

import pytest
import time_machine
from django.core.management import call_command
from django.db import connections
from django.utils import timezone

from analytics.aggregates import aggregate_tables
from clients.models import Client
from conftest import build_full_world
from tenants.context import tenant_context
from tenants.db.sharding import is_citus
from tenants.lifecycle import name_hash, tenant_deletion_request, tenants_purge_due
from tenants.models import ChangeRecord, Tenant, TenantTombstone

DELETE, CANCEL = "/api/v1/tenant/delete/", "/api/v1/tenant/delete/cancel/"


@pytest.mark.django_db
def test_deletion_is_confirmed_by_name_makes_the_business_read_only_and_can_be_canceled(full_world):
    world = full_world
    staff = world.client(world.staff_a, world.tenant_a)
    assert staff.post(DELETE, {"confirm": "Salon A"}, format="json").status_code == 403
    wrong = world.a.post(DELETE, {"confirm": "salon a"}, format="json")
    assert wrong.status_code == 400 and wrong.json()["code"] == "confirmation_mismatch"
    assert world.a.post(CANCEL).status_code == 409  # nothing scheduled yet

    with time_machine.travel(datetime.datetime(2031, 5, 1, 12, tzinfo=datetime.UTC), tick=False):
        scheduled = world.a.post(DELETE, {"confirm": "Salon A"}, format="json")
    assert scheduled.status_code == 202, scheduled.content
    assert scheduled.json()["deletion_due_at"] == "2031-05-15T12:00:00Z"  # 14 days' grace
    assert world.a.post(DELETE, {"confirm": "Salon A"}, format="json").json()["code"] == "deletion_state"

    # Read-only: writes answer 423 with the documented code; reads and the export still work.
    refused = world.a.post("/api/v1/clients/", {"first_name": "New"}, format="json")
    assert refused.status_code == 423 and refused.json()["code"] == "tenant_pending_deletion"
    client_id = world.data["a"]["clients"]["client_id"]
    assert world.a.delete(f"/api/v1/clients/{client_id}/").status_code == 423
    assert world.a.get("/api/v1/clients/").status_code == 200
    # Tenant B is not affected.
    assert world.b.post("/api/v1/clients/", {"first_name": "New"}, format="json").status_code == 201

    canceled = world.a.post(CANCEL)
    assert canceled.status_code == 200 and canceled.json()["deletion_due_at"] is None
    assert world.a.post("/api/v1/clients/", {"first_name": "New"}, format="json").status_code == 201
    with tenant_context(world.tenant_a.id, role="system"):
        actions = set(ChangeRecord.objects.values_list("action", flat=True))
    assert {"tenant.deletion_requested", "tenant.deletion_canceled"} <= actions


# --- the purge ---------------------------------------------------------------------------


def _tenant_id_tables() -> list[str]:
    """Every table with a tenant_id column, from information_schema."""
    with connections["owner"].cursor() as cursor:
        cursor.execute(
            """
            SELECT c.table_name FROM information_schema.columns c
            JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
            WHERE c.table_schema = current_schema() AND c.column_name = 'tenant_id' AND t.table_type = 'BASE TABLE'
            ORDER BY 1
            """
        )
        return [row[0] for row in cursor.fetchall()]


def _rows_of(tenant_id) -> dict[str, int]:
    with connections["owner"].cursor() as cursor:
        counts = {}
        for table in _tenant_id_tables():
            cursor.execute(f'SELECT count(*) FROM "{table}" WHERE tenant_id = %s', [tenant_id])
            counts[table] = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM integrations_connectionroute WHERE routed_tenant_id = %s", [tenant_id])
        counts["integrations_connectionroute"] = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM tenants_tenant WHERE id = %s", [tenant_id])
        counts["tenants_tenant"] = cursor.fetchone()[0]
    return counts


def _dump_of(tenant_id) -> dict[str, str]:
    """Every row of the tenant, in every tenant table, its routes and its registry row, as the
    database renders them (to_jsonb: every column, byte for byte), plus a digest of each."""
    dump = {}
    with connections["owner"].cursor() as cursor:
        for table in _tenant_id_tables():
            cursor.execute(f'SELECT to_jsonb(t)::text FROM "{table}" t WHERE tenant_id = %s ORDER BY 1', [tenant_id])
            dump[table] = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute(
            "SELECT to_jsonb(t)::text FROM integrations_connectionroute t WHERE routed_tenant_id = %s ORDER BY 1",
            [tenant_id],
        )
        dump["integrations_connectionroute"] = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SELECT to_jsonb(t)::text FROM tenants_tenant t WHERE id = %s", [tenant_id])
        dump["tenants_tenant"] = cursor.fetchone()[0]
        cursor.execute("SELECT to_jsonb(t)::text FROM tenants_user t ORDER BY 1")
        dump["tenants_user (all)"] = "\n".join(row[0] for row in cursor.fetchall())
    return {table: f"{hashlib.sha256(text.encode()).hexdigest()} {text}" for table, text in dump.items()}


@pytest.mark.citus
def test_a_due_deletion_purges_every_row_of_the_tenant_and_nothing_of_another(committed):
    world = build_full_world()
    a, b = world.tenant_a, world.tenant_b
    before = _rows_of(a.id)
    tables = _tenant_id_tables()
    # A has rows everywhere (on Citus, but in the insight aggregates: nothing keeps them there).
    kept = [t for t in tables if not (is_citus(connections["owner"]) and t in aggregate_tables())]
    assert len(kept) >= 20 and all(before[t] for t in kept), before
    assert before["integrations_connectionroute"] and before["tenants_tenant"] == 1
    b_before = _dump_of(b.id)
    requested = timezone.now() - datetime.timedelta(days=15)
    with tenant_context(a.id, role="owner_admin"):
        tenant_deletion_request(tenant=Tenant.objects.get(id=a.id), acting_user=world.owner_a, now=requested)

    assert tenants_purge_due() == [a.id]

    after = _rows_of(a.id)
    assert after == dict.fromkeys(after, 0), {t: n for t, n in after.items() if n}
    assert _dump_of(b.id) == b_before
    tombstone = TenantTombstone.objects.get(id=a.id)
    assert tombstone.name_hash == name_hash("Salon A") and "Salon A" not in tombstone.name_hash
    assert tombstone.deletion_requested_at == requested and tombstone.purged_by == "beat: scheduled deletion"
    # Its people are still users (users are never deleted), but members of nothing there.
    assert world.b.get("/api/v1/clients/").status_code == 200
    assert world.a.get("/api/v1/clients/").status_code in (400, 403)
    assert tenants_purge_due() == []  # nothing left to purge


def test_a_deletion_not_due_yet_is_not_purged(committed):
    world = build_full_world()
    with tenant_context(world.tenant_a.id, role="owner_admin"):
        tenant_deletion_request(tenant=Tenant.objects.get(id=world.tenant_a.id), acting_user=world.owner_a)
    assert world.tenant_a.id not in tenants_purge_due()
    assert _rows_of(world.tenant_a.id)["tenants_tenant"] == 1
    with time_machine.travel(timezone.now() + datetime.timedelta(days=14, minutes=1)):
        assert world.tenant_a.id in tenants_purge_due()
    assert _rows_of(world.tenant_a.id)["tenants_tenant"] == 0


@pytest.mark.citus
def test_support_purges_a_tenant_at_once_with_the_command(committed, capsys):
    world = build_full_world()
    with tenant_context(world.tenant_a.id, role="system"):
        assert Client.objects.exists()
    call_command("purge_tenant", str(world.tenant_a.id), "--by", "sam@brandvx.example", "--yes")
    output = capsys.readouterr().out
    assert f"Purged tenant {world.tenant_a.id}" in output and "clients_client: " in output
    assert sum(_rows_of(world.tenant_a.id).values()) == 0
    assert TenantTombstone.objects.get(id=world.tenant_a.id).purged_by == "support: sam@brandvx.example"
    assert sum(_rows_of(world.tenant_b.id).values()) > 20


def test_a_purge_that_deadlocks_is_tried_again_whole(committed, monkeypatch):
    """A deadlock cancels the purge's one transaction (seen on Citus at COMMIT): nothing was
    purged, so the whole purge runs again. Any other database error is let through."""
    from django.db import OperationalError
    from psycopg.errors import DeadlockDetected

    from tenants import lifecycle

    world = build_full_world()
    real = lifecycle._purge_in_one_transaction
    calls = []

    def deadlocks_once(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise OperationalError("canceling the transaction") from DeadlockDetected("distributed deadlock")
        return real(*args, **kwargs)

    monkeypatch.setattr(lifecycle, "_purge_in_one_transaction", deadlocks_once)
    result = lifecycle.dangerously_purge_tenant(world.tenant_a.id, purged_by="support: sam@brandvx.example")
    assert len(calls) == 2 and result.deleted["tenants_tenant"] == 1
    assert sum(_rows_of(world.tenant_a.id).values()) == 0
    assert sum(_rows_of(world.tenant_b.id).values()) > 20

    def fails(*args, **kwargs):
        raise OperationalError("server closed the connection")

    monkeypatch.setattr(lifecycle, "_purge_in_one_transaction", fails)
    with pytest.raises(OperationalError, match="server closed"):
        lifecycle.dangerously_purge_tenant(world.tenant_b.id, purged_by="support: sam@brandvx.example")
    assert sum(_rows_of(world.tenant_b.id).values()) > 20
