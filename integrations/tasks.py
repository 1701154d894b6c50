"""Celery entry points. They take ids (never rows) and call the sync engine
(integrations.sync), which enters the tenant's context itself for each short transaction
(a page, a checkpoint, a mark), so that no transaction is open while a provider answers.
Nothing here touches the database; services enqueue these tasks, and neither the engine nor
the importers import this module back.

Delivery is at-least-once (acks_late): each task is safe to run twice, as said below.
"""

from __future__ import annotations

import uuid

from celery import Task, shared_task
from django.conf import settings

from integrations import sync
from tenants import jobs
from tenants.models import BackgroundJob


@shared_task(name="integrations.sync", bind=True)
def sync_connection(self: Task, tenant_id: str, job_id: str) -> str:
    """One chunk of a sync (bulk queue): with one of the tenant's running-task slots
    (tenants.jobs), up to JOB_CHUNK_SIZE records, then the next chunk is enqueued.
    Idempotent: job_start refuses a finished job; a redelivered or continued running job
    resumes from the checkpoints saved with each page, and every write is an upsert by
    provider id."""
    if not settings.TENANT_FAIR_SCHEDULING:
        sync.run_sync(tenant_id=tenant_id, job_id=job_id)
        return "finished"
    with jobs.tenant_chunk_turn(uuid.UUID(tenant_id), priority=jobs.delivered_priority(self)) as turn:
        if not turn:
            jobs.publish_chunk(self, (tenant_id, job_id), countdown=settings.TENANT_TASK_RETRY_MS / 1000)
            return "deferred"
        outcome = sync.run_sync(tenant_id=tenant_id, job_id=job_id, budget=settings.JOB_CHUNK_SIZE)
    if outcome and outcome.get("continue"):
        jobs.publish_chunk(self, (tenant_id, job_id))  # after the slot is released
        return "continued"
    return "finished"


@shared_task(name="integrations.verify_square_merchant")
def verify_square_merchant(tenant_id: str, connection_id: str) -> None:
    """Idempotent: asks Square again and writes the same merchant id and route."""
    sync.square_merchant_verify(tenant_id=tenant_id, connection_id=connection_id)


@shared_task(name="integrations.process_square_event")
def process_square_event(tenant_id: str, event_id: str) -> None:
    """Idempotent: a processed event is skipped, and the object is re-fetched and upserted."""
    sync.process_square_event(tenant_id=tenant_id, event_id=event_id)


@shared_task(name="integrations.process_acuity_appointment")
def process_acuity_appointment(
    tenant_id: str, connection_id: str, appointment_id: str, event_id: str | None = None
) -> None:
    """Idempotent: fetches the appointment's current state and upserts it by Acuity id; the
    webhook event (absent for tasks queued before events were recorded) is marked processed."""
    sync.process_acuity_appointment(
        tenant_id=tenant_id, connection_id=connection_id, appointment_id=appointment_id, event_id=event_id
    )


def enqueue_sync(job: BackgroundJob) -> None:
    jobs.publish_chunk(sync_connection, (str(job.tenant_id), str(job.id)))
