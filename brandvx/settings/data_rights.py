# Data rights and the tenant's lifecycle (issue 27): deletion grace, retention, exports.
from .base import LOCAL_DIR
from .env import env_int, env_str

# A business's deletion waits this long (read-only meanwhile; cancelable), then beat purges it.
TENANT_DELETION_GRACE_DAYS = env_int("TENANT_DELETION_GRACE_DAYS", 14)
# Stored webhook events' details, and finished jobs' row-level details (errors, params,
# results), are purged after these many days; the support audit and change logs are kept
# AUDIT_RETENTION_DAYS.
WEBHOOK_RETENTION_DAYS = env_int("WEBHOOK_RETENTION_DAYS", 30)
JOB_DETAIL_RETENTION_DAYS = env_int("JOB_DETAIL_RETENTION_DAYS", 90)
AUDIT_RETENTION_DAYS = env_int("AUDIT_RETENTION_DAYS", 730)
# Where business exports (ZIP files) are written, and how long they can be downloaded.
TENANT_EXPORT_DIR = env_str("TENANT_EXPORT_DIR", str(LOCAL_DIR / "exports"))
TENANT_EXPORT_AVAILABLE_DAYS = env_int("TENANT_EXPORT_AVAILABLE_DAYS", 7)
