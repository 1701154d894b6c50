"""Benchmark settings: the production settings plus the `bench` app (its commands).

Kept beside the benchmarks rather than in brandvx/settings/ so that the production settings
package knows nothing of them: `brandvx.settings` never installs this app, so its commands
(`benchmark`, `loadtest`, `bench_birthdays`, `bench_square_import`) do not exist there.
manage.py picks this module for those four commands when DJANGO_SETTINGS_MODULE is unset.
"""

import os

from brandvx.settings import *  # noqa: F401,F403
from brandvx.settings import INSTALLED_APPS
from brandvx.settings.env import DEVELOPMENT_SECRETS

BENCH_SETTINGS = True
INSTALLED_APPS = [*INSTALLED_APPS, "bench"]

# The benchmark's own gunicorn servers (bench.http_load sets BRANDVX_BENCH_SERVER=1) run with
# DEBUG off, on 127.0.0.1, for the length of one run against its throwaway database, on this
# machine's secrets, development ones included (the runtime role's password is the server's):
# brandvx.checks is told so, for them only.
if os.environ.get("BRANDVX_BENCH_SERVER") == "1":
    DEVELOPMENT_SECRETS_ALLOWED = tuple(DEVELOPMENT_SECRETS)
