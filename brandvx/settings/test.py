# Test overlay: same real PostgreSQL and Redis rules, faster hashing, eager nothing.
import os

from kombu import Queue

from brandvx.settings import *  # noqa: F401,F403

# Named as well as star-imported: they are reassigned below (and mypy does not count a star
# import as their definition).
from brandvx.settings import (
    FIELD_ENCRYPTION_KEY_IS_DEVELOPMENT_DEFAULT,
    SECRET_KEY_IS_DEVELOPMENT_DEFAULT,
    SUPABASE_JWT_SECRET_IS_DEVELOPMENT_DEFAULT,
)

# Each test run has a queue of its own (worker processes the tests start inherit the variable):
# tasks left on a shared Redis by an earlier or a parallel run never reach this run's workers.
CELERY_TASK_DEFAULT_QUEUE = os.environ.setdefault("CELERY_TASK_DEFAULT_QUEUE", f"brandvx-test-{os.getpid()}")
CELERY_SEND_QUEUE, CELERY_BULK_QUEUE, BRANDVX_QUEUES, CELERY_TASK_ROUTES = queues_and_routes(  # noqa: F405
    CELERY_TASK_DEFAULT_QUEUE,
    fair=TENANT_FAIR_SCHEDULING,  # noqa: F405
)
CELERY_TASK_QUEUES = [Queue(name) for name in BRANDVX_QUEUES]

# The benchmarks and load tools (and their tests) are a test/benchmark-only app.
INSTALLED_APPS = [*INSTALLED_APPS, "bench"]  # noqa: F405

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
# Tests check isolation on persistent connections explicitly; keep them open like production.
DATABASES["default"]["CONN_MAX_AGE"] = 60  # noqa: F405
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
SECURE_SSL_REDIRECT = False
WHITENOISE_AUTOREFRESH = True  # no collectstatic in tests

# Tests run with DEBUG off, so brandvx.checks applies: test-only values (fixed, because worker
# processes started by tests must verify the same tokens and decrypt the same credentials),
# unless the environment gives real ones.
if SECRET_KEY_IS_DEVELOPMENT_DEFAULT:
    SECRET_KEY = "brandvx-test-only-secret-key-7f3c2a9e51d84b06a2c4e8f1d3b5a7c9"
    SECRET_KEY_IS_DEVELOPMENT_DEFAULT = False
if SUPABASE_JWT_SECRET_IS_DEVELOPMENT_DEFAULT:
    SUPABASE_JWT_SECRET = "brandvx-test-only-jwt-secret-3e9d1c7b5a2f48e6"
    SIMPLE_JWT["SIGNING_KEY"] = SUPABASE_JWT_SECRET  # noqa: F405
    SUPABASE_JWT_SECRET_IS_DEVELOPMENT_DEFAULT = False
if FIELD_ENCRYPTION_KEY_IS_DEVELOPMENT_DEFAULT:
    FIELD_ENCRYPTION_KEY = "dGVzdC1vbmx5LWJyYW5kdngtZmllbGQta2V5LTMyYiE="
    FIELD_ENCRYPTION_KEY_IS_DEVELOPMENT_DEFAULT = False
# The one exemption, stated: the runtime role is one role of the whole PostgreSQL server, and
# `migrate` sets its password. Test runs (and a developer's `scripts/run`) share that server;
# a test-only password would change it under every other process using the development one.
DEVELOPMENT_SECRETS_ALLOWED = ("DATABASE_APP_PASSWORD",)

# Rate limits high enough that no test trips them by accident (the route walker, the schema
# fuzzer); tests of the limits set their own (tenants/tests/test_ratelimit.py). The limiter
# still runs on every tenant request, headers and all.
TENANT_API_RATE = os.environ.get("TENANT_API_RATE", "100000/60s")
TENANT_API_BURST = os.environ.get("TENANT_API_BURST", "100000/1s")
TENANT_USER_API_RATE = os.environ.get("TENANT_USER_API_RATE", "100000/60s")
