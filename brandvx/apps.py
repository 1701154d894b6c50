import sys

from django.apps import AppConfig


class BrandVXConfig(AppConfig):
    name = "brandvx"
    verbose_name = "BrandVX project"

    def ready(self) -> None:
        from brandvx import checks

        # `manage.py check` reports the problems as system-check errors; everything else
        # (gunicorn, Celery, other commands) stops here, before serving anything.
        if sys.argv[1:2] != ["check"]:
            checks.refuse_unsafe_start()
