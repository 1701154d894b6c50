# Test overlay: same real PostgreSQL and Redis rules, faster hashing, eager nothing.
from brandvx.settings import *  # noqa: F401,F403

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
