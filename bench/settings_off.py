"""Benchmark-only settings: the application WITHOUT tenant isolation, as a baseline.

The default alias logs in as the benchmark's temporary BYPASSRLS role, and bench.wsgi removes
the tenant-context hook. It builds on bench.settings (never on the production settings alone)
and refuses to load unless it is the process's settings module and the benchmark asked for it
(BRANDVX_BENCH_ISOLATION_OFF=1, set only by bench.http_load for its baseline server): nothing
can import it into a process running `brandvx.settings`.
"""

import os

from django.core.exceptions import ImproperlyConfigured

if os.environ.get("DJANGO_SETTINGS_MODULE") != __name__ or os.environ.get("BRANDVX_BENCH_ISOLATION_OFF") != "1":
    raise ImproperlyConfigured(
        f"{__name__} is for the benchmark's baseline server only "
        f"(DJANGO_SETTINGS_MODULE={__name__} and BRANDVX_BENCH_ISOLATION_OFF=1)."
    )

from bench.settings import *  # noqa: E402,F401,F403
from bench.settings import DATABASES  # noqa: E402

BRANDVX_BENCH_ISOLATION_OFF = True
DATABASES["default"] = {
    **DATABASES["default"],
    "USER": os.environ["BRANDVX_BENCH_BYPASS_USER"],
    "PASSWORD": os.environ["BRANDVX_BENCH_BYPASS_PASSWORD"],
}
