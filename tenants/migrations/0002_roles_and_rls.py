"""Database roles (runtime and support) and RLS on the tenants app's tenant tables."""

from django.db import migrations

from tenants.db.rls import CURRENT_USER, enable_rls
from tenants.db.roles import ensure_roles


class Migration(migrations.Migration):
    dependencies = [("tenants", "0001_initial")]

    operations = [
        migrations.RunPython(ensure_roles, migrations.RunPython.noop),
        enable_rls("tenants_membership", "tenants_backgroundjob", "tenants_supportaccess"),
        # Authentication reads a user's own memberships before any tenant is chosen.
        migrations.RunSQL(
            sql=f"CREATE POLICY membership_self_read ON tenants_membership FOR SELECT USING (user_id = {CURRENT_USER});",
            reverse_sql="DROP POLICY IF EXISTS membership_self_read ON tenants_membership;",
        ),
        # The audit log is append-only for everyone but the owner of the tables.
        migrations.RunSQL(
            sql="""
CREATE FUNCTION tenants_supportaccess_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'tenants_supportaccess is append-only';
END $$;
CREATE TRIGGER supportaccess_append_only BEFORE UPDATE OR DELETE ON tenants_supportaccess
  FOR EACH ROW EXECUTE FUNCTION tenants_supportaccess_append_only();
""",
            reverse_sql="""
DROP TRIGGER IF EXISTS supportaccess_append_only ON tenants_supportaccess;
DROP FUNCTION IF EXISTS tenants_supportaccess_append_only();
""",
        ),
    ]
