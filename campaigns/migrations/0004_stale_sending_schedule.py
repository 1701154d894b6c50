"""The hourly beat entry that fails drafts a dead worker left in `sending` (campaigns.sending)."""

from django.db import migrations

NAME = "campaigns: fail drafts stuck in sending (hourly)"


def create(apps, schema_editor):
    db = schema_editor.connection.alias
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = CrontabSchedule.objects.using(db).get_or_create(
        minute="37", hour="*", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.using(db).get_or_create(
        name=NAME,
        defaults={"task": "campaigns.fail_stale_sending", "crontab": crontab, "enabled": True,
                  "description": "Drafts in 'sending' for over an hour: outcome unknown, marked failed for a person to check."},
    )


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.using(schema_editor.connection.alias).filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0003_birthday_fanout_schedule")]

    operations = [migrations.RunPython(create, remove)]
