"""The tenant context: one set_config per transaction, nothing outside, nothing left behind."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from conftest import TenantWorld
from tenants.context import (
    TenantContext,
    activate,
    current_tenant_id,
    dangerously_support_read_context,
    membership_lookup_context,
    tenant_context,
)
from tenants.errors import TenantContextError
from tenants.models import BackgroundJob, Membership
from tenants.testing import api_client, capture_statements

pytestmark = pytest.mark.usefixtures("committed")


def test_me_runs_one_set_config_per_transaction_and_none_outside():
    world = TenantWorld()
    client = api_client(world.owner_a, tenant=world.tenant_a)
    with capture_statements() as log:
        response = client.get("/api/v1/me/")
    assert response.status_code == 200, response.content
    grouped = log.by_transaction()
    transactions = [key for key in grouped if key is not None]
    assert transactions, "the request ran no transaction"
    for index in transactions:
        statements = grouped[index]
        assert log.set_config_count(index) == 1, statements
        assert statements[0].startswith("SELECT set_config('app.tenant_id'"), statements[0]
    assert log.set_config_count(None) == 0, grouped.get(None)
    # Report the figure the issue asks for.
    total = len(log.statements)
    print(f"\nGET /api/v1/me/: {total} statements in {len(transactions)} transaction(s): {grouped}")


def test_savepoints_and_later_statements_do_not_repeat_the_settings():
    world = TenantWorld()
    with capture_statements() as log:
        with tenant_context(world.tenant_a.id, role="owner_admin"):
            list(Membership.objects.all())
            with transaction.atomic():
                BackgroundJob.objects.create(tenant=world.tenant_a, kind="test")
            list(BackgroundJob.objects.all())
    assert log.set_config_count(0) == 1
    assert len(log.by_transaction()[0]) >= 4


def test_a_rolled_back_savepoint_that_switched_context_is_repaired():
    world = TenantWorld()
    with transaction.atomic():
        try:
            with transaction.atomic(), activate(TenantContext(world.tenant_b.id, None, "system")):
                assert BackgroundJob.objects.count() == 0
                raise RuntimeError("roll the savepoint back")
        except RuntimeError:
            pass
        with activate(TenantContext(world.tenant_a.id, None, "system")):
            # The settings made inside the savepoint were undone with it.
            assert Membership.objects.filter(tenant=world.tenant_a).exists()
            assert not Membership.objects.filter(tenant=world.tenant_b).exists()


def test_query_with_a_context_outside_a_transaction_is_refused():
    world = TenantWorld()
    with activate(TenantContext(world.tenant_a.id, None, "owner_admin")):
        with pytest.raises(TenantContextError, match="outside a transaction"):
            list(Membership.objects.all())


def test_no_context_sees_nothing_and_writes_nothing():
    world = TenantWorld()
    assert Membership.objects.count() == 0  # autocommit, no context
    with transaction.atomic():
        assert Membership.objects.count() == 0
    with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
        BackgroundJob.objects.create(tenant=world.tenant_a, kind="orphan")


def test_no_leak_across_requests_on_a_persistent_connection():
    world = TenantWorld()
    assert settings.DATABASES["default"]["CONN_MAX_AGE"] > 0
    response = api_client(world.owner_a, tenant=world.tenant_a).get("/api/v1/me/")
    assert response.status_code == 200
    pg_connection = connection.connection
    assert pg_connection is not None
    response = api_client().get("/healthz")
    assert response.status_code in (200, 503)
    assert connection.connection is pg_connection, "the connection was not reused"
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(current_setting('app.tenant_id', true), ''), count(*) FROM tenants_membership")
        tenant_setting, visible = cursor.fetchone()
    assert tenant_setting == "" and visible == 0


def test_support_context_reads_every_tenant_and_writes_nothing():
    world = TenantWorld()
    staff = world.owner_a  # any user id will do for the context itself
    with dangerously_support_read_context(staff_user_id=staff.id):
        tenants_seen = set(Membership.objects.values_list("tenant_id", flat=True))
        assert {world.tenant_a.id, world.tenant_b.id} <= tenants_seen
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            assert cursor.fetchone()[0] == settings.DATABASE_SUPPORT_ROLE
    with pytest.raises(DatabaseError, match="permission denied"):
        with dangerously_support_read_context(staff_user_id=staff.id):
            BackgroundJob.objects.create(tenant=world.tenant_a, kind="support-write")
    # After the support transaction, back to the runtime role and no context.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT current_user, count(*) FROM tenants_membership")
        assert cursor.fetchone() == (settings.DATABASE_APP_ROLE, 0)


def test_runtime_role_is_not_privileged_and_owns_nothing():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_user, rolsuper, rolbypassrls, rolinherit FROM pg_roles WHERE rolname = current_user"
        )
        user, superuser, bypass, inherit = cursor.fetchone()
        assert user == settings.DATABASE_APP_ROLE
        assert not superuser and not bypass and not inherit
        cursor.execute("SELECT count(*) FROM pg_tables WHERE tableowner = current_user")
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT has_table_privilege(current_user, 'tenants_membership', 'TRUNCATE')")
        assert cursor.fetchone()[0] is False


def test_invalid_tenant_id_in_context_is_refused():
    with pytest.raises(TenantContextError):
        with tenant_context("not-a-uuid", role="system"):
            pass
    with pytest.raises(TenantContextError):
        TenantContext(None, None, "superadmin")


def test_support_role_appends_audit_rows_only_as_itself():
    from tenants.models import SupportAccess, User

    world = TenantWorld()
    staff = User.objects.create(username="agent-x", email="x@brandvx.test", is_staff=True)
    other = User.objects.create(username="agent-y", email="y@brandvx.test", is_staff=True)
    with dangerously_support_read_context(staff_user_id=staff.id):
        SupportAccess.objects.bulk_create(
            [SupportAccess(tenant=t, staff_user=staff, action="view") for t in (world.tenant_a, world.tenant_b)]
        )
    with pytest.raises(DatabaseError, match="row-level security"):
        with dangerously_support_read_context(staff_user_id=staff.id):
            SupportAccess.objects.create(tenant=world.tenant_a, staff_user=other, action="view")
    with tenant_context(world.tenant_b.id, role="owner_admin"):
        assert list(SupportAccess.objects.values_list("staff_user_id", flat=True)) == [staff.id]


def test_a_request_sets_the_context_once_for_the_lookup_and_the_view():
    """The tenant the request names rides with the membership lookup's context statement; once
    verified, it is what the view needs: one context statement in the request's transaction."""
    world = TenantWorld()
    client = api_client(world.owner_a, tenant=world.tenant_a)
    for path in ("/api/v1/clients/", "/api/v1/jobs/", "/api/v1/tags/"):
        with capture_statements() as log:
            response = client.get(path)
        assert response.status_code == 200, response.content
        transactions = [key for key in log.by_transaction() if key is not None]
        assert len(transactions) == 1, log.by_transaction()
        assert log.set_config_count(transactions[0]) == 1, log.by_transaction()


def test_a_tenant_the_caller_does_not_belong_to_is_never_the_views_context():
    world = TenantWorld()
    # Owner A names tenant B: the lookup carries B to the database, finds no membership there
    # (403), and nothing of B is read.
    response = api_client(world.owner_a, tenant=world.tenant_b).get("/api/v1/clients/")
    assert response.status_code == 403 and response.json()["code"] == "not_a_member"
    with transaction.atomic():
        with membership_lookup_context(world.owner_a.id, requested_tenant_id=world.tenant_b.id):
            with pytest.raises(TenantContextError):
                current_tenant_id()  # Python code sees no tenant while it is pending
            assert Membership.objects.filter(user=world.owner_a).count() == 1  # own rows only
            with connection.cursor() as cursor:
                cursor.execute("SELECT current_setting('app.tenant_id', true)")
                assert cursor.fetchone()[0] == str(world.tenant_b.id)  # pending, in the database
        # The lookup's context is gone: the next statement runs with empty settings again.
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('app.tenant_id', true)")
            assert cursor.fetchone()[0] == ""


def test_each_view_statement_names_the_tenant_of_its_table_once():
    """The manager, the tenant views and the selectors each name the tenant (tenants.models.
    for_tenant): a queryset passing through several of them carries the condition once."""
    world = TenantWorld()
    client = api_client(world.owner_a, tenant=world.tenant_a)
    created = client.post("/api/v1/clients/", {"first_name": "Ann", "birthday": "1990-12-01"}, format="json")
    assert created.status_code == 201, created.content
    for path, table in (
        ("/api/v1/clients/", "clients_client"),
        ("/api/v1/clients/?search=ann&archived=true", "clients_client"),
        ("/api/v1/clients/birthdays/?days_ahead=30", "clients_client"),
        (f"/api/v1/clients/{created.json()['id']}/", "clients_client"),
        ("/api/v1/tags/", "clients_tag"),
        ("/api/v1/jobs/", "tenants_backgroundjob"),
    ):
        with capture_statements() as log:
            response = client.get(path)
        assert response.status_code == 200, response.content
        views = [s.sql for s in log.statements if f'FROM "{table}"' in s.sql]
        assert views, (path, log.by_transaction())
        for sql in views:
            assert sql.count(f'"{table}"."tenant_id" = %s') == 1, (path, sql)
