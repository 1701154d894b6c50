"""The hourly beat entry that fails drafts a dead worker left in `sending` (campaigns.sending)."""

from django.db import migrations

from tenants.jobs.beat import periodic_task


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0003_birthday_fanout_schedule")]

    operations = [
        periodic_task(
            name="campaigns: fail drafts stuck in sending (hourly)",
            task="campaigns.fail_stale_sending",
            crontab={"minute": "37"},
            description="Drafts in 'sending' for over an hour: outcome unknown, marked failed for a person to check.",
        )
    ]
