"""Tenant keys: primary keys (tenant_id, id) and composite foreign keys (tenants.db.sharding)."""

from django.db import migrations

from tenants.db.sharding import tenant_keys


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0005_email_reply_to"),
        ("clients", "0008_tenant_keys"),
        ("tenants", "0008_tenant_keys"),
    ]

    operations = [
        tenant_keys("campaigns_campaignsettings"),
        tenant_keys(
            "campaigns_messagedraft", foreign_keys={"client_id": "clients_client", "job_id": "tenants_backgroundjob"}
        ),
    ]
