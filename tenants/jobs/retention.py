"""Retention: what the platform keeps, and for how long (settings, README "Data rights").

- Finished background jobs' row-level details (per-row errors, parameters such as an
  uploaded file's name, results) are cleared JOB_DETAIL_RETENTION_DAYS (90) after the job
  finished; the job itself (kind, status, counts, times) stays.
- Stored webhook events: their app registers its own sweep (integrations.retention), run by
  the same beat task through `RETENTION_SWEEPS`; the rule is WEBHOOK_RETENTION_DAYS (30).
- The support audit log and the change log are kept AUDIT_RETENTION_DAYS (730), then deleted.
  They are append-only for the application, so this runs as the database owner, one tenant
  at a time inside that tenant's context, with `app.audit_retention_cutoff` set: the audit
  log's trigger lets the owner delete rows older than it, and nothing else.
- Export files are deleted after TENANT_EXPORT_AVAILABLE_DAYS (tenants.exports).

Each tenant's rows are changed inside that tenant's context; the tenants are read across
(the registry is readable without a context).
"""

from __future__ import annotations

import datetime
import logging
import uuid
from collections.abc import Callable

from django.conf import settings
from django.db import connections
from django.utils import timezone

from tenants.app_modules import optional_modules
from tenants.context import tenant_context
from tenants.exports import expired_exports_delete
from tenants.lifecycle import set_local
from tenants.models import BackgroundJob, ChangeRecord, SupportAccess, Tenant

logger = logging.getLogger("brandvx.tenants.retention")

# An app's sweep: `<app>/retention.py` with `sweep(tenant_id, now) -> dict[str, int]`, run
# inside the tenant's context (the runtime role, under RLS).
Sweep = Callable[[uuid.UUID, datetime.datetime], dict[str, int]]


def _app_sweeps() -> list[tuple[str, Sweep]]:
    return [(app, module.sweep) for app, module in optional_modules("retention") if hasattr(module, "sweep")]


def job_details_clear(*, now: datetime.datetime) -> int:
    """In the current tenant context: clear finished jobs' row-level details."""
    cutoff = now - datetime.timedelta(days=settings.JOB_DETAIL_RETENTION_DAYS)
    old = BackgroundJob.objects.filter(status__in=BackgroundJob.FINISHED, finished_at__lt=cutoff)
    stale_details = old.exclude(errors=[], params={}, result={})
    return int(stale_details.update(errors=[], params={}, result={}, updated_at=now))


def _audit_purge(tenant_id: uuid.UUID, *, now: datetime.datetime) -> dict[str, int]:
    cutoff = now - datetime.timedelta(days=settings.AUDIT_RETENTION_DAYS)
    owner = connections["owner"]
    deleted: dict[str, int] = {}
    with tenant_context(str(tenant_id), role="system", using="owner"), owner.cursor() as cursor:
        set_local(cursor, "app.audit_retention_cutoff", cutoff.isoformat())
        for model, column in ((SupportAccess, "occurred_at"), (ChangeRecord, "occurred_at")):
            table = model._meta.db_table
            cursor.execute(f'DELETE FROM "{table}" WHERE tenant_id = %s AND "{column}" < %s', [tenant_id, cutoff])
            if cursor.rowcount:
                deleted[table] = cursor.rowcount
    return deleted


def retention_sweep(*, now: datetime.datetime | None = None) -> dict[str, int]:
    """Apply every retention rule to every tenant. Returns the totals, per rule."""
    now = now or timezone.now()
    totals: dict[str, int] = {}

    def add(counts: dict[str, int]) -> None:
        for key, value in counts.items():
            totals[key] = totals.get(key, 0) + value

    sweeps = _app_sweeps()
    for tenant_id in Tenant.objects.values_list("id", flat=True):
        with tenant_context(tenant_id, role="system"):
            add({"tenants_backgroundjob.details": job_details_clear(now=now)})
            for _app, sweep in sweeps:
                add(sweep(tenant_id, now))
        add(_audit_purge(tenant_id, now=now))
    add({"export_files": expired_exports_delete(now=now)})
    changed = {k: v for k, v in totals.items() if v}
    if changed:
        logger.info("retention sweep", extra={"counts": changed})
    return totals
