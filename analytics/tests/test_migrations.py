"""Existing data through the refunds migration (0004), on a scratch database of its own.

The scratch database is migrated to 0003, given sales the old way (refunded_amount only),
then migrated forward with FORCE ROW LEVEL SECURITY on, as `migrate` runs it.
"""

from __future__ import annotations

import datetime
import os
import uuid

import psycopg
import pytest
from django.core.management import call_command
from django.db import connections
from psycopg import sql

from conftest import _maintenance_conninfo

ALIAS = "refunds_migration"
BEFORE = [("analytics", "0003_covering_indexes")]
AFTER = [("analytics", "0005_refunds_tips_taxes_discounts")]


@pytest.fixture
def scratch(committed):
    name = f"test_refunds_migration_{os.getpid()}"
    with psycopg.connect(**_maintenance_conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    connections.settings[ALIAS] = {**connections["owner"].settings_dict, "NAME": name}
    try:
        yield connections[ALIAS]
    finally:
        connections[ALIAS].close()
        del connections[ALIAS]
        del connections.settings[ALIAS]
        with psycopg.connect(**_maintenance_conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _migrate(targets) -> None:
    for app, migration in targets:
        call_command("migrate", app, migration, database=ALIAS, verbosity=0, interactive=False)


def test_existing_refunds_become_dated_records_at_the_sale(scratch):
    _migrate(BEFORE)
    tenant = uuid.uuid4()
    sold = datetime.datetime(2025, 2, 20, 18, 0, tzinfo=datetime.UTC)
    edited = datetime.datetime(2025, 4, 1, 9, 0, tzinfo=datetime.UTC)
    sales = {  # id: (status, total, refunded, source)
        uuid.uuid4(): ("completed", 10000, 0, "manual"),
        uuid.uuid4(): ("completed", 10000, 2500, "manual"),
        uuid.uuid4(): ("refunded", 8000, 8000, "square"),
        uuid.uuid4(): ("failed", 5000, 0, "manual"),
    }
    with scratch.cursor() as cursor:
        cursor.execute(
            "INSERT INTO tenants_tenant (id, name, slug, timezone, currency, country, is_active, created_at) "
            "VALUES (%s, 'Old Salon', %s, 'America/Los_Angeles', 'USD', 'US', true, now())",
            [tenant, f"old-{tenant}"],
        )
        # The owner writes the old rows itself (FORCE RLS would hide them from it otherwise).
        cursor.execute("ALTER TABLE analytics_transaction NO FORCE ROW LEVEL SECURITY")
        for sale_id, (status, total, refunded, source) in sales.items():
            cursor.execute(
                "INSERT INTO analytics_transaction (id, tenant_id, source, external_id, occurred_at, status, total_amount, "
                "refunded_amount, currency, created_at, updated_at) VALUES (%s, %s, %s, '', %s, %s, %s, %s, 'USD', %s, %s)",
                [sale_id, tenant, source, sold, status, total, refunded, sold, edited],
            )
        cursor.execute("ALTER TABLE analytics_transaction FORCE ROW LEVEL SECURITY")
    _migrate(AFTER)
    with scratch.cursor() as cursor:
        cursor.execute(
            "SELECT relforcerowsecurity FROM pg_class WHERE relname IN ('analytics_transaction', 'analytics_refund')"
        )
        assert [row[0] for row in cursor.fetchall()] == [True, True]  # FORCE is back on both
        cursor.execute("ALTER TABLE analytics_refund NO FORCE ROW LEVEL SECURITY")
        cursor.execute(
            "SELECT transaction_id, tenant_id, amount, currency, refunded_at, source, external_id FROM analytics_refund"
        )
        refunds = {row[0]: row[1:] for row in cursor.fetchall()}
        cursor.execute("ALTER TABLE analytics_transaction NO FORCE ROW LEVEL SECURITY")
        cursor.execute("SELECT DISTINCT tip_amount, tax_amount, discount_amount FROM analytics_transaction")
        parts = cursor.fetchall()
    partial, full = list(sales)[1], list(sales)[2]
    assert refunds == {
        partial: (tenant, 2500, "USD", sold, "manual", ""),
        full: (tenant, 8000, "USD", sold, "square", ""),
    }
    assert parts == [(0, 0, 0)]  # the new amounts default to 0 on existing sales
