"""Tenant keys: primary keys (tenant_id, id) and composite foreign keys (tenants.db.sharding)."""

from django.db import migrations

from tenants.db.sharding import tenant_keys


class Migration(migrations.Migration):
    dependencies = [("clients", "0007_client_archived_extension_profile_created"), ("tenants", "0008_tenant_keys")]

    operations = [
        tenant_keys("clients_client"),
        tenant_keys("clients_tag"),
        tenant_keys("clients_clientexternalid", foreign_keys={"client_id": "clients_client"}),
        tenant_keys("clients_clienttag", foreign_keys={"client_id": "clients_client", "tag_id": "clients_tag"}),
        tenant_keys("clients_clientimport", foreign_keys={"job_id": "tenants_backgroundjob"}),
        # client_id is no foreign key on purpose (a decision outlives its client: clients.models).
        tenant_keys("clients_consentevent"),
    ]
