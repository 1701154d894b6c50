# Database: the owner (migrations) and the runtime role (everything else), from DATABASE_URL.
import warnings
from urllib.parse import quote

import dj_database_url

from .env import env_int, env_role, env_secret, env_str

_database_url = env_str("DATABASE_URL")
if _database_url is None:
    from brandvx.embedded import postgres_url

    _database_url = postgres_url()

# The runtime role: NOSUPERUSER NOBYPASSRLS, owns no table. Created by `migrate`
# (tenants/migrations/0001), so RLS applies to every query the application makes.
DATABASE_APP_ROLE = env_role("DATABASE_APP_ROLE", "brandvx_app")  # a clear error at start when malformed
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    DATABASE_APP_PASSWORD, DATABASE_APP_PASSWORD_IS_DEVELOPMENT_DEFAULT = env_secret("DATABASE_APP_PASSWORD")
# Read-only role that platform support switches to (SET LOCAL ROLE) for cross-tenant reads.
DATABASE_SUPPORT_ROLE = env_role("DATABASE_SUPPORT_ROLE", "brandvx_support")

_owner = dj_database_url.parse(_database_url, conn_max_age=0)
# PostgreSQL's backend, adjusted to primary keys (tenant_id, id) (tenants.db.sharding).
_owner["ENGINE"] = "tenants.db"
# `?host=/socket/dir` (the embedded server's URL) belongs in HOST, where tools look for it.
if "host" in _owner.get("OPTIONS", {}):
    _owner["HOST"] = _owner["OPTIONS"].pop("host")
_runtime = _owner.copy()
_runtime.update(
    {
        "USER": DATABASE_APP_ROLE,
        "PASSWORD": DATABASE_APP_PASSWORD,
        "CONN_MAX_AGE": env_int("DATABASE_CONN_MAX_AGE", 60),
        "CONN_HEALTH_CHECKS": True,
        "ATOMIC_REQUESTS": True,
    }
)

DATABASES = {
    # Everything the application does at runtime goes through this alias.
    "default": _runtime,
    # The owner: used by `migrate` (tenants' command defaults to it) and by tests that
    # must look behind RLS. Application code uses it only where the runtime role must not
    # be able to: purging a whole tenant and the audit logs' retention (tenants.lifecycle,
    # tenants.jobs.retention), both inside the tenant's context.
    "owner": _owner,
}


def runtime_database_url() -> str:
    """The runtime role's URL on the same server, for tools outside Django (benchmarks)."""
    host = _runtime.get("HOST") or ""
    netloc_host = "" if host.startswith("/") else host
    port = f":{_runtime['PORT']}" if _runtime.get("PORT") and netloc_host else ""
    url = (
        f"postgresql://{quote(DATABASE_APP_ROLE)}:{quote(DATABASE_APP_PASSWORD)}@{netloc_host}{port}/{_runtime['NAME']}"
    )
    if host.startswith("/"):
        url += f"?host={quote(host)}"
    return url
