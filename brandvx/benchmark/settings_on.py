"""Benchmark-only settings for the isolated server: the production settings (DEBUG off),
served on 127.0.0.1 for the length of one run against the benchmark's throwaway database.

It runs on the machine's own secrets, development ones included (the runtime role's password
is the server's), so brandvx.checks is told so here, and this module refuses to load unless
BRANDVX_BENCH_SERVER=1 (set by brandvx.benchmark.http_load only).
"""

import os

from django.core.exceptions import ImproperlyConfigured

from brandvx.settings import *  # noqa: F401,F403
from brandvx.settings.env import DEVELOPMENT_SECRETS

if os.environ.get("BRANDVX_BENCH_SERVER") != "1":
    raise ImproperlyConfigured("brandvx.benchmark.settings_on is for the benchmark only (BRANDVX_BENCH_SERVER=1).")

DEVELOPMENT_SECRETS_ALLOWED = tuple(DEVELOPMENT_SECRETS)
