"""The database roles the application runs as, and their privileges.

- the owner (DATABASE_URL's user) owns the tables and runs migrations;
- the runtime role (`DATABASE_APP_ROLE`) is NOSUPERUSER NOBYPASSRLS NOINHERIT, owns nothing,
  and is what every request, task and command uses: RLS applies to all it does;
- the support role (`DATABASE_SUPPORT_ROLE`) is NOLOGIN with SELECT only, and not on
  password hashes, sessions, OTP devices or encrypted credentials; the runtime role may switch
  to it for one transaction (dangerously_support_read_context). NOINHERIT on the
  runtime role matters: without it the runtime role would hold the support role's policies
  all the time.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, transaction
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.models import Field, Model

from tenants.db.sharding import is_citus


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def role_setting(name: str) -> str:
    """A database role setting (DATABASE_APP_ROLE, ...). The settings' env reader types them
    `str | None`, but each has a default: an empty one is a configuration error, said here
    rather than as broken SQL."""
    value = getattr(settings, name)
    if not isinstance(value, str) or not value:
        raise ImproperlyConfigured(f"settings.{name} is not set")
    return value


def ensure_roles_sql() -> str:
    app = role_setting("DATABASE_APP_ROLE")
    support = role_setting("DATABASE_SUPPORT_ROLE")
    app_i, support_i = _quote_ident(app), _quote_ident(support)
    password = _quote_literal(role_setting("DATABASE_APP_PASSWORD"))
    attributes = "NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION"
    return f"""
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {_quote_literal(support)}) THEN
    CREATE ROLE {support_i} NOLOGIN {attributes};
  ELSE
    ALTER ROLE {support_i} NOLOGIN {attributes};
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {_quote_literal(app)}) THEN
    CREATE ROLE {app_i} LOGIN NOINHERIT {attributes} PASSWORD {password};
  ELSE
    ALTER ROLE {app_i} LOGIN NOINHERIT {attributes} PASSWORD {password};
  END IF;
END
$$;
GRANT {support_i} TO {app_i};
-- Tables the owner creates later get their grants at once (post_migrate repeats them for
-- tables that existed before this ran).
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app_i};
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {app_i};
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {support_i};
"""


def ensure_roles(apps: Any = None, schema_editor: BaseDatabaseSchemaEditor | None = None) -> None:
    """Migration step (tenants 0001): create or correct both roles."""
    connection = schema_editor.connection if schema_editor else connections["owner"]
    with connection.cursor() as cursor:
        cursor.execute(ensure_roles_sql())


# --- what each role may do on each table --------------------------------------------------

TENANT_TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"  # RLS decides which rows

# Tables without a tenant_id (no tenant isolation) and what the runtime role may do on them.
# A table not listed here gets SELECT only: a new platform table stays read-only to the
# application until someone writes down what it must write. tenants/tests/test_rls.py lists
# the same exceptions with their reasons and fails on any table whose grants differ.
RUNTIME_PLATFORM_PRIVILEGES = {
    # RLS (tenants 0006): inserted, changed and deleted only inside that tenant's own context.
    "tenants_tenant": "SELECT, INSERT, UPDATE, DELETE",
    # Never deleted; a trigger (tenants 0006) refuses granting staff or superuser status and
    # setting the password of a non-staff account.
    "tenants_user": "SELECT, INSERT, UPDATE",
    "tenants_user_groups": "SELECT, INSERT, DELETE",
    "tenants_user_user_permissions": "SELECT, INSERT, DELETE",
    "auth_group": "SELECT, INSERT, UPDATE, DELETE",
    "auth_group_permissions": "SELECT, INSERT, DELETE",
    "django_admin_log": "SELECT, INSERT",
    "django_session": "SELECT, INSERT, UPDATE, DELETE",
    "django_celery_beat_periodictask": "SELECT, INSERT, UPDATE",
    "django_celery_beat_periodictasks": "SELECT, INSERT, UPDATE",
    "django_celery_beat_crontabschedule": "SELECT, INSERT, UPDATE",
    "django_celery_beat_intervalschedule": "SELECT, INSERT, UPDATE",
    "django_celery_beat_solarschedule": "SELECT, INSERT, UPDATE",
    "django_celery_beat_clockedschedule": "SELECT, INSERT, UPDATE",
    # RLS (integrations 0004): routes are inserted and deleted only in the routed tenant's context.
    "integrations_connectionroute": "SELECT, INSERT, DELETE",
    # Staff sign-in hardening (django-axes, django-otp), when installed.
    "axes_accessattempt": "SELECT, INSERT, UPDATE, DELETE",
    "axes_accessattemptexpiration": "SELECT, INSERT, UPDATE, DELETE",
    "axes_accessfailurelog": "SELECT, INSERT, UPDATE, DELETE",
    "axes_accesslog": "SELECT, INSERT, UPDATE, DELETE",
    "otp_totp_totpdevice": "SELECT, INSERT, UPDATE, DELETE",
    "otp_static_staticdevice": "SELECT, INSERT, UPDATE, DELETE",
    "otp_static_statictoken": "SELECT, INSERT, UPDATE, DELETE",
    "otp_hotp_hotpdevice": "SELECT, INSERT, UPDATE, DELETE",
    "otp_email_emaildevice": "SELECT, INSERT, UPDATE, DELETE",
}

# What the support role may never read: whole tables (sessions are logins; OTP devices hold
# second-factor secrets) and, through SECRET_FIELDS below, single columns.
SUPPORT_UNREADABLE_TABLE_PREFIXES = ("django_session", "otp_")


def secret_fields(model: type[Model]) -> list[Field[Any, Any]]:
    """The model's fields the support role may not read: every encrypted field (provider and
    Twilio credentials) and the user model's password hash."""
    from django.contrib.auth import get_user_model

    from tenants.db.crypto import EncryptedJSONField

    user_model = get_user_model()
    return [
        field
        for field in model._meta.concrete_fields
        if isinstance(field, EncryptedJSONField) or (field.name == "password" and issubclass(model, user_model))
    ]


def secret_columns_by_table() -> dict[str, set[str]]:
    from django.apps import apps

    found: dict[str, set[str]] = {}
    for model in apps.get_models():
        columns = {field.column for field in secret_fields(model) if field.column is not None}  # concrete: never None
        if columns:
            found.setdefault(model._meta.db_table, set()).update(columns)
    return found


def grant_runtime_privileges(sender: object, using: str = "owner", **kwargs: object) -> None:
    """post_migrate: grant the runtime and support roles exactly what they need on every table.

    Runs after every `migrate`, so tables added by any app (ours or Django's) are covered,
    and new columns of a table with secret columns get their support grant.
    - runtime role: tenant tables (RLS) SELECT/INSERT/UPDATE/DELETE; other tables
      RUNTIME_PLATFORM_PRIVILEGES, else SELECT. TRUNCATE is never granted: it ignores RLS.
    - support role: SELECT on every table but sessions and OTP devices, and on every column
      but the secret ones (column grants). Other grants it has (the audit-log INSERT of
      tenants 0003) are left alone.
    """
    app = _quote_ident(role_setting("DATABASE_APP_ROLE"))
    support = _quote_ident(role_setting("DATABASE_SUPPORT_ROLE"))
    secrets = secret_columns_by_table()
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        schema_name = cursor.fetchone()[0]
        schema = _quote_ident(schema_name)
        cursor.execute(
            """
            SELECT c.relname, a.attname FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            WHERE n.nspname = %s AND c.relkind IN ('r', 'p')
            ORDER BY c.relname, a.attnum
            """,
            [schema_name],
        )
        columns: dict[str, list[str]] = {}
        for table, column in cursor.fetchall():
            columns.setdefault(table, []).append(column)
        statements = [
            f"GRANT USAGE ON SCHEMA {schema} TO {app}, {support}",
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {app}",
        ]
        for table, table_columns in columns.items():
            qualified = f"{schema}.{_quote_ident(table)}"
            if "tenant_id" in table_columns:
                privileges = TENANT_TABLE_PRIVILEGES
            else:
                privileges = RUNTIME_PLATFORM_PRIVILEGES.get(table, "SELECT")
            # Revoking a table privilege revokes the column privileges of the same kind too.
            statements.append(f"REVOKE SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON {qualified} FROM {app}")
            statements.append(f"GRANT {privileges} ON {qualified} TO {app}")
            statements.append(f"REVOKE SELECT ON {qualified} FROM {support}")
            if table.startswith(SUPPORT_UNREADABLE_TABLE_PREFIXES):
                continue
            hidden = secrets.get(table, set())
            if hidden:
                readable = ", ".join(_quote_ident(c) for c in table_columns if c not in hidden)
                statements.append(f"GRANT SELECT ({readable}) ON {qualified} TO {support}")
            else:
                statements.append(f"GRANT SELECT ON {qualified} TO {support}")
        if is_citus(connections[using]):
            # Distributed, reference and local tables in one transaction: Citus needs the
            # modifications on one connection per node.
            statements.insert(0, "SET LOCAL citus.multi_shard_modify_mode TO 'sequential'")
        with transaction.atomic(using=using):
            cursor.execute(";\n".join(statements))
        # Append-only tables (a model with `append_only = True`: the consent ledger, the change
        # log, the support audit): the runtime role may add and read rows, never change or
        # remove them. (Only those that exist: a migration to an earlier state may have
        # dropped one.)
        for table in append_only_tables():
            if table in columns:
                cursor.execute(f"REVOKE UPDATE, DELETE ON TABLE {schema}.{_quote_ident(table)} FROM {app}")


def append_only_tables() -> list[str]:
    from django.apps import apps

    return sorted(m._meta.db_table for m in apps.get_models() if getattr(m, "append_only", False))
