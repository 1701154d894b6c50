"""The search key (migration clients 0013): kept by a trigger on every write, read by the search.

client_search compares a query with each client's stored, upper-cased name-and-email text
instead of building it per client. These tests hold the trigger to every way a client is
written (the ORM, a QuerySet update, the imports' set-based INSERT ... SELECT and UPDATE ...
FROM), and show that the search really reads the key. The answers themselves are
tested in test_selectors (any case, names across both parts, what icontains finds).
"""

import datetime

import pytest
from django.db import connection, connections
from django.db.models import Count, Subquery
from django.utils import timezone

from clients.models import Client, Source
from clients.records import ContactRecord
from clients.selectors import client_list, client_search
from clients.services import client_upsert_many
from clients.tests.factories import ClientFactory
from tenants.context import tenant_context
from tenants.db.sharding import is_citus
from tenants.tests.factories import TenantFactory


def _skip_on_citus():
    if is_citus(connection):
        pytest.skip("Citus keeps no search key: the search builds the text per client there")


def _stale_keys(tenant_id) -> list[tuple]:
    """The tenant's clients whose key is not what their columns make (none, when the trigger
    did its work)."""
    with tenant_context(tenant_id, role="system"), connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT first_name, last_name, email, search_key FROM clients_client
            WHERE tenant_id = %s AND search_key IS DISTINCT FROM upper(first_name || ' ' || last_name || E'\\n' || email)
            """,
            [tenant_id],
        )
        return cursor.fetchall()


def _keys(tenant_id) -> dict:
    with tenant_context(tenant_id, role="system"), connection.cursor() as cursor:
        cursor.execute("SELECT id, search_key FROM clients_client WHERE tenant_id = %s", [tenant_id])
        return dict(cursor.fetchall())


@pytest.mark.django_db
def test_every_write_keeps_the_search_key():
    _skip_on_citus()
    tenant = TenantFactory()
    with tenant_context(tenant.id, role="system"):
        created = ClientFactory(tenant=tenant, first_name="Zoë", last_name="Öberg", email="zoe@example.com")
        saved = ClientFactory(tenant=tenant, first_name="Ann", last_name="Lee", email="ann@example.com")
        saved.last_name = "Garcia"
        saved.save()
        updated = ClientFactory(tenant=tenant, first_name="Bo", last_name="Ng", email="bo@example.com")
        Client.objects.filter(id=updated.id).update(first_name="Bea", email="bea@example.com")

    assert _stale_keys(tenant.id) == []
    assert _keys(tenant.id)[saved.id] == "ANN GARCIA\nANN@EXAMPLE.COM"
    with tenant_context(tenant.id, role="system"):
        now = timezone.now()
        # The imports' set-based write: one new client (INSERT ... SELECT) and one matched by
        # its email whose name changes (UPDATE ... FROM).
        outcomes = client_upsert_many(
            tenant=tenant,
            source=Source.CSV,
            items=[
                (ContactRecord(first_name="Ida", last_name="Straße", email="ida@example.com"), []),
                (ContactRecord(first_name="Annie", last_name="Garcia-Lee", email="ann@example.com"), []),
            ],
            now=now + datetime.timedelta(seconds=1),
        )
        assert outcomes == ["created", "updated"]

    assert _stale_keys(tenant.id) == []
    keys = _keys(tenant.id)
    assert keys[created.id] == "ZOË ÖBERG\nZOE@EXAMPLE.COM"
    assert keys[saved.id] == "ANNIE GARCIA-LEE\nANN@EXAMPLE.COM"
    assert keys[updated.id] == "BEA NG\nBEA@EXAMPLE.COM"
    assert len(keys) == 4


def test_the_search_reads_the_stored_key(committed):
    """A key that disagrees with its row's columns (written with the trigger off, as the owner,
    on its own connection: committed rows) decides what the search finds: the search compares
    the key, not the columns."""
    _skip_on_citus()
    tenant = TenantFactory()
    with tenant_context(tenant.id, role="system"):
        client = ClientFactory(tenant=tenant, first_name="Amy", last_name="Lee", email="amy@example.com")
    with connections["owner"].cursor() as cursor:
        cursor.execute("ALTER TABLE clients_client DISABLE TRIGGER client_search_key")
        try:
            cursor.execute("UPDATE clients_client SET search_key = 'ONLY THE KEY' WHERE id = %s", [client.id])
        finally:
            cursor.execute("ALTER TABLE clients_client ENABLE TRIGGER client_search_key")
    with tenant_context(tenant.id, role="staff"):

        def found(query):
            return [c.id for c in client_search(client_list(tenant=tenant), query, tenant=tenant)]

        assert found("only the key") == [client.id]
        assert found("amy") == []


@pytest.mark.django_db
def test_a_search_inside_another_query_reads_its_own_clients_keys():
    """The key is named through the alias the clients table has in the SQL: a search used as a
    subquery (its table then U0) compares the subquery's clients, not the outer query's row."""
    _skip_on_citus()
    tenant = TenantFactory()
    with tenant_context(tenant.id, role="staff"):
        ClientFactory(tenant=tenant, first_name="Amy", last_name="Lee", email="amy@example.com")
        bea = ClientFactory(tenant=tenant, first_name="Bea", last_name="Ng", email="bea@example.com")
        found = client_search(Client.objects.all(), "amy", tenant=tenant)
        matches = found.order_by().values("tenant_id").annotate(n=Count("id")).values("n")
        outer = Client.objects.filter(id=bea.id).annotate(matches=Subquery(matches))
        assert "U0.search_key" in str(outer.query)
        assert outer.get().matches == 1  # Amy, though the outer row is Bea
