"""The one beat entry behind every tenant's daily birthday run.

One PeriodicTask every 15 minutes fans out to the tenants whose local run time has just
passed (campaigns.schedules): 10,000 tenants cost one beat entry, not 10,000. Created with
get_or_create on its unique name, so re-running the migration (or a fresh database) is safe.
"""

from django.db import migrations

FANOUT_NAME = "campaigns: daily birthday runs (fan-out every 15 minutes)"
FANOUT_TASK = "campaigns.birthday_schedule_fanout"


def create_fanout(apps, schema_editor):
    db = schema_editor.connection.alias  # the migration's own connection (the owner), not the runtime role's
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    # A crontab (not an interval) keeps the runs on :00/:15/:30/:45 UTC, which are slot
    # boundaries in every IANA zone in use (all offsets are multiples of 15 minutes).
    crontab, _ = CrontabSchedule.objects.using(db).get_or_create(
        minute="*/15", hour="*", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.using(db).get_or_create(
        name=FANOUT_NAME,
        defaults={
            "task": FANOUT_TASK,
            "crontab": crontab,
            "enabled": True,
            "description": "Starts one birthday batch per tenant whose local run time passed in the last 15 minutes.",
        },
    )
    # Historical models send no signals: tell a running DatabaseScheduler to reload.
    from django.utils import timezone

    PeriodicTasks.objects.using(db).update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_fanout(apps, schema_editor):
    db = schema_editor.connection.alias
    apps.get_model("django_celery_beat", "PeriodicTask").objects.using(db).filter(name=FANOUT_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0002_rls"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_fanout, remove_fanout)]
