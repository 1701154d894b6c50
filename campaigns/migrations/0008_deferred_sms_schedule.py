"""The beat entry that sends approved SMS drafts whose quiet-hours wait is over (campaigns.sending)."""

from django.db import migrations

from tenants.jobs.beat import periodic_task


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0007_delivery_and_quiet_hours")]

    operations = [
        periodic_task(
            name="campaigns: send SMS deferred by quiet hours (every 5 minutes)",
            task="campaigns.send_due_drafts",
            crontab={"minute": "*/5"},
            description="Approved SMS drafts whose send_after has passed are queued for sending.",
        )
    ]
