"""Background jobs: services that create, advance and finish `BackgroundJob` rows.

Every function here runs inside the current tenant context (RLS scopes the row). Workers call
them from `tenant_context(...)`; progress updates are small, separate transactions so the UI
sees them while the job runs.
"""

from __future__ import annotations

import datetime
import logging
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from brandvx.errors import BrandVXError, ServiceUnavailable
from tenants.context import dangerously_ids_by_tenant, tenant_context
from tenants.models import BackgroundJob, Tenant, User

Status = BackgroundJob.Status
logger = logging.getLogger(__name__)


class JobNotCancelable(BrandVXError):
    status_code = 409
    code = "job_finished"
    default_detail = "The job has already finished."


def broker_check() -> None:
    """Raise ServiceUnavailable (503) when the broker cannot be reached right now.

    Checked before a job row is written: a job that can never be enqueued must not be left
    behind, "queued" forever, for the UI to poll.
    """
    from brandvx.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
    except Exception:
        logger.warning("broker unreachable; refusing to create a job", exc_info=True)
        raise ServiceUnavailable("The job queue is unavailable; nothing was started. Try again shortly.") from None


def job_create(
    *,
    tenant: Tenant,
    kind: str,
    params: dict[str, Any] | None = None,
    started_by: User | None = None,
    enqueue: Callable[[BackgroundJob], None] | None = None,
) -> BackgroundJob:
    """Create a queued job; `enqueue(job)` runs after commit, so a worker never looks for a
    row that is not there yet (and nothing is enqueued if the transaction rolls back).

    If publishing still fails after the commit (the broker died in between), the job is
    marked failed with the reason rather than left queued.
    """
    if enqueue is not None:
        broker_check()
    # Annotated: TenantManager (tenants.models) is an untyped Manager, so its methods return Any.
    job: BackgroundJob = BackgroundJob.objects.create(
        tenant=tenant, kind=kind, params=params or {}, started_by=started_by, status=Status.QUEUED
    )
    if enqueue is not None:
        transaction.on_commit(lambda: _enqueue_or_fail(job, enqueue))
    return job


def _enqueue_or_fail(job: BackgroundJob, enqueue: Callable[[BackgroundJob], None]) -> None:
    try:
        enqueue(job)
    except Exception:
        logger.exception("could not enqueue job %s", job.id)
        with tenant_context(job.tenant_id, role="system"):
            job_finish(job_id=job.id, failure_reason="The job could not be queued (broker unavailable).")


def job_start(*, job_id: uuid.UUID, total: int | None = None, restart: bool = False) -> BackgroundJob | None:
    """Mark a queued (or redelivered running) job as running. None if it is finished or canceled.

    `restart=True` is for tasks that redo a redelivered job from the start: progress,
    counts and errors of the interrupted attempt are cleared, so the job reports what a
    clean run would.
    """
    fields: dict[str, Any] = {"status": Status.RUNNING, "started_at": timezone.now(), "updated_at": timezone.now()}
    if total is not None:
        fields["progress_total"] = total
    if restart:
        fields.update(progress_done=0, counts={}, errors=[], errors_truncated=0)
    updated = BackgroundJob.objects.filter(id=job_id, status__in=[Status.QUEUED, Status.RUNNING]).update(**fields)
    if not updated:
        return None
    job: BackgroundJob = BackgroundJob.objects.get(id=job_id)
    return job


def job_set_total(*, job_id: uuid.UUID, total: int) -> None:
    BackgroundJob.objects.filter(id=job_id).update(progress_total=total, updated_at=timezone.now())


def job_advance(
    *,
    job_id: uuid.UUID,
    done: int = 0,
    counts: dict[str, int] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> None:
    """Add to progress and counts, and append (bounded) error details, in one locked update."""
    job = BackgroundJob.objects.select_for_update().get(id=job_id)
    job.progress_done = F("progress_done") + done
    merged = dict(job.counts)
    for key, value in (counts or {}).items():
        merged[key] = merged.get(key, 0) + value
    job.counts = merged
    for error in errors or []:
        if len(job.errors) < BackgroundJob.MAX_ERRORS:
            job.errors.append(error)
        else:
            job.errors_truncated += 1
    job.save(update_fields=["progress_done", "counts", "errors", "errors_truncated", "updated_at"])


def job_renew(*, job_id: uuid.UUID) -> bool:
    """Renew a running job's lease (its `updated_at`). False if it is no longer running
    (finished, canceled, or failed because another run took over): the caller must stop."""
    return bool(BackgroundJob.objects.filter(id=job_id, status=Status.RUNNING).update(updated_at=timezone.now()))


def job_is_running(*, job_id: uuid.UUID) -> bool:
    return BackgroundJob.objects.filter(id=job_id, status=Status.RUNNING).exists()


def job_is_canceled(*, job_id: uuid.UUID) -> bool:
    return BackgroundJob.objects.filter(id=job_id, status=Status.CANCELED).exists()


def job_finish(*, job_id: uuid.UUID, failure_reason: str = "", result: dict[str, Any] | None = None) -> None:
    """Succeed or fail a running job. A canceled job stays canceled."""
    status = Status.FAILED if failure_reason else Status.SUCCEEDED
    fields: dict[str, Any] = {
        "status": status,
        "finished_at": timezone.now(),
        "updated_at": timezone.now(),
        "failure_reason": failure_reason,
    }
    if result is not None:
        fields["result"] = result
    BackgroundJob.objects.filter(id=job_id).exclude(status=Status.CANCELED).update(**fields)


def job_cancel(*, job_id: uuid.UUID) -> BackgroundJob:
    """Ask a job to stop. Workers check between batches; what they wrote so far is kept."""
    job: BackgroundJob = BackgroundJob.objects.select_for_update().get(id=job_id)
    if job.status in BackgroundJob.FINISHED:
        raise JobNotCancelable()
    job.status = Status.CANCELED
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "finished_at", "updated_at"])
    return job


STALE_REASON = (
    "The worker running this job stopped and the job was not redelivered; what it wrote is kept. Start it again."
)


def jobs_fail_stale(*, now: datetime.datetime | None = None) -> int:
    """Fail running jobs that have not moved for longer than a redelivery could take.

    A job whose worker died is redelivered by the broker after the visibility timeout and
    then runs at most the task time limit, updating its row as it goes: a running job with
    no update for longer than both (JOB_STALE_AFTER_SECONDS) has nobody working on it. The
    scan reads across tenants (read-only support role); each tenant's jobs are then failed
    inside that tenant's own context, with the staleness checked again.
    """
    cutoff = (now or timezone.now()) - datetime.timedelta(seconds=settings.JOB_STALE_AFTER_SECONDS)
    stale = BackgroundJob.objects.filter(status=Status.RUNNING, updated_at__lt=cutoff)
    failed = 0
    for tenant_id, job_ids in dangerously_ids_by_tenant(stale).items():
        with tenant_context(tenant_id, role="system"):
            failed += stale.filter(id__in=job_ids).update(
                status=Status.FAILED, failure_reason=STALE_REASON, finished_at=timezone.now(), updated_at=timezone.now()
            )
    if failed:
        logger.warning("failed %d stale background job(s)", failed)
    return failed
