from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class TenantsConfig(AppConfig):
    default = True
    name = "tenants"
    verbose_name = "Tenants, members and the tenant context"

    def ready(self) -> None:
        from celery import signals as celery_signals
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_migrate

        from tenants import context  # noqa: F401
        from tenants.auth import schema  # noqa: F401 (registers the drf-spectacular extensions)
        from tenants.context import logging  # noqa: F401
        from tenants.db import roles  # noqa: F401

        # Every connection, on every alias, gets the tenant-context hook: it is what turns the
        # Python-side context into the transaction-local settings that RLS reads.
        connection_created.connect(context.install_hook, dispatch_uid="tenants.install_hook")
        post_migrate.connect(roles.grant_runtime_privileges, sender=self, dispatch_uid="tenants.grants")
        # Log records inside a Celery task called with `job_id` carry it (tenants.context.logging).
        celery_signals.task_prerun.connect(logging.task_started, dispatch_uid="tenants.log_job_id")
        celery_signals.task_postrun.connect(logging.task_ended, dispatch_uid="tenants.log_job_id_end")


class SupportAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin, with the audited support site as `admin.site`."""

    default = False
    default_site = "tenants.support.site.SupportAdminSite"
