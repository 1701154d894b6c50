"""Celery entry points of campaigns: ids in, tenant context entered by the service, no logic.

Delivery is at least once (acks_late, reject_on_worker_lost): each task says why running
it twice is harmless. Tasks call the services and runners; those never import this module
(services enqueue by task name, campaigns.rules).
"""

from __future__ import annotations

import random
import uuid

from celery import Task, shared_task
from django.utils import timezone

from campaigns import sending
from campaigns.batches import birthday_batch_step
from campaigns.rules import BIRTHDAY_BATCH_TASK, MAX_SEND_ATTEMPTS, SEND_MESSAGE_DRAFT_TASK, SendResult
from campaigns.schedules import scheduled_birthday_runs_start
from tenants import jobs

SEND_MAX_RETRIES = MAX_SEND_ATTEMPTS - 1


# celery ships no type hints: its decorators are untyped (as in tenants.tasks).
@shared_task(name=BIRTHDAY_BATCH_TASK, bind=True)  # type: ignore[untyped-decorator]
def birthday_batch(self: Task, tenant_id: str, job_id: str, chunk: int = 0) -> str:
    """One chunk of a birthday batch (bulk queue), then the next is enqueued (tenants.jobs).
    Idempotent: drafts are inserted ON CONFLICT DO NOTHING on (tenant, client, occasion,
    occasion_date), a chunk's drafts and its checkpoint commit together, and a finished or
    canceled job is not started again."""
    return jobs.job_run_chunk(task=self, tenant_id=tenant_id, job_id=job_id, chunk=chunk, step=birthday_batch_step())


@shared_task(name=SEND_MESSAGE_DRAFT_TASK, bind=True, max_retries=SEND_MAX_RETRIES)  # type: ignore[untyped-decorator]
def send_message_draft(self: Task, tenant_id: str, draft_id: str) -> str:
    """Idempotent: the draft is claimed (approved -> sending) in a committed conditional
    update before the provider is called; a second run finds it claimed and stops."""
    outcome = sending.draft_send(
        tenant_id=uuid.UUID(tenant_id),
        draft_id=uuid.UUID(draft_id),
        final_attempt=self.request.retries >= SEND_MAX_RETRIES,
    )
    if outcome.status == SendResult.RETRY:
        raise self.retry(countdown=outcome.retry_after or send_backoff(self.request.retries))
    return outcome.status


def send_backoff(retries: int) -> int:
    """30 s, 60 s, 120 s, ... capped at 15 minutes, with jitter so a provider outage does not
    end in a thundering herd."""
    backoff: int = min(30 * 2**retries, 900)  # int ** int is Any to the type checker (a negative power is a float)
    return backoff + random.randint(0, 15)


@shared_task(name="campaigns.birthday_schedule_fanout")  # type: ignore[untyped-decorator]
def birthday_schedule_fanout() -> int:
    """Idempotent: each tenant's run is claimed by a conditional update of its last scheduled
    local date, in the transaction that creates the job; twice in a slot starts it once."""
    return len(scheduled_birthday_runs_start(now=timezone.now()))


@shared_task(name="campaigns.fail_stale_sending")  # type: ignore[untyped-decorator]
def fail_stale_sending() -> int:
    """Hourly (beat). Idempotent: only drafts still in `sending` past the cutoff match."""
    return sending.drafts_fail_stale_sending()


@shared_task(name="campaigns.send_due_drafts")  # type: ignore[untyped-decorator]
def send_due_drafts() -> int:
    """Every 5 minutes (beat): queue approved SMS drafts whose quiet-hours wait is over.
    Idempotent: the send claims each draft (approved -> sending) once."""
    queued = 0
    for tenant_id, draft_ids in sending.drafts_due().items():
        for draft_id in draft_ids:
            send_message_draft.delay(str(tenant_id), str(draft_id))
            queued += 1
    return queued
