"""Background jobs: services that create, advance and finish `BackgroundJob` rows.

Every function here runs inside the current tenant context (RLS scopes the row). Workers call
them from `tenant_context(...)`; progress updates are small, separate transactions so the UI
sees them while the job runs.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis
from celery import current_app
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from common.errors import Conflict, Unavailable
from tenants.context import dangerously_ids_by_tenant, tenant_context
from tenants.models import BackgroundJob, Tenant, User

Status = BackgroundJob.Status
logger = logging.getLogger(__name__)


class JobNotCancelable(Conflict):
    code = "job_finished"
    default_detail = "The job has already finished."


def broker_check() -> None:
    """Raise Unavailable (503) when the broker cannot be reached right now.

    Checked before a job row is written: a job that can never be enqueued must not be left
    behind, "queued" forever, for the UI to poll.
    """
    from brandvx.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
    except Exception:
        logger.warning("broker unreachable; refusing to create a job", exc_info=True)
        raise Unavailable("The job queue is unavailable; nothing was started. Try again shortly.") from None


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


def task_by_name(task_name: str) -> Callable[[BackgroundJob], None]:
    """An `enqueue` for job_create that sends the task called `task_name` with
    `(tenant_id, job_id)`, by its name: a service need not import its app's tasks module, which
    imports the services (tasks call services; services never import tasks). Routing
    (queues by urgency) goes by the name, as for `.delay()`; the priority is the tenant's
    (bulk_priority)."""

    def enqueue(job: BackgroundJob) -> None:
        current_app.send_task(task_name, args=(str(job.tenant_id), str(job.id)), priority=bulk_priority(job.tenant_id))

    return enqueue


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


# --- chunked jobs and each tenant's share of the workers (issue 28) ------------------------
#
# A long job runs as a chain of chunk tasks on the bulk queue. Each chunk does a bounded
# amount of work (about JOB_CHUNK_SIZE items), commits its writes together with the job's
# progress and its checkpoint (the next chunk's number and cursor), then enqueues the next
# chunk and ends: the worker is free for whichever task is next in the queue, another
# tenant's included.
#
# Which task is next: the bulk queue has priorities (kombu's Redis transport keeps one list
# per priority, 0 taken first; CELERY_BROKER_TRANSPORT_OPTIONS), and every bulk task is
# published at its tenant's priority: the tenant's unfinished jobs, less one
# (bulk_priority). A salon with one import waiting goes ahead of the chunks of a salon that
# has six running, however long those have been queued; tenants with as many jobs take turns
# (first in, first out within a priority).
#
# How many run at once: a chunk runs while it holds one of its tenant's
# TENANT_MAX_RUNNING_TASKS slots in Redis. Without one, it runs anyway if no task waits in
# the bulk queue at a better priority than its own (TENANT_SLOT_LENDING: the worker would
# otherwise sit idle, or serve a tenant no more deserving), and the next such task waits at
# most for that one chunk; otherwise it goes back to the queue after TENANT_TASK_RETRY_MS
# milliseconds instead of holding a worker. A slot is a redis-py Lock with an expiry
# (TENANT_TASK_LEASE_SECONDS): a killed worker's slot frees itself.
#
# Guarantees, with at-least-once delivery (acks_late):
# - a chunk's writes and its checkpoint commit together: a chunk killed before its commit is
#   redelivered and redone from the same checkpoint; one that committed is never redone (the
#   checkpoint has moved: a late duplicate of it finds a newer chunk number and stops);
# - two deliveries of the same chunk at once: the checkpoint row is locked and compared at
#   commit, the second one's writes are rolled back;
# - cancel (job_cancel) is seen at the next chunk: the chunk in flight keeps its writes (as a
#   batch in flight always did), and no chunk follows;
# - a chain broken between a chunk's commit and the publish of the next one (the worker died
#   in that instant) is carried on by the redelivered chunk once the job has not moved for
#   a lease (until then the redelivery looks again every lease; a duplicate of a live chain
#   ends when the job does).


def _bulk_priorities() -> int:
    """How many priorities the broker keeps (CELERY_BROKER_TRANSPORT_OPTIONS: 0 to 9)."""
    return len(settings.CELERY_BROKER_TRANSPORT_OPTIONS["priority_steps"])


def bulk_priority(tenant_id: uuid.UUID | str) -> int:
    """The priority to publish a tenant's bulk task at: its unfinished (queued or running)
    jobs less one, 0 to 9. One small count in the tenant's own context (partial index
    job_tenant_unfinished_idx), made once per job and once per chunk. Always 0 (first in,
    first out) with TENANT_FAIR_SCHEDULING off, as before issue 28."""
    if not settings.TENANT_FAIR_SCHEDULING:
        return 0
    with tenant_context(tenant_id, role="system"):
        unfinished = BackgroundJob.objects.filter(status__in=(Status.QUEUED, Status.RUNNING)).count()
    return min(_bulk_priorities() - 1, max(0, unfinished - 1))


def publish_chunk(task: Any, args: tuple[Any, ...], *, countdown: float | None = None) -> None:
    """Publish a chunk task (`args` start with the tenant id) at its tenant's priority."""
    options: dict[str, Any] = {"priority": bulk_priority(args[0])}
    if countdown is not None:
        options["countdown"] = countdown
    task.apply_async(args=args, **options)


def delivered_priority(task: Any) -> int:
    """The priority the running task was published at (0 when it had none)."""
    delivery_info = getattr(task.request, "delivery_info", None) or {}
    return int(delivery_info.get("priority") or 0)


@dataclasses.dataclass
class Chunk:
    """What one chunk did, returned by a job's step. `write` (optional) holds the chunk's
    writes: it runs inside the transaction that saves the checkpoint, with the job row locked,
    and may still add to `counts` and `errors`. `cursor` (JSON) is where the next chunk starts;
    `finished` ends the job (succeeded, with `result`)."""

    done: int = 0
    counts: dict[str, int] = dataclasses.field(default_factory=dict)
    errors: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    cursor: Any = None
    finished: bool = False
    total: int | None = None
    result: dict[str, Any] | None = None
    write: Callable[[], None] | None = None


# A chunked job's work: given the job (read in its tenant, no transaction left open) and the
# cursor the previous chunk saved (None for the first), do one chunk. Runs with no
# transaction open: enter tenant_context() for reads, return the writes as Chunk.write.
ChunkStep = Callable[[BackgroundJob, Any], Chunk]

CHUNK_FAILURE_REASON = "The job stopped on an unexpected error; what it wrote so far is kept."

_redis_client: redis.Redis | None = None


def _redis() -> redis.Redis:
    global _redis_client
    if _redis_client is None:
        _redis_client = redis.Redis.from_url(str(settings.REDIS_URL), socket_timeout=5, socket_connect_timeout=5)
    return _redis_client


def tenant_slot_acquire(tenant_id: uuid.UUID) -> Any | None:
    """One of the tenant's TENANT_MAX_RUNNING_TASKS running-chunk slots, or None if all are
    taken. The slot (a redis-py Lock) expires after TENANT_TASK_LEASE_SECONDS."""
    client = _redis()
    for index in range(max(1, settings.TENANT_MAX_RUNNING_TASKS)):
        lock = client.lock(f"brandvx:tenant-slot:{tenant_id}:{index}", timeout=settings.TENANT_TASK_LEASE_SECONDS)
        if lock.acquire(blocking=False):
            return lock
    return None


def tenant_slot_release(slot: Any) -> None:
    try:
        slot.release()
    except redis.exceptions.LockError:
        # It expired (the chunk outlived its lease) and may be someone else's now: leave it.
        logger.warning("a tenant slot expired before its chunk ended; raise TENANT_TASK_LEASE_SECONDS")


@contextmanager
def tenant_slot(tenant_id: uuid.UUID) -> Iterator[Any | None]:
    slot = tenant_slot_acquire(tenant_id)
    try:
        yield slot
    finally:
        if slot is not None:
            tenant_slot_release(slot)


def job_run_chunk(
    *, task: Any, tenant_id: uuid.UUID | str, job_id: uuid.UUID | str, chunk: int, step: ChunkStep
) -> str:
    """The body of a chunk task: run chunk `chunk` of the job (if it is still its turn and the
    tenant has a free slot, or the worker can be lent), then enqueue the next one with `task`,
    whose arguments are (tenant_id, job_id, chunk). Returns what happened: "deferred" (no
    turn: enqueued again with a countdown), "continued", "finished", "canceled", "stale"
    (nothing to do) or "recheck" (a late delivery of a committed chunk: looked at again a lease
    later).

    With TENANT_FAIR_SCHEDULING off, the whole job runs in this one task, with no slot (the
    behaviour before issue 28, kept for the benchmark's comparison)."""
    tenant_id, job_id = uuid.UUID(str(tenant_id)), uuid.UUID(str(job_id))
    if not settings.TENANT_FAIR_SCHEDULING:
        return job_run_all_chunks(tenant_id=tenant_id, job_id=job_id, step=step)
    with tenant_chunk_turn(tenant_id, priority=delivered_priority(task)) as turn:
        if not turn:
            publish_chunk(task, (str(tenant_id), str(job_id), chunk), countdown=settings.TENANT_TASK_RETRY_MS / 1000)
            return "deferred"
        outcome, next_chunk = _chunk_once(tenant_id=tenant_id, job_id=job_id, chunk=chunk, step=step)
    if outcome == "continued":
        # After the slot is released: the next chunk competes for it like any other task.
        publish_chunk(task, (str(tenant_id), str(job_id), next_chunk))
    elif outcome == "recheck":
        publish_chunk(task, (str(tenant_id), str(job_id), next_chunk), countdown=settings.TENANT_TASK_LEASE_SECONDS)
    return outcome


def bulk_queue_key(priority: int) -> str:
    """The Redis list of the bulk queue's tasks at `priority`: kombu's Redis transport keeps
    one list per priority, `<queue>` for 0 and `<queue><sep><priority>` for the others."""
    queue, sep = settings.CELERY_BULK_QUEUE, settings.CELERY_BROKER_TRANSPORT_OPTIONS["sep"]
    return f"{queue}{sep}{priority}" if priority else queue


def _nobody_waits_ahead(priority: int) -> bool:
    """No task waits in the bulk queue at a better priority than `priority`, and lending is
    on. A task of the same priority is not "ahead": a tenant with as many unfinished jobs, whose
    tasks take their turns with this one's first in, first out."""
    if not settings.TENANT_SLOT_LENDING:
        return False
    if priority <= 0:
        return True
    try:
        with _redis().pipeline(transaction=False) as pipe:
            for better in range(priority):
                pipe.llen(bulk_queue_key(better))
            return not any(pipe.execute())
    except redis.exceptions.RedisError:
        return False


def job_run_all_chunks(*, tenant_id: uuid.UUID | str, job_id: uuid.UUID | str, step: ChunkStep) -> str:
    """Run a chunked job to its end in this process, chunk after chunk, each committed as in a
    worker (tests, the benchmark, management commands). Resumes from the saved checkpoint."""
    tenant_id, job_id = uuid.UUID(str(tenant_id)), uuid.UUID(str(job_id))
    chunk = None
    while True:
        outcome, chunk = _chunk_once(tenant_id=tenant_id, job_id=job_id, chunk=chunk, step=step)
        if outcome != "continued":
            return outcome


def _chunk_once(*, tenant_id: uuid.UUID, job_id: uuid.UUID, chunk: int | None, step: ChunkStep) -> tuple[str, int]:
    """One chunk: check it is its turn, run the step, commit writes + progress + checkpoint.
    `chunk` None: whatever chunk the checkpoint says is next."""
    with tenant_context(tenant_id, role="system"):
        job: BackgroundJob | None = BackgroundJob.objects.filter(id=job_id).first()
        if job is None or job.status in BackgroundJob.FINISHED:
            return "stale", 0  # finished, canceled, or not this tenant's job (RLS): nothing to do
        at = int(job.checkpoint.get("chunk", 0))
        if chunk is None:
            chunk = at
        elif chunk < at:
            # A late delivery of a chunk that committed: either a duplicate (the next chunk was
            # published) or the chain died between that commit and the publish. Only time
            # tells: while the job has moved within a lease, look again a lease later; once
            # it has not, the chain is dead and this delivery carries it on.
            idle = (timezone.now() - job.updated_at).total_seconds()
            if job.status == Status.RUNNING and idle < settings.TENANT_TASK_LEASE_SECONDS:
                return "recheck", chunk
            chunk = at
        elif chunk > at:
            return "stale", 0
        if job.status == Status.QUEUED:
            job = job_start(job_id=job_id)
            if job is None:
                return "stale", 0
        cursor = job.checkpoint.get("cursor")
    try:
        outcome = step(job, cursor)
    except SoftTimeLimitExceeded:
        raise  # out of time: the redelivery redoes this chunk from the same checkpoint
    except Exception:
        logger.exception("chunk %s of job %s failed", chunk, job_id)
        with tenant_context(tenant_id, role="system"):
            job_finish(job_id=job_id, failure_reason=CHUNK_FAILURE_REASON)
        raise
    with tenant_context(tenant_id, role="system"):
        locked: BackgroundJob = BackgroundJob.objects.select_for_update().get(id=job_id)
        if int(locked.checkpoint.get("chunk", 0)) != chunk:
            return "stale", 0  # another delivery committed this chunk first: ours is dropped
        if locked.status not in (Status.RUNNING, Status.CANCELED):
            return "stale", 0  # failed (stale sweep) or finished by another run meanwhile
        if outcome.write is not None:
            outcome.write()
        job_advance(job_id=job_id, done=outcome.done, counts=outcome.counts, errors=outcome.errors)
        fields: dict[str, Any] = {"checkpoint": {"chunk": chunk + 1, "cursor": outcome.cursor}}
        if outcome.total is not None:
            fields["progress_total"] = outcome.total
        BackgroundJob.objects.filter(id=job_id).update(updated_at=timezone.now(), **fields)
        if locked.status == Status.CANCELED:
            return "canceled", 0  # the chunk in flight is kept; none follows
        if outcome.finished:
            counts = BackgroundJob.objects.values_list("counts", flat=True).get(id=job_id)
            job_finish(job_id=job_id, result=outcome.result if outcome.result is not None else {"counts": counts})
            return "finished", 0
    return "continued", chunk + 1


@contextmanager
def tenant_chunk_turn(tenant_id: uuid.UUID, *, priority: int) -> Iterator[bool]:
    """Whether a chunk of the tenant, delivered at `priority`, may run now: True while it holds
    one of the tenant's slots for the block, or over the cap while no task waits in the bulk
    queue at a better priority (the worker is lent); False when it must go back to the queue
    (the caller publishes it again with a TENANT_TASK_RETRY_MS countdown, publish_chunk)."""
    with tenant_slot(tenant_id) as slot:
        yield slot is not None or _nobody_waits_ahead(priority)
