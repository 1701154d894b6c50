"""Benchmark-only settings: the application WITHOUT tenant isolation, as a baseline.

The default alias logs in as the benchmark's temporary BYPASSRLS role, and
brandvx.benchmark.wsgi removes the tenant-context hook. Never use this outside
`manage.py benchmark`: it refuses to load unless BRANDVX_BENCH_ISOLATION_OFF=1.
"""

import os

from django.core.exceptions import ImproperlyConfigured

from brandvx.settings import *  # noqa: F401,F403
from brandvx.settings import DATABASES
from brandvx.settings.env import DEVELOPMENT_SECRETS

if os.environ.get("BRANDVX_BENCH_ISOLATION_OFF") != "1":
    raise ImproperlyConfigured("brandvx.benchmark.settings_off is for the benchmark only (BRANDVX_BENCH_ISOLATION_OFF=1).")

BRANDVX_BENCH_ISOLATION_OFF = True
# Served like settings_on (see there): on the machine's own secrets, development ones included.
DEVELOPMENT_SECRETS_ALLOWED = tuple(DEVELOPMENT_SECRETS)
DATABASES["default"] = {
    **DATABASES["default"],
    "USER": os.environ["BRANDVX_BENCH_BYPASS_USER"],
    "PASSWORD": os.environ["BRANDVX_BENCH_BYPASS_PASSWORD"],
}
