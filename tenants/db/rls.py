"""Row Level Security for tenant tables, as reversible `RunSQL` migration operations.

Every table with a `tenant_id` column gets:
- ENABLE and FORCE ROW LEVEL SECURITY (FORCE: the owner is filtered too);
- `tenant_isolation`: USING and WITH CHECK on the current tenant. The setting is read once
  per statement (the sub-select is an InitPlan) and `nullif(.., '')` makes an unset or
  cleared context compare to NULL: zero rows, no writes. Fail closed.
- `support_read`: SELECT for the support role only (see tenants.db.roles). The runtime role is
  NOINHERIT, so this policy never applies to ordinary requests and does not slow them.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

from tenants.db.roles import role_setting

CURRENT_TENANT = "(select nullif(current_setting('app.tenant_id', true), '')::uuid)"
CURRENT_USER = "(select nullif(current_setting('app.user_id', true), '')::uuid)"
# Citus refuses sub-selects in the policies of distributed tables (tenants.db.sharding).
CITUS_CURRENT_TENANT = "nullif(current_setting('app.tenant_id', true), '')::uuid"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def rls_forward_sql(table: str) -> str:
    t = _ident(table)
    support = _ident(role_setting("DATABASE_SUPPORT_ROLE"))
    return f"""
ALTER TABLE {t} ENABLE ROW LEVEL SECURITY;
ALTER TABLE {t} FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON {t}
    USING (tenant_id = {CURRENT_TENANT})
    WITH CHECK (tenant_id = {CURRENT_TENANT});
CREATE POLICY support_read ON {t} FOR SELECT TO {support} USING (true);
"""


def rls_reverse_sql(table: str) -> str:
    t = _ident(table)
    return f"""
DROP POLICY IF EXISTS support_read ON {t};
DROP POLICY IF EXISTS tenant_isolation ON {t};
ALTER TABLE {t} NO FORCE ROW LEVEL SECURITY;
ALTER TABLE {t} DISABLE ROW LEVEL SECURITY;
"""


class _RLSRunSQL(migrations.RunSQL):
    """On a Citus database whose tables are distributed already (a table added after the
    first `migrate`), the policies take the form Citus accepts. Before distribution they keep
    the one-node form; distribution rewrites them (tenants.db.sharding)."""

    def _run_sql(self, schema_editor: BaseDatabaseSchemaEditor, sqls: Any) -> None:
        from tenants.db.sharding import is_citus, schema_is_distributed

        connection = schema_editor.connection
        if sqls is self.sql and isinstance(sqls, str) and is_citus(connection) and schema_is_distributed(connection):
            # One statement at a time: Citus passes a multi-statement string on to the workers,
            # which refuse it.
            sqls = [s for s in sqls.replace(CURRENT_TENANT, CITUS_CURRENT_TENANT).split(";\n") if s.strip()]
        super()._run_sql(schema_editor, sqls)  # type: ignore[misc]  # private in Django: not in django-stubs


def enable_rls(*tables: str) -> migrations.RunSQL:
    """The migration operation for one or more tenant tables (with reverse SQL)."""
    return _RLSRunSQL(
        sql="".join(rls_forward_sql(t) for t in tables),
        reverse_sql="".join(rls_reverse_sql(t) for t in reversed(tables)),
    )
