"""Tenant keys: primary keys (tenant_id, id), so the tables shard by tenant (tenants.db.sharding)."""

from django.db import migrations

from tenants.db.sharding import tenant_keys


class Migration(migrations.Migration):
    dependencies = [("tenants", "0007_change_log")]

    operations = [
        tenant_keys("tenants_membership"),
        tenant_keys("tenants_backgroundjob"),
        tenant_keys("tenants_supportaccess"),
        tenant_keys("tenants_changerecord"),
    ]
