# Celery and the cache: Redis from REDIS_URL (an embedded Redis when unset).
from typing import Any

from kombu import Queue

from .env import env_bool, env_int, env_str

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL is None:
    from brandvx.embedded import redis_url

    REDIS_URL = redis_url()

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None  # job state lives in BackgroundJob rows, not in Celery results
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
# At-least-once delivery: a task is acknowledged only after it finishes, and is redelivered
# when its worker dies. Safe only because every task is idempotent (each says how).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 30 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 60
# Must exceed the longest task, or Redis hands an unacknowledged task to a second worker.
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", CELERY_TASK_TIME_LIMIT + 15 * 60),
    # How often a worker sweeps for a dead worker's unacknowledged tasks (kombu's defaults:
    # every 10 s, scanning on every 10th sweep). Tests shorten both.
    "unacked_restore_interval": env_int("CELERY_UNACKED_RESTORE_INTERVAL", 10),
    "unacked_restore_throttle": env_int("CELERY_UNACKED_RESTORE_THROTTLE", 10),
    # Priorities 0 (taken first) to 9, one Redis list each: a tenant's bulk tasks are published
    # at its number of unfinished jobs (tenants.jobs.bulk_priority), so a salon with one job
    # waiting goes ahead of a salon with six. tenants.jobs names the lists the same way.
    "priority_steps": list(range(10)),
    "sep": ":",
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "brandvx")

# Queues by urgency (issue 28), so sending never waits behind bulk work: `<default>-send` for
# messages and webhook follow-ups, `<default>` for everything short, `<default>-bulk` for
# long jobs (imports, syncs, batches, exports), which run in chunks (tenants.jobs). Each
# queue gets its own worker (scripts/run, README). With TENANT_FAIR_SCHEDULING off every task
# goes to the default queue, as before (the benchmark's "before").
_SEND_TASKS = [
    "campaigns.send_message_draft",
    "campaigns.send_due_drafts",
    "integrations.process_square_event",
    "integrations.process_acuity_appointment",
]
_BULK_TASKS = [
    "clients.import_csv",
    "campaigns.birthday_batch",
    "integrations.sync",
    "tenants.export",
    "tenants.purge_due_tenants",
]


def queues_and_routes(default_queue: str, *, fair: bool) -> tuple[str, str, list[str], dict[str, dict[str, str]]]:
    """(send queue, bulk queue, every queue, CELERY_TASK_ROUTES) around the default queue."""
    send, bulk = f"{default_queue}-send", f"{default_queue}-bulk"
    routes = {name: {"queue": send} for name in _SEND_TASKS} | {name: {"queue": bulk} for name in _BULK_TASKS}
    return send, bulk, [send, default_queue, bulk], routes if fair else {}


CELERY_SEND_QUEUE, CELERY_BULK_QUEUE, BRANDVX_QUEUES, CELERY_TASK_ROUTES = queues_and_routes(
    CELERY_TASK_DEFAULT_QUEUE, fair=env_bool("TENANT_FAIR_SCHEDULING", True)
)
# Declared, so a worker started without -Q consumes all three and purge() empties all three.
# kombu's Queue.__init__ is unannotated.
CELERY_TASK_QUEUES = [Queue(name) for name in BRANDVX_QUEUES]  # type: ignore[no-untyped-call]

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "brandvx",
        "TIMEOUT": 300,
    }
}

# A running job with no progress for this long has no worker: redelivery (visibility timeout)
# plus a whole run (task time limit) would have touched it by then. tenants.fail_stale_jobs.
JOB_STALE_AFTER_SECONDS = env_int(
    "JOB_STALE_AFTER_SECONDS", CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] + CELERY_TASK_TIME_LIMIT + 15 * 60
)
