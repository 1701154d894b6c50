"""Routing rows are read before any tenant is known (that is their purpose), but written only
in the routed tenant's own context: a tenant's context can add or remove its own routes and
no one else's. Never updated (tenants.db.roles grants no UPDATE): a route is replaced, not
re-pointed. Not FORCEd: the owner (migrations, tenant deletion by an operator) is not filtered."""

from django.db import migrations

from tenants.db.rls import CURRENT_TENANT


class Migration(migrations.Migration):
    dependencies = [("integrations", "0003_square_merchant_routes_per_connection")]

    operations = [
        migrations.RunSQL(
            sql=f"""
ALTER TABLE integrations_connectionroute ENABLE ROW LEVEL SECURITY;
CREATE POLICY route_lookup ON integrations_connectionroute FOR SELECT USING (true);
CREATE POLICY route_insert_own ON integrations_connectionroute FOR INSERT
    WITH CHECK (routed_tenant_id = {CURRENT_TENANT});
CREATE POLICY route_delete_own ON integrations_connectionroute FOR DELETE
    USING (routed_tenant_id = {CURRENT_TENANT});
""",
            reverse_sql="""
DROP POLICY IF EXISTS route_delete_own ON integrations_connectionroute;
DROP POLICY IF EXISTS route_insert_own ON integrations_connectionroute;
DROP POLICY IF EXISTS route_lookup ON integrations_connectionroute;
ALTER TABLE integrations_connectionroute DISABLE ROW LEVEL SECURITY;
""",
        )
    ]
