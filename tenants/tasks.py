"""Celery entry points of the tenants app."""

import uuid

from celery import shared_task

from tenants import jobs
from tenants.exports import tenant_export_run
from tenants.jobs.retention import retention_sweep
from tenants.lifecycle import tenants_purge_due


# Celery ships no type information: its decorators are untyped to mypy.
@shared_task(name="tenants.fail_stale_jobs")  # type: ignore[untyped-decorator]
def fail_stale_jobs() -> int:
    """Hourly (beat). Idempotent: a job already failed is not matched again."""
    return jobs.jobs_fail_stale()


@shared_task(name="tenants.purge_due_tenants")  # type: ignore[untyped-decorator]
def purge_due_tenants() -> int:
    """Hourly (beat). Idempotent: a purged tenant is gone, and a failed purge rolled back
    whole (one transaction), so the next run starts it again."""
    return len(tenants_purge_due())


@shared_task(name="tenants.purge_expired_details")  # type: ignore[untyped-decorator]
def purge_expired_details() -> dict[str, int]:
    """Daily (beat). Idempotent: each rule clears or deletes what is older than its cutoff;
    a second run finds nothing left to do."""
    return retention_sweep()


@shared_task(name="tenants.export")  # type: ignore[untyped-decorator]
def tenant_export_task(tenant_id: str, job_id: str) -> None:
    """Write a business's export (tenants.exports). Idempotent: a redelivered task restarts
    the job and writes the whole file again (to a temporary name, renamed when complete); a
    finished or canceled job is left alone."""
    tenant_export_run(tenant_id=uuid.UUID(tenant_id), job_id=uuid.UUID(job_id))
