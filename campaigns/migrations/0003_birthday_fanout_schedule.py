"""The one beat entry behind every tenant's daily birthday run.

One PeriodicTask every 15 minutes fans out to the tenants whose local run time has just
passed (campaigns.schedules): 10,000 tenants cost one beat entry, not 10,000. Idempotent on
its unique name, so re-running the migration (or a fresh database) is safe.
"""

from django.db import migrations

from tenants.jobs.beat import periodic_task

FANOUT_NAME = "campaigns: daily birthday runs (fan-out every 15 minutes)"
FANOUT_TASK = "campaigns.birthday_schedule_fanout"


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0002_rls"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        # A crontab (not an interval) keeps the runs on :00/:15/:30/:45 UTC, which are slot
        # boundaries in every IANA zone in use (all offsets are multiples of 15 minutes).
        periodic_task(
            name=FANOUT_NAME,
            task=FANOUT_TASK,
            crontab={"minute": "*/15"},
            description="Starts one birthday batch per tenant whose local run time passed in the last 15 minutes.",
        )
    ]
