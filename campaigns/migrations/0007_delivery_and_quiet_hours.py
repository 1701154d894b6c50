"""Delivery truth (delivery_status, delivered_at), quiet hours (the SMS window, send_after) (issue 25)."""

import datetime
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0006_tenant_keys"),
    ]

    operations = [
        migrations.AddField(
            model_name="campaignsettings",
            name="sms_window_end",
            field=models.TimeField(default=datetime.time(20, 0), help_text="Latest local time to send SMS."),
        ),
        migrations.AddField(
            model_name="campaignsettings",
            name="sms_window_start",
            field=models.TimeField(default=datetime.time(9, 0), help_text="Earliest local time to send SMS."),
        ),
        migrations.AddField(
            model_name="messagedraft",
            name="delivered_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="messagedraft",
            name="delivery_status",
            field=models.CharField(
                blank=True,
                choices=[
                    ("sent", "Sent"),
                    ("delivered", "Delivered"),
                    ("undelivered", "Undelivered"),
                    ("failed", "Failed"),
                    ("bounced", "Bounced"),
                    ("complained", "Complained"),
                ],
                max_length=12,
            ),
        ),
        migrations.AddField(
            model_name="messagedraft",
            name="send_after",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="messagedraft",
            index=models.Index(fields=["tenant", "provider_message_id"], name="draft_tenant_provider_id_idx"),
        ),
    ]
