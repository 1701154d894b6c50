# Test overlay: same real PostgreSQL and Redis rules, faster hashing, eager nothing.
import os
import sys
from pathlib import Path

from kombu import Queue

from brandvx.settings import *  # noqa: F401,F403

# Named as well as star-imported: they are reassigned below (and mypy does not count a star
# import as their definition).
from brandvx.settings import (
    FIELD_ENCRYPTION_KEY_IS_DEVELOPMENT_DEFAULT,
    SECRET_KEY_IS_DEVELOPMENT_DEFAULT,
    SUPABASE_JWT_SECRET_IS_DEVELOPMENT_DEFAULT,
    public_values,
)
from brandvx.settings.env import inside_own_run, mark_own_run

# Each test run has a queue of its own (worker processes the tests start inherit the variable):
# tasks left on a shared Redis by an earlier or a parallel run never reach this run's workers.
CELERY_TASK_DEFAULT_QUEUE = os.environ.setdefault("CELERY_TASK_DEFAULT_QUEUE", f"brandvx-test-{os.getpid()}")
CELERY_SEND_QUEUE, CELERY_BULK_QUEUE, BRANDVX_QUEUES, CELERY_TASK_ROUTES = queues_and_routes(  # noqa: F405
    CELERY_TASK_DEFAULT_QUEUE,
    fair=TENANT_FAIR_SCHEDULING,  # noqa: F405
)
# kombu's Queue.__init__ is unannotated.
CELERY_TASK_QUEUES = [Queue(name) for name in BRANDVX_QUEUES]  # type: ignore[no-untyped-call]

# The benchmarks and load tools (and their tests) are a test/benchmark-only app.
INSTALLED_APPS = [*INSTALLED_APPS, "bench"]  # noqa: F405

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
# Tests check isolation on persistent connections explicitly; keep them open like production.
DATABASES["default"]["CONN_MAX_AGE"] = 60  # noqa: F405
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
# The test servers (Django's client, live servers, the browser tests) speak plain HTTP: no
# redirect to HTTPS, cookies not marked Secure, no HSTS (production's values are checked in a
# subprocess by tenants/tests/test_security.py).
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = False
SECURE_HSTS_PRELOAD = False
WHITENOISE_AUTOREFRESH = True  # no collectstatic in tests

# Tests run with DEBUG off, so brandvx.checks applies: test-only values (fixed, because worker
# processes started by tests must verify the same tokens and decrypt the same credentials),
# unless the environment gives real ones. They are in the repository (public_values.TEST), so
# they are accepted only inside the test settings' own runs (below).
if SECRET_KEY_IS_DEVELOPMENT_DEFAULT:
    SECRET_KEY = public_values.TEST["DJANGO_SECRET_KEY"]
    SECRET_KEY_IS_DEVELOPMENT_DEFAULT = False
if SUPABASE_JWT_SECRET_IS_DEVELOPMENT_DEFAULT:
    SUPABASE_JWT_SECRET = public_values.TEST["SUPABASE_JWT_SECRET"]
    SIMPLE_JWT["SIGNING_KEY"] = SUPABASE_JWT_SECRET  # noqa: F405
    SUPABASE_JWT_SECRET_IS_DEVELOPMENT_DEFAULT = False
if FIELD_ENCRYPTION_KEY_IS_DEVELOPMENT_DEFAULT:
    FIELD_ENCRYPTION_KEY = public_values.TEST["FIELD_ENCRYPTION_KEY"]
    FIELD_ENCRYPTION_KEY_IS_DEVELOPMENT_DEFAULT = False

# The test settings' own runs: the test runner (pytest: scripts/test, CI) and every process it
# starts (Celery workers, servers, commands: they inherit BRANDVX_TEST_RUN, see
# brandvx.settings.env), mypy's Django plugin (it loads these settings to read the models) and
# `manage.py spectacular` (the schema snapshot docs/openapi.yaml is made under them). Anywhere
# else (a gunicorn, a Celery worker, a shell given DJANGO_SETTINGS_MODULE=brandvx.settings.test)
# they refuse to start: DEBUG is off and their values are public.
_THIS_PROCESS_IS_AN_OWN_RUN = (
    "_pytest" in sys.modules
    or "mypy" in sys.modules
    or (Path(sys.argv[0]).name == "manage.py" and sys.argv[1:2] == ["spectacular"])
)
if _THIS_PROCESS_IS_AN_OWN_RUN:
    mark_own_run("BRANDVX_TEST_RUN")
if _THIS_PROCESS_IS_AN_OWN_RUN or inside_own_run("BRANDVX_TEST_RUN"):
    # Its own values, and the development password of the runtime role: that role belongs to
    # the whole PostgreSQL server, and `migrate` sets its password. Test runs (and a
    # developer's `scripts/run`) share that server; a test-only password would change it under
    # every other process using the development one.
    PUBLIC_VALUES_ALLOWED = {
        **{variable: frozenset({value}) for variable, value in public_values.TEST.items()},
        "DATABASE_APP_PASSWORD": frozenset({public_values.DEVELOPMENT["DATABASE_APP_PASSWORD"]}),
    }
else:
    OWN_RUNS_ONLY = (
        "the test settings run only in the test suite (scripts/test: pytest and the processes it "
        "starts), mypy and `manage.py spectacular`, never as a server or worker."
    )
# Links and Twilio signatures are built on it; Django's test client is http://testserver.
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL") or "http://testserver"

# Rate limits high enough that no test trips them by accident (the route walker, the schema
# fuzzer); tests of the limits set their own (tenants/tests/test_ratelimit.py). The limiter
# still runs on every tenant request, headers and all.
TENANT_API_RATE = os.environ.get("TENANT_API_RATE", "100000/60s")
TENANT_API_BURST = os.environ.get("TENANT_API_BURST", "100000/1s")
TENANT_USER_API_RATE = os.environ.get("TENANT_USER_API_RATE", "100000/60s")
