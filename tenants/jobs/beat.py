"""Beat entries (django-celery-beat rows) created by migrations, so every database gets them."""

from __future__ import annotations

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.utils import timezone


def periodic_task(*, name: str, task: str, crontab: dict[str, str], description: str) -> migrations.RunPython:
    """A reversible migration step for one crontab PeriodicTask, idempotent on `name`.

    Writes through the migration's own connection (the owner), not the default alias.
    """
    schedule = {"minute": "*", "hour": "*", "day_of_week": "*", "day_of_month": "*", "month_of_year": "*", **crontab}

    def create(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        db = schema_editor.connection.alias
        CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
        PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
        PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
        crontab_row, _ = CrontabSchedule.objects.using(db).get_or_create(timezone="UTC", **schedule)
        PeriodicTask.objects.using(db).get_or_create(
            name=name, defaults={"task": task, "crontab": crontab_row, "enabled": True, "description": description}
        )
        # Historical models send no signals: tell a running DatabaseScheduler to reload.
        PeriodicTasks.objects.using(db).update_or_create(ident=1, defaults={"last_update": timezone.now()})

    def remove(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
        PeriodicTask.objects.using(schema_editor.connection.alias).filter(name=name).delete()

    return migrations.RunPython(create, remove)
