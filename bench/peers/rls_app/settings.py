"""Peer (c): django-rls, its context middleware and policies, one schema."""

from bench.peers.base_settings import *  # noqa: F401,F403
from bench.peers.base_settings import DATABASES

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "django_rls",
    "bench.peers.rls_app",
]
MIDDLEWARE = ["bench.peers.rls_app.views.TenantFromHeaderMiddleware", "django_rls.middleware.RLSContextMiddleware"]
DATABASES["default"]["ENGINE"] = "django_rls.backends.postgresql"  # its schema editor creates the policies
BENCH_PEER_VIEW = "bench.peers.rls_app.views.ClientList"
