"""Settings of the Celery worker `manage.py benchmark_fairness` starts: the benchmark settings,
with the CSV import's rows per task from BENCH_CLIENTS_IMPORT_CHUNK_ROWS (clients.conf reads
CLIENTS_IMPORT_CHUNK_ROWS from the settings), so that the round "after" imports in chunks of
the run's `--chunk` and the round "before" whole files in one task, as before issue 28."""

import os

from bench.settings import *  # noqa: F401,F403

if os.environ.get("BENCH_CLIENTS_IMPORT_CHUNK_ROWS"):
    CLIENTS_IMPORT_CHUNK_ROWS = int(os.environ["BENCH_CLIENTS_IMPORT_CHUNK_ROWS"])
