"""Tenant keys: primary keys (tenant_id, id) and composite foreign keys (tenants.db.sharding)."""

from django.db import migrations

from tenants.db.sharding import tenant_keys


class Migration(migrations.Migration):
    dependencies = [("integrations", "0004_connection_route_rls"), ("analytics", "0007_tenant_keys")]

    operations = [
        tenant_keys("integrations_integrationconnection"),
        tenant_keys("integrations_webhookevent"),
        tenant_keys("integrations_catalogvariation", foreign_keys={"service_id": "analytics_service"}),
    ]
