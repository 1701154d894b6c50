"""WSGI entry point for the benchmark's gunicorn servers (isolation on, or off as a baseline)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
application = get_wsgi_application()

from django.conf import settings  # noqa: E402

if getattr(settings, "BRANDVX_BENCH_ISOLATION_OFF", False) and getattr(settings, "BENCH_SETTINGS", False):
    from django.db.backends.signals import connection_created

    # No connection exists yet (they open lazily): none will get the tenant-context hook.
    connection_created.disconnect(dispatch_uid="tenants.install_hook")
