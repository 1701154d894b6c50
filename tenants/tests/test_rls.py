"""Isolation at the database: every table with a tenant_id, discovered, not listed by hand."""

from __future__ import annotations

import json
import uuid

import pytest
from django.conf import settings
from django.db import DatabaseError, connections, transaction

from analytics.aggregates import aggregate_tables
from conftest import build_full_world
from tenants.context import tenant_context
from tenants.db.sharding import is_citus
from tenants.models import User

# Committed data: the owner connection (used to look behind RLS) must see what the runtime
# role wrote, so these tests do not run inside a wrapping test transaction.
pytestmark = pytest.mark.usefixtures("committed")


def tenant_tables() -> list[str]:
    """Every table with a tenant_id. On Citus, less the insight aggregates: nothing keeps them
    there (no triggers; the insights read the rows), so they stay empty and have no rows to
    isolate (their shards' forced RLS is checked by test_citus)."""
    skipped = set(aggregate_tables()) if is_citus(connections["owner"]) else set()
    with connections["owner"].cursor() as cursor:
        cursor.execute(
            """
            SELECT c.table_name FROM information_schema.columns c
            JOIN information_schema.tables t USING (table_schema, table_name)
            WHERE c.table_schema = current_schema() AND c.column_name = 'tenant_id' AND t.table_type = 'BASE TABLE'
            ORDER BY 1
            """
        )
        return [row[0] for row in cursor.fetchall() if row[0] not in skipped]


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


# --- tables without RLS: what the runtime role may do, and why ---------------------------

ALL_WRITES = {"SELECT", "INSERT", "UPDATE", "DELETE"}
BEAT = (
    {"SELECT", "INSERT", "UPDATE"},
    "celery beat records each run (last_run_at, total_run_count, the change "
    "marker) and installs its default entries; schedules are created and removed by migrations, as the owner",
)
# Every table without a tenant_id, with what the runtime role may do on it and why. A table
# missing here fails the test: decide what the application needs and write down why.
PLATFORM_TABLES: dict[str, tuple[set[str], str]] = {
    "tenants_tenant": (
        ALL_WRITES,
        "RLS (own_tenant_*): a tenant row is inserted, changed or deleted only inside that "
        "tenant's own context; the registry is readable before a tenant is chosen",
    ),
    "tenants_user": (
        {"SELECT", "INSERT", "UPDATE"},
        "the first token of a Supabase `sub` links a user; staff sign-in "
        "updates last_login and staff passwords; the user_guard trigger refuses granting staff or "
        "superuser status and setting a non-staff password; users are never deleted",
    ),
    "tenants_user_groups": ({"SELECT", "INSERT", "DELETE"}, "the admin manages staff groups (rows are never updated)"),
    "tenants_user_user_permissions": ({"SELECT", "INSERT", "DELETE"}, "the admin manages staff permissions"),
    "auth_group": (ALL_WRITES, "the admin manages staff groups"),
    "auth_group_permissions": ({"SELECT", "INSERT", "DELETE"}, "the admin manages what a staff group may do"),
    "auth_permission": ({"SELECT"}, "created by migrate, as the owner"),
    "django_content_type": ({"SELECT"}, "created by migrate, as the owner"),
    "django_migrations": ({"SELECT"}, "written by migrate, as the owner"),
    "django_admin_log": ({"SELECT", "INSERT"}, "the admin's change history: append-only"),
    "tenants_tenanttombstone": (
        {"SELECT"},
        "what a purged tenant leaves (id, name hash, dates): written by the purge, as the owner (tenants.lifecycle)",
    ),
    "django_session": (ALL_WRITES, "staff admin sessions: created at sign-in, saved, deleted at sign-out and expiry"),
    "django_celery_beat_periodictask": BEAT,
    "django_celery_beat_periodictasks": BEAT,
    "django_celery_beat_crontabschedule": BEAT,
    "django_celery_beat_intervalschedule": BEAT,
    "django_celery_beat_solarschedule": BEAT,
    "django_celery_beat_clockedschedule": BEAT,
    "integrations_connectionroute": (
        {"SELECT", "INSERT", "DELETE"},
        "RLS (route_*): read before any tenant is known "
        "(webhooks, the custom CRM push); inserted and deleted only in the routed "
        "tenant's context; never re-pointed (no UPDATE)",
    ),
    # Staff sign-in hardening, when installed: attempts are recorded and reset, devices enrolled,
    # their counters updated and static tokens consumed.
    **dict.fromkeys(
        ("axes_accessattempt", "axes_accessattemptexpiration", "axes_accessfailurelog", "axes_accesslog"),
        (ALL_WRITES, "django-axes records and resets sign-in failures"),
    ),
    **dict.fromkeys(
        (
            "otp_totp_totpdevice",
            "otp_static_staticdevice",
            "otp_static_statictoken",
            "otp_hotp_hotpdevice",
            "otp_email_emaildevice",
        ),
        (ALL_WRITES, "django-otp: staff enrol devices; verifying updates counters and consumes tokens"),
    ),
}


def platform_tables() -> list[str]:
    with connections["owner"].cursor() as cursor:
        cursor.execute(
            """
            SELECT t.table_name FROM information_schema.tables t
            WHERE t.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND NOT EXISTS (
                SELECT FROM information_schema.columns c WHERE c.table_schema = t.table_schema
                AND c.table_name = t.table_name AND c.column_name = 'tenant_id')
            ORDER BY 1
            """
        )
        return [row[0] for row in cursor.fetchall()]


def table_privileges(role: str, table: str) -> set[str]:
    with connections["owner"].cursor() as cursor:
        cursor.execute(
            "SELECT p FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) p "
            "WHERE has_table_privilege(%s, %s::regclass, p)",
            [role, table],
        )
        return {row[0] for row in cursor.fetchall()}


def test_tables_without_rls_grant_the_runtime_role_only_what_is_listed():
    tables = platform_tables()
    assert {"tenants_tenant", "tenants_user", "django_session", "integrations_connectionroute"} <= set(tables)
    problems = []
    for table in tables:
        if table not in PLATFORM_TABLES:
            problems.append(
                f"{table}: no RLS and not listed in PLATFORM_TABLES (say what the runtime role needs, and why)"
            )
            continue
        granted = table_privileges(settings.DATABASE_APP_ROLE, table)
        if granted != PLATFORM_TABLES[table][0]:
            problems.append(
                f"{table}: the runtime role has {sorted(granted)}, listed {sorted(PLATFORM_TABLES[table][0])}"
            )
    for table in tenant_tables():
        assert "TRUNCATE" not in table_privileges(settings.DATABASE_APP_ROLE, table), table
    assert not problems, "\n".join(problems)


def _runtime_statement(sql: str, params=(), *, tenant=None) -> int:
    """Run one statement as the runtime role (in `tenant`'s context or none), roll it back,
    and return its row count. Errors propagate."""
    with transaction.atomic():
        if tenant is not None:
            with tenant_context(tenant, role="system"), connections["default"].cursor() as cursor:
                cursor.execute(sql, params)
                count = cursor.rowcount
        else:
            with connections["default"].cursor() as cursor:
                cursor.execute(sql, params)
                count = cursor.rowcount
        transaction.set_rollback(True)
    return count


def test_the_runtime_role_changes_a_tenant_row_only_inside_that_tenant():
    world = build_full_world()
    a, b = world.tenant_a.id, world.tenant_b.id
    rename = "UPDATE tenants_tenant SET name = 'Taken over' WHERE id = %s"
    assert _runtime_statement(rename, [b], tenant=a) == 0
    assert _runtime_statement(rename, [b]) == 0
    assert _runtime_statement("DELETE FROM tenants_tenant WHERE id = %s", [b], tenant=a) == 0
    assert _runtime_statement(rename, [a], tenant=a) == 1  # its own row, in its own context
    with pytest.raises(DatabaseError, match="row-level security"):
        _runtime_statement(
            "INSERT INTO tenants_tenant (id, name, slug, timezone, currency, country, is_active, created_at) "
            "VALUES (%s, 'Rogue', 'rogue', 'UTC', 'USD', 'US', true, now())",
            [uuid.uuid4()],
            tenant=a,
        )
    with connections["owner"].cursor() as cursor:
        cursor.execute("SELECT name FROM tenants_tenant WHERE id = %s", [b])
        assert cursor.fetchone()[0] == "Salon B"


def test_the_runtime_role_cannot_make_staff_set_tenant_passwords_or_delete_users():
    world = build_full_world()
    owner_a = world.owner_a.id
    with pytest.raises(DatabaseError, match="permission denied"):
        _runtime_statement("DELETE FROM tenants_user WHERE id = %s", [owner_a])
    for assignment in ("is_staff = true", "is_superuser = true"):
        with pytest.raises(DatabaseError, match="only the database owner may grant staff"):
            _runtime_statement(f"UPDATE tenants_user SET {assignment} WHERE id = %s", [owner_a])
    with pytest.raises(DatabaseError, match="passwords are set only on staff accounts"):
        _runtime_statement("UPDATE tenants_user SET password = 'pbkdf2_sha256$1$x$y' WHERE id = %s", [owner_a])
    # What the application does need still works.
    assert (
        _runtime_statement("UPDATE tenants_user SET last_login = now(), email = 'new@a.test' WHERE id = %s", [owner_a])
        == 1
    )
    staff = User.objects.create(username=f"agent-{uuid.uuid4().hex[:6]}", email="agent@brandvx.test", is_staff=True)
    assert _runtime_statement("UPDATE tenants_user SET password = 'pbkdf2_sha256$1$x$y' WHERE id = %s", [staff.id]) == 1


def test_the_runtime_role_writes_only_its_own_tenants_routes_and_never_repoints_one():
    world = build_full_world()
    a, b = world.tenant_a.id, world.tenant_b.id
    b_connection = world.data["b"]["integrations"]["connection_id"]
    with pytest.raises(DatabaseError, match="permission denied"):
        _runtime_statement(
            "UPDATE integrations_connectionroute SET routed_tenant_id = %s WHERE routed_tenant_id = %s",
            [a, b],
            tenant=a,
        )
    assert (
        _runtime_statement("DELETE FROM integrations_connectionroute WHERE routed_tenant_id = %s", [b], tenant=a) == 0
    )
    assert _runtime_statement("DELETE FROM integrations_connectionroute WHERE routed_tenant_id = %s", [b]) == 0
    with pytest.raises(DatabaseError, match="row-level security"):
        _runtime_statement(
            "INSERT INTO integrations_connectionroute (id, kind, lookup, routed_tenant_id, connection_id, "
            "created_at) VALUES (%s, 'square_merchant', 'M-STOLEN', %s, %s, now())",
            [uuid.uuid4(), b, b_connection],
            tenant=a,
        )
    assert (
        _runtime_statement("DELETE FROM integrations_connectionroute WHERE routed_tenant_id = %s", [a], tenant=a) >= 1
    )


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE django_admin_log SET change_message = ''",
        "DELETE FROM django_admin_log",
        "INSERT INTO django_content_type (app_label, model) VALUES ('x', 'y')",
        "DELETE FROM auth_permission",
        "DELETE FROM django_celery_beat_periodictask",
        "INSERT INTO django_migrations (app, name, applied) VALUES ('x', 'y', now())",
    ],
)
def test_the_runtime_role_is_refused_what_it_does_not_need(statement):
    with pytest.raises(DatabaseError, match="permission denied"):
        _runtime_statement(statement)


# --- the support role reads no secrets -------------------------------------------------------


def test_the_support_role_cannot_read_password_hashes_sessions_or_credentials():
    from tenants.context import dangerously_support_read_context

    build_full_world()
    for sql in (
        "SELECT password FROM tenants_user",
        "SELECT * FROM tenants_user",
        "SELECT session_data FROM django_session",
        "SELECT credentials FROM integrations_integrationconnection",
        "SELECT sender_credentials FROM campaigns_campaignsettings",
    ):
        with pytest.raises(DatabaseError, match="permission denied"):
            with dangerously_support_read_context(staff_user_id=None), connections["default"].cursor() as cursor:
                cursor.execute(sql)
    # What support pages need is still readable, in every tenant.
    with dangerously_support_read_context(staff_user_id=None), connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT count(DISTINCT tenant_id) FROM integrations_integrationconnection WHERE config IS NOT NULL"
        )
        assert cursor.fetchone()[0] >= 2
        cursor.execute("SELECT count(*) FROM tenants_user WHERE email <> '' AND is_active")
        assert cursor.fetchone()[0] >= 2


def test_every_secret_column_is_hidden_from_the_support_role():
    """Discovered from the models: every encrypted field and the password hash."""
    from tenants.db.roles import secret_columns_by_table

    secrets = secret_columns_by_table()
    assert secrets["tenants_user"] == {"password"}
    assert secrets["integrations_integrationconnection"] == {"credentials"}
    assert secrets["campaigns_campaignsettings"] == {"sender_credentials"}
    support = settings.DATABASE_SUPPORT_ROLE
    with connections["owner"].cursor() as cursor:
        for table, columns in secrets.items():
            cursor.execute(
                "SELECT attname, has_column_privilege(%s, attrelid, attname, 'SELECT') FROM pg_attribute "
                "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                [support, table],
            )
            readable = dict(cursor.fetchall())
            assert not any(readable[c] for c in columns), f"{table}: support reads {columns}"
            assert all(ok for c, ok in readable.items() if c not in columns), f"{table}: {readable}"
        cursor.execute("SELECT has_table_privilege(%s, 'django_session', 'SELECT')", [support])
        assert cursor.fetchone()[0] is False
