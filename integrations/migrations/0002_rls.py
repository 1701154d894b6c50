from django.db import migrations

from tenants.db.rls import enable_rls


class Migration(migrations.Migration):
    """RLS on the tenant tables. integrations_connectionroute is a routing table without
    tenant data and stays outside RLS on purpose (see models.ConnectionRoute)."""

    dependencies = [("integrations", "0001_initial")]

    operations = [
        enable_rls("integrations_integrationconnection", "integrations_webhookevent", "integrations_catalogvariation"),
    ]
