"""Peer (b): django-tenants, a schema per tenant, search_path per request (from the Host)."""

from bench.peers.base_settings import *  # noqa: F401,F403
from bench.peers.base_settings import DATABASES

SHARED_APPS = [
    "django_tenants",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "bench.peers.tenants_app.shared",
]
TENANT_APPS = ["bench.peers.tenants_app"]
INSTALLED_APPS = SHARED_APPS + TENANT_APPS
TENANT_MODEL = "shared.Tenant"
TENANT_DOMAIN_MODEL = "shared.Domain"
DATABASE_ROUTERS = ["django_tenants.routers.TenantSyncRouter"]
MIDDLEWARE = ["django_tenants.middleware.main.TenantMainMiddleware"]
DATABASES["default"]["ENGINE"] = "django_tenants.postgresql_backend"
BENCH_PEER_VIEW = "bench.peers.tenants_app.views.ClientList"
