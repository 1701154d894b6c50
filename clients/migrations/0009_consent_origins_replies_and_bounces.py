"""Consent origins: the client's SMS reply, a provider's hard bounce or spam complaint (issue 25)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("clients", "0008_tenant_keys"),
    ]

    operations = [
        migrations.AlterField(
            model_name="consentevent",
            name="origin",
            field=models.CharField(
                choices=[
                    ("api_user", "A user of the app (API)"),
                    ("csv_import", "A CSV import"),
                    ("provider_import", "A provider import (sync, webhook or custom CRM push)"),
                    ("unsubscribe_link", "The client's unsubscribe link"),
                    ("sms_reply", "The client's text reply (STOP / START)"),
                    ("provider_bounce", "The email provider reported a hard bounce"),
                    ("provider_complaint", "The email provider reported a spam complaint"),
                    ("system", "The system (e.g. the migration of consents recorded before the ledger)"),
                ],
                max_length=20,
            ),
        ),
    ]
