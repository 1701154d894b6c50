"""Benchmark settings: the production settings plus the `bench` app (its commands).

Kept beside the benchmarks rather than in brandvx/settings/ so that the production settings
package knows nothing of them: `brandvx.settings` never installs this app, so its commands
(`benchmark`, `loadtest`, `bench_birthdays`, `bench_square_import`) do not exist there.
manage.py picks this module for those four commands when DJANGO_SETTINGS_MODULE is unset.
"""

from brandvx.settings import *  # noqa: F401,F403
from brandvx.settings import INSTALLED_APPS

BENCH_SETTINGS = True
INSTALLED_APPS = [*INSTALLED_APPS, "bench"]
