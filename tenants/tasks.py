"""Celery entry points of the tenants app."""

from celery import shared_task

from tenants import jobs


# Celery ships no type information: its decorators are untyped to mypy.
@shared_task(name="tenants.fail_stale_jobs")  # type: ignore[untyped-decorator]
def fail_stale_jobs() -> int:
    """Hourly (beat). Idempotent: a job already failed is not matched again."""
    return jobs.jobs_fail_stale()
