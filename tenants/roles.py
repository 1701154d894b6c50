"""The database roles the application runs as, and their privileges.

- the owner (DATABASE_URL's user) owns the tables and runs migrations;
- the runtime role (`DATABASE_APP_ROLE`) is NOSUPERUSER NOBYPASSRLS NOINHERIT, owns nothing,
  and is what every request, task and command uses: RLS applies to all it does;
- the support role (`DATABASE_SUPPORT_ROLE`) is NOLOGIN with SELECT only; the runtime role
  may switch to it for one transaction (dangerously_support_read_context). NOINHERIT on the
  runtime role matters: without it the runtime role would hold the support role's policies
  all the time.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connections


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def ensure_roles_sql() -> str:
    app = settings.DATABASE_APP_ROLE
    support = settings.DATABASE_SUPPORT_ROLE
    app_i, support_i = _quote_ident(app), _quote_ident(support)
    password = _quote_literal(settings.DATABASE_APP_PASSWORD)
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


def ensure_roles(apps=None, schema_editor=None) -> None:
    """Migration step (tenants 0001): create or correct both roles."""
    connection = schema_editor.connection if schema_editor else connections["owner"]
    with connection.cursor() as cursor:
        cursor.execute(ensure_roles_sql())


def grant_runtime_privileges(sender, using: str = "owner", **kwargs) -> None:
    """post_migrate: grant the runtime and support roles what they need on every table.

    Runs after every `migrate`, so tables added by any app (ours or Django's) are covered.
    TRUNCATE is never granted: it ignores RLS.
    """
    app = _quote_ident(settings.DATABASE_APP_ROLE)
    support = _quote_ident(settings.DATABASE_SUPPORT_ROLE)
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        schema = _quote_ident(cursor.fetchone()[0])
        cursor.execute(
            f"""
            GRANT USAGE ON SCHEMA {schema} TO {app}, {support};
            GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {app};
            GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {app};
            REVOKE INSERT, UPDATE, DELETE ON TABLE {schema}.django_migrations FROM {app};
            GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {support};
            """
        )
        # Append-only tables (a model with `append_only = True`, e.g. the consent ledger):
        # the runtime role may add and read rows, never change or remove them.
        # (Only those that exist: a migration to an earlier state may have dropped one.)
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename = ANY(%s)",
            [append_only_tables()],
        )
        for (table,) in cursor.fetchall():
            cursor.execute(f"REVOKE UPDATE, DELETE ON TABLE {schema}.{_quote_ident(table)} FROM {app}")


def append_only_tables() -> list[str]:
    from django.apps import apps

    return sorted(m._meta.db_table for m in apps.get_models() if getattr(m, "append_only", False))
