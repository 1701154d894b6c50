"""Benchmark settings: the production settings plus the `bench` app (its commands).

Kept beside the benchmarks rather than in brandvx/settings/ so that the production settings
package knows nothing of them: `brandvx.settings` never installs this app, so its commands
(`benchmark`, `loadtest`, `bench_birthdays`, `bench_square_import`) do not exist there.
manage.py picks this module for those four commands when DJANGO_SETTINGS_MODULE is unset.
"""

import os
import sys
from pathlib import Path

# The benchmark's own runs: one of its commands (`manage.py benchmark`, ...), and the processes
# it starts (its gunicorn servers with DEBUG off, in-process peers, Celery workers), which
# inherit BRANDVX_BENCH_RUN (brandvx.settings.env); a benchmark server a test starts is inside
# the test run. The commands are development tools: DEBUG on unless the caller says otherwise,
# as scripts/run does.
BENCH_COMMANDS = frozenset(
    path.stem for path in (Path(__file__).parent / "management" / "commands").glob("*.py") if path.stem[0] != "_"
)
_THIS_PROCESS_IS_A_BENCH_COMMAND = Path(sys.argv[0]).name == "manage.py" and sys.argv[1:2] in (
    [command] for command in BENCH_COMMANDS
)
if _THIS_PROCESS_IS_A_BENCH_COMMAND:
    os.environ.setdefault("DJANGO_DEBUG", "1")

from brandvx.settings import *  # noqa: E402,F401,F403
from brandvx.settings import INSTALLED_APPS  # noqa: E402
from brandvx.settings.env import inside_own_run, mark_own_run  # noqa: E402
from brandvx.settings.public_values import repository_values  # noqa: E402

BENCH_SETTINGS = True
INSTALLED_APPS = [*INSTALLED_APPS, "bench"]

if _THIS_PROCESS_IS_A_BENCH_COMMAND:
    mark_own_run("BRANDVX_BENCH_RUN")
if _THIS_PROCESS_IS_A_BENCH_COMMAND or inside_own_run("BRANDVX_BENCH_RUN") or inside_own_run("BRANDVX_TEST_RUN"):
    # Its servers run with DEBUG off, on 127.0.0.1, for the length of one run against its
    # throwaway database, on this machine's secrets, the repository's included (the runtime
    # role's password is the server's).
    PUBLIC_VALUES_ALLOWED = {
        variable: repository_values(variable)
        for variable in ("DJANGO_SECRET_KEY", "SUPABASE_JWT_SECRET", "FIELD_ENCRYPTION_KEY", "DATABASE_APP_PASSWORD")
    }
    # Its servers answer on loopback only; nothing they send links back to them.
    PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL") or "http://127.0.0.1"
else:
    OWN_RUNS_ONLY = (
        "the benchmark settings run with DEBUG off only inside a benchmark command "
        "(manage.py benchmark, loadtest, bench_birthdays, bench_square_import) and the servers it starts."
    )
