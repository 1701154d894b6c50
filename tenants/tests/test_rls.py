"""Isolation at the database: every table with a tenant_id, discovered, not listed by hand."""

from __future__ import annotations

import json
import uuid

import pytest
from django.conf import settings
from django.db import DatabaseError, connections, transaction

from conftest import build_full_world
from tenants.context import tenant_context

# Committed data: the owner connection (used to look behind RLS) must see what the runtime
# role wrote, so these tests do not run inside a wrapping test transaction.
pytestmark = pytest.mark.usefixtures("committed")


def tenant_tables() -> list[str]:
    with connections["owner"].cursor() as cursor:
        cursor.execute(
            """
            SELECT c.table_name FROM information_schema.columns c
            JOIN information_schema.tables t USING (table_schema, table_name)
            WHERE c.table_schema = current_schema() AND c.column_name = 'tenant_id' AND t.table_type = 'BASE TABLE'
            ORDER BY 1
            """
        )
        return [row[0] for row in cursor.fetchall()]


def rows_by_tenant(cursor, table: str) -> dict[str, int]:
    cursor.execute(f'SELECT tenant_id::text, count(*) FROM "{table}" GROUP BY 1')
    return dict(cursor.fetchall())


@pytest.mark.citus
def test_tenant_tables_are_discovered():
    tables = tenant_tables()
    assert "tenants_membership" in tables and "tenants_backgroundjob" in tables


@pytest.mark.citus
def test_every_tenant_table_has_forced_rls_policy_and_tenant_index():
    for table in tenant_tables():
        _check_table_definition(table)


def _check_table_definition(table):
    with connections["owner"].cursor() as cursor:
        cursor.execute(
            "SELECT relrowsecurity, relforcerowsecurity, pg_get_userbyid(relowner) FROM pg_class WHERE oid = %s::regclass",
            [table],
        )
        enabled, forced, owner = cursor.fetchone()
        assert enabled and forced, f"{table}: RLS must be enabled and forced"
        assert owner != settings.DATABASE_APP_ROLE, f"{table} is owned by the runtime role"
        cursor.execute(
            "SELECT qual, with_check FROM pg_policies WHERE tablename = %s AND policyname = 'tenant_isolation'", [table]
        )
        policy = cursor.fetchone()
        assert policy is not None, f"{table}: no tenant_isolation policy"
        assert "current_setting('app.tenant_id'" in policy[0] and "current_setting('app.tenant_id'" in policy[1]
        cursor.execute(
            """
            SELECT count(*) FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
            WHERE i.indrelid = %s::regclass AND a.attname = 'tenant_id'
            """,
            [table],
        )
        assert cursor.fetchone()[0] >= 1, f"{table}: no index leading with tenant_id"


@pytest.mark.citus
def test_unique_constraints_include_tenant_id():
    for table in tenant_tables():
        _check_unique_constraints(table)


def _check_unique_constraints(table):
    with connections["owner"].cursor() as cursor:
        cursor.execute(
            """
            SELECT ic.relname, array_agg(a.attname::text)
            FROM pg_index i
            JOIN pg_class ic ON ic.oid = i.indexrelid
            JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
            WHERE i.indrelid = %s::regclass AND i.indisunique AND NOT i.indisprimary
            GROUP BY ic.relname
            """,
            [table],
        )
        for index_name, columns in cursor.fetchall():
            assert "tenant_id" in columns, f"{table}.{index_name} is unique without tenant_id: {columns}"


def check_isolation(cursor, table: str, tenant_a: uuid.UUID) -> dict:
    """What a runtime-role cursor sees of `table` with tenant A's context (set by the caller)."""
    cursor.execute(f'SELECT tenant_id::text FROM "{table}"')  # no WHERE: only RLS filters
    seen = [row[0] for row in cursor.fetchall()]
    return {"mine": sum(1 for t in seen if t == str(tenant_a)), "foreign": sum(1 for t in seen if t != str(tenant_a))}


def foreign_row_payload(table: str, source_tenant: uuid.UUID, new_tenant: uuid.UUID) -> str:
    """A copy of one of source_tenant's rows re-labelled for new_tenant (new primary key)."""
    with connections["owner"].cursor() as cursor:
        cursor.execute(f'SELECT to_jsonb(t) FROM "{table}" t WHERE tenant_id = %s LIMIT 1', [source_tenant])
        row = cursor.fetchone()[0]
        row = json.loads(row) if isinstance(row, str) else row
        row["tenant_id"] = str(new_tenant)
        if "id" in row and isinstance(row["id"], str):
            row["id"] = str(uuid.uuid4())
        elif "id" in row:
            row["id"] = None
        return json.dumps(row)


def insert_sql(table: str) -> str:
    """INSERT of a JSON row into `table`, skipping generated columns."""
    with connections["owner"].cursor() as cursor:
        cursor.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped "
            "AND attgenerated = '' ORDER BY attnum",
            [table],
        )
        columns = ", ".join(f'"{row[0]}"' for row in cursor.fetchall())
    return f'INSERT INTO "{table}" ({columns}) SELECT {columns} FROM jsonb_populate_record(NULL::"{table}", %s::jsonb)'


@pytest.mark.citus
def test_every_tenant_table_isolates_reads_and_writes():
    world = build_full_world()
    a, b = world.tenant_a.id, world.tenant_b.id
    tables = tenant_tables()
    with connections["owner"].cursor() as owner:
        for table in tables:
            counts = rows_by_tenant(owner, table)
            assert counts.get(str(a)) and counts.get(str(b)), (
                f"{table}: the world fixture has no rows for both tenants; add them in <app>/tests/world.py"
            )
    for table in tables:
        # Tenant A's context: only A's rows.
        with tenant_context(a, role="owner_admin"), connections["default"].cursor() as cursor:
            seen = check_isolation(cursor, table, a)
        assert seen["mine"] > 0 and seen["foreign"] == 0, f"{table}: {seen}"
        # No context at all: nothing.
        with transaction.atomic(), connections["default"].cursor() as cursor:
            cursor.execute(f'SELECT count(*) FROM "{table}"')
            assert cursor.fetchone()[0] == 0, f"{table} is readable without a tenant context"
        # Writing B's row under A's context, or under no context: refused by WITH CHECK.
        payload = foreign_row_payload(table, b, b)
        insert = insert_sql(table)
        for ctx in ("tenant_a", "none"):
            with pytest.raises(DatabaseError, match="row-level security"):
                with transaction.atomic():
                    if ctx == "tenant_a":
                        with tenant_context(a, role="owner_admin"), connections["default"].cursor() as cursor:
                            cursor.execute(insert, [payload])
                    else:
                        with connections["default"].cursor() as cursor:
                            cursor.execute(insert, [payload])


def test_isolation_check_detects_a_disabled_policy():
    """The check above can fail: with the policy switched off (as the owner, in a transaction
    that is rolled back) the same check, as the runtime role, sees tenant B's rows."""
    world = build_full_world()
    a = world.tenant_a.id
    table = "tenants_backgroundjob"
    owner = connections["owner"]
    with transaction.atomic(using="owner"):
        with owner.cursor() as cursor:
            cursor.execute(f'ALTER POLICY tenant_isolation ON "{table}" USING (true)')
            cursor.execute(f'SET LOCAL ROLE "{settings.DATABASE_APP_ROLE}"')
        with tenant_context(a, role="owner_admin", using="owner"), owner.cursor() as cursor:
            cursor.execute("SELECT current_user")
            assert cursor.fetchone()[0] == settings.DATABASE_APP_ROLE
            seen = check_isolation(cursor, table, a)
        assert seen["foreign"] > 0, "with the policy disabled the check must see the leak"
        transaction.set_rollback(True, using="owner")
    # And once rolled back, the policy is back in force.
    with tenant_context(a, role="owner_admin"), connections["default"].cursor() as cursor:
        assert check_isolation(cursor, table, a)["foreign"] == 0
