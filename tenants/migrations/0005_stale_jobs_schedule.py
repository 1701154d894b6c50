"""The hourly beat entry that fails background jobs whose worker is gone (tenants.jobs)."""

from django.db import migrations

NAME = "tenants: fail stale background jobs (hourly)"


def create(apps, schema_editor):
    db = schema_editor.connection.alias
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = CrontabSchedule.objects.using(db).get_or_create(
        minute="7", hour="*", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.using(db).get_or_create(
        name=NAME,
        defaults={"task": "tenants.fail_stale_jobs", "crontab": crontab, "enabled": True,
                  "description": "Marks running jobs with no progress for longer than a redelivery could take as failed."},
    )


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.using(schema_editor.connection.alias).filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0004_runtime_role_no_jit"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
