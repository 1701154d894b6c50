"""Tenant keys: primary keys (tenant_id, id) and composite foreign keys (tenants.db.sharding)."""

from django.db import migrations

from tenants.db.sharding import tenant_keys


class Migration(migrations.Migration):
    dependencies = [("analytics", "0006_service_price_is_variable"), ("clients", "0008_tenant_keys")]

    operations = [
        tenant_keys("analytics_servicecategory"),
        tenant_keys("analytics_service", foreign_keys={"category_id": "analytics_servicecategory"}),
        tenant_keys("analytics_transaction", foreign_keys={"client_id": "clients_client"}),
        tenant_keys(
            "analytics_transactionlineitem",
            foreign_keys={"transaction_id": "analytics_transaction", "service_id": "analytics_service"},
        ),
        tenant_keys(
            "analytics_appointment", foreign_keys={"client_id": "clients_client", "service_id": "analytics_service"}
        ),
        tenant_keys("analytics_refund", foreign_keys={"transaction_id": "analytics_transaction"}),
    ]
