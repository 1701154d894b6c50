from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0009_tenant_support_access_permission"),
    ]

    operations = [
        migrations.AddField(
            model_name="backgroundjob",
            name="checkpoint",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
