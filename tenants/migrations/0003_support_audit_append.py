"""The support role may append to the audit log, as itself, and write nothing else.

So a support page that showed rows of many tenants logs them all in one INSERT, without
leaving the read-only support context.
"""

from django.conf import settings
from django.db import migrations

from tenants.db.rls import CURRENT_USER


def _support() -> str:
    return '"' + settings.DATABASE_SUPPORT_ROLE.replace('"', '""') + '"'


class Migration(migrations.Migration):
    dependencies = [("tenants", "0002_roles_and_rls")]

    operations = [
        migrations.RunSQL(
            sql=f"""
GRANT INSERT ON tenants_supportaccess TO {_support()};
CREATE POLICY support_audit_append ON tenants_supportaccess FOR INSERT TO {_support()}
    WITH CHECK (staff_user_id = {CURRENT_USER});
""",
            reverse_sql=f"""
DROP POLICY IF EXISTS support_audit_append ON tenants_supportaccess;
REVOKE INSERT ON tenants_supportaccess FROM {_support()};
""",
        )
    ]
