"""The hourly beat entry that fails background jobs whose worker is gone (tenants.jobs)."""

from django.db import migrations

from tenants.jobs.beat import periodic_task


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0004_runtime_role_no_jit"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        periodic_task(
            name="tenants: fail stale background jobs (hourly)",
            task="tenants.fail_stale_jobs",
            crontab={"minute": "7"},
            description="Marks running jobs with no progress for longer than a redelivery could take as failed.",
        )
    ]
