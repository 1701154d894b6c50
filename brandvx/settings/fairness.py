# Fair share (issue 28): per-tenant API rate limits, bounded statements, per-tenant task caps.
from .env import env_bool, env_int, env_str

# tenants.auth.ratelimit: rates in the `limits` notation ("600/minute", "60 per second") or "600/60s".
TENANT_API_RATE = env_str("TENANT_API_RATE", "600/60s")
TENANT_API_BURST = env_str("TENANT_API_BURST", "60/1s")
TENANT_USER_API_RATE = env_str("TENANT_USER_API_RATE", "300/60s")
TENANT_RATE_LIMITS_ENABLED = env_bool("TENANT_RATE_LIMITS_ENABLED", True)

# tenants.context: statement_timeout, set with the tenant context. Requests answer 503
# `statement_timeout` when they hit theirs; background chunks get a longer one.
DATABASE_STATEMENT_TIMEOUT_MS = env_int("DATABASE_STATEMENT_TIMEOUT_MS", 5_000)
DATABASE_TASK_STATEMENT_TIMEOUT_MS = env_int("DATABASE_TASK_STATEMENT_TIMEOUT_MS", 120_000)

# tenants.jobs: chunked background work. Running chunks per tenant (a Redis lease each, which
# expires after TENANT_TASK_LEASE_SECONDS if its worker dies), the delay before a chunk over
# the cap tries again (milliseconds), and the items one chunk handles.
TENANT_MAX_RUNNING_TASKS = env_int("TENANT_MAX_RUNNING_TASKS", 1)
TENANT_TASK_LEASE_SECONDS = env_int("TENANT_TASK_LEASE_SECONDS", 300)
TENANT_TASK_RETRY_MS = env_int("TENANT_TASK_RETRY_MS", 1000)
JOB_CHUNK_SIZE = env_int("JOB_CHUNK_SIZE", 1_000)
# A chunk over the cap runs anyway when no task waits in the bulk queue (an idle worker is lent).
TENANT_SLOT_LENDING = env_bool("TENANT_SLOT_LENDING", True)
# Off: no per-tenant cap and jobs run in one task from start to end, as before issue 28 (the
# benchmark's "before"; not for production).
TENANT_FAIR_SCHEDULING = env_bool("TENANT_FAIR_SCHEDULING", True)
