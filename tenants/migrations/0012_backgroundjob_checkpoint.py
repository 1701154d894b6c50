from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0011_tenant_lifecycle"),
    ]

    operations = [
        migrations.AddField(
            model_name="backgroundjob",
            name="checkpoint",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
