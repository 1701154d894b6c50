"""The suppression list of erased clients (keyed hashes): RLS and tenant keys like every tenant table."""

import django.db.models.deletion
import uuid
from django.db import migrations, models

from tenants.db.rls import enable_rls
from tenants.db.sharding import tenant_keys


class Migration(migrations.Migration):
    dependencies = [
        ("clients", "0009_consent_origins_replies_and_bounces"),
        ("tenants", "0009_tenant_support_access_permission"),
    ]

    operations = [
        migrations.CreateModel(
            name="Suppression",
            fields=[
                ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ("kind", models.CharField(choices=[("email", "Email"), ("phone", "Phone")], max_length=8)),
                ("digest", models.CharField(max_length=64)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "tenant",
                    models.ForeignKey(
                        db_index=False, editable=False, on_delete=django.db.models.deletion.CASCADE, to="tenants.tenant"
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("tenant", "kind", "digest"), name="suppression_unique_digest")
                ],
            },
        ),
        enable_rls("clients_suppression"),
        tenant_keys("clients_suppression"),
    ]
