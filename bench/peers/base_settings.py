"""What every peer's settings share: a minimal DRF API on one database, no authentication."""

import os

import dj_database_url

SECRET_KEY = "bench-peer-not-secret"  # loopback-only benchmark servers
DEBUG = False
ALLOWED_HOSTS = ["*"]  # the tenants peer routes on Host names; servers bind 127.0.0.1 only
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "bench.peers.urls"
WSGI_APPLICATION = "bench.peers.wsgi.application"
MIDDLEWARE: list[str] = []

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("BENCH_PEER_DATABASE_URL", "postgresql:///bench_peer"), conn_max_age=60
    )
}
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
